"""Promises of the README that had no test: re-rendering, --keyspace, --warm-cache, the pool cap,
WCU, the password variables, and throughput against a known rate."""

import json
import shutil

import pytest

from .conftest import cli, run_locust
from .helpers import PrivateMariaDB
from .test_end_to_end import common, only_report


def test_report_command_renders_the_same_numbers_again(seeded, tmp_path):
    out = run_locust(common(seeded, tmp_path / "r", phase="2s", warmup="0s"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    first = json.loads((report / "comparison.json").read_text())
    csv_before = (report / "comparison.csv").read_text()
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(report / "histograms.json", copy / "histograms.json")
    again = cli("report", str(copy), timeout=60)
    assert again.returncode == 0, again.stderr
    second = json.loads((copy / "comparison.json").read_text())
    assert second["rows"] == first["rows"] and second["summary"] == first["summary"]
    assert (copy / "comparison.csv").read_text() == csv_before
    assert (copy / "comparison.html").stat().st_size > 0


def test_keyspace_limits_the_keys_drawn(seeded, tmp_path, raw_redis):
    out = run_locust([*common(seeded, tmp_path / "r", phase="3s", warmup="0s"), "--strategies", "cache-aside",
                      "--keyspace", "40", "--key-distribution", "uniform"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    ids = {int(k.decode().rsplit(":", 1)[1]) for k in raw_redis.scan_iter(match=f"{seeded}:product:*", count=1000)}
    assert ids and max(ids) <= 40 and min(ids) >= 1
    assert len(ids) > 30  # uniform over 40 keys, thousands of reads: nearly all of them cached


def test_warm_cache_starts_cache_aside_with_every_key(seeded, tmp_path):
    out = run_locust([*common(seeded, tmp_path / "r", phase="2s", warmup="0s"), "--strategies", "cache-aside",
                      "--warm-cache", "--read-ratio", "1.0"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert doc["phases"][0]["cache_state"].startswith("warm: 1000 keys loaded (TTL 300s)")
    assert doc["summary"][0]["hit_ratio"] == 1.0


def test_mysql_pool_size_caps_the_connections_the_server_sees(namespace, tmp_path):
    from cacheswarm.options import parse_mysql_url
    from cacheswarm.stores import mysql_products

    db = PrivateMariaDB(tmp_path)
    try:
        mysql_products.seed(parse_mysql_url(db.url), namespace, 300)
        db.sql("FLUSH STATUS")
        out = run_locust([*common(namespace, tmp_path / "r", phase="3s", warmup="0s", users=20), "--mysql-url",
                          db.url, "--strategies", "db-only", "--mysql-pool-size", "3"], cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        status = {k: int(v) for k, v in db.sql("SHOW GLOBAL STATUS WHERE Variable_name IN "
                                               "('Max_used_connections', 'Com_select')")}
        assert status["Com_select"] > 100
        assert status["Max_used_connections"] <= 3 + 1, status  # the pool, plus this test's own connection
    finally:
        db.stop()


def _units_per_call(client, namespace):
    """What this emulator reports per UpdateItem and per GetItem of a small item (moto: 0.5 and 0.5;
    DynamoDB itself: 1 WCU and 0.5 RCU), asked directly, not through our code."""
    table = f"{namespace}-units"
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                        BillingMode="PAY_PER_REQUEST")
    try:
        client.put_item(TableName=table, Item={"id": {"N": "1"}, "v": {"S": "x"}})
        w = client.update_item(TableName=table, Key={"id": {"N": "1"}}, UpdateExpression="SET v = :v",
                               ExpressionAttributeValues={":v": {"S": "y"}}, ReturnConsumedCapacity="TOTAL")
        r = client.get_item(TableName=table, Key={"id": {"N": "1"}}, ReturnConsumedCapacity="TOTAL")
        return w["ConsumedCapacity"]["CapacityUnits"], r["ConsumedCapacity"]["CapacityUnits"]
    finally:
        client.delete_table(TableName=table)


def test_dynamodb_writes_report_their_wcu(seeded, tmp_path, dynamodb_client):
    out = run_locust([*common(seeded, tmp_path / "r", phase="3s", warmup="0s"), "--backend", "dynamodb",
                      "--strategies", "db-only", "--read-ratio", "0.5", "--keyspace", "200"], cwd=tmp_path,
                     timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    rows = {(r["op"], r["outcome"]): r for r in doc["rows"]}
    writes, reads = rows[("write", "all")], rows[("read", "all")]
    assert writes["count"] > 10
    per_write, per_read = _units_per_call(dynamodb_client, seeded)
    assert per_write > 0 and per_read > 0
    assert writes["capacity_units"] == pytest.approx(writes["count"] * per_write, rel=0.01)
    assert doc["summary"][0]["wcu"] == writes["capacity_units"] and doc["summary"][0]["rcu"] == reads["capacity_units"]
    assert reads["capacity_units"] == pytest.approx(reads["count"] * per_read, rel=0.01)


def test_redis_password_from_the_environment(seeded, tmp_path, private_redis):
    url, client = private_redis
    client.config_set("requirepass", "env-Only-pw-77")
    out = run_locust([*common(seeded, tmp_path / "r", phase="2s", warmup="0s"), "--redis-url", url,
                      "--strategies", "cache-aside"], cwd=tmp_path, env={"CACHESWARM_REDIS_PASSWORD": "env-Only-pw-77"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert client.dbsize() > 0
    report = only_report(tmp_path / "r")
    assert all("env-Only-pw-77" not in p.read_text(errors="replace") for p in report.iterdir())
    wrong = run_locust([*common(seeded, tmp_path / "w", phase="2s", warmup="0s"), "--redis-url", url,
                        "--strategies", "cache-aside", "--redis-password", "not-it"], cwd=tmp_path, timeout=60)
    assert wrong.returncode == 2 and "--redis-url" in wrong.stderr  # the option overrides the variable


def test_throughput_and_speedup_against_a_known_rate(seeded, tmp_path):
    """Open loop at 300 ops/s: every strategy's throughput is 300 ops/s (a target of known rate),
    and so the speed-up over db-only is 1.0."""
    out = run_locust([*common(seeded, tmp_path / "r", phase="4s", warmup="1s"), "--strategies",
                      "db-only,cache-aside", "--target-rate", "300"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())["summary"]
    for s in summary:
        assert s["throughput_ops"] == pytest.approx(300, rel=0.03), s
    assert summary[1]["speedup_throughput"] == pytest.approx(1.0, abs=0.04)
