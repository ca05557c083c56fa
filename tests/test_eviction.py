"""Memory and eviction: a private Redis the run starts with maxmemory below the keyspace's size."""

from __future__ import annotations

import json

import redis

from cacheswarm.stores import mysql_products

from .conftest import REDIS_URL, ROOT, run_locust
from .test_end_to_end import MYSQL_URL, only_report


def test_a_cache_smaller_than_the_keyspace_evicts_and_the_report_says_so(namespace, target, raw_redis, tmp_path):
    mysql_products.seed(target, namespace, 10_000)
    shared_before = raw_redis.config_get("maxmemory*")
    out = run_locust(["--config", str(ROOT / "scenarios" / "eviction.conf"), "--namespace", namespace,
                      "--mysql-url", MYSQL_URL, "--redis-url", REDIS_URL, "--keyspace", "10000",
                      "--redis-maxmemory", "2mb", "--key-distribution", "uniform", "--phase-time", "4s",
                      "--warmup", "1s", "-u", "8", "-r", "8", "--report-dir", str(tmp_path / "r")], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    private = doc["run"]["private_redis"]
    assert private["maxmemory"] == "2mb" and private["url"] != REDIS_URL
    views = {v["phase"]: v for v in doc["server"]}
    aside = views["products/mysql/cache-aside"]
    assert aside["redis"]["maxmemory"] == 2 * 1024 * 1024 and aside["redis"]["maxmemory_policy"] == "allkeys-lru"
    assert aside["redis"]["evicted_keys"] > 0 and "evicted" in aside["eviction_note"]
    memory = aside["memory"]
    assert 200 < memory["bytes_per_value_mean"] < 1000, memory  # a product's JSON plus Redis's overhead
    assert memory["keyspace_bytes_estimate"] > aside["redis"]["maxmemory"]  # the keyspace cannot fit
    assert not aside["mismatches"]  # evictions change nothing the clients count
    summary = {s["phase"]: s for s in doc["summary"]}
    assert summary["products/mysql/cache-aside"]["hit_ratio"] < 0.9
    assert not summary["products/mysql/cache-only"]["start_state_held"]  # it could not hold every key
    assert "hit ratio under eviction" in (report / "comparison.html").read_text()
    # the private server is gone, and the shared one's configuration was never touched
    gone = redis.Redis.from_url(private["url"], socket_connect_timeout=1)
    try:
        gone.ping()
        raise AssertionError("the private Redis outlived the run")
    except redis.ConnectionError:
        pass
    assert raw_redis.config_get("maxmemory*") == shared_before
    assert not list(raw_redis.scan_iter(match=f"{namespace}:*"))  # nothing went to the shared Redis


def test_a_size_redis_cannot_take_is_bad_input(tmp_path):
    out = run_locust(["--headless", "--redis-maxmemory", "lots", "--report-dir", str(tmp_path / "r")], cwd=tmp_path)
    assert out.returncode == 2
    assert "--redis-maxmemory" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


def test_the_private_redis_dies_with_a_killed_run(namespace, target, tmp_path):
    import os
    import re
    import signal
    import subprocess
    import time

    from .conftest import BIN

    mysql_products.seed(target, namespace, 100)
    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), "--headless",
                             "--namespace", namespace, "--mysql-url", MYSQL_URL, "--redis-maxmemory", "4mb",
                             "--strategies", "cache-aside", "--phase-time", "60s", "--warmup", "1s", "-u", "2",
                             "--report-dir", str(tmp_path / "r")], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = None
    for line in proc.stderr:
        found = re.search(r"a private Redis with maxmemory 4mb \(allkeys-lru\) on (redis://\S+)", line)
        url = url or (found.group(1) if found else None)
        if "phase 1/" in line:
            break
    assert url, "the run never said where its private Redis listens"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    assert client.config_get("maxmemory")["maxmemory"] == str(4 * 1024 * 1024)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            time.sleep(0.2)
        except redis.ConnectionError:
            return
    raise AssertionError("the private Redis outlived the killed run")
