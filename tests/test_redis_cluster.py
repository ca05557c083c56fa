"""Redis cluster mode (ElastiCache "cluster mode enabled"): `--redis-url redis+cluster://host:port` on
a local cluster of three primaries with a replica each, started and removed here (loopback ports)."""

from __future__ import annotations

import json

import pytest
import redis

from cacheswarm.cache import RedisCache
from cacheswarm.stores import mysql_products

from .conftest import MYSQL_URL, cli, run_locust
from .helpers import LocalRedisCluster, make_ca_and_server_cert
from .test_end_to_end import only_report

PASSWORD = "cluster-secret-4c1d"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalRedisCluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.stop()


def _run(namespace, tmp_path, url, *extra, env=None):
    out = run_locust(["--headless", "-u", "8", "-r", "8", "--namespace", namespace, "--mysql-url", MYSQL_URL,
                      "--redis-url", url, "--phase-time", "4s", "--warmup", "1s", "--report-dir",
                      str(tmp_path / "r"), *extra], cwd=tmp_path, env=env)
    return out


def _views(tmp_path):
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    return doc, {v["phase"]: v for v in doc["server"]}


def test_a_run_on_a_cluster_spreads_keys_over_every_shard_and_every_primary_counts_as_the_clients(
        cluster, namespace, target, tmp_path):
    """Two processes; GETs, SETs, DELs, Lua (versioned SETs, the stampede lock's release), MGET of scans
    split by slot and YCSB inserts (their id counter's MULTI/EXEC) on a cluster: the primaries' INFO
    summed equals what the users counted, and the product keys spread over all three shards."""
    mysql_products.seed(target, namespace, 1000)
    out = _run(namespace, tmp_path, cluster.url, "--processes", "2", "--keyspace", "1000",
               "--key-distribution", "zipfian", "--read-ratio", "0.8", "--scan-ratio", "0.05", "--insert-ratio", "0.05",
               "--strategies", "cache-only,cache-aside,cache-aside+versioned,cache-aside+lock")
    assert out.returncode == 0, out.stderr[-3000:]
    doc, views = _views(tmp_path)
    for phase in ("products/mysql/cache-only", "products/mysql/cache-aside", "products/mysql/cache-aside+versioned",
                  "products/mysql/cache-aside+lock"):
        view = views[phase]
        assert view["checks"] and not view["mismatches"], (phase, view["checks"])
        counters = {c["counter"] for c in view["checks"]}
        # (a lock's polls depend on timing: its Redis is not checked, its database is)
        assert {"cmd_get"} <= counters or phase.endswith("+lock"), counters
        shards = view["redis"]["shards"]
        assert set(shards) == set(cluster.primaries()), shards  # every primary sampled, no replica
        # summed over shards = the cluster's figure the cross-check used
        assert sum(s["cmd_get"] for s in shards.values()) == view["redis"]["cmd_get"]
    scripts = {c["counter"]: c for c in views["products/mysql/cache-aside+versioned"]["checks"]}
    assert scripts["cmd_scripts"]["server_value"] > 0  # the versioned SETs ran as Lua on the keys' shards
    shares = {n: s["share"] for n, s in views["products/mysql/cache-only"]["redis"]["shards"].items()}
    assert min(shares.values()) > 0.2, shares  # keys spread: no hash tag pins them to one shard
    summary = {s["phase"]: s for s in doc["summary"]}
    assert summary["products/mysql/cache-only"]["hit_ratio"] > 0.9  # the load reached every shard
    html = (only_report(tmp_path / "r") / "comparison.html").read_text()
    assert "Redis cluster of 3 shards" in html
    # the insert counter's keys share one slot (its reset is a transaction)
    ids = [k for node in cluster.primaries().values() for k in node.scan_iter(match=f"{namespace}:*ids*")]
    assert ids and len({cluster.owner(k.decode()) for k in ids}) == 1, ids


def test_a_hot_key_shows_as_a_hot_shard(cluster, namespace, target, tmp_path):
    mysql_products.seed(target, namespace, 1000)
    out = _run(namespace, tmp_path, cluster.url, "--keyspace", "1", "--read-ratio", "1", "--strategies", "cache-only")
    assert out.returncode == 0, out.stderr[-3000:]
    _, views = _views(tmp_path)
    shards = views["products/mysql/cache-only"]["redis"]["shards"]
    owner = cluster.owner(f"{namespace}:product:1")
    assert shards[owner]["cmd_get"] == views["products/mysql/cache-only"]["redis"]["cmd_get"] > 1000
    assert all(s["cmd_get"] == 0 for n, s in shards.items() if n != owner), shards
    html = (only_report(tmp_path / "r") / "comparison.html").read_text()
    assert f"the busiest ({owner}) took 3.0× an even share" in html


def test_clean_removes_the_namespace_from_every_shard(cluster, namespace):
    client = redis.RedisCluster.from_url(cluster.url.replace("redis+cluster", "redis"))
    keys = [f"{namespace}:product:{i}" for i in range(1, 301)]
    client.mset_nonatomic({k: b"x" for k in keys})
    client.set("cswother:kept", b"1")  # another namespace's: stays
    assert len({cluster.owner(k) for k in keys}) == 3
    out = cli("clean", "--yes", "--namespace", namespace, "--redis-url", cluster.url, "--mysql-url", MYSQL_URL)
    assert out.returncode == 0, out.stderr
    assert "300 Redis keys" in out.stdout + out.stderr
    assert not any(node.scan_iter(match=f"{namespace}:*") and list(node.scan_iter(match=f"{namespace}:*"))
                   for node in cluster.primaries().values())
    assert client.get("cswother:kept") == b"1"
    client.delete("cswother:kept")


def test_a_cluster_given_as_one_redis_is_refused_with_the_url_to_write(cluster, namespace, target, tmp_path):
    mysql_products.seed(target, namespace, 1000)
    one_node = cluster.url.replace("redis+cluster", "redis") + "/0"
    out = _run(namespace, tmp_path, one_node, "--strategies", "cache-only")
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("cacheswarm: error:")]
    assert len(errors) == 1 and "redis+cluster://" in errors[0] and "cluster mode" in errors[0], out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "r").exists()


def test_a_cluster_with_a_password(tmp_path, namespace, target):
    """AUTH on every node (the password from CACHESWARM_REDIS_PASSWORD, never in the report); a wrong
    one is refused before any user starts."""
    secured = LocalRedisCluster(tmp_path / "secured", primaries=3, replicas=0, password=PASSWORD)
    try:
        mysql_products.seed(target, namespace, 1000)
        out = _run(namespace, tmp_path, secured.url, "--strategies", "cache-only", "--keyspace", "1000",
                   env={"CACHESWARM_REDIS_PASSWORD": PASSWORD})
        assert out.returncode == 0, out.stderr[-3000:]
        report = only_report(tmp_path / "r")
        _, views = _views(tmp_path)
        assert not views["products/mysql/cache-only"]["mismatches"]
        assert all(PASSWORD not in p.read_text(errors="replace") for p in report.iterdir() if p.is_file())
        assert PASSWORD not in out.stdout + out.stderr
        (tmp_path / "w").mkdir()
        wrong = _run(namespace, tmp_path / "w", secured.url, "--strategies", "cache-only",
                     env={"CACHESWARM_REDIS_PASSWORD": "not-it"})
        assert wrong.returncode == 2 and "password" in wrong.stderr and "Traceback" not in wrong.stderr
        cache = RedisCache(secured.url, PASSWORD)
        assert cache.clear(namespace) > 0  # the run's keys were there, on the secured shards
        cache.close()
    finally:
        secured.stop()


def test_a_cluster_on_tls(tmp_path, namespace, target):
    """rediss+cluster:// with --redis-ca-cert: every node verified (the cluster bus on TLS too); without
    the CA the run is refused with the option that fixes it."""
    tls = make_ca_and_server_cert(tmp_path / "tls")
    secured = LocalRedisCluster(tmp_path / "nodes", primaries=3, replicas=0, tls=tls)
    try:
        mysql_products.seed(target, namespace, 1000)
        assert secured.url.startswith("rediss+cluster://")
        out = _run(namespace, tmp_path, secured.url, "--strategies", "cache-only,cache-aside", "--keyspace", "1000",
                   "--redis-ca-cert", str(tls / "ca.pem"))
        assert out.returncode == 0, out.stderr[-3000:]
        _, views = _views(tmp_path)
        for phase in ("products/mysql/cache-only", "products/mysql/cache-aside"):
            assert views[phase]["checks"] and not views[phase]["mismatches"], views[phase]["checks"]
            assert len(views[phase]["redis"]["shards"]) == 3
        (tmp_path / "w").mkdir()
        refused = _run(namespace, tmp_path / "w", secured.url, "--strategies", "cache-only")
        errors = [line for line in refused.stderr.splitlines() if line.startswith("cacheswarm: error:")]
        assert refused.returncode == 2 and len(errors) == 1 and "--redis-ca-cert" in errors[0], refused.stderr[-2000:]
    finally:
        secured.stop()
