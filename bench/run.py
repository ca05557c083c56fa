"""cacheswarm benchmark: measured side by side in one run, printed as ratios.

    make bench      (or: .venv/bin/python bench/run.py [--users 16] [--seconds 15] [--rows 1000000])

P1  cache-only GET ops/s of one cacheswarm Locust process (full instrumentation: workload,
    strategy, HDR recording, Locust request event) vs a bare gevent + redis-py loop with the
    same number of concurrent users. Goal >= 0.95.
P2  the best cache-only GET ops/s cacheswarm reaches on the whole machine (--processes 1..N)
    vs `redis-benchmark -t get -c 50` on the same machine. Goal >= 0.20.
P5  RSS of one process running 1,000 users (goal < 300 MB) and 10,000 (goal < 1 GB), and the time to render the
    report of a 20-phase run with per-second time series and objectives (goal < 2 s).
C   the capacity search on cache-only (one process) vs its closed-loop maximum (bench/capacity.py).
M   the master merging 100 simulated workers' histograms every 3 s (bench/master_merge.py; goal < 25% of a core).
A   the staleness audit at 1% vs off, warm cache-aside and cache-only (bench/staleness.py; goal: cost < 2%).
S   products seeding rate into MySQL (goal >= 100k rows/s).
P3, P4  DynamoDB seeding vs the emulator's ceiling, client CPU per GetItem (bench/dynamodb.py).
I   instructions per operation under callgrind, cacheswarm's path vs bare gevent + redis-py and
    gevent + PyMySQL loops (bench/instructions.py; goal <= 1.10x).
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


def locust_args(users: int, seconds: int, keys: int, tmp: str, *extra) -> list:
    return [BIN / "locust", "-f", ROOT / "locustfiles" / "compare.py", "--headless", "-u", users, "-r", users,
            "--strategies", "cache-only", "--read-ratio", "1.0", "--key-distribution", "uniform",
            "--keyspace", keys, "--namespace", NS, "--phase-time", f"{seconds + 2}s", "--warmup", "2s",
            "--report-dir", tmp, "--only-summary", "--loglevel", "WARNING", *extra]


def cacheswarm_ops(users: int, seconds: int, keys: int, *extra) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sh(*locust_args(users, seconds, keys, tmp, *extra), cwd=tmp)
        report = next(Path(tmp).iterdir()) / "comparison.json"
        rows = json.loads(report.read_text())["rows"]
    return next(r["throughput_ops"] for r in rows if r["op"] == "read" and r["outcome"] == "all")


def redis_benchmark_get() -> float:
    out = sh("redis-benchmark", "-t", "get", "-c", 50, "-n", 300_000, "-q", "--csv")
    return float(out.strip().splitlines()[-1].split(",")[1].strip('"'))


def peak_rss_mb(users: int, seconds: int, keys: int, rate: float | None = None, *extra) -> float:
    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([str(a) for a in locust_args(users, seconds, keys, tmp, "--target-rate",
                                                             rate or users * 5, *extra)],
                                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.2)
    return peak / 2**20


def rss_10k(seconds: int, keys: int) -> float:
    """10,000 users in one process, each with its Redis connection: against a private redis-server
    (a shared one's maxclients is 10,000) on a free loopback port, 2,000 ops/s open loop in all."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--maxclients", "20000", "--dir", tmp],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            return peak_rss_mb(10_000, seconds, keys, 2000, "--redis-url", f"redis://127.0.0.1:{port}/0")
        finally:
            server.terminate()
            server.wait()


def render_seconds(phases: int = 20) -> float:
    """Render comparison.* for a synthetic run of `phases` phases with realistic histograms."""
    import random

    from cacheswarm import report
    from cacheswarm.recorder import Recorder, series_key, timeline_key

    rec, rng, phase_list = Recorder(), random.Random(1), []
    for i in range(phases):
        backend, strategy = f"b{i // 3}", ("db-only", "cache-only", "cache-aside")[i % 3]
        phase_list.append({"index": i, "dataset": "products", "backend": backend, "strategy": strategy,
                           "measured_seconds": 25.0, "cache_state": "cold"})
        for op, outcome in (("read", "hit"), ("read", "miss"), ("write", "ok")):
            for _ in range(20_000):
                rec.record(series_key("products", backend, strategy, op, outcome), int(rng.lognormvariate(6, 1)))
            for second in range(30):  # the per-second time series of a 30 s phase
                for _ in range(700):
                    rec.record(timeline_key("products", backend, strategy, op, outcome, second),
                               int(rng.lognormvariate(6, 1)))
    data = {"run": {"run_name": "bench", "warmup": 5, "slo": ["read p99 < 5ms", "error_rate < 1%",
                                                               "cache-aside/db-only throughput >= 2x"]},
            "phases": phase_list, "histograms": rec.encode()}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report.write_all(tmp, data)
        return time.perf_counter() - started


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

    import os

    best, best_n = 0.0, 1
    for n in range(1, (os.cpu_count() or 2) + 1):
        ops = cacheswarm_ops(args.users * n, args.seconds, keys, *(["--processes", n] if n > 1 else []))
        if ops > best:
            best, best_n = ops, n
    rb = redis_benchmark_get()
    print(f"P2  best cache-only GET on this machine: cacheswarm {best:,.0f} ops/s (--processes {best_n}) vs "
          f"redis-benchmark -t get -c 50 {rb:,.0f} ops/s = {best / rb:.2f} (goal >= 0.20)")
    rss = peak_rss_mb(1000, args.seconds, keys)
    print(f"P5  peak RSS of one process running 1,000 users: {rss:,.0f} MB (goal < 300 MB)")
    print(f"P5  peak RSS of one process running 10,000 users: {rss_10k(args.seconds, keys):,.0f} MB (goal < 1,024 MB)")
    print(f"P5  render the report of a 20-phase run (time series, objectives): {render_seconds():.2f} s (goal < 2 s)")
    print(sh(BIN / "python", ROOT / "bench" / "capacity.py", NS).rstrip())
    print(sh(BIN / "python", ROOT / "bench" / "staleness.py", NS).rstrip())
    print(sh(BIN / "python", ROOT / "bench" / "master_merge.py").rstrip())
    print(sh(BIN / "python", ROOT / "bench" / "dynamodb.py").rstrip())
    print(sh(BIN / "python", ROOT / "bench" / "instructions.py").rstrip())
    sh(BIN / "cacheswarm", "clean", "--yes", "--namespace", NS)


if __name__ == "__main__":
    main()
