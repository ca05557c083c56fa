"""The catalog: every backend, every dataset x backend binding and every strategy name, registered once.

Bottom floor: imports nothing of ours. A binding names its store by module path and is loaded
when a run needs it (YCSB's DBFactory), so options, runtime, cli, the glue and the report iterate
this catalog instead of branching on names, and none of them imports another to learn what exists.
What a store can do is declared beside its registration; validation follows from it, so an
impossible combination is refused before start (exit 2, one line). tests/test_combinations.py
runs every registered combination's validation (and its operations against the real servers);
tests/test_store_protocol.py holds every registered store to the protocols its capabilities name.

A new backend is a module that describes it (see Backend), its store modules, and `backend(...)`
plus one `binding(...)` per dataset here (PostgreSQL, at the end, is one).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

# ---- capabilities: what a dataset's store on a backend can do ----
READS, WRITES, INSERTS, SCANS, VERSIONS = "reads", "writes", "inserts", "scans", "versions"
# the store methods a capability stands for
METHODS = {READS: ("read", "iter_values", "cache_key"), WRITES: ("write", "fresh_value"),
           INSERTS: ("insert", "remove_inserted"), SCANS: ("scan", "read_many"), VERSIONS: ("version_of",)}
# why a capability is needed, and what to do without it: (option, what needs it, the fix)
NEEDED_BY = {
    INSERTS: ("--insert-ratio", "inserts add new records after the seeded ones", "set --insert-ratio 0"),
    SCANS: ("--scan-ratio", "scans read a range of ids", "set --scan-ratio 0"),
    VERSIONS: ("--write-policy", "the versioned write policy compares each cached value's version",
               "use invalidate or write-through (or a cache-aside+ variant without versioned)"),
}

# ---- strategies: the caching strategies a database binding runs, and their variants ----
STRATEGIES = ("db-only", "cache-only", "cache-aside")
WRITE_POLICIES = ("invalidate", "write-through", "versioned", "double-delete")
PROTECTIONS = ("none", "lock", "early-refresh")  # stampede protection (stampede.py)
VARIANT_SEP = "+"  # cache-aside+versioned+lock: cache-aside with that write policy and protection
# cache-aside with a write policy and/or a stampede protection of its own (cache-aside+versioned,
# cache-aside+lock, cache-aside+double-delete+lock): remedies compared in one run
VARIANTS = tuple(f"cache-aside+{p}" for p in WRITE_POLICIES + PROTECTIONS[1:]) + tuple(
    f"cache-aside+{p}+{q}" for p in WRITE_POLICIES for q in PROTECTIONS[1:])
PATTERN_STRATEGIES = ("lab", "atomic")  # versions only the Redis-native patterns have (the rate limiter's)
# a global table's remedies for the other regions' caches (--dynamodb-regions; the writer's own region goes by
# --write-policy): every-region DELs the key in every region's Redis, stream has each region's stream consumer
# DEL it when the replicated write lands there
REGION_REMEDIES = ("every-region", "stream")
REGION_VARIANTS = tuple(f"cache-aside+{r}" for r in REGION_REMEDIES)
ALL_STRATEGIES = STRATEGIES + VARIANTS + PATTERN_STRATEGIES + REGION_VARIANTS
DB_STRATEGIES = STRATEGIES + VARIANTS


def policy_of(name: str, default: str) -> str:
    """The write policy a strategy runs with: its variant's, else `default` (--write-policy)."""
    return next((m for m in name.split(VARIANT_SEP)[1:] if m in WRITE_POLICIES), default)


def remedy_of(name: str) -> str:
    """A global table's remedy a strategy runs with (REGION_REMEDIES), or "local": only the writer's region."""
    return next((m for m in name.split(VARIANT_SEP)[1:] if m in REGION_REMEDIES), "local")


def protection_of(name: str, default: str) -> str:
    """The stampede protection a strategy runs with: its variant's, else `default` (--stampede-protection)."""
    return next((m for m in name.split(VARIANT_SEP)[1:] if m in PROTECTIONS), default)


# ---- the phase key: a phase's identity, parsed once ----
STEP_SEP = "@"  # a capacity step's phase: products/mysql/db-only@3


@dataclass(frozen=True)
class PhaseKey:
    """dataset/backend/strategy[+policy][+protection][@step] as a value: built once (from a Phase, or
    parsed where a string arrives: a Locust user class, a series key, a report), carried as such.
    `strategy` is the name as --strategies lists it (cache-aside+versioned), `step` a capacity step."""
    dataset: str
    backend: str
    strategy: str
    step: int | None = None

    @classmethod
    def of(cls, dataset: str, backend: str, field: str) -> "PhaseKey":
        """From a series key's strategy field, which carries a capacity step's number (db-only@3)."""
        name, sep, step = field.partition(STEP_SEP)
        return cls(dataset, backend, name, int(step)) if sep and step.isdigit() else cls(dataset, backend, field)

    @classmethod
    def parse(cls, text: str) -> "PhaseKey":
        dataset, backend, field = text.split("/", 2)
        return cls.of(dataset, backend, field)

    @property
    def field(self) -> str:
        """The strategy with its step, as series keys and Locust request names carry it."""
        return self.strategy if self.step is None else f"{self.strategy}{STEP_SEP}{self.step}"

    @property
    def text(self) -> str:
        return f"{self.dataset}/{self.backend}/{self.field}"

    @property
    def base_text(self) -> str:
        """Without the step: the phase a capacity search's steps belong to."""
        return f"{self.dataset}/{self.backend}/{self.strategy}"

    @property
    def base(self) -> str:
        """The caching strategy without its variant's suffixes (cache-aside+versioned -> cache-aside)."""
        return self.strategy.partition(VARIANT_SEP)[0]

    def policy(self, default: str) -> str:
        return policy_of(self.strategy, default)

    def protection(self, default: str) -> str:
        return protection_of(self.strategy, default)

    def __str__(self) -> str:
        return self.text


REGION_SEP = "@"  # a global table's region as the report and Locust's names spell its backend: dynamodb@eu-west-1


def regional(backend: str) -> tuple[str, str | None]:
    """'dynamodb@eu-west-1' -> ('dynamodb', 'eu-west-1'); any other backend -> (backend, None)."""
    name, sep, region = backend.partition(REGION_SEP)
    return (name, region) if sep else (backend, None)


# ---- backends and bindings ----
@dataclass(frozen=True)
class Backend:
    """A backend. One with a `module` (relative to this package) is wholly described by it, and
    options, runtime, cli and the report use it through these names alone:
      OPTIONS             its options (optbase.Opt), added to Locust's parser and to seed/clean
      target(ns, region)  its options parsed into a target (BadInput: one line), kept in
                          Settings.targets[name]; target.redacted() is how it is shown
      pool(target, size, timeout)   the process's connection pool (a stores.pool.Pool)
      sample(pool, namespace)       the server's counters now; delta(first, last, under_load)
      PER_OP              {dataset: {op: {counter: n}}}: what each operation makes it count
      seed_flags(target)  the `cacheswarm seed` flags that name the target
      owned_tables(target, namespace, timeout) / drop_tables(target, names, timeout)   for clean
    and, for a backend that takes a read replica (MySQL's --mysql-reader-url):
      reader(ns, primary) the replica's target, or None; Settings.readers[name]
      PROBE               {"write"|"read": {counter: n}}: the lag probe's statements
      probe_create(pool, namespace), probe_write(pool, namespace, token), probe_read(pool, namespace)
    and, for a backend whose primary --drill db-failover can fail over to a standby (MySQL's):
      fail_over(target)   do it (the target names both); what was done, as a dict for the report
    (DynamoDB predates this and is still wired by name.)"""
    name: str  # as --backend and the phase key spell it
    label: str  # as a sentence names it
    database: bool = True  # False: Redis itself (the Redis-native patterns run there, no database)
    module: str = ""

    def hooks(self):
        return importlib.import_module(self.module, __package__) if self.module else None


@dataclass(frozen=True)
class Binding:
    """One dataset on one backend: its store class (module:Class, relative to this package), what it
    can do, and for a Redis-native pattern the versions it runs in instead of the caching strategies."""
    dataset: str
    backend: str
    store: str
    capabilities: frozenset = field(default_factory=frozenset)
    versions: tuple[str, ...] = ()  # a pattern's own strategies; () = every database strategy
    regional: bool = False  # a global table's: it also runs REGION_VARIANTS (--dynamodb-regions)
    # module:function(target, namespace, rows, reviews=, reset=, progress=, value_size=, allow_existing=,
    # timeout=, parallel=, items=): `cacheswarm seed` on a backend a module describes
    seed: str = ""
    items_file: bool = False  # its seed loads an --items-file (items= a list of items)

    def store_class(self):
        module, _, name = self.store.partition(":")
        return getattr(importlib.import_module(module, __package__), name)

    def seeder(self):
        module, _, name = self.seed.partition(":")
        return getattr(importlib.import_module(module, __package__), name) if self.seed else None

    def runs(self, strategy: str) -> bool:
        if self.versions:
            return strategy in self.versions
        return strategy in DB_STRATEGIES or (self.regional and strategy in REGION_VARIANTS)


BACKENDS: dict[str, Backend] = {}
BINDINGS: dict[tuple[str, str], Binding] = {}


def backend(name: str, label: str, database: bool = True, module: str = "") -> None:
    BACKENDS[name] = Backend(name, label, database, module)


def binding(dataset: str, backend_name: str, store: str, *capabilities: str, versions: tuple[str, ...] = (),
            seed: str = "", items_file: bool = False, regional: bool = False) -> None:
    if backend_name not in BACKENDS:
        raise ValueError(f"binding {dataset}/{backend_name}: register the backend first")
    unknown = set(capabilities) - set(METHODS)
    if unknown:
        raise ValueError(f"binding {dataset}/{backend_name}: unknown capabilities {sorted(unknown)}")
    BINDINGS[(dataset, backend_name)] = Binding(dataset, backend_name, store, frozenset(capabilities), versions,
                                                seed=seed, items_file=items_file, regional=regional)


def described() -> list[Backend]:
    """The backends a module describes (see Backend)."""
    return [b for b in BACKENDS.values() if b.module]


def datasets() -> tuple[str, ...]:
    return tuple(dict.fromkeys(d for d, _ in BINDINGS))


def backends() -> tuple[str, ...]:
    return tuple(BACKENDS)


def databases() -> tuple[str, ...]:
    """The backends that are databases (all but Redis itself, where the Redis-native patterns run)."""
    return tuple(b.name for b in BACKENDS.values() if b.database)


def patterns() -> dict[str, tuple[str, ...]]:
    """{Redis-native dataset: its versions}."""
    return {b.dataset: b.versions for b in BINDINGS.values() if b.versions}


def pattern(dataset: str) -> Binding | None:
    """The Redis-native pattern's binding called `dataset`, or None for a database's dataset."""
    return next((b for b in BINDINGS.values() if b.dataset == dataset and b.versions), None)


def backends_of(dataset: str) -> tuple[str, ...]:
    return tuple(b for d, b in BINDINGS if d == dataset)


def label(name: str) -> str:
    base, region = regional(name)
    if region:
        return f"{label(base)} {region}"
    return BACKENDS[name].label if name in BACKENDS else name


def applies(dataset: str, backend_name: str, strategy: str) -> bool:
    """Is dataset/backend/strategy a phase? Only where a binding is registered, in what it runs."""
    b = BINDINGS.get((dataset, backend_name))
    return b is not None and b.runs(strategy)


def combos(datasets_, backends_, strategies) -> list[tuple[str, str, str]]:
    return [(d, b, s) for d in datasets_ for b in backends_ for s in strategies if applies(d, b, s)]


def needs(strategy: str, write_policy: str, insert_ratio: float = 0.0, scan_ratio: float = 0.0) -> list[str]:
    """The capabilities a phase of `strategy` calls, with --write-policy `write_policy` and this mix."""
    versioned = strategy.startswith("cache-aside") and policy_of(strategy, write_policy) == "versioned"
    return [c for c, used in ((INSERTS, insert_ratio), (SCANS, scan_ratio), (VERSIONS, versioned)) if used]


def runnable() -> list[tuple[str, str, str]]:
    """Every dataset x backend x strategy some run can have: the registered combinations, less the
    variants whose store lacks what they call (queries' results carry no version)."""
    return [c for c in combos(datasets(), backends(), ALL_STRATEGIES) if not missing(c[0], c[1], needs(c[2], ""))]


def missing(dataset: str, backend_name: str, needs) -> list[str]:
    """The capabilities of `needs` that dataset/backend's store lacks ([] for a pattern, which
    brings its own operations, or a combination with no binding)."""
    b = BINDINGS.get((dataset, backend_name))
    return [] if b is None or b.versions else [c for c in needs if c not in b.capabilities]


# ---- the registrations ----
# MySQL (RDS for MySQL, Aurora MySQL, MariaDB): wholly described by its module
backend("mysql", "MySQL", module=".stores.mysql")
DEFAULT_BACKEND = "mysql"  # --backend's default, and `cacheswarm seed`'s
backend("dynamodb", "DynamoDB")
backend("redis", "Redis", database=False)

binding("products", "mysql", ".stores.mysql_products:MySQLProducts", READS, WRITES, INSERTS, SCANS, VERSIONS,
        seed=".stores.mysql_products:seed")
binding("restaurants", "mysql", ".stores.mysql_restaurants:MySQLRestaurants", READS, WRITES, VERSIONS,
        seed=".stores.mysql_restaurants:seed_binding", items_file=True)
# a result carries no version; seeded as restaurants (it reads their reviews)
binding("queries", "mysql", ".stores.mysql_queries:MySQLQueries", READS, WRITES)
# a hash key only: no ranges to scan
# a global table's regions (--dynamodb-regions) also compare the remedies for the other regions' caches
binding("products", "dynamodb", ".stores.dynamodb_products:DynamoDBProducts", READS, WRITES, INSERTS, VERSIONS,
        regional=True)
binding("restaurants", "dynamodb", ".stores.dynamodb_restaurants:DynamoDBRestaurants", READS, WRITES, VERSIONS,
        regional=True)
# seed 002's Lab 4: a customer's orders (Query on customer_id), create order; a status-index GSI
binding("orders", "mysql", ".stores.mysql_orders:MySQLOrders", READS, WRITES, VERSIONS,
        seed=".stores.mysql_orders:seed_binding")
binding("orders", "dynamodb", ".stores.dynamodb_orders:DynamoDBOrders", READS, WRITES, VERSIONS)
binding("sessions", "redis", ".patterns:Sessions", versions=("cache-only",))
binding("ratelimit", "redis", ".patterns:RateLimiter", versions=("lab", "atomic"))
binding("leaderboard", "redis", ".patterns:Leaderboard", versions=("cache-only",))

# PostgreSQL (RDS for PostgreSQL, Aurora PostgreSQL): wholly described by its module
backend("postgres", "PostgreSQL", module=".stores.postgres")
binding("products", "postgres", ".stores.postgres_products:PostgresProducts", READS, WRITES, INSERTS, SCANS, VERSIONS,
        seed=".stores.postgres_products:seed")
binding("restaurants", "postgres", ".stores.postgres_restaurants:PostgresRestaurants", READS, WRITES, VERSIONS,
        seed=".stores.postgres_restaurants:seed")
