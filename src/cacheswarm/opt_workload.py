"""Options for the operation mix beyond reads and writes (YCSB's core workloads D, E, F): insert,
scan and read-modify-write proportions and scan lengths; their validation."""

from __future__ import annotations

from dataclasses import dataclass

from . import catalog, orders
from .optbase import BadInput, Opt, _choice, _ranged

SCAN_LENGTH_DISTRIBUTIONS = ("uniform", "zipfian")
PRODUCT_READS = ("row", "page")
MAX_SCAN_LENGTH = 10_000

WORKLOAD_OPTIONS = (
    Opt("--insert-ratio", 0.0, "fraction of operations that insert a new product (YCSB insertproportion; ids from a "
                               "counter in Redis shared by every worker, `latest` keys follow them)", float),
    Opt("--scan-ratio", 0.0, "fraction of operations that read a range of products (YCSB scanproportion; MySQL): "
                             "cache-aside MGETs the range's keys and loads the missing ones in one query", float),
    Opt("--rmw-ratio", 0.0, "fraction of operations that read a product, then write it (YCSB "
                            "readmodifywriteproportion), timed as one operation; writes take what is left after "
                            "reads, inserts, scans and these", float),
    Opt("--max-scan-length", 100, "longest scan, in products (YCSB maxscanlength)", int),
    Opt("--scan-length-distribution", "uniform", "scan lengths: uniform or zipfian over 1..--max-scan-length",
        choices=SCAN_LENGTH_DISTRIBUTIONS),
    Opt("--product-read", "row", "products: what a read fetches. row: one product by id (a primary-key lookup). page: "
                                 "a product page, the product and its price rank in its category (how many products "
                                 "of its category are cheaper, counted by the database over an index on category and "
                                 "price: MySQL a COUNT subquery, DynamoDB a GetItem then a Query with Select COUNT "
                                 "on a GSI), a read whose database cost exceeds the client's", choices=PRODUCT_READS),
    Opt("--orders-write", "create", "orders: what a write does. create: a new PENDING order for the customer (every "
                                    "one into the status index's PENDING partition). update-status: the customer's "
                                    "newest order not yet delivered moves on (PENDING to SHIPPED to DELIVERED)",
        choices=orders.WRITES),
    Opt("--queries", 1000, "the queries dataset: distinct SQL queries whose results are cached (keys: a hash of "
                           "the SQL text)", int),
    Opt("--rate-limit", 10, "the ratelimit dataset: requests a client may make per window", int),
    Opt("--rate-window", 1, "the ratelimit dataset: window length in seconds (fixed windows)", int),
    Opt("--query-max-rows", 75, "the queries dataset: each query's LIMIT k is in 1..this (the demo's 75)", int),
)


@dataclass(frozen=True)
class WorkloadSettings:
    """The options above, validated: Settings.workload."""
    insert_ratio: float = 0.0
    scan_ratio: float = 0.0
    rmw_ratio: float = 0.0
    product_read: str = "row"
    orders_write: str = "create"
    queries: int = 1000
    query_max_rows: int = 75
    rate_limit: int = 10
    rate_window: int = 1
    max_scan_length: int = 100
    scan_length_distribution: str = "uniform"

    def mix(self) -> dict:
        """{op: proportion} of the operations besides reads and writes (workload.Workload)."""
        return {"insert": self.insert_ratio, "scan": self.scan_ratio, "rmw": self.rmw_ratio}


def workload_settings(ns, read_ratio: float, datasets) -> WorkloadSettings:
    """Validate the options above; the write proportion is what the mix leaves (at least 0). (What
    a dataset's store cannot do, e.g. scans on DynamoDB's hash key, the catalog refuses: options.py.)"""
    mix = {op: _ranged(f"--{op}-ratio", getattr(ns, f"{op}_ratio", 0.0), 0.0, 1.0) for op in ("insert", "scan", "rmw")}
    if read_ratio + sum(mix.values()) > 1.0 + 1e-9:
        given = " + ".join(f"--{op}-ratio {v:g}" for op, v in mix.items() if v)
        raise BadInput("--read-ratio", f"{read_ratio:g} + {given} is more than 1; lower one of them (writes take "
                                       "what the others leave)")
    for op in ("insert", "scan"):
        if mix[op] and datasets != ("products",):
            raise BadInput(f"--{op}-ratio", f"{op}s apply to the products dataset only; run them with "
                                            "--dataset products")
    product_read = _choice("--product-read", getattr(ns, "product_read", "row"), PRODUCT_READS)
    if product_read != "row" and "products" not in datasets:
        raise BadInput("--product-read", "applies to the products dataset; add products to --dataset or drop it")
    if product_read == "page" and (mix["insert"] or mix["scan"]):
        raise BadInput("--product-read", "page reads cache product pages, which inserts and scans (rows under the same "
                                         "keys) do not make; use --product-read row with --insert-ratio/--scan-ratio")
    orders_write = _choice("--orders-write", getattr(ns, "orders_write", "create"), orders.WRITES)
    if orders_write != "create" and "orders" not in datasets:
        raise BadInput("--orders-write", "applies to the orders dataset; add orders to --dataset or drop it")
    return WorkloadSettings(product_read=product_read, orders_write=orders_write,
                rate_limit=_ranged("--rate-limit", getattr(ns, "rate_limit", 10), 1, 1_000_000_000, kind=int),
                rate_window=_ranged("--rate-window", getattr(ns, "rate_window", 1), 1, 86_400, kind=int),
                queries=_ranged("--queries", getattr(ns, "queries", 1000), 1, 10_000_000, kind=int),
                query_max_rows=_ranged("--query-max-rows", getattr(ns, "query_max_rows", 75), 1, 10_000, kind=int),
                insert_ratio=mix["insert"], scan_ratio=mix["scan"], rmw_ratio=mix["rmw"],
                max_scan_length=_ranged("--max-scan-length", getattr(ns, "max_scan_length", 100), 1, MAX_SCAN_LENGTH,
                                        kind=int),
                scan_length_distribution=_choice("--scan-length-distribution",
                                                 getattr(ns, "scan_length_distribution", "uniform"),
                                                 SCAN_LENGTH_DISTRIBUTIONS))


def phases_of(ns, datasets, backends, strategies, default_backends: str, default_strategies: str):
    """(backends, strategies) of a run whose datasets may be Redis-native patterns (patterns.py):
    left at their defaults, a patterns-only run takes backend redis and the patterns' versions.
    Every dataset, backend and strategy listed must make at least one phase."""
    versions = catalog.patterns()
    if datasets and all(d in versions for d in datasets):
        if str(ns.backend).replace(" ", "") == default_backends:
            backends = ("redis",)
        if str(ns.strategies).replace(" ", "") == default_strategies:
            strategies = tuple(dict.fromkeys(v for d in datasets for v in versions[d]))
    for dataset in datasets:  # a database dataset on a database backend it has no binding for
        unbound = [b for b in backends if dataset not in versions and catalog.BACKENDS[b].database
                   and (dataset, b) not in catalog.BINDINGS]
        if unbound:
            raise BadInput("--backend", f"the {dataset} dataset has no {', '.join(unbound)} binding: run it with "
                                        f"--backend {','.join(catalog.backends_of(dataset))}")
    for option, values, position in (("--dataset", datasets, 0), ("--backend", backends, 1),
                                     ("--strategies", strategies, 2)):
        for value in values:
            if not any(catalog.applies(*c) for c in _combos_with(datasets, backends, strategies, position, value)):
                raise BadInput(option, f"{value} makes no phase with the rest of the run: "
                                       f"{_hint(value, position)}")
    return backends, strategies


def _combos_with(datasets, backends, strategies, position: int, value: str):
    lists = [datasets, backends, strategies]
    lists[position] = (value,)
    return [(d, b, s) for d in lists[0] for b in lists[1] for s in lists[2]]


def _hint(value: str, position: int) -> str:
    versions = catalog.patterns()
    if value in versions:
        return f"{value} runs on --backend redis in its versions ({', '.join(versions[value])})"
    if value == "redis":
        return "backend redis runs the Redis-native datasets (" + ", ".join(versions) + ")"
    if value in catalog.PATTERN_STRATEGIES:
        return f"{value} is a version of the ratelimit dataset (--dataset ratelimit --backend redis)"
    if position == 2:
        return "the Redis-native datasets run in their own versions; list one for the databases' datasets too"
    databases = catalog.databases()
    return f"the databases' datasets run on {', '.join(databases[:-1])} or {databases[-1]}; add one of them"
