"""Faults during a run: Redis, MySQL or the DynamoDB emulator dies mid-phase and comes back;
nobody crashes, nothing is lost."""

import json
import threading
import time

import pytest

from .conftest import run_locust
from .helpers import PrivateMariaDB, fault, free_port, start_redis
from .test_end_to_end import common, only_report


def test_cache_aside_survives_a_redis_outage(seeded, tmp_path):
    port = free_port()
    proc, client = start_redis(port, tmp_path)
    events = {}

    worker = fault(events, [(1.5, "killed", lambda: (proc.kill(), proc.wait()) and None),
                            (2, "restarted", lambda: start_redis(port, tmp_path))],
                   when=lambda: client.dbsize() >= 50)  # the phase is filling the cache
    try:
        args = common(seeded, tmp_path / "r", phase="9s", warmup="1s", users=5)
        out = run_locust([*args, "--redis-url", f"redis://127.0.0.1:{port}/0", "--strategies", "cache-aside",
                          "--op-timeout", "2"], cwd=tmp_path, timeout=120)
        worker.join(timeout=10)
        assert "restarted" in events, "the outage was never injected"
        # degraded operations are Locust failures (exit code 1), but the run completes and reports
        assert out.returncode == 1, out.stderr[-3000:]
        assert "Traceback" not in out.stderr
        doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
        rows = {(r["op"], r["outcome"]): r for r in doc["rows"]}
        assert rows[("read", "cache_error")]["count"] > 0  # reads served by MySQL while Redis was gone
        assert rows[("write", "cache_error")]["count"] > 0  # writes reached MySQL; each has its own row
        assert rows[("write", "all")]["errors"] == 0  # and they completed: counted in `all`, not as errors
        assert ("read", "error") not in rows  # no read failed outright
        assert rows[("read", "hit")]["count"] > 0
        assert doc["run"]["partial"] is False
        # cache use resumed after Redis came back: the new, empty server was filled again
        new_proc, new_client = events["restarted"]
        assert new_client.dbsize() > 0
    finally:
        if "restarted" in events:
            events["restarted"][0].terminate()
        elif proc.poll() is None:
            proc.terminate()


def test_user_cache_backs_off_for_a_second_then_reconnects(tmp_path):
    from cacheswarm.cache import CacheUnavailable, RedisCache

    port = free_port()
    proc, client = start_redis(port, tmp_path)
    cache = RedisCache(f"redis://127.0.0.1:{port}/0", timeout=2).for_user()
    try:
        cache.set("cswfault:k", b"v", None)
        assert cache.get("cswfault:k") == b"v"
        proc.kill()
        proc.wait()
        for _ in range(3):
            t0 = time.monotonic()
            try:
                cache.get("cswfault:k")
                raise AssertionError("a dead Redis answered")
            except CacheUnavailable:
                pass
            assert time.monotonic() - t0 < 0.5  # fails fast, never hangs the user
        proc, client = start_redis(port, tmp_path)
        client.set("cswfault:k", b"again")
        try:  # still inside the one-second back-off
            cache.get("cswfault:k")
            raise AssertionError("no back-off")
        except CacheUnavailable:
            pass
        time.sleep(1.1)
        assert cache.get("cswfault:k") == b"again"  # resumed within about a second
    finally:
        cache.close()
        proc.terminate()


def outage(stop, start, events: dict, after: float = 4, down: float = 2) -> threading.Thread:
    """`after` seconds into the run (the phase is running) stop a server, start it again `down`
    seconds later; events records when."""
    return fault(events, [(after, "stopped", lambda: stop() and None), (down, "restarted", lambda: start() and None)])


def test_mysql_restart_mid_phase_is_counted_and_survived(namespace, tmp_path):
    from cacheswarm.options import parse_mysql_url
    from cacheswarm.stores import mysql_products

    db = PrivateMariaDB(tmp_path)
    try:
        mysql_products.seed(parse_mysql_url(db.url), namespace, 1000)
        events = {}
        worker = outage(db.kill, db.start, events)
        args = common(namespace, tmp_path / "r", phase="10s", warmup="1s", users=5)
        out = run_locust([*args, "--mysql-url", db.url, "--strategies", "db-only", "--op-timeout", "2"],
                         cwd=tmp_path, timeout=120)
        worker.join(timeout=10)
        assert "restarted" in events
        assert out.returncode == 1, out.stderr[-3000:]  # failures were counted (Locust's exit code for failures)
        assert "Traceback" not in out.stderr
        doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
        rows = {(r["op"], r["outcome"]): r for r in doc["rows"]}
        assert rows[("read", "error")]["count"] > 0
        assert rows[("read", "ok")]["count"] > rows[("read", "error")]["count"]
        assert doc["run"]["partial"] is False
        # users reconnected to the restarted server and kept working: its counters start at the
        # restart, so every SELECT and UPDATE they show was served after it
        status = {k: int(v) for k, v in db.sql("SHOW GLOBAL STATUS WHERE Variable_name IN "
                                               "('Com_select', 'Com_update', 'Connections')")}
        assert status["Connections"] > 2  # the pool reconnected (beyond this test's own query)
        assert status["Com_select"] > 100 and status["Com_update"] > 0, status
    finally:
        db.stop()


def test_a_hung_redis_shows_as_timeouts_not_a_frozen_run(seeded, tmp_path, private_redis):
    """Redis accepts connections but answers nothing for 4 s: with --op-timeout 1 the users time
    out, cache-aside falls back to MySQL, and the phase ends on time."""
    url, client = private_redis
    events = {}

    worker = fault(events, [(1, "paused", lambda: client.execute_command("CLIENT", "PAUSE", 4000, "ALL") and None)],
                   when=lambda: client.dbsize() >= 50)
    started = time.time()
    out = run_locust([*common(seeded, tmp_path / "r", phase="8s", warmup="1s", users=4), "--redis-url", url,
                      "--strategies", "cache-aside", "--op-timeout", "1"], cwd=tmp_path, timeout=120)
    worker.join(timeout=10)
    assert "paused" in events
    assert time.time() - started < 40  # not frozen behind the hung server
    assert out.returncode == 1, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    rows = {(r["op"], r["outcome"]): r for r in doc["rows"]}
    degraded = rows[("read", "cache_error")]
    assert degraded["count"] > 0
    assert 900 <= degraded["max_ms"] < 2500  # the slowest degraded read waited about one --op-timeout
    assert doc["phases"][0]["measured_seconds"] < 9


def test_redis_acl_user_and_password_in_the_url(seeded, tmp_path, private_redis):
    url, client = private_redis
    client.execute_command("ACL", "SETUSER", "swarm", "on", ">acl-Secret-1", "~cswtest*", "+@all")
    acl_url = url.replace("redis://", "redis://swarm:acl-Secret-1@")
    out = run_locust([*common(seeded, tmp_path / "r", phase="3s", warmup="1s", users=2), "--redis-url", acl_url,
                      "--strategies", "cache-aside"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert any(r["outcome"] == "hit" and r["count"] > 0 for r in doc["rows"])
    assert "acl-Secret-1" not in (only_report(tmp_path / "r") / "comparison.json").read_text()
    assert "redis://swarm:***@" in (only_report(tmp_path / "r") / "comparison.json").read_text()


def test_dynamodb_emulator_stopped_mid_phase_is_counted_and_survived(namespace, tmp_path):
    from cacheswarm.emulator import embedded
    from cacheswarm.stores import dynamodb, dynamodb_products

    emu = embedded(port=free_port())
    endpoint = emu.endpoint
    client = dynamodb.make_client(endpoint, "us-east-1", 2, 10, 10.0)
    dynamodb_products.seed(client, namespace, 500)
    events = {}

    def restart():
        emu.start()  # the same port, empty: seed it again, as an operator would
        dynamodb_products.seed(dynamodb.make_client(endpoint, "us-east-1", 2, 10, 10.0), namespace, 500)

    worker = outage(emu.stop, restart, events)
    try:
        args = common(namespace, tmp_path / "r", phase="12s", warmup="1s", users=4)
        out = run_locust([*args, "--backend", "dynamodb", "--dynamodb-endpoint", endpoint, "--strategies", "db-only",
                          "--read-ratio", "0.8", "--op-timeout", "2"], cwd=tmp_path, timeout=120)
        worker.join(timeout=30)
        assert "restarted" in events
        assert out.returncode == 1, out.stderr[-3000:]  # failures were counted
        assert "Traceback" not in out.stderr
        doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
        rows = {(r["op"], r["outcome"]): r for r in doc["rows"]}
        assert rows[("read", "error")]["count"] > 0  # refused connections fail fast: many, all counted
        assert rows[("read", "ok")]["count"] > 0 and rows[("write", "all")]["errors"] > 0
        assert doc["run"]["partial"] is False
        # users went back to the restarted emulator: its (re-seeded) items took writes
        fresh = dynamodb.make_client(endpoint, "us-east-1", 2, 10, 10.0)
        written = fresh.scan(TableName=dynamodb_products.table_name(namespace), FilterExpression="version > :z",
                             ExpressionAttributeValues={":z": {"N": "0"}}, Select="COUNT")["Count"]
        assert written > 0
    finally:
        emu.stop()


def test_a_cache_only_user_waits_out_a_growing_backoff_while_redis_is_down(tmp_path):
    """wait_when_down (cache-only): each call during an outage first sleeps the backoff (50 ms,
    then 100, 200 ms ...: lower bounds a busy machine cannot shorten), then tries once; after
    Redis is back the next call reconnects and the backoff starts again from 50 ms."""
    from cacheswarm.cache import FIRST_BACKOFF_S, CacheUnavailable, RedisCache

    port = free_port()
    proc, client = start_redis(port, tmp_path)
    shared = RedisCache(f"redis://127.0.0.1:{port}/0", timeout=2)
    cache = shared.for_user(wait_when_down=True)
    try:
        cache.set("cswfault:k", b"v", None)
        proc.kill()
        proc.wait()
        took = []
        for _ in range(4):
            t0 = time.monotonic()
            with pytest.raises(CacheUnavailable):
                cache.get("cswfault:k")
            took.append(time.monotonic() - t0)
        for n, t in enumerate(took[1:]):  # the first found the server gone; each next waited its backoff
            assert t >= FIRST_BACKOFF_S * 2 ** n * 0.99, took
        proc, client = start_redis(port, tmp_path)
        client.set("cswfault:k", b"again")
        assert cache.get("cswfault:k") == b"again"
        assert cache._backoff == FIRST_BACKOFF_S
    finally:
        cache.close()
        shared.close()
        proc.terminate()


def test_cache_only_with_redis_down_counts_failures_apart_and_flags_the_lost_keys(seeded, tmp_path):
    """Redis dies mid-phase and comes back empty: throughput and percentiles are of completed
    operations only (failures were half of a 25.8k ops/s figure before), errors have their own
    count and rate, and the report says the warm start did not hold."""
    port = free_port()
    proc, client = start_redis(port, tmp_path)
    events, servers = {}, {"proc": proc}

    def stop():
        servers["proc"].kill()
        servers["proc"].wait()

    def start():
        servers["proc"], _ = start_redis(port, tmp_path)

    worker = outage(stop, start, events, after=3, down=2)
    try:
        args = common(seeded, tmp_path / "r", phase="8s", warmup="0s", users=4)
        out = run_locust([*args, "--redis-url", f"redis://127.0.0.1:{port}/0", "--strategies", "cache-only",
                          "--op-timeout", "1"], cwd=tmp_path, timeout=120)
        worker.join(timeout=30)
        assert "restarted" in events
        assert out.returncode == 1, out.stderr[-3000:]
        doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
        rows = {(r["op"], r["outcome"]): r for r in doc["rows"]}
        read_all, errors = rows[("read", "all")], rows[("read", "error")]
        completed = sum(rows[("read", o)]["count"] for o in ("hit", "miss") if ("read", o) in rows)
        assert errors["count"] > 0 and read_all["errors"] == errors["count"]
        # a failed connect costs each user a reconnect backoff (50 ms doubling to 1 s), as a real client's
        # retry does: a handful of errors per user and second of outage, not ~95,000/s that reached no server
        summary = doc["summary"][0]
        assert summary["error_seconds"] >= 1 and summary["errors_to_s"] > summary["errors_from_s"], summary
        # with the backoff only a few dozen operations fail, 5% of them writes: often none
        failed = errors["count"] + rows.get(("write", "error"), {"count": 0})["count"]
        assert failed <= 4 * (6 + summary["error_seconds"]), (failed, summary)
        assert read_all["count"] == completed  # failures are not in `all`
        secs = doc["phases"][0]["measured_seconds"]
        assert read_all["throughput_ops"] == pytest.approx(completed / secs, rel=0.01)
        assert errors["throughput_ops"] is None
        assert read_all["error_rate"] == pytest.approx(errors["count"] / (completed + errors["count"]), abs=1e-4)
        assert ("write", "ok") in rows  # writes have their rows too
        summary = doc["summary"][0]
        assert summary["count"] == read_all["count"] + rows[("write", "all")]["count"]
        # the restarted Redis is empty: reads missed, so the warm start did not hold and the report says so
        assert rows[("read", "miss")]["count"] > 0
        assert summary["start_state_held"] is False and "lost keys" in summary["start_state_note"]
        html = (only_report(tmp_path / "r") / "comparison.html").read_text()
        assert "lost keys during the phase" in html
    finally:
        servers["proc"].terminate()
