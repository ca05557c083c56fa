"""`cacheswarm seed | report | compare | global-tables | clean`: everything around a run that is not the run itself.

The run is plain Locust:  locust -f locustfiles/compare.py --headless ...
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from . import catalog, options
from . import global_tables
from .global_tables import Unusable
from . import orders
from .orders import DEFAULT_ORDERS, MAX_SEEDED_ORDERS
from .restaurants import DEFAULT_REVIEWS
from .options import BadInput


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad input
        # (arguments no subcommand knows are the top parser's to refuse: name the subcommand given)
        command = self.prog.split()[-1] if self.prog != "cacheswarm" else next(
            (a for a in sys.argv[1:2] if not a.startswith("-")), "")
        self.exit(2, f"cacheswarm: error: {message} (see `{' '.join(['cacheswarm', command]).strip()} --help`)\n")


SEEDED = ("products", "restaurants", "orders")  # the datasets with tables of their own


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cacheswarm", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    seed = sub.add_parser("seed", help="create and load a dataset's tables (deterministic, idempotent)")
    seed.add_argument("dataset", choices=SEEDED, help="products, restaurants or orders (the queries dataset reads "
                                                      "the restaurants' reviews; the Redis-native ones need no seeding)")
    seed.add_argument("--backend", default=catalog.DEFAULT_BACKEND, help="where to seed: " + ", ".join(
        b + " (default)" if b == catalog.DEFAULT_BACKEND else b for b in catalog.databases()))
    seed.add_argument("--rows", type=int, default=100_000, help="products: how many (default 100000)")
    seed.add_argument("--restaurants", type=int, default=1000, help="restaurants: how many (default 1000)")
    seed.add_argument("--reviews-per-restaurant", type=int, default=DEFAULT_REVIEWS,
                      help=f"restaurants: seeded reviews per restaurant (default {DEFAULT_REVIEWS}; changing it "
                           "needs --reset)")
    seed.add_argument("--customers", type=int, default=1000, help="orders: how many customers (default 1000)")
    seed.add_argument("--orders-per-customer", type=int, default=DEFAULT_ORDERS,
                      help=f"orders: seeded orders per customer (default {DEFAULT_ORDERS}; changing it needs --reset)")
    seed.add_argument("--items-file", default="", help="restaurants: load this JSON-lines file of the tutorial's "
                                                       "items (one DynamoDB item per line) instead of generated data")
    seed.add_argument("--value-size", type=int, default=0,
                      help="products: bytes of padding per row, so values are as large as yours (memtier's "
                           "--data-size; default 0; changing it needs --reset on MySQL)")
    seed.add_argument("--reset", action="store_true", help="rewrite everything to its seeded values (removes what "
                                                           "runs wrote)")
    seed.add_argument("--parallel", type=int, default=0,
                      help="loader connections/threads (default: 2 for MySQL, 8 for DynamoDB)")
    options.add_to_parser(seed, options.CONNECTION_OPTIONS, locust=False)

    rep = sub.add_parser("report", help="render comparison.* again from a report directory's histograms")
    rep.add_argument("directory")

    cmp_ = sub.add_parser("compare", help="compare two runs' figures; exits 4 on a regression past --max-regression")
    cmp_.add_argument("base_dir", help="the baseline run's report directory (repeated runs: a comma list)")
    cmp_.add_argument("new_dir", help="the new run's report directory (repeated runs: a comma list)")
    cmp_.add_argument("--max-regression", default="10%", help="how much worse a figure may get (default 10%%)")
    cmp_.add_argument("--out", default="", help="where to write compare.html/.json (default: NEW_DIR/compare-vs-<base>)")

    opts = sub.add_parser("options", help="list every run option (locust -f locustfiles/compare.py ...) with its default")
    opts.add_argument("--markdown", action="store_true",
                      help="print the options reference as Markdown (docs/options.md is this output)")

    gt = sub.add_parser("global-tables", help="DynamoDB global tables: replication lag per region pair, updates lost "
                                              "to last-writer-wins and stale reads through regional caches (emulated "
                                              "locally, or a real table on AWS)")
    gt.add_argument("--regions", required=True, help="two or three regions, e.g. us-east-1,eu-west-1")
    gt.add_argument("--dynamodb-endpoint", default="embedded",
                      help="embedded (default: one DynamoDB Local per region and an emulated replication with "
                           "--replication-lag) or aws (the global table --table, replicated by AWS)")
    gt.add_argument("--replication-lag", default="",
                      help="embedded: the lag the emulated replication holds each write for, e.g. 40ms or "
                           "20ms..150ms (default 40ms); AWS's own is what --dynamodb-endpoint aws measures")
    gt.add_argument("--table", default="", help="aws: the global table to probe (it must have a replica in "
                                                  "every region given; the probe's items are deleted after)")
    gt.add_argument("--markers", type=int, default=20, help="lag markers per region pair (default 20)")
    gt.add_argument("--conflicts", type=int, default=10,
                      help="items updated in every region at once, to count the updates lost (default 10; 0: none)")
    gt.add_argument("--stale-items", type=int, default=3,
                      help="items written in the first region and read through every other region's cache, per "
                           "invalidation remedy (local, every-region, stream; default 3; 0: none)")
    gt.add_argument("--cache-ttl", default="1s", help="the regional caches' TTL for the stale-read probe (default 1s)")
    gt.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                      help="the regional caches: one Redis for every region, a key prefix each (embedded; default "
                           "redis://127.0.0.1:6379/0), or REGION=URL for each region (on AWS, each region's ElastiCache)")
    gt.add_argument("--namespace", default="cacheswarm", help="embedded: prefix of the probe's table and keys")
    gt.add_argument("--out", default="", help="also write global-tables.html, .csv and .json into this directory")

    clean = sub.add_parser("clean", help="remove this namespace's tables and Redis keys (nothing else)")
    clean.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    options.add_to_parser(clean, options.CONNECTION_OPTIONS, locust=False)
    return p


MAX_PARALLEL = 64
EXIT_REGRESSION = 4  # like a failed objective: the gate did not pass
EXIT_INCOMPLETE = 3  # interrupted: what was done stays (seeding is idempotent), temp files are removed


def _interrupt(signum, _frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: unwind, so temp files and connections go
    try:
        return {"seed": _seed, "report": _report, "clean": _clean, "compare": _compare,
                "options": _options, "global-tables": global_tables.run}[args.command](args)
    except BadInput as e:
        sys.stderr.write(f"cacheswarm: error: {e}\n")
        return 2
    except (_Unusable, Unusable) as e:
        sys.stderr.write(f"cacheswarm: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stderr.write("cacheswarm: interrupted; " + INTERRUPTED.get(args.command, INTERRUPTED["seed"]) + "\n")
        return EXIT_INCOMPLETE


INTERRUPTED = {"seed": "what was loaded stays, run the command again to finish",
               "global-tables": "what was measured is above (and in --out's global-tables.json, marked partial)"}


class _Unusable(Exception):
    pass


def _seed(args) -> int:
    from tqdm import tqdm

    from .stores import ConnectError, ForeignTable, dynamodb
    from .stores.items_file import ItemsFileError
    from .stores.mysql_products import ValueSizeMismatch

    backend = options._choice("--backend", args.backend, catalog.databases())
    binding = catalog.BINDINGS.get((args.dataset, backend))
    if binding is None:
        raise BadInput("--backend", f"the {args.dataset} dataset has no {backend} binding: seed it on "
                                    f"{' or '.join(catalog.backends_of(args.dataset))}")
    if args.items_file and binding.seed and not binding.items_file:
        loads_items = [b.backend for b in catalog.BINDINGS.values() if b.dataset == "restaurants" and
                       (b.items_file or not b.seed)]  # (DynamoDB's seed is wired by name, and loads one)
        raise BadInput("--items-file", f"is loaded on {' or '.join(loads_items)}; drop it to seed {backend}")
    for flag, value in (("--rows", args.rows), ("--restaurants", args.restaurants),
                        ("--reviews-per-restaurant", args.reviews_per_restaurant), ("--customers", args.customers),
                        ("--orders-per-customer", args.orders_per_customer)):
        if value < 1:
            raise BadInput(flag, f"{value} must be at least 1")
    if args.orders_per_customer > MAX_SEEDED_ORDERS:
        raise BadInput("--orders-per-customer", f"{args.orders_per_customer} is too many; use at most "
                                                f"{MAX_SEEDED_ORDERS}")
    if args.reviews_per_restaurant > 1000:
        raise BadInput("--reviews-per-restaurant", f"{args.reviews_per_restaurant} is too many; use at most 1000")
    if args.parallel < 0 or args.parallel > MAX_PARALLEL:
        raise BadInput("--parallel", f"{args.parallel} is out of range; use 1 to {MAX_PARALLEL} loader threads "
                                     "(more only queue up on the server)")
    options.value_size(args.value_size, (args.dataset,), "use it with `cacheswarm seed products`")
    if args.items_file and args.dataset != "restaurants":
        raise BadInput("--items-file", "holds restaurants and reviews; use it with `cacheswarm seed restaurants`")
    conn = options.connection_settings(args)
    if backend == "dynamodb":
        options.check_dynamodb(conn)
        if conn["dynamodb_endpoint"] == "embedded":
            raise BadInput("--dynamodb-endpoint", "the embedded emulator lives for one run and the run seeds it "
                                                  "itself; to seed a lasting table give http://host:8000 "
                                                  "(DynamoDB Local) or aws")
    items = None
    if args.items_file:
        from .stores import items_file
        try:
            items = items_file.read(args.items_file)
        except ItemsFileError as e:
            raise BadInput("--items-file", str(e)) from None
    started = time.perf_counter()
    try:
        seeder, total = _seeder(args, backend, conn, items)
        with tqdm(total=total, unit="items", unit_scale=True, desc=f"seeding {args.dataset} on {backend}",
                  disable=None) as bar:
            result = seeder(bar.update)
            bar.update(max(0, total - bar.n))
    except (ConnectError, ForeignTable, dynamodb.DynamoDBError, ValueSizeMismatch) as e:
        raise _Unusable(str(e)) from None
    took = time.perf_counter() - started
    rate = result["loaded"] / took if took and result["loaded"] else 0
    unit = {"products": "products", "orders": "customers"}.get(args.dataset, "restaurants")
    print(f"{result['table']}: {result['rows']} {unit} ({result['loaded']} items loaded"
          + (f", {result['trimmed']} trimmed" if result.get("trimmed") else "") + f") in {took:.1f}s"
          + (f", {rate:,.0f} items/s" if rate else ""))
    if args.dataset == "orders":  # the lab's hot partition, as the table now holds it
        print(orders.hot_partition(result["status_counts"]))
    return 0


def _seeder(args, backend: str, conn: dict, items):
    """(seed(progress) -> result, total items) for the dataset and backend."""
    from .stores import dynamodb, dynamodb_orders, dynamodb_products, dynamodb_restaurants

    ns, reset, allow = conn["namespace"], args.reset, conn["allow_existing_table"]
    n, m = args.restaurants, args.reviews_per_restaurant
    if args.dataset == "orders":  # customers, and orders per customer in the place of reviews per restaurant
        n, m = args.customers, args.orders_per_customer
    seeder = catalog.BINDINGS[(args.dataset, backend)].seeder()
    if seeder is not None:  # a backend a module describes: its binding's own seed
        rows, total = ((args.rows, args.rows) if args.dataset == "products" else
                       (n, n * m) if args.dataset == "orders" else (n, n * (m + 1)))
        return (lambda p: seeder(conn["targets"][backend], ns, rows, reviews=m, reset=reset, progress=p,
                                 value_size=args.value_size, allow_existing=allow, parallel=args.parallel or 2,
                                 timeout=max(conn["op_timeout"], 60), **({"items": items} if items else {}))), \
            (len(items) if items else total)
    client = dynamodb.make_client(conn["dynamodb_endpoint"], conn["aws_region"], 5, 32, max(conn["op_timeout"], 30))
    dynamodb.check_reachable(client, conn["dynamodb_endpoint"])
    kw = dict(parallel=args.parallel or 8, reset=reset, allow_existing=allow)
    if args.dataset == "products":
        return (lambda p: dynamodb_products.seed(client, ns, args.rows, progress=p, value_size=args.value_size,
                                                 **kw)), args.rows
    if args.dataset == "orders":
        return (lambda p: dynamodb_orders.seed(client, ns, n, m, progress=p, **kw)), n * m
    if items is not None:
        return (lambda p: dynamodb_restaurants.load_items(client, ns, items, progress=p, **kw)), len(items)
    return (lambda p: dynamodb_restaurants.seed(client, ns, n, m, progress=p, **kw)), n * (m + 1)


def _report(args) -> int:
    from . import report

    path = os.path.join(args.directory, report.RAW_FILE)
    if not os.path.isfile(path):
        raise BadInput("directory", f"{args.directory!r} holds no {report.RAW_FILE}; give a cacheswarm report directory")
    try:
        report.render(args.directory)
    except report.BadRawFile as e:
        raise BadInput("directory", f"{path}: {e}; give the directory of a cacheswarm run") from None
    print(f"cacheswarm report: {os.path.join(args.directory, 'comparison.html')}")
    return 0


def _run_dir(directory: str, option: str) -> str:
    from . import report

    path = os.path.join(directory, report.RAW_FILE)
    if not os.path.isfile(path):
        raise BadInput(option, f"{directory!r} holds no {report.RAW_FILE}; give a cacheswarm report directory")
    return path


def _compare(args) -> int:
    from . import report
    from .report import compare

    text = str(args.max_regression).strip()
    try:
        limit = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise BadInput("--max-regression", f"{text!r} is not a share; write it like 10% or 0.1") from None
    if not 0 <= limit < 100 or limit != limit:
        raise BadInput("--max-regression", f"{text!r} is out of range; use e.g. 10%")
    sides = []
    for option, given in (("BASE_DIR", args.base_dir), ("NEW_DIR", args.new_dir)):
        runs = []
        for directory in [d for d in str(given).split(",") if d] or [str(given)]:
            path = _run_dir(directory, option)
            try:
                runs.append(compare.load(directory))
            except report.BadRawFile as e:
                raise BadInput(option, f"{path}: {e}; give the directory of a cacheswarm run") from None
        sides.append(runs if len(runs) > 1 else runs[0])
    result = compare.compare(*sides, limit)
    print("\n".join(compare.lines(result)))
    first_new, first_base = str(args.new_dir).split(",")[0], str(args.base_dir).split(",")[0]
    out = args.out or os.path.join(first_new, f"compare-vs-{os.path.basename(os.path.normpath(first_base))}")
    print(f"cacheswarm compare: {compare.write(out, result)}")
    return EXIT_REGRESSION if result["regressions"] else 0


OPTION_GROUPS = (("Run", "RUN_OPTIONS"),
                 ("Operations and datasets: YCSB inserts, scans, read-modify-writes; query caching; rate limiting",
                  "WORKLOAD_OPTIONS"),
                 ("Cache behaviour: write policies, staleness, stampedes, eviction, replicas, drills", "CACHE_OPTIONS"),
                 ("Objectives and capacity search", "SLO_OPTIONS"),
                 ("DynamoDB global tables: regions, home regions, replication lag", "REGION_OPTIONS"),
                 ("Connections", "CONNECTION_OPTIONS"))
OPTIONS_INTRO = ("Options of `locust -f locustfiles/compare.py` (also LOCUST_<NAME> variables, --config files and the "
                 "web UI form)")


def _default(o) -> str:
    return "off" if o.kind is bool and not o.default else "none" if o.default in (None, "") else str(o.default)


def _options(args) -> int:
    """Locust prints --help before it loads the locustfile, so our options are listed here; --markdown
    writes the reference page (docs/options.md, which a test holds to this output)."""
    groups = [(title, getattr(options, name)) for title, name in OPTION_GROUPS]
    if args.markdown:
        print("# Options\n\n<!-- generated by `cacheswarm options --markdown > docs/options.md`; do not edit -->\n")
        print(f"{OPTIONS_INTRO.replace('LOCUST_<NAME>', '`LOCUST_<NAME>`').replace('--config', '`--config`')}. Locust's own options (`-u`, `-r`, `--headless`, `--config`, `--csv`, `--html`, ...) "
              "are Locust's: `locust --help`.")
        for title, opts in groups:
            print(f"\n## {title}\n\n| option | default | variable | meaning |\n|---|---|---|---|")
            for o in opts:
                cells = (f"`{o.flag}`", f"`{_default(o)}`", f"`{o.env_var}`", o.help)
                print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return 0
    print(f"{OPTIONS_INTRO}:")
    for title, opts in groups:
        print(f"\n{title}:")
        for o in opts:
            print(f"  {o.flag:24s} default {_default(o):34s} {o.env_var}")
            print(f"  {'':24s} {o.help}")
    return 0


def _clean(args) -> int:
    from .cache import CacheError, RedisCache
    from .lease import lease_key
    from .stores import ConnectError, dynamodb, dynamodb_orders, dynamodb_products, dynamodb_restaurants

    conn = options.connection_settings(args)
    ns, endpoint = conn["namespace"], conn["dynamodb_endpoint"]
    try:
        cache = RedisCache(conn["redis_url"], conn["redis_password"], 4, conn["op_timeout"], conn["redis_ca_cert"])
        cache.check(options.redact_url(conn["redis_url"]))
        holder = cache.client.get(lease_key(ns))
        if holder:
            raise _Unusable(f"namespace '{ns}' is in use by {holder.decode(errors='replace')}; wait for that run "
                            "to end before cleaning it")
        client, ddb_tables = None, []
        if endpoint != "embedded":  # the embedded emulator keeps nothing after its run
            options.check_dynamodb(conn)
            client = dynamodb.make_client(endpoint, conn["aws_region"], 2, 10, conn["op_timeout"])
            dynamodb.check_reachable(client, endpoint)
            for mod in (dynamodb_products, dynamodb_restaurants, dynamodb_orders):
                t = mod.table_name(ns)
                if dynamodb.table_status(client, t) is not None and dynamodb.owned(client, t, mod.OWNER_KEY):
                    ddb_tables.append(t)
    except (CacheError, dynamodb.DynamoDBError) as e:
        raise _Unusable(str(e)) from None
    described, notes = {}, []
    for b in catalog.described():  # each backend a module describes lists (and drops) its own tables
        t = conn["targets"][b.name]
        try:
            described[b.name] = b.hooks().owned_tables(t, ns, conn["op_timeout"])
            notes.append(f"{b.label} tables {described[b.name] or 'none'} in {t.redacted()}")
        except ConnectError as e:
            notes.append(f"{b.label} not cleaned ({e})")
    keys = sum(1 for _ in cache.client.scan_iter(match=f"{ns}:*", count=1000))
    regional = _regional_caches(conn)  # a global table's run on one Redis URL: its other regions' databases
    keys += sum(1 for c in regional for _ in c.client.scan_iter(match=f"{ns}:*", count=1000))
    if client:
        notes.append(f"DynamoDB tables {ddb_tables or 'none'} at {dynamodb.describe(endpoint)}")
    print(f"will remove: {'; '.join(notes)}; {keys} Redis keys matching '{ns}:*'"
          + (f" (with the databases a global table's run gives its other regions, "
             f"{', '.join('/' + c.url.rsplit('/', 1)[1] for c in regional)})" if regional else ""))
    if not args.yes:
        if not sys.stdin.isatty():
            raise BadInput("--yes", "no terminal to confirm on; add --yes to remove without asking")
        if input("proceed? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    for t in ddb_tables:
        dynamodb.delete_table(client, t)
    for name, names in described.items():
        catalog.BACKENDS[name].hooks().drop_tables(conn["targets"][name], names, conn["op_timeout"])
    removed = cache.clear(ns) + sum(c.clear(ns) for c in regional)
    print(f"removed {len(ddb_tables) + sum(map(len, described.values()))} table(s) and {removed} key(s)")
    return 0


def _regional_caches(conn) -> list:
    """The Redis databases after --redis-url's that a global table's run on that one URL gives its other
    regions (opt_regions.database), reachable ones only (a server with fewer databases has none)."""
    from .cache import CacheError, RedisCache
    from .opt_regions import MAX_REGIONS, database

    out = []
    for offset in range(1, MAX_REGIONS):
        try:
            cache = RedisCache(database(conn["redis_url"], offset), conn["redis_password"], 2, conn["op_timeout"],
                               conn["redis_ca_cert"])
            cache.check(options.redact_url(cache.url))
        except (BadInput, CacheError):
            break
        out.append(cache)
    return out

if __name__ == "__main__":
    sys.exit(main())
