"""`cacheswarm seed | report | compare | replication | clean`: everything around a run that is not the run itself.

The run is plain Locust:  locust -f locustfiles/compare.py --headless ...
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from . import catalog, options
from .restaurants import DEFAULT_REVIEWS
from .options import BadInput


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad input
        self.exit(2, f"cacheswarm: error: {message} (see `cacheswarm {self.prog.split()[-1]} --help`)\n")


SEEDED = ("products", "restaurants")  # the datasets with tables of their own


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cacheswarm", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    seed = sub.add_parser("seed", help="create and load a dataset's tables (deterministic, idempotent)")
    seed.add_argument("dataset", choices=SEEDED, help="products or restaurants (the queries dataset reads the "
                                                      "restaurants' reviews; the Redis-native ones need no seeding)")
    seed.add_argument("--backend", default=catalog.DEFAULT_BACKEND, help="where to seed: " + ", ".join(
        b + " (default)" if b == catalog.DEFAULT_BACKEND else b for b in catalog.databases()))
    seed.add_argument("--rows", type=int, default=100_000, help="products: how many (default 100000)")
    seed.add_argument("--restaurants", type=int, default=1000, help="restaurants: how many (default 1000)")
    seed.add_argument("--reviews-per-restaurant", type=int, default=DEFAULT_REVIEWS,
                      help=f"restaurants: seeded reviews per restaurant (default {DEFAULT_REVIEWS}; changing it "
                           "needs --reset)")
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

    rep_ = sub.add_parser("replication", help="DynamoDB global tables: replication lag per region pair and updates "
                                              "lost to last-writer-wins (emulated locally, or a real table on AWS)")
    rep_.add_argument("--regions", required=True, help="two or three regions, e.g. us-east-1,eu-west-1")
    rep_.add_argument("--dynamodb-endpoint", default="embedded",
                      help="embedded (default: one DynamoDB Local per region and an emulated replication with "
                           "--replication-lag) or aws (the global table --table, replicated by AWS)")
    rep_.add_argument("--replication-lag", default="",
                      help="embedded: the lag the emulated replication holds each write for, e.g. 40ms or "
                           "20ms..150ms (default 40ms); AWS's own is what --dynamodb-endpoint aws measures")
    rep_.add_argument("--table", default="", help="aws: the global table to probe (it must have a replica in "
                                                  "every region given; the probe's items are deleted after)")
    rep_.add_argument("--markers", type=int, default=20, help="lag markers per region pair (default 20)")
    rep_.add_argument("--conflicts", type=int, default=10,
                      help="items updated in every region at once, to count the updates lost (default 10; 0: none)")
    rep_.add_argument("--stale-items", type=int, default=3,
                      help="embedded: items written in the first region and read through every other region's "
                           "cache, per invalidation remedy (local, every-region, stream; default 3; 0: none)")
    rep_.add_argument("--cache-ttl", default="1s", help="embedded: the regional caches' TTL (default 1s)")
    rep_.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                      help="embedded: the Redis that holds every region's cache, a key prefix per region "
                           "(default redis://127.0.0.1:6379/0)")
    rep_.add_argument("--namespace", default="cacheswarm", help="embedded: prefix of the probe's table and keys")
    rep_.add_argument("--out", default="", help="also write the figures to this directory's replication.json")

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
                "options": _options, "replication": _replication}[args.command](args)
    except BadInput as e:
        sys.stderr.write(f"cacheswarm: error: {e}\n")
        return 2
    except _Unusable as e:
        sys.stderr.write(f"cacheswarm: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stderr.write("cacheswarm: interrupted; " + INTERRUPTED.get(args.command, INTERRUPTED["seed"]) + "\n")
        return EXIT_INCOMPLETE


INTERRUPTED = {"seed": "what was loaded stays, run the command again to finish",
               "replication": "what was measured is above (and in --out's replication.json, marked partial)"}


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
                        ("--reviews-per-restaurant", args.reviews_per_restaurant)):
        if value < 1:
            raise BadInput(flag, f"{value} must be at least 1")
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
    unit = "products" if args.dataset == "products" else "restaurants"
    print(f"{result['table']}: {result['rows']} {unit} ({result['loaded']} items loaded"
          + (f", {result['trimmed']} trimmed" if result.get("trimmed") else "") + f") in {took:.1f}s"
          + (f", {rate:,.0f} items/s" if rate else ""))
    return 0


def _seeder(args, backend: str, conn: dict, items):
    """(seed(progress) -> result, total items) for the dataset and backend."""
    from .stores import dynamodb, dynamodb_products, dynamodb_restaurants

    ns, reset, allow = conn["namespace"], args.reset, conn["allow_existing_table"]
    n, m = args.restaurants, args.reviews_per_restaurant
    seeder = catalog.BINDINGS[(args.dataset, backend)].seeder()
    if seeder is not None:  # a backend a module describes: its binding's own seed
        rows, total = (args.rows, args.rows) if args.dataset == "products" else (n, n * (m + 1))
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
                 ("Cache behaviour: write policies, staleness, stampedes, eviction, replicas", "CACHE_OPTIONS"),
                 ("Objectives and capacity search", "SLO_OPTIONS"),
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
    from .stores import ConnectError, dynamodb, dynamodb_products, dynamodb_restaurants

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
            for mod in (dynamodb_products, dynamodb_restaurants):
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
    if client:
        notes.append(f"DynamoDB tables {ddb_tables or 'none'} at {dynamodb.describe(endpoint)}")
    print(f"will remove: {'; '.join(notes)}; {keys} Redis keys matching '{ns}:*'")
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
    removed = cache.clear(ns)
    print(f"removed {len(ddb_tables) + sum(map(len, described.values()))} table(s) and {removed} key(s)")
    return 0

if __name__ == "__main__":
    sys.exit(main())


CALIBRATION_MARKERS = 10  # per region pair, at lag 0, after as many to warm the servers
REGION_NAME = r"[a-z]{2}(-gov)?-[a-z]+-\d"  # us-east-1, eu-west-1, ap-southeast-1, us-gov-west-1


def _replication(args) -> int:
    """`cacheswarm replication`: what users in each region of a global table see of the others' writes."""
    import json
    import re
    import statistics

    from . import emulator
    from .stores import dynamodb, dynamodb_global as glob

    names = [r.strip() for r in args.regions.split(",") if r.strip()]
    bad = [r for r in names if not re.fullmatch(REGION_NAME, r)]
    if bad or len(names) < 2 or len(names) > 3 or len(set(names)) < len(names):
        raise BadInput("--regions", f"{args.regions!r}: give two or three different AWS regions, e.g. "
                                    "us-east-1,eu-west-1" + (f" ({bad[0]!r} is not a region name)" if bad else ""))
    for flag, value, low, top in (("--markers", args.markers, 1, 10_000), ("--conflicts", args.conflicts, 0, 10_000),
                                  ("--stale-items", args.stale_items, 0, 1_000)):
        if not low <= value <= top:
            raise BadInput(flag, f"{value} is out of range; use {low} to {top:,}")
    ttl_s = glob.parse_duration(args.cache_ttl, "--cache-ttl")
    if not 0.01 <= ttl_s <= 600:
        raise BadInput("--cache-ttl", f"{args.cache_ttl!r}: give 10ms to 10m, e.g. 1s (each item waits it out once)")
    endpoint = args.dynamodb_endpoint.strip()
    if endpoint not in ("embedded", "aws"):
        raise BadInput("--dynamodb-endpoint", f"{endpoint!r}: use embedded or aws (a global table's replicas "
                                              "are regions, not one endpoint)")
    if endpoint == "aws":
        if args.replication_lag:
            raise BadInput("--replication-lag", "only the embedded emulation injects a lag; on AWS the lag is "
                                                "what is measured: drop it")
        if not args.table:
            raise BadInput("--table", "name the global table to probe with --dynamodb-endpoint aws")
        lag = None
    else:
        if args.table:
            raise BadInput("--table", "the embedded emulation makes its own table; --table is for "
                                      "--dynamodb-endpoint aws")
        lag = glob.parse_lag(args.replication_lag or "40ms")
        if not options.NAMESPACE_RE.match(args.namespace):
            raise BadInput("--namespace", f"{args.namespace!r} is not allowed; use 1-30 lowercase letters, digits "
                                          "or _ starting with a letter")
    out_dir = args.out
    if out_dir and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise BadInput("--out", f"{out_dir!r} is a file; give a directory")

    say = lambda line: print(f"cacheswarm: {line}", flush=True)  # noqa: E731
    result = {"regions": names, "endpoint": endpoint, "pairs": [], "conflicts": None, "partial": True}

    def measure(regions, table, schema, calibrate=None):
        for src in regions:
            for dst in regions:
                if src is dst:
                    continue
                overhead = None
                if calibrate:
                    say(f"measuring the emulation's own delay {src.name} -> {dst.name} at lag 0 ...")
                    overhead = calibrate(src, dst)
                say(f"probing {src.name} -> {dst.name} with {args.markers} markers ...")
                lags: list = []
                try:
                    glob.probe_lag_keys(src, dst, table, schema, args.markers, into=lags)
                finally:  # interrupted: the markers measured so far are this pair's figures
                    _add_pair(result, src.name, dst.name, lags, overhead)
        if args.conflicts:
            say(f"updating {args.conflicts} items in every region at once ...")
            result["conflicts"] = glob.probe_conflicts(regions, table, schema, args.conflicts)
            print("  " + _conflict_line(result["conflicts"], len(regions)), flush=True)

    cache = None
    if endpoint == "embedded" and args.stale_items:  # the regional caches answer before any emulator starts
        from .cache import CacheError, RedisCache

        options._check_redis_url(args.redis_url)
        try:
            cache = RedisCache(args.redis_url, "", 2, 5.0, "")
            cache.check(options.redact_url(args.redis_url))
        except CacheError as e:
            raise _Unusable(f"{e} (--redis-url holds the regional caches)") from None

    def stale(regions, table):
        caches = {r.name: cache.client for r in regions}  # one Redis, a key prefix per region
        result["stale"] = []
        say(f"stale reads through each region's cache (TTL {args.cache_ttl}) after a write in {regions[0].name}, "
            f"{args.stale_items} items per remedy:")
        for remedy in glob.REMEDIES:
            got = glob.probe_stale(regions, caches, table, remedy, args.stale_items, ttl_s,
                                   prefix=f"{args.namespace}:replication")
            result["stale"].append(got)
            print("  " + _stale_line(got), flush=True)

    try:
        if endpoint == "embedded":
            table = f"{args.namespace}_replication"
            try:
                with glob.EmulatedRegions(names, table, lag, say=say) as em:
                    result.update(emulated=True, emulator=em.emulator, replication_lag=args.replication_lag or "40ms")
                    say(f"{', '.join(names[:-1])} and {names[-1]}: {em.emulator} per region; replication emulated, holding each "
                        f"write {result['replication_lag']} (not AWS's lag: see docs/global-tables.md)")
                    def calibrate(src, dst):
                        """The emulation's own delay (stream reads, the apply, the probe's polls), at lag 0 on
                        warm servers: what the lag figures hold beyond the lag injected."""
                        em.replicator.lag = lambda: 0.0
                        glob.probe_lag_keys(src, dst, table, [("id", "S")], CALIBRATION_MARKERS)  # warm-up
                        ref = [x for x in glob.probe_lag_keys(src, dst, table, [("id", "S")], CALIBRATION_MARKERS)
                               if x is not None]
                        em.replicator.lag = lag
                        return round(statistics.median(ref) * 1000, 2) if ref else None

                    measure(em.regions, table, [("id", "S")], calibrate)
                    if args.stale_items:
                        stale(em.regions, table)
                    result["replicator"] = {"applied": {f"{a}->{b}": n for (a, b), n in em.replicator.applied.items()},
                                            "superseded": {f"{a}->{b}": n for (a, b), n in
                                                           em.replicator.superseded.items()},
                                            "errors": em.replicator.errors[:20]}
            except emulator.EmulatorError as e:
                raise _Unusable(f"{e}: the emulated global table needs DynamoDB Local (make install fetches it)") \
                    from None
        else:
            regions = []
            for name in names:
                client = dynamodb.make_client("aws", name, 2, 10, 10.0)
                regions.append(glob.Region(name, client, None))
            try:
                schema = glob.key_schema(regions[0].client, args.table)
                replicas = {r["RegionName"] for r in regions[0].client.describe_table(
                    TableName=args.table)["Table"].get("Replicas", [])} | {names[0]}
            except Exception as e:  # no credentials, no table, no permission: one line
                raise _Unusable(f"cannot describe {args.table} in {names[0]}: {e}") from None
            missing = [n for n in names if n not in replicas]
            if missing:
                raise BadInput("--regions", f"{args.table} has no replica in {', '.join(missing)} (its replicas: "
                                            f"{', '.join(sorted(replicas))})")
            result.update(emulated=False, table=args.table)
            measure(regions, args.table, schema)
            if args.stale_items:
                say("stale reads through regional caches: measured with the embedded emulation only for now "
                    "(a Redis per region is not taken yet)")
        result["partial"] = False
    finally:
        if out_dir and (result["pairs"] or result["conflicts"]):
            os.makedirs(out_dir, exist_ok=True)
            with open(os.path.join(out_dir, "replication.json"), "w") as f:
                json.dump(result, f, indent=2)
            print(f"cacheswarm replication report: {os.path.join(out_dir, 'replication.json')}"
                  + (" (partial: interrupted)" if result["partial"] else ""), flush=True)
    lost_markers = sum(p["markers"] - p["arrived"] for p in result["pairs"])
    errors = (result.get("replicator") or {}).get("errors")
    return 1 if lost_markers or errors or (result["conflicts"] and result["conflicts"]["converged_s"] is None) else 0


def _add_pair(result: dict, src: str, dst: str, lags: list, overhead) -> None:
    import statistics

    from .quantile_ci import rank_bounds

    arrived = sorted(x for x in lags if x is not None)
    pair = {"from": src, "to": dst, "markers": len(lags), "arrived": len(arrived)}
    if arrived:
        lo, hi = rank_bounds(len(arrived), 50)
        pair.update(p50_ms=round(statistics.median(arrived) * 1000, 2),
                    p50_ci_ms=[round(arrived[lo - 1] * 1000, 2) if lo >= 1 else None,
                               round(arrived[hi - 1] * 1000, 2) if hi <= len(arrived) else None],
                    max_ms=round(arrived[-1] * 1000, 2))
    if overhead is not None:
        pair["emulation_overhead_p50_ms"] = overhead
    result["pairs"].append(pair)
    print("  " + _lag_line(pair), flush=True)


def _lag_line(pair: dict) -> str:
    if not pair["arrived"]:
        return f"{pair['from']} -> {pair['to']}: none of {pair['markers']} markers arrived within 10 s"
    lo, hi = pair["p50_ci_ms"]
    ci = f" ({lo:,.1f}–{hi:,.1f})" if lo is not None and hi is not None else ""
    missing = pair["markers"] - pair["arrived"]
    own = pair.get("emulation_overhead_p50_ms")
    return (f"{pair['from']} -> {pair['to']}: lag p50 {pair['p50_ms']:,.1f} ms{ci}, max {pair['max_ms']:,.1f} ms "
            f"({pair['arrived']} of {pair['markers']} markers" + (f"; {missing} did not arrive within 10 s" if missing
                                                                  else "")
            + (f"; at lag 0 the emulation alone gave p50 {own:,.1f} ms)" if own is not None else ")"))


def _stale_line(r: dict) -> str:
    from .stores.dynamodb_global import REMEDY_TEXT

    fresh = sorted(x for x in r["stale_s"] if x is not None)
    never = len(r["stale_s"]) - len(fresh)
    window = (f"stale for p50 {statistics_median(fresh):.2f} s, max {fresh[-1]:.2f} s" if fresh else "never fresh")
    tail = f"; {never} never fresh within TTL + 1 s" if never and fresh else ""
    recached = (f"; {r['recached_stale']} misses loaded the old value back from a replica the write had not "
                f"reached yet" if r["recached_stale"] else "")
    return (f"{r['remedy']} ({REMEDY_TEXT[r['remedy']]}): {window} after the write{tail}, {r['stale_reads']} of "
            f"{r['reads']} reads stale{recached}")


def statistics_median(values):
    import statistics

    return statistics.median(values)


def _conflict_line(c: dict, regions: int) -> str:
    won = ", ".join(f"{r} {n}" for r, n in sorted(c["winners"].items()))
    tail = (f"every replica agrees after {c['converged_s']:.2f} s" if c["converged_s"] is not None else
            f"only {c['agree']} of {c['items']} items agree in every region after 30 s")
    return (f"conflicts: {c['items']} items updated in {regions} regions at once: {c['lost']} of {c['writes']} "
            f"updates lost to last-writer-wins (won: {won or 'none'}); {tail}")
