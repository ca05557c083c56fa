"""Reading from replicas: a private redis-server --replicaof pair and two private mariadbd with
binlog replication; lag injected on purpose (the Redis replica cut from its primary, the MariaDB replica's SQL
thread stopped) must show in the lag probe and in the stale reads the audit finds."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from cacheswarm.stores import mysql_products
from cacheswarm.targets import parse_mysql_url

from .conftest import REDIS_URL
from .helpers import PrivateMariaDB, free_port, start_redis
from .test_end_to_end import MYSQL_URL, only_report

PAUSE_S = 2.5  # probes start 100 ms apart: one starts within the first 100 ms of the pause


@pytest.fixture
def redis_pair(tmp_path):
    (tmp_path / "primary").mkdir()
    (tmp_path / "replica").mkdir()
    p_port, r_port = free_port(), free_port()
    # no 5 s wait before the full resync that follows the cut (Redis 7.0's repl-diskless-sync-delay)
    primary, p_client = start_redis(p_port, tmp_path / "primary", "--repl-diskless-sync-delay", "0")
    replica, r_client = start_redis(r_port, tmp_path / "replica", "--replicaof", "127.0.0.1", str(p_port))
    for _ in range(200):
        if r_client.info("replication").get("master_link_status") == "up":
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the Redis replica never linked to its primary")
    yield f"redis://127.0.0.1:{p_port}/0", f"redis://127.0.0.1:{r_port}/0", replica, r_client
    for proc in (replica, primary):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def mariadb_pair(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    primary = PrivateMariaDB(tmp_path / "p", "--log-bin=mysql-bin", "--server-id=1", "--binlog-format=ROW")
    replica = PrivateMariaDB(tmp_path / "r", "--server-id=2")
    try:
        replica.sql(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, MASTER_USER='root', "
                    "MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos")
        replica.sql("START SLAVE")
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def _wait_replicated(replica, table: str, rows: int) -> None:
    for _ in range(400):
        try:
            if replica.sql(f"SELECT COUNT(*) FROM test.`{table}`")[0][0] == rows:
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{table} never reached the replica")


def _pause_once(after_line_event: threading.Event, pause, resume) -> threading.Thread:
    def run():
        if after_line_event.wait(timeout=60):
            time.sleep(1.0)
            pause()
            time.sleep(PAUSE_S)
            resume()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _run_watching(args, tmp_path, started: threading.Event):
    """run_locust, but set `started` as soon as the first phase has begun (a thread tails stderr)."""
    import subprocess

    from .conftest import BIN, ROOT

    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), *args],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    err = []

    def tail():
        for line in proc.stderr:
            err.append(line)
            if "phase 1/" in line:
                started.set()

    t = threading.Thread(target=tail, daemon=True)
    t.start()
    proc.stdout.read()
    proc.wait(timeout=180)
    t.join(timeout=10)
    return proc.returncode, "".join(err)


def test_redis_reads_go_to_the_replica_and_its_lag_shows(tmp_path, redis_pair, seeded):
    primary_url, reader_url, replica, r_client = redis_pair
    started = threading.Event()
    port = int(primary_url.rsplit(":", 1)[1].split("/")[0])
    # the replica keeps serving reads but stops receiving the primary's writes, then catches up
    pauser = _pause_once(started, lambda: r_client.replicaof("NO", "ONE"),
                         lambda: r_client.replicaof("127.0.0.1", port))
    code, err = _run_watching(["--headless", "-u", "4", "-r", "4", "--namespace", seeded, "--mysql-url", MYSQL_URL,
                               "--redis-url", primary_url, "--redis-reader-url", reader_url,
                               # 8 s: after the cut the replica resyncs in full (a fork and an RDB), which
                               # took over 1.5 s on a loaded 2-core machine; the next probe must fit in the phase
                               "--strategies", "cache-aside", "--phase-time", "8s", "--warmup", "1s",
                               "--keyspace", "50", "--read-ratio", "0.8", "--staleness-sample", "1",
                               "--op-timeout", "5", "--report-dir", str(tmp_path / "rep"), "--only-summary"],
                              tmp_path, started)
    pauser.join(timeout=30)
    assert code == 0, err[-3000:]
    doc = json.loads((only_report(tmp_path / "rep") / "comparison.json").read_text())
    (view,) = doc["server"]
    lag = view["lag"]["redis"]
    # the cut shows, its length within 10% (a probe every 100 ms; the resync after it only adds)
    assert lag["probes"] >= 20 and lag["max_ms"] >= 0.9 * 1000 * PAUSE_S, lag
    raw = json.loads((only_report(tmp_path / "rep") / "histograms.json").read_text())["phases"][0]["server"]["lag"]
    # before the cut the replica kept up: its first probe far below the cut's lag in the same run (a fixed
    # 100 ms bound failed once at 168 ms on a loaded 2-core machine, a stall of the machine, not of replication)
    assert raw["redis"][0]["ms"] < 0.25 * lag["max_ms"], raw
    # reads on the reader, writes on the primary; both agree with the clients' counts
    assert view["redis_reader"]["cmd_get"] > 0 and view["redis"]["cmd_del"] > 0
    # no read went to the primary: its few hits are the audit's race checks and the lease
    assert view["redis"]["keyspace_hits"] < 0.05 * view["redis_reader"]["keyspace_hits"]
    assert not view["mismatches"], view["checks"]
    # invalidations that had not reached the replica: stale reads, found by the audit
    (audit,) = doc["staleness"]
    assert audit["stale_reads"] > 0 and audit["stale_age_max_ms"] > 300, audit
    assert "replication lag" in (only_report(tmp_path / "rep") / "comparison.html").read_text()


def test_mysql_reads_go_to_the_replica_and_its_lag_shows(tmp_path, mariadb_pair):
    primary, replica = mariadb_pair
    mysql_products.seed(parse_mysql_url(primary.url), "csw", 200)
    _wait_replicated(replica, "csw_products", 200)
    started = threading.Event()
    pauser = _pause_once(started, lambda: replica.sql("STOP SLAVE SQL_THREAD"),
                         lambda: replica.sql("START SLAVE SQL_THREAD"))
    code, err = _run_watching(["--headless", "-u", "4", "-r", "4", "--namespace", "csw", "--mysql-url", primary.url,
                               "--mysql-reader-url", replica.url, "--redis-url", REDIS_URL,
                               "--strategies", "db-only", "--phase-time", "6s", "--warmup", "1s", "--keyspace", "20",
                               "--read-ratio", "0.7", "--staleness-sample", "0.5", "--report-dir", str(tmp_path / "rep"),
                               "--only-summary"], tmp_path, started)
    pauser.join(timeout=30)
    assert code == 0, err[-3000:]
    doc = json.loads((only_report(tmp_path / "rep") / "comparison.json").read_text())
    (view,) = doc["server"]
    lag = view["lag"]["mysql"]
    assert lag["probes"] >= 20 and lag["max_ms"] >= 0.9 * 1000 * PAUSE_S, lag
    assert view["mysql_reader"]["Com_select"] > 0 and view["mysql"]["Com_update"] > 0
    assert not view["mismatches"], view["checks"]
    (audit,) = doc["staleness"]  # db-only reads from a replica are audited too
    assert audit["stale_reads"] > 0, audit


def test_reader_urls_are_checked_and_their_passwords_never_shown():
    from cacheswarm.options import BadInput, settings_from

    from .test_end_to_end import locust_like_options

    s = settings_from(locust_like_options("csw", redis_reader_url="redis://:r-Secret-1@replica:6379/0",
                                          mysql_reader_url="mysql://app:m-Secret-2@replica:3306/test"))
    shown = json.dumps(s.public())
    assert "r-Secret-1" not in shown and "m-Secret-2" not in shown
    assert "redis://:***@replica:6379/0" in shown and "mysql://app:***@replica:3306/test" in shown
    assert s.readers["mysql"].password == "m-Secret-2" and s.readers["mysql"].host == "replica"
    for option, value in (("redis_reader_url", "http://replica"), ("mysql_reader_url", "postgres://replica/db"),
                          ("redis_reader_url", "redis://replica:6379/cache")):
        with pytest.raises(BadInput) as e:
            settings_from(locust_like_options("csw", **{option: value}))
        assert str(e.value).startswith("--" + option.replace("_", "-")), str(e.value)
    with pytest.raises(BadInput, match="--redis-reader-url"):
        settings_from(locust_like_options("csw", redis_reader_url="redis://replica:6379/0", redis_maxmemory="2mb"))
