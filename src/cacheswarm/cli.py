"""`cacheswarm seed | report | clean`: everything around a run that is not the run itself.

The run is plain Locust:  locust -f locustfiles/compare.py --headless ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import options
from .options import BadInput


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad input
        self.exit(2, f"cacheswarm: error: {message} (see `cacheswarm {self.prog.split()[-1]} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cacheswarm", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    seed = sub.add_parser("seed", help="create and load a dataset's tables (deterministic, idempotent)")
    seed.add_argument("dataset", choices=options.DATASETS)
    seed.add_argument("--rows", type=int, default=100_000, help="number of products (default 100000)")
    seed.add_argument("--reset", action="store_true", help="rewrite existing rows to their seeded values")
    seed.add_argument("--parallel", type=int, default=2, help="loader connections (default 2)")
    options.add_to_parser(seed, options.CONNECTION_OPTIONS, locust=False)

    rep = sub.add_parser("report", help="render comparison.* again from a report directory's histograms")
    rep.add_argument("directory")

    clean = sub.add_parser("clean", help="remove this namespace's tables and Redis keys (nothing else)")
    clean.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    options.add_to_parser(clean, options.CONNECTION_OPTIONS, locust=False)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"seed": _seed, "report": _report, "clean": _clean}[args.command](args)
    except BadInput as e:
        sys.stderr.write(f"cacheswarm: error: {e}\n")
        return 2
    except _Unusable as e:
        sys.stderr.write(f"cacheswarm: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("cacheswarm: interrupted\n")
        return 130


class _Unusable(Exception):
    pass


def _seed(args) -> int:
    from tqdm import tqdm

    from .stores import mysql_products
    from .stores.mysql import ConnectError

    if args.rows < 1:
        raise BadInput("--rows", f"{args.rows} must be at least 1")
    if args.parallel < 1:
        raise BadInput("--parallel", f"{args.parallel} must be at least 1")
    conn = options.connection_settings(args)
    started = time.perf_counter()
    with tqdm(total=args.rows, unit="rows", unit_scale=True, desc=f"seeding {args.dataset}",
              disable=None) as bar:
        try:
            result = mysql_products.seed(conn["mysql"], conn["namespace"], args.rows, reset=args.reset,
                                         parallel=args.parallel, timeout=max(conn["op_timeout"], 60),
                                         progress=bar.update, allow_existing=conn["allow_existing_table"])
        except (ConnectError, mysql_products.ForeignTable) as e:
            raise _Unusable(str(e)) from None
        bar.update(args.rows - bar.n)
    took = time.perf_counter() - started
    rate = result["loaded"] / took if took and result["loaded"] else 0
    print(f"{result['table']}: {result['rows']} rows ({result['loaded']} loaded, {result['trimmed']} trimmed) "
          f"in {took:.1f}s" + (f", {rate:,.0f} rows/s" if rate else ""))
    return 0


def _report(args) -> int:
    from . import report

    path = os.path.join(args.directory, report.RAW_FILE)
    if not os.path.isfile(path):
        raise BadInput("directory", f"{args.directory!r} holds no {report.RAW_FILE}; give a cacheswarm report directory")
    report.render(args.directory)
    print(f"cacheswarm report: {os.path.join(args.directory, 'comparison.html')}")
    return 0


def _clean(args) -> int:
    from .cache import CacheError, RedisCache
    from .stores import mysql_products
    from .stores.mysql import ConnectError, connect

    conn = options.connection_settings(args)
    ns, target = conn["namespace"], conn["mysql"]
    table = mysql_products.table_name(ns)
    try:
        db = connect(target, conn["op_timeout"])
        cache = RedisCache(conn["redis_url"], conn["redis_password"], 4, conn["op_timeout"], conn["redis_ca_cert"])
        cache.check(options.redact_url(conn["redis_url"]))
    except (ConnectError, CacheError) as e:
        raise _Unusable(str(e)) from None
    with db.cursor() as cur:
        tables = [table] if mysql_products.table_owner(cur, table) == mysql_products.OWNER_COMMENT else []
    keys = sum(1 for _ in cache.client.scan_iter(match=f"{ns}:*", count=1000))
    print(f"will remove: tables {tables or 'none'} in {target.redacted()}; {keys} Redis keys matching '{ns}:*'")
    if not args.yes:
        if not sys.stdin.isatty():
            raise BadInput("--yes", "no terminal to confirm on; add --yes to remove without asking")
        if input("proceed? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    with db.cursor() as cur:
        for t in tables:
            cur.execute(f"DROP TABLE `{t}`")
    removed = cache.clear(ns)
    print(f"removed {len(tables)} table(s) and {removed} key(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
