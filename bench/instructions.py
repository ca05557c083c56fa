"""Client cost per operation in CPU instructions, counted by valgrind's callgrind: the same from run
to run whatever else the machine does (a bare redis-py GET: 140.5k and 140.8k in two runs).

    python bench/instructions.py [--users 4] [--ops 3000]       -> one line per path, and the ratios

Each path runs twice under callgrind, with N and 3N operations in total; (instructions of the long
run - those of the short one) / 2N is the marginal cost of one operation, start-up and imports
cancelled. Paths, each with `--users` greenlets and one connection per user:

  bare-redis    gevent + redis-py GET of a random product key
  bare-mysql    gevent + PyMySQL SELECT of a random product by id
  bare-postgres gevent + pg8000 prepared SELECT of a random product by id (its best use: prepared once)
  cache-only    cacheswarm's operation loop (workload, strategy, HDR recording, timeline, Locust's stats
  db-only       batched per task into a real Locust Environment as in a run): what a user runs per operation,
  cache-aside   minus Locust's task scheduling, which OPS_PER_TASK amortises (closed loop, reads only,
                uniform keys; cache-aside's keys loaded first, so its reads are hits)
  db-only-postgres  the same loop's db-only on PostgreSQL

Counts are not exact repeats: a GET that finds its reply already there costs fewer instructions than
one that waits for it (gevent's hub), and that race with the real server varies, so a bare loop's
count varied 100k-116k between runs here. Each path runs --repeat times (3), interleaved, and the
median is reported with the extremes.

The goal (issue 21): cacheswarm <= 1.10x the bare loop of its server.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NS = "cacheswarmbench"
KEYS = 1000
PATHS = ("bare-redis", "bare-mysql", "cache-only", "db-only", "cache-aside", "bare-postgres", "db-only-postgres")
BARE = {"cache-only": "bare-redis", "cache-aside": "bare-redis", "db-only": "bare-mysql",
        "db-only-postgres": "bare-postgres"}
POSTGRES = ("bare-postgres", "db-only-postgres")  # (the paths that need the products seeded on PostgreSQL too)


def child(path: str, users: int, ops: int) -> None:
    """Run `ops` operations of `path` in this process (under callgrind, from main())."""
    from gevent import monkey

    monkey.patch_all()
    import random

    import gevent

    per_user = ops // users
    if path == "bare-redis":
        import redis

        from cacheswarm import products

        loader = redis.Redis(host="127.0.0.1", port=6379)  # the keys cache-only reads (the same in both runs)
        loader.mset({f"{NS}:product:{k}": products.encode(products.row(k)) for k in range(1, KEYS + 1)})

        def user(_i):
            client = redis.Redis(host="127.0.0.1", port=6379, single_connection_client=True)
            randrange, get = random.randrange, client.get
            for _ in range(per_user):
                get(f"{NS}:product:{randrange(KEYS) + 1}")
    elif path == "bare-mysql":
        import pymysql

        def user(_i):
            conn = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
            cur, randrange = conn.cursor(), random.randrange
            sql = f"SELECT id, name, description, price, quantity, category, created_at, updated_at, version, " \
                  f"payload FROM `{NS}_products` WHERE id=%s"
            for _ in range(per_user):
                cur.execute(sql, (randrange(KEYS) + 1,))
                cur.fetchone()
    elif path == "bare-postgres":
        import pg8000.native

        def user(_i):
            conn = pg8000.native.Connection("postgres", host="127.0.0.1", database="test")
            randrange = random.randrange
            select = conn.prepare(f'SELECT id, name, description, price, quantity, category, created_at, updated_at, '
                                  f'version, payload FROM "{NS}_products" WHERE id=:id')
            for _ in range(per_user):
                select.run(id=randrange(KEYS) + 1)
    else:
        import time

        from locust.argument_parser import get_parser
        from locust.env import Environment

        from cacheswarm import options
        from cacheswarm.glue import locustfile  # noqa: F401  (registers our options with Locust's parser)
        from cacheswarm.glue.users import OPS_PER_TASK
        from cacheswarm.recorder import Recorder
        from cacheswarm.runtime import Runtime

        backend, strategy = ("postgres" if path in POSTGRES else "mysql"), path.removesuffix("-postgres")
        parsed = get_parser(default_config_files=[]).parse_args([
            "--namespace", NS, "--strategies", strategy, "--backend", backend, "--read-ratio", "1",
            "--key-distribution", "uniform",
            "--keyspace", str(KEYS), "--staleness-sample", "0", "-u", str(users),
            *(["--warm-cache", "true"] if path == "cache-aside" else [])])
        settings = options.settings_from(parsed)
        rt = Runtime(settings, users)
        rt.preflight()
        env = Environment()
        env.create_local_runner()  # its listener logs every request event into env.stats, as in a run
        from cacheswarm.glue.stats import StatsBatch
        key = f"products/{backend}/{strategy}"
        if strategy != "db-only":
            from cacheswarm.phases import Phase

            rt.prepare(Phase(0, "products", backend, strategy))  # every key loaded (cache-aside: --warm-cache)
        recorder = Recorder()

        def user(_i):  # as CacheswarmUser.operate: OPS_PER_TASK operations, then Locust's stats take them
            batch = StatsBatch(env)
            loop = rt.loop(key, time.time(), batch.add, recorder)
            step = loop.step
            for _ in range(per_user // OPS_PER_TASK):
                for _ in range(OPS_PER_TASK):
                    step()
                loop.flush()
            assert env.stats.total.num_requests
    gevent.joinall([gevent.spawn(user, i) for i in range(users)], raise_error=True)


def instructions(path: str, users: int, ops: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
                              sys.executable, __file__, "--child", path, "--users", str(users), "--ops", str(ops)],
                             capture_output=True, text=True, cwd=tmp)
    if out.returncode != 0:
        sys.exit(f"bench: {path} under callgrind failed:\n{out.stderr[-2000:]}")
    m = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if not m:
        sys.exit(f"bench: no instruction count from callgrind for {path}:\n{out.stderr[-1000:]}")
    return int(m.group(1))


def setup(paths) -> None:
    """KEYS products in the bench namespace's MySQL table (and PostgreSQL's, for its paths)."""
    for backend in ("mysql", *(["postgres"] if set(paths) & set(POSTGRES) else [])):
        subprocess.run([str(Path(sys.executable).parent / "cacheswarm"), "seed", "products", "--rows", str(KEYS),
                        "--namespace", NS, "--backend", backend], check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--ops", type=int, default=3000)
    ap.add_argument("--child")
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--repeat", type=int, default=3, help="runs of each path (the median is reported): a GET's count "
                    "varies by a few % from run to run with whether its reply was already there when it read")
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.users, a.ops)
    paths = a.paths.split(",")
    unknown = [p for p in paths if p not in PATHS]
    if unknown:  # before minutes of callgrind, not after them
        print(f"bench: --paths: unknown {', '.join(unknown)}; choose from {', '.join(PATHS)}", file=sys.stderr)
        sys.exit(2)
    if not shutil.which("valgrind"):
        sys.exit("bench: instructions per operation need valgrind (apt-get install valgrind)")
    setup(paths)
    runs: dict = {path: [] for path in paths}
    for _ in range(a.repeat):  # paths interleaved, so a slow stretch of the machine touches them alike
        for path in paths:
            short, long = instructions(path, a.users, a.ops), instructions(path, a.users, 3 * a.ops)
            runs[path].append((long - short) / (2 * a.ops))
    subprocess.run([str(Path(sys.executable).parent / "cacheswarm"), "clean", "--namespace", NS, "--yes"],
                   capture_output=True)
    per_op = {path: statistics.median(values) for path, values in runs.items()}
    for path, values in runs.items():
        print(f"I   {path:12s} {per_op[path]:>10,.0f} instructions per operation  (callgrind, {a.users} users, "
              f"marginal of {a.ops:,} and {3 * a.ops:,} operations; median of {len(values)}: "
              f"{min(values):,.0f}-{max(values):,.0f})", flush=True)
    for path, bare in BARE.items():
        if path in per_op and bare in per_op:
            ratio = per_op[path] / per_op[bare]
            spread = (min(runs[path]) / max(runs[bare]), max(runs[path]) / min(runs[bare]))
            print(f"I   {path} vs {bare}: {ratio:.2f}x the bare loop's instructions per operation "
                  f"(runs' extremes {spread[0]:.2f}-{spread[1]:.2f}x; goal <= 1.10)")

if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
