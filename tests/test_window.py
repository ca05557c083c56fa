"""The measured window ends at --phase-time on every process: nothing started later is counted, and
the report states the seconds actually measured."""

import json

import pytest

from .conftest import run_locust
from .test_end_to_end import common, only_report


def test_window_ends_at_phase_time_with_two_processes(seeded, tmp_path, private_redis):
    url, client = private_redis
    args = common(seeded, tmp_path / "r", phase="3s", warmup="0s", users=6)
    out = run_locust([*args, "--redis-url", url, "--strategies", "cache-only", "--read-ratio", "1.0",
                      "--processes", "2"], cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    phase = doc["phases"][0]
    # each process measured exactly its 3 s (before: the master's 1 s tick grid, up to 4 s; then
    # up to 0.15 s less on a busy machine, the master ending the phase before a late worker's 3 s were up)
    assert phase["measured_seconds"] == pytest.approx(3.0, abs=0.05)
    # ended once the process that began last had had its 3 s (a worker's first user starts later
    # than the phase: its setup and the spawn message take time)
    ran, late = phase["ended"] - phase["started"], phase["last_process_began_s"]
    print(f"measured {phase['measured_seconds']} s; phase ran {ran:.3f} s; last process began {late} s late")
    assert 0 <= late < 2
    assert ran == pytest.approx(3.0 + late, abs=0.05)
    read = next(r for r in doc["rows"] if r["op"] == "read" and r["outcome"] == "all")
    # Redis saw the GETs we counted and no more than a GET per user beyond them: none ran after the
    # window (users idle until stopped); a worker's window may end by the master's stop, which cuts
    # a user's GET in flight (served, never recorded)
    gets = client.info("commandstats")["cmdstat_get"]["calls"]
    assert 0 <= gets - (read["count"] + read["errors"]) <= 6
    assert read["throughput_ops"] == pytest.approx(read["count"] / phase["measured_seconds"], rel=0.01)


def test_an_interrupted_phase_reports_the_seconds_it_ran(seeded, tmp_path):
    import signal
    import subprocess
    import time

    from .conftest import BIN, ROOT

    import threading

    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"),
                             *common(seeded, tmp_path / "r", phase="30s", warmup="1s"), "--strategies", "db-only"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    began = threading.Event()

    def tail():
        for line in proc.stderr:
            if "phase 1/1" in line:
                began.set()

    threading.Thread(target=tail, daemon=True).start()
    assert began.wait(60)
    t0 = time.monotonic()  # the reference: how long the phase ran, on the test's own clock
    time.sleep(3)
    ran = time.monotonic() - t0
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    phase = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())["phases"][0]
    # what it ran less the 1 s warm-up (and up to a second for its users to start), not the 29 s planned
    assert ran - 1 - 1.0 < phase["measured_seconds"] <= ran - 1 + 0.5, (phase["measured_seconds"], ran)


def test_an_operation_in_flight_when_the_phase_ends_completes_with_its_invalidation(seeded, tmp_path, raw_redis):
    """A row lock the test holds across the phase's end keeps cache-aside UPDATEs of product 1
    waiting; when it is released after the end, each UPDATE completes and so does its DEL, so the
    cache is left without the old value the phase's reads kept SETting meanwhile (a user stopped
    inside the operation left the UPDATE on the server and the stale value in Redis)."""
    import subprocess
    import threading
    import time

    import pymysql

    from cacheswarm import products
    from cacheswarm.stores import mysql_products

    from .conftest import BIN, ROOT

    phase_s = 3
    args = [*common(seeded, tmp_path / "r", phase=f"{phase_s}s", warmup="0s", users=2), "--strategies", "cache-aside",
            "--keyspace", "1", "--read-ratio", "0.5", "--op-timeout", "15", "--staleness-sample", "0"]
    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), *args], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started, err = threading.Event(), []

    def tail():
        for line in proc.stderr:
            err.append(line)
            if "phase 1/1" in line:
                started.set()

    threading.Thread(target=tail, daemon=True).start()
    assert started.wait(60), "".join(err)[-3000:]
    time.sleep(phase_s - 1.5)
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test")
    table = mysql_products.table_name(seeded)
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"SELECT version FROM `{table}` WHERE id = 1 FOR UPDATE")  # the writers now wait
        time.sleep(3.0)  # past the phase's end: both users are inside an UPDATE, or reading a cached value
        conn.commit()
    assert proc.wait(timeout=120) == 0, "".join(err)[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    with conn.cursor() as cur:
        cur.execute(f"SELECT {mysql_products.SELECT_COLUMNS} FROM `{table}` WHERE id = 1")
        row = products.encode(cur.fetchone())
    conn.close()
    cached = raw_redis.get(products.cache_key(seeded, 1))
    assert cached is None or cached == row, (cached, row)
    writes = next(r for r in doc["rows"] if r["op"] == "write" and r["outcome"] == "all")
    assert writes["count"] > 0 and writes["errors"] == 0, writes  # completed and recorded, not cut off
