"""Real headless Locust runs against MariaDB and Redis: report files, counts, config, partial runs."""

import calendar
import csv
import json
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from cacheswarm import options
from cacheswarm.runtime import WARM_BATCH, WARM_LIMIT_S

from .conftest import BIN, MYSQL_URL, REDIS_URL, ROOT, run_locust

STRATEGIES = ["db-only", "cache-only", "cache-aside"]


def locust_like_options(namespace, **overrides):
    """What Locust's parser would produce for our options, with overrides."""
    values = {o.dest: o.default for o in options.ALL_OPTIONS}
    values.update(mysql_url=MYSQL_URL, redis_url=REDIS_URL, namespace=namespace)
    values.update(overrides)
    return SimpleNamespace(**values)


def common(namespace, report_dir, phase="3s", warmup="1s", users=4):
    return ["--headless", "-u", str(users), "-r", str(users), "--namespace", namespace, "--mysql-url", MYSQL_URL,
            "--redis-url", REDIS_URL, "--phase-time", phase, "--warmup", warmup, "--report-dir", str(report_dir),
            "--only-summary"]


def only_report(report_dir: Path) -> Path:
    dirs = list(report_dir.iterdir())
    assert len(dirs) == 1, dirs
    return dirs[0]


def locust_total(report: Path) -> int:
    with open(report / "locust_stats.csv") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    return int(rows["Aggregated"]["Request Count"])


def test_headless_run_writes_every_report_file(seeded, tmp_path):
    out = run_locust(common(seeded, tmp_path / "reports"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(tmp_path / "reports")
    assert report.name.startswith("compare-")
    for name in ("comparison.csv", "comparison.json", "comparison.html", "histograms.json",
                 "locust_stats.csv", "locust_failures.csv", "locust_report.html"):
        assert (report / name).stat().st_size > 0, name
    # ours as readable as Locust's own files beside them (mkstemp's 0600 was kept)
    modes = {name: (report / name).stat().st_mode & 0o777 for name in ("comparison.json", "comparison.html",
                                                                     "comparison.csv", "locust_stats.csv")}
    assert len(set(modes.values())) == 1 and modes["comparison.json"] & 0o044, modes
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["partial"] is False
    assert [p["strategy"] for p in doc["phases"]] == STRATEGIES
    by = {(r["strategy"], r["op"], r["outcome"]): r for r in doc["rows"]}
    for s in STRATEGIES:
        read = by[(s, "read", "all")]
        assert read["count"] > 0 and read["throughput_ops"] > 0
        assert 0 < read["p50_ms"] <= read["p99_ms"] <= read["max_ms"]
        assert read["p50_ms"] != int(read["p50_ms"])  # microsecond precision, not whole ms
    assert by[("cache-only", "read", "hit")]["count"] == by[("cache-only", "read", "all")]["count"]
    assert by[("cache-aside", "read", "miss")]["count"] > 0
    assert by[("db-only", "read", "all")]["hit_ratio"] is None
    assert 0 < by[("cache-aside", "read", "all")]["hit_ratio"] < 1
    # warm-up ops are recorded apart, so the report counts fewer ops than Locust saw
    assert sum(r["count"] for r in doc["rows"] if r["outcome"] == "all") < locust_total(report)
    html = (report / "comparison.html").read_text()
    assert "<svg" in html and "cache-aside" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert f"cacheswarm report: {report}" in out.stdout


def test_two_processes_report_counts_equal_locusts_own(seeded, tmp_path):
    out = run_locust([*common(seeded, tmp_path / "r", phase="4s", warmup="0", users=6), "--processes", "2"],
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    # each phase started once (MasterRunner.start() calls the shape's reset_time() again)
    assert out.stderr.count("Shape test updating to 6 users") == 3, out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["workers"] == 2
    ours = sum(r["count"] + r["errors"] for r in doc["rows"] if r["outcome"] == "all")
    assert ours > 0
    assert ours == locust_total(report) == doc["run"]["locust_request_count"]
    # the per-second timeline counts every operation too (no warm-up here: the whole phase is measured)
    for phase in doc["phases"]:
        key = f"products/mysql/{phase['strategy']}"
        counted = sum(r["count"] + r["errors"] for r in doc["rows"] if r["outcome"] == "all"
                      and r["strategy"] == phase["strategy"])
        assert sum(second["ops"] for second in doc["timeline"][key]) == counted > 0, key
    # the workers' generator samples reached the master too
    assert all(s["generator_cpu_p50_percent"] is not None for s in doc["summary"])
    # per request name too: each (strategy, outcome) series matches Locust's line
    with open(report / "locust_stats.csv") as f:
        locust_rows = {(r["Type"], r["Name"]): int(r["Request Count"]) for r in csv.DictReader(f) if r["Type"]}
    for r in doc["rows"]:
        if r["outcome"] != "all":
            assert locust_rows[(r["op"], f"products/mysql/{r['strategy']}:{r['outcome']}")] == r["count"]


def test_config_file_and_env_vars_reach_the_run(seeded, tmp_path):
    conf = tmp_path / "my.conf"
    conf.write_text(f"locustfile = {ROOT / 'locustfiles' / 'compare.py'}\nheadless = true\nusers = 3\n"
                    f"spawn-rate = 3\nstrategies = cache-aside\nphase-time = 3s\nwarmup = 1s\n"
                    f"write-policy = write-through\nnamespace = {seeded}\nrun-name = fromconf\n")
    out = subprocess.run([str(BIN / "locust"), "--config", str(conf), "--report-dir", str(tmp_path / "r")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PATH": str(BIN), "LOCUST_READ_RATIO": "0.5", "LOCUST_KEY_DISTRIBUTION": "uniform"})
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    assert report.name.startswith("fromconf-")
    run = json.loads((report / "comparison.json").read_text())["run"]
    assert (run["strategies"], run["write_policy"], run["read_ratio"], run["key_distribution"]) == (
        ["cache-aside"], "write-through", 0.5, "uniform")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_writes_a_partial_report(seeded, tmp_path, sig):
    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"),
                             *common(seeded, tmp_path / "r", phase="30s", warmup="1s")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    started = time.time()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert time.time() - started < 15  # exits promptly
    assert proc.returncode == 3, stderr[-3000:]  # incomplete, whichever signal
    assert "Traceback" not in stdout + stderr
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["partial"] is True
    assert doc["rows"] and doc["phases"][0]["ended"] is not None
    assert "Partial run" in (report / "comparison.html").read_text()


def test_many_users_share_a_small_pool_fairly_and_stop_cleanly(seeded, tmp_path):
    """60 users on 2 MySQL connections: every user is served in turn (no starved user times out
    after --op-timeout 2) and stopping users that wait for a connection does not hang the run."""
    args = common(seeded, tmp_path / "r", phase="4s", warmup="1s", users=60)
    out = run_locust([*args, "--strategies", "db-only,cache-aside", "--mysql-pool-size", "2", "--op-timeout", "2"],
                     cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert [p["strategy"] for p in doc["phases"]] == ["db-only", "cache-aside"]
    assert all(s["errors"] == 0 and s["count"] > 0 for s in doc["summary"])


def test_a_killed_worker_is_named_in_the_report(seeded, tmp_path):
    import psutil

    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"),
                             *common(seeded, tmp_path / "r", phase="6s", warmup="1s", users=6), "--processes", "2"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(5)
    victim = psutil.Process(proc.pid).children()[0]
    victim.kill()
    killed_at = time.time()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr[-3000:]  # a worker's data is missing: incomplete
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert [p["strategy"] for p in doc["phases"]] == STRATEGIES  # the master finished the run
    assert doc["run"]["partial"] is True
    lost = doc["run"]["lost_workers"]
    assert len(lost) == 1
    missing_from = calendar.timegm(time.strptime(lost[0]["data_missing_from_utc"], "%Y-%m-%d %H:%M:%S"))
    assert killed_at - 5 <= missing_from <= killed_at + 1
    assert "its data is missing from" in (report / "comparison.html").read_text()


def test_mysql_and_dynamodb_restaurants_in_one_run(namespace, target, tmp_path):
    from cacheswarm.stores import mysql_restaurants

    mysql_restaurants.seed(target, namespace, 40, 6)
    out = run_locust([*common(namespace, tmp_path / "r", phase="3s", warmup="1s"), "--dataset", "restaurants",
                      "--backend", "mysql,dynamodb", "--write-policy", "write-through"], cwd=tmp_path, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "seeding the embedded DynamoDB emulator with 40 restaurants" in out.stderr  # as many as MySQL has
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["partial"] is False and doc["run"]["keyspace_used"] == {"restaurants": 40}
    phases = [(p["dataset"], p["backend"], p["strategy"]) for p in doc["phases"]]
    assert phases == [("restaurants", b, s) for b in ("mysql", "dynamodb") for s in STRATEGIES]
    by = {(r["backend"], r["strategy"], r["op"], r["outcome"]): r for r in doc["rows"]}
    for backend in ("mysql", "dynamodb"):
        for s in STRATEGIES:
            assert by[(backend, s, "read", "all")]["count"] > 0, (backend, s)
            assert by[(backend, s, "read", "all")]["errors"] == 0
            assert by[(backend, s, "write", "all")]["errors"] == 0  # concurrent transactions included
    # DynamoDB rows carry consumed capacity and throttles; MySQL rows do not
    assert by[("dynamodb", "db-only", "read", "all")]["capacity_units"] > 0
    assert by[("dynamodb", "db-only", "read", "all")]["throttled"] == 0
    assert by[("mysql", "db-only", "read", "all")]["capacity_units"] is None
    summary = {(s["backend"], s["strategy"]): s for s in doc["summary"]}
    assert summary[("dynamodb", "db-only")]["rcu"] > 0 and summary[("mysql", "db-only")]["rcu"] is None
    html = (report / "comparison.html").read_text()
    # the report names the emulator that served DynamoDB, and says what its figures are not
    assert doc["run"]["dynamodb_emulator"].startswith("DynamoDB Local 3.")
    # the fresh emulator ran the dataset's reads and writes before the first phase, until they stopped speeding up
    warm = doc["run"]["emulator_warmup"]["restaurants"]
    # (six batches unless its time limit came first: a busy machine may be slow to run them)
    assert warm["operations"] >= 6 * WARM_BATCH or warm["seconds"] >= WARM_LIMIT_S, warm
    assert warm["medians_ms"] and "warmed DynamoDB Local for restaurants" in out.stderr
    assert "restaurants on MySQL" in html and "restaurants on DynamoDB Local" in html and "RCU" in html
    assert "its latencies and limits are not" in html
    assert html.index("restaurants on MySQL") < html.index("restaurants on DynamoDB Local")
