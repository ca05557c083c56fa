"""Every cacheswarm option, its validation, and one Settings object.

Options are declared once here and registered on Locust's own parser by the glue
(so they work as CLI flags, LOCUST_* env vars, --config files and web UI fields) and on
the `cacheswarm` CLI's argparse parser. Validation is plain Python: it raises BadInput
naming the option and the fix; callers print that one line and exit with code 2.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace

from .optbase import BadInput, Opt, _as_bool, _choice, _ranged  # noqa: F401  (re-exported)
from .products import MAX_VALUE_SIZE
from . import catalog, drills, slo
from .catalog import ALL_STRATEGIES, STRATEGIES, combos, policy_of
from .opt_cache import CACHE_OPTIONS, CacheSettings, cache_settings
from .opt_regions import REGION_OPTIONS, RegionSettings, region_settings, split_redis_url
from .opt_workload import WORKLOAD_OPTIONS, WorkloadSettings, phases_of, workload_settings
from .targets import (MySQLTarget, _check_redis_url, _dynamodb_endpoint, _region, check_dynamodb,  # noqa: F401
                      parse_mysql_url, redact_url)  # (re-exported)

DISTRIBUTIONS = ("uniform", "zipfian", "hotspot", "latest")
DATASETS = catalog.datasets()
BACKENDS = catalog.backends()  # redis: the Redis-native patterns (no database)
NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


# Connection options are shared by the locustfile and the `cacheswarm` CLI.
# Each backend a module describes declares its own (catalog.Backend), first, in the catalog's order.
CONNECTION_OPTIONS = tuple(o for b in catalog.described() for o in b.hooks().OPTIONS) + (
    Opt("--aws-region", "", "AWS region for --mysql-iam-auth, --postgres-iam-auth and --dynamodb-endpoint aws "
                            "(default: AWS_REGION / AWS_DEFAULT_REGION)"),
    Opt("--dynamodb-endpoint", "embedded", "DynamoDB: embedded (an emulator the run starts and seeds), "
                                           "http://host:port (e.g. DynamoDB Local) or aws (real AWS)"),
    Opt("--dynamodb-retries", 0, "botocore retries per DynamoDB call (0: throttling shows as it happens)", int),
    Opt("--redis-url", DEFAULT_REDIS_URL, "Redis URL redis:// or rediss:// (ElastiCache in-transit encryption); a "
        "Redis cluster (ElastiCache cluster mode: its configuration endpoint) redis+cluster:// or rediss+cluster://; "
        "with --dynamodb-regions REGION=URL,REGION=URL gives each region its own"),
    Opt("--redis-password", "", "Redis password (overrides the URL's; also CACHESWARM_REDIS_PASSWORD)", secret=True),
    Opt("--redis-ca-cert", "", "CA certificate (PEM) to verify a rediss:// server (default: the system's CAs)"),
    Opt("--namespace", "cacheswarm", "prefix of every table and key cacheswarm writes"),
    Opt("--op-timeout", 5.0, "connect and per-operation timeout in seconds", float),
    Opt("--allow-existing-table", False, "write into a <namespace>_ table cacheswarm did not create", bool),
)

RUN_OPTIONS = (
    Opt("--strategies", ",".join(STRATEGIES), "comma list of phases to compare: " + ", ".join(STRATEGIES)
        + "; cache-aside+POLICY is cache-aside with its own write policy (e.g. cache-aside+versioned)"),
    Opt("--dataset", "products", "comma list of datasets: " + ", ".join(DATASETS)),
    Opt("--backend", catalog.DEFAULT_BACKEND, "comma list of database backends: " + ", ".join(BACKENDS)
        + " (every dataset x backend x strategy is its own phase)"),
    Opt("--read-ratio", 0.95, "fraction of operations that are reads (0..1)", float),
    Opt("--key-distribution", "zipfian", "key chooser: " + ", ".join(DISTRIBUTIONS), choices=DISTRIBUTIONS),
    Opt("--zipf-theta", 0.99, "zipfian skew θ (0 < θ < 1; YCSB default 0.99)", float),
    Opt("--keyspace", 0, "number of keys to draw from (0 = every seeded row)", int),
    Opt("--value-size", 0, "bytes of padding per product (memtier's --data-size): seeded tables must carry it "
                           "(`cacheswarm seed products --value-size N`), the embedded emulator is seeded with it; "
                           "0 = as seeded", int),
    Opt("--target-rate", 0.0, "open loop: ops/s for the whole run, split over all users (0 = closed loop)", float),
    Opt("--cache-ttl", 300, "TTL in seconds of keys cache-aside sets", int),
    Opt("--warm-cache", False, "start cache-aside phases with the keyspace loaded (default: cold)", bool),
    Opt("--phase-time", "30s", "duration of each phase (e.g. 30, 30s, 2m)"),
    Opt("--warmup", "5s", "seconds at the start of each phase left out of the report"),
    Opt("--mysql-pool-size", 32, "database connections per Locust process (MySQL's, PostgreSQL's; and its replica's)",
        int),
    Opt("--report-dir", "reports", "root folder of report directories"),
    Opt("--run-name", "compare", "name of the run; the report goes to <report-dir>/<run-name>-<UTC time>/"),
)

# Objectives and the capacity search (slo.py, capacity.py)
SLO_OPTIONS = (
    # default None, not []: Locust's web form handler casts an empty list default's value to int
    Opt("--slo", None, "an objective, e.g. 'read p99 < 5ms', 'products/mysql/cache-aside: error_rate < 0.1%', "
                       "'cache-aside/db-only capacity >= 3x' (repeat it; a list in --config; ';' between rules "
                       "in the web form); a failed one exits 4", list),
    Opt("--slo-strict", False, "count an inconclusive objective (generator-bound phase, too few operations) "
                               "as failed", bool),
    Opt("--find-capacity", "", "'all' or scopes like products/mysql (comma list): search those phases' highest "
                               "open-loop rate that meets the --slo objectives, instead of one fixed-load phase"),
    Opt("--capacity-start", 200.0, "capacity search: first target rate, ops/s", float),
    Opt("--capacity-factor", 2.0, "capacity search: each step's rate is the last one's times this, until the SLO "
                                  "breaks", float),
    Opt("--capacity-max-rate", 0.0, "capacity search: highest rate to try (0 = no ceiling)", float),
    Opt("--capacity-steps", 10, "capacity search: most steps per searched phase", int),
    Opt("--capacity-refine", 2, "capacity search: bisection steps between the last pass and the first fail", int),
)

# the web form lists them in this order: the run's shape and objectives first, connections after
ALL_OPTIONS = RUN_OPTIONS + WORKLOAD_OPTIONS + CACHE_OPTIONS + SLO_OPTIONS + REGION_OPTIONS + CONNECTION_OPTIONS
SECRET_DESTS = frozenset(o.dest for o in ALL_OPTIONS if o.secret)
URL_DESTS = ("redis_url", "dynamodb_endpoint", "redis_reader_url",
             *(o.dest for b in catalog.described() for o in b.hooks().OPTIONS if o.flag.endswith("-url")))


def redact_for_display(dest: str, value) -> str:
    """How a URL option may be shown (web form, logs): password, or for DynamoDB any userinfo, as ***."""
    return redact_url(str(value or ""), whole_userinfo=dest == "dynamodb_endpoint")


def parse_seconds(option: str, value) -> int:
    """'30', '30s', '2m', '1h20m' -> seconds (Locust's timespan syntax, without importing Locust)."""
    text = str(value).strip()
    m = _TIMESPAN.match(text)
    if not text or not m:
        raise BadInput(option, f"{value!r} is not a duration; use seconds like 30, 30s, 2m or 1h20m")
    h, mnt, sec = (int(g or 0) for g in m.groups())
    seconds = h * 3600 + mnt * 60 + sec
    if seconds > MAX_SECONDS:
        raise BadInput(option, f"{value!r} is longer than {MAX_SECONDS // 86400} days; use a shorter duration")
    return seconds


MAX_SECONDS = 7 * 86400  # a week: longer phases are a typo (and overflow gevent's timers)


_TIMESPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


@dataclass(frozen=True)
class Settings:
    redis_url: str = field(repr=False)
    redis_password: str = field(repr=False)
    redis_ca_cert: str
    namespace: str
    op_timeout: float
    allow_existing_table: bool = False
    dynamodb_endpoint: str = "embedded"
    aws_region: str = ""
    dynamodb_retries: int = 0
    strategies: tuple[str, ...] = STRATEGIES
    cache: CacheSettings = CacheSettings()  # what the cache does besides speed (opt_cache.py)
    regions: RegionSettings = RegionSettings()  # a DynamoDB global table's regions (opt_regions.py)
    datasets: tuple[str, ...] = ("products",)
    backends: tuple[str, ...] = (catalog.DEFAULT_BACKEND,)
    read_ratio: float = 0.95
    workload: WorkloadSettings = WorkloadSettings()  # the mix beyond reads and writes, datasets' own (opt_workload.py)
    key_distribution: str = "zipfian"
    zipf_theta: float = 0.99
    keyspace: int = 0
    value_size: int = 0
    target_rate: float = 0.0
    cache_ttl: int = 300
    warm_cache: bool = False
    phase_time: int = 30
    warmup: int = 5
    mysql_pool_size: int = 32
    report_dir: str = "reports"
    run_name: str = "compare"
    slo: tuple = ()  # slo.Rule
    slo_strict: bool = False
    find_capacity: tuple = ()  # scopes (dataset|None, backend|None, strategy|None) searched for capacity
    capacity_start: float = 200.0
    capacity_factor: float = 2.0
    capacity_max_rate: float = 0.0
    capacity_steps: int = 10
    capacity_refine: int = 2
    targets: dict = field(default_factory=dict, repr=False)  # backend -> its target (the backends a module describes)
    readers: dict = field(default_factory=dict, repr=False)  # backend -> its read replica's target (if given)

    def searched(self, dataset: str, backend: str, strategy: str) -> bool:
        """Does --find-capacity cover this phase?"""
        return any(d in (None, dataset) and b in (None, backend) and st in (None, strategy)
                   for d, b, st in self.find_capacity)

    def public(self) -> dict:
        """Every setting, secrets left out and passwords in URLs redacted."""
        d = asdict(self)
        d.pop("redis_password")
        d["redis_url"] = redact_url(self.redis_url)
        d.update(d.pop("cache"), **d.pop("workload"))  # (the report's run facts stay one flat record)
        d.pop("regions")
        d.update(dynamodb_regions=list(self.regions.names), home_region=self.regions.home,
                 replication_lag=self.regions.lag,
                 regional_redis_urls={n: redact_url(u) for n, u in self.regions.redis_urls.items()})
        d["redis_reader_url"] = redact_url(self.cache.redis_reader_url)
        d.pop("targets")  # (asdict would keep their passwords)
        d.pop("readers")
        for name, t in self.targets.items():
            d[f"{name}_url"] = t.redacted()
            if hasattr(catalog.BACKENDS[name].hooks(), "reader"):  # a backend that takes a replica
                d[f"{name}_reader_url"] = self.readers[name].redacted() if name in self.readers else ""
        for name in ("strategies", "datasets", "backends"):
            d[name] = list(d[name])
        d["dynamodb_endpoint"] = redact_url(self.dynamodb_endpoint, whole_userinfo=True)
        d["slo"] = [r.text for r in self.slo]
        d["find_capacity"] = ["/".join(p for p in scope if p) or "all" for scope in self.find_capacity]
        return d


def check_namespace(namespace: str) -> str:
    """--namespace as given, or BadInput naming the rule."""
    if not NAMESPACE_RE.match(namespace):
        raise BadInput("--namespace", f"{namespace!r} is not allowed; use 1-30 lowercase letters, digits or _ starting with a letter")
    return namespace


def connection_settings(ns) -> dict:
    """Validate the connection options of an argparse namespace."""
    namespace = check_namespace(str(getattr(ns, "namespace", "cacheswarm")))
    redis_url, per_region = split_redis_url(ns)  # (REGION=URL,...: a global table's run)
    _check_redis_url(redis_url)
    ca_cert = str(getattr(ns, "redis_ca_cert", "") or "")
    if ca_cert and not os.path.isfile(ca_cert):
        raise BadInput("--redis-ca-cert", f"{ca_cert!r} is not a file; give the PEM file of the CA that signed the "
                                          "Redis server's certificate")
    if ca_cert and not redis_url.startswith(("rediss://", "rediss+cluster://")):
        raise BadInput("--redis-ca-cert", "is only used with TLS; write the URL as rediss://host:port/db "
                                          "(a cluster: rediss+cluster://host:port)")
    region = _region(ns)
    targets = {b.name: b.hooks().target(ns, region) for b in catalog.described()}
    readers = {b.name: r for b in catalog.described() if hasattr(b.hooks(), "reader")
               for r in (b.hooks().reader(ns, targets[b.name]),) if r is not None}
    endpoint = _dynamodb_endpoint(str(getattr(ns, "dynamodb_endpoint", "embedded") or "embedded"))
    return dict(
        dynamodb_endpoint=endpoint,
        aws_region=_region(ns),
        dynamodb_retries=_ranged("--dynamodb-retries", getattr(ns, "dynamodb_retries", 0), 0, 20, kind=int),
        redis_url=redis_url,
        redis_ca_cert=ca_cert,
        redis_password=str(getattr(ns, "redis_password", "") or os.environ.get("CACHESWARM_REDIS_PASSWORD", "")),
        namespace=namespace,
        op_timeout=_ranged("--op-timeout", getattr(ns, "op_timeout", 5.0), 0, 600, lo_open=True),
        allow_existing_table=_as_bool(getattr(ns, "allow_existing_table", False)),
        targets=targets,
        readers=readers,
        regional_redis=per_region,
    )


def _comma_list(option: str, value, choices) -> tuple[str, ...]:
    items = tuple(s.strip() for s in str(value).split(",") if s.strip())
    if not items:
        raise BadInput(option, "is empty; list one or more of " + ", ".join(choices))
    for item in items:
        _choice(option, item, choices)
    if len(set(items)) != len(items):
        raise BadInput(option, f"{value!r} lists a value twice; list each once")
    return items


def settings_from(ns) -> Settings:
    """Validate a parsed namespace (Locust's or the CLI's) into Settings, or raise BadInput."""
    strategies = _comma_list("--strategies", ns.strategies, ALL_STRATEGIES)
    backends = _comma_list("--backend", ns.backend, BACKENDS)
    conn = connection_settings(ns)
    if "dynamodb" in backends:
        check_dynamodb(conn)
    regions = region_settings(ns, backends, strategies, conn["redis_url"], conn.pop("regional_redis"),
                              conn["dynamodb_endpoint"])
    phase_time = parse_seconds("--phase-time", ns.phase_time)
    warmup = parse_seconds("--warmup", ns.warmup)
    datasets = _comma_list("--dataset", ns.dataset, DATASETS)
    if phase_time <= 0:
        raise BadInput("--phase-time", f"{ns.phase_time!r} must be longer than 0 seconds, e.g. 30s")
    if warmup >= phase_time:
        raise BadInput("--warmup", f"{ns.warmup!r} leaves nothing to measure in a {phase_time}s phase; use a warm-up shorter than --phase-time")
    read_ratio = _ranged("--read-ratio", ns.read_ratio, 0.0, 1.0)
    cache = cache_settings(ns)
    backends, strategies = phases_of(ns, datasets, backends, strategies, catalog.DEFAULT_BACKEND, ",".join(STRATEGIES))
    cache = replace(cache, drill=drills.parse(getattr(ns, "drill", ""), phase_time, warmup, strategies,
                                              conn["redis_url"], backends, conn["targets"],
                                              getattr(ns, "drill_aws_target", ""), getattr(ns, "drill_confirm", "")))
    return Settings(
        **conn,
        **_objectives(ns, strategies, combos(datasets, backends, strategies)),
        strategies=strategies,
        cache=cache,
        regions=regions,
        datasets=datasets,
        backends=backends,
        read_ratio=read_ratio,
        workload=_capable(workload_settings(ns, read_ratio, datasets), combos(datasets, backends, strategies),
                          cache.write_policy),
        key_distribution=_choice("--key-distribution", ns.key_distribution, DISTRIBUTIONS),
        zipf_theta=_ranged("--zipf-theta", ns.zipf_theta, 0.0, 1.0, lo_open=True, hi_open=True),
        keyspace=_ranged("--keyspace", ns.keyspace, 0, None, kind=int),
        value_size=value_size(ns.value_size, datasets),
        target_rate=_ranged("--target-rate", ns.target_rate, 0.0, 10_000_000.0),
        cache_ttl=_ranged("--cache-ttl", ns.cache_ttl, 1, None, kind=int),
        warm_cache=_as_bool(ns.warm_cache),
        phase_time=phase_time,
        warmup=warmup,
        mysql_pool_size=_ranged("--mysql-pool-size", ns.mysql_pool_size, 1, 1000, kind=int),
        report_dir=str(ns.report_dir),
        run_name=_run_name(ns.run_name),
    )


def _capable(workload: WorkloadSettings, phases, write_policy: str) -> WorkloadSettings:
    """Refuse a phase whose store lacks what its strategy and mix call (the catalog); returns
    `workload` unchanged."""
    for dataset, backend, strategy in phases:
        needs = catalog.needs(strategy, write_policy, workload.insert_ratio, workload.scan_ratio)
        for lacking in catalog.missing(dataset, backend, needs):
            option, why, fix = catalog.NEEDED_BY[lacking]
            if lacking == catalog.VERSIONS and policy_of(strategy, "") == "versioned":
                option = "--strategies"
            raise BadInput(option, f"{why}, which {dataset} on {backend} does not have ({dataset}/{backend}/"
                                   f"{strategy}); {fix}")
    return workload


def _objectives(ns, strategies, combos) -> dict:
    """--slo rules and the capacity search's options (a search needs an objective to search against)."""
    rules = slo.parse_rules(getattr(ns, "slo", None))
    text = str(getattr(ns, "find_capacity", "") or "").strip()
    scopes = ()
    if text:
        scopes = tuple((None, None, None) if part.strip() == "all" else slo.scope_of(part, "--find-capacity")
                       for part in text.split(",") if part.strip())
    out = dict(
        slo=rules, slo_strict=_as_bool(getattr(ns, "slo_strict", False)), find_capacity=scopes,
        capacity_start=_ranged("--capacity-start", getattr(ns, "capacity_start", 200.0), 0.0, 10_000_000.0, lo_open=True),
        capacity_factor=_ranged("--capacity-factor", getattr(ns, "capacity_factor", 2.0), 1.0, 100.0, lo_open=True),
        capacity_max_rate=_ranged("--capacity-max-rate", getattr(ns, "capacity_max_rate", 0.0), 0.0, 10_000_000.0),
        capacity_steps=_ranged("--capacity-steps", getattr(ns, "capacity_steps", 10), 1, 100, kind=int),
        capacity_refine=_ranged("--capacity-refine", getattr(ns, "capacity_refine", 2), 0, 20, kind=int),
    )
    objectives = [r for r in rules if not r.is_ratio]
    if scopes and not objectives:
        raise BadInput("--find-capacity", "needs an objective to search against: add e.g. --slo 'read p99 < 5ms'")
    for d, b, st in combos:
        searched = any(sd in (None, d) and sb in (None, b) and ss in (None, st) for sd, sb, ss in scopes)
        if searched and not any(r.applies(d, b, st) for r in objectives):
            raise BadInput("--find-capacity", f"no --slo objective applies to {d}/{b}/{st}, which it searches; "
                                              "add one, e.g. --slo 'read p99 < 5ms'")
    for r in rules:
        if r.is_ratio and r.basis == "capacity" and not scopes:
            raise BadInput("--slo", f"{r.text!r} compares capacities: add --find-capacity (e.g. --find-capacity all)")
        if r.is_ratio and not {r.num, r.den} <= set(strategies):
            raise BadInput("--slo", f"{r.text!r} compares {r.num} and {r.den}: list both in --strategies")
    return out


def check_report_dir(path: str) -> None:
    """--report-dir must be a folder we can create and write in; checked before anything runs, and
    nothing is left behind (a refused run writes nothing; the probe file is removed at once)."""
    option = "--report-dir"
    probe = os.path.abspath(path or ".")
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise BadInput(option, f"{path!r} cannot be a folder: {probe!r} is a file; give a folder path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BadInput(option, f"{path!r} is not writable ({probe!r} does not let this user write); give a folder "
                               "you can write to")
    # permission bits can say yes where the file system says no (root under /proc or /sys, a
    # read-only mount): create and remove a file in the nearest existing folder
    try:
        fd, name = tempfile.mkstemp(prefix=".cacheswarm-probe-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise BadInput(option, f"{path!r} cannot hold a report ({probe!r}: {e.strerror or e}); give a folder on a "
                               "writable file system, e.g. --report-dir reports") from None


def check_users(value) -> None:
    """-u/--users: Locust would run 1 user for 0 and report 0; refuse it instead."""
    if value is None:
        return
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadInput("-u/--users", f"{value!r} is not a whole number; give at least 1 user") from None
    if n < 1:
        raise BadInput("-u/--users", f"{value} users would run nothing; give at least 1 (e.g. -u 10)")


def value_size(value, datasets, fix: str = "add products to --dataset or drop it") -> int:
    """--value-size, for a run and for `cacheswarm seed` (which says its own `fix`)."""
    size = _ranged("--value-size", value, 0, MAX_VALUE_SIZE, kind=int)
    if size and "products" not in datasets:
        raise BadInput("--value-size", f"pads products (the key-value dataset); {fix}")
    return size


def _run_name(value) -> str:
    value = str(value)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", value):
        raise BadInput("--run-name", f"{value!r} is not a usable folder name; use letters, digits, '.', '_' or '-'")
    return value


class _AnyValue(tuple):
    """Choices the web form shows as a drop-down, while argparse lets every value through to
    settings_from (whose error is one line naming the option and the choices)."""

    def __contains__(self, _value) -> bool:
        return True


def add_to_parser(parser, options=ALL_OPTIONS, locust: bool = True) -> None:
    """Register options on Locust's parser (env var, web UI, secret flags) or a plain argparse one."""
    for o in options:
        # the CLI honours the same LOCUST_* variables as the locustfile (Locust's parser reads them itself)
        default = o.default if locust else os.environ.get(o.env_var, o.default)
        kwargs = dict(default=default, help=o.help + ("" if locust else f" [env {o.env_var}]"))
        if o.kind is bool:
            kwargs["action"] = "store_true"
        elif o.kind is list:
            kwargs["action"] = "append"
        elif o.kind is not str:
            kwargs["type"] = str  # validated in settings_from so errors are one clear line
        if locust:
            kwargs.update(env_var=o.env_var, include_in_web_ui=o.web_ui, is_secret=o.secret)
            if o.choices:
                kwargs["choices"] = _AnyValue(o.choices)
        parser.add_argument(o.flag, **kwargs)
