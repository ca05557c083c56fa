"""cacheswarm benchmark: measured side by side in one run, printed as ratios.

    make bench      (or: .venv/bin/python bench/run.py [--users 16] [--seconds 15] [--rows 1000000])

P1  cache-only GET ops/s of one cacheswarm Locust process (full instrumentation: workload,
    strategy, HDR recording, Locust request event) vs a bare gevent + redis-py loop with the
    same number of concurrent users. Goal >= 0.95.
S   products seeding rate into MySQL (goal >= 100k rows/s).
Uses its own namespace (cacheswarmbench) and removes it afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NS = "cacheswarmbench"


def sh(*args, **kw) -> str:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, args[:3]))} failed:\n{out.stderr[-2000:]}")
    return out.stdout


def cacheswarm_ops(users: int, seconds: int, keys: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sh(BIN / "locust", "-f", ROOT / "locustfiles" / "compare.py", "--headless", "-u", users, "-r", users,
           "--strategies", "cache-only", "--read-ratio", "1.0", "--key-distribution", "uniform",
           "--keyspace", keys, "--namespace", NS, "--phase-time", f"{seconds + 2}s", "--warmup", "2s",
           "--report-dir", tmp, "--only-summary", "--loglevel", "WARNING", cwd=tmp)
        report = next(Path(tmp).iterdir()) / "comparison.json"
        rows = json.loads(report.read_text())["rows"]
    return next(r["throughput_ops"] for r in rows if r["op"] == "read" and r["outcome"] == "all")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=16)
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args()

    sh(BIN / "cacheswarm", "clean", "--yes", "--namespace", NS)
    started = time.perf_counter()
    seed_out = sh(BIN / "cacheswarm", "seed", "products", "--rows", args.rows, "--namespace", NS)
    seed_rate = args.rows / (time.perf_counter() - started)
    print(f"S   seeding {args.rows:,} products: {seed_rate:,.0f} rows/s end to end "
          f"(goal >= 100,000)  [{seed_out.strip()}]")

    keys = min(args.rows, 100_000)
    # both read keys cacheswarm loaded for its cache-only phase; run the bare loop while they exist
    ours = cacheswarm_ops(args.users, args.seconds, keys)
    sh(BIN / "python", "-c", "import sys; from cacheswarm.cache import RedisCache; from cacheswarm.stores import "
       "mysql_products as m, mysql; from cacheswarm.options import parse_mysql_url as u; "
       f"s=m.MySQLProducts(mysql.Pool(u('mysql://root@127.0.0.1:3306/test'),4,30),'{NS}'); "
       f"RedisCache('redis://127.0.0.1:6379/0').bulk_load(s.iter_values({keys}), None)")
    bare = {mode: float(sh(BIN / "python", ROOT / "bench" / "bare_redis.py", mode, args.users, args.seconds, keys, NS))
            for mode in ("pool", "single")}
    print(f"P1  cache-only GET, {args.users} users, one process: cacheswarm {ours:,.0f} ops/s")
    print(f"      vs bare gevent+redis-py, shared pool        {bare['pool']:,.0f} ops/s = {ours / bare['pool']:.2f} (goal >= 0.95)")
    print(f"      vs bare gevent+redis-py, connection per user {bare['single']:,.0f} ops/s = {ours / bare['single']:.2f} "
          "(same connection model: the cost of our instrumentation)")
    sh(BIN / "cacheswarm", "clean", "--yes", "--namespace", NS)


if __name__ == "__main__":
    main()
