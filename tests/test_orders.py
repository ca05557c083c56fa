"""The orders dataset (seed 002's Lab 4) on MariaDB and DynamoDB Local: seeding, the two stores' lists
agree, create order tops a customer's list, the status index's hot partition, and a run's counts."""

from __future__ import annotations

import json
import random
import time

import pymysql

from cacheswarm import orders
from cacheswarm.stores import dynamodb_orders, mysql_orders
from cacheswarm.stores.mysql import Pool

from .conftest import MYSQL_URL, REDIS_URL, cli, run_locust
from .test_end_to_end import only_report


def _sql(target, statement):
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, database=target.database,
                           autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall()


def test_seeding_is_deterministic_with_the_labs_keys_and_status_index(namespace, target):
    out = cli("seed", "orders", "--customers", "300", "--orders-per-customer", "4", "--namespace", namespace)
    assert out.returncode == 0, out.stderr
    table = mysql_orders.table_name(namespace)
    assert "300 customers (1200 items loaded)" in out.stdout
    keys = {(r[2], r[4]) for r in _sql(target, f"SHOW INDEX FROM `{table}`")}  # (index, column)
    assert {("PRIMARY", "customer_id"), ("PRIMARY", "order_date"), ("status_index", "status"),
            ("status_index", "order_date")} <= keys
    counts = dict(_sql(target, f"SELECT status, COUNT(*) FROM `{table}` GROUP BY status"))
    assert sum(counts.values()) == 1200 and 0.6 < counts["PENDING"] / 1200 < 0.8  # the hot partition
    assert f"PENDING {counts['PENDING']:,} (" in out.stdout and "1,000 write units/s" in out.stdout
    rows = _sql(target, f"SELECT order_id, order_date, status FROM `{table}` WHERE customer_id = 7 ORDER BY order_date")
    assert [tuple(r) for r in rows] == [(o["order_id"], o["order_date"], o["status"]) for o in orders.orders(7, 4)]
    again = cli("seed", "orders", "--customers", "300", "--orders-per-customer", "4", "--namespace", namespace)
    assert again.returncode == 0 and "(0 items loaded)" in again.stdout  # idempotent
    other = cli("seed", "orders", "--customers", "300", "--orders-per-customer", "6", "--namespace", namespace)
    assert other.returncode == 2 and "--orders-per-customer" in other.stderr and "Traceback" not in other.stderr
    # a table an earlier cacheswarm seeded (no status_ms): refused in one line, made again with --reset
    _sql(target, f"ALTER TABLE `{table}` DROP COLUMN status_ms")
    old = cli("seed", "orders", "--customers", "300", "--orders-per-customer", "4", "--namespace", namespace)
    assert old.returncode == 2 and "--reset" in old.stderr and "Traceback" not in old.stderr, old.stderr
    redone = cli("seed", "orders", "--customers", "300", "--orders-per-customer", "4", "--namespace", namespace,
                 "--reset")
    assert redone.returncode == 0 and "(1200 items loaded)" in redone.stdout, redone.stdout + redone.stderr
    assert _sql(target, f"SELECT status_ms FROM `{table}` WHERE order_id = 'o000000001'")[0][0] == \
        orders.order(1, 0, 4)["status_ms"]
    cleaned = cli("clean", "--yes", "--namespace", namespace)
    assert cleaned.returncode == 0 and table in cleaned.stdout + cleaned.stderr
    assert not _sql(target, f"SHOW TABLES LIKE '{table}'")


def test_both_stores_return_the_same_list_and_a_new_order_tops_it(namespace, target, dynamodb_client):
    mysql_orders.seed(target, namespace, 50, 12)
    dynamodb_orders.seed(dynamodb_client, namespace, 50, 12)
    pool = Pool(target, 2, 5.0)
    try:
        sql, ddb = mysql_orders.MySQLOrders(pool, namespace), dynamodb_orders.DynamoDBOrders(dynamodb_client, namespace)
        assert sql.seeded() == ddb.seeded() == 50
        for c in (1, 17, 50):
            assert sql.read(c) == ddb.read(c)  # the same JSON from both databases
            doc = json.loads(sql.read(c))
            assert [o["order_date"] for o in doc["orders"]] == sorted(
                (o["order_date"] for o in orders.orders(c, 12)), reverse=True)[:orders.LIST_ORDERS]
        assert sql.read(51) is None and ddb.read(51) is None
        before = ddb.status_counts()
        assert before == sql.status_counts() and sum(before.values()) == 600
        for store in (sql, ddb):
            value = json.loads(store.write(17, want_value=True))
            newest = value["orders"][0]
            assert newest["status"] == "PENDING" and newest["customer_id"] == 17 and len(value["orders"]) == 10
            assert json.loads(store.read(17))["orders"][0]["order_id"] == newest["order_id"]
            assert store.version_of(store.read(17))[0] > store.version_of(store.read(16))[0]  # now vs seeded
        after = ddb.status_counts()  # the new order went into the index's PENDING partition
        assert after["PENDING"] == before["PENDING"] + 1 and after["SHIPPED"] == before["SHIPPED"]
        # update status: customer 17's newest order (the PENDING one just made) moves on, in both stores, and the
        # list's version moves with it (the staleness audit and the versioned policy see the change)
        for store in (sql, ddb):
            store.update_status = True
            was = json.loads(store.read(17))
            time.sleep(0.002)  # (a version is a time in ms)
            store.write(17)
            now = json.loads(store.read(17))
            assert [o["status"] for o in now["orders"]][0] == "SHIPPED" and now["version"] > was["version"]
            assert [o["order_id"] for o in now["orders"]] == [o["order_id"] for o in was["orders"]]  # nothing added
            store.write(17)
            assert json.loads(store.read(17))["orders"][0]["status"] == "DELIVERED"
            store.update_status = False
        moved = ddb.status_counts()
        assert moved["DELIVERED"] == after["DELIVERED"] + 1 and moved["PENDING"] == after["PENDING"] - 1
        assert moved == sql.status_counts()
        # what the report's partition line counts per new order: the emulator's own units for the index
        used = dynamodb_client.put_item(TableName=ddb.table, Item=dynamodb_orders.order_item(orders.new_order(
            18, random.Random(1))), ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
        assert used["GlobalSecondaryIndexes"][dynamodb_orders.INDEX]["CapacityUnits"] == orders.INDEX_WRITE_UNITS
    finally:
        pool.close()
        dynamodb_client.delete_table(TableName=dynamodb_orders.table_name(namespace))


def test_a_run_on_orders_caches_each_customers_list_and_the_servers_agree(namespace, target, tmp_path):
    mysql_orders.seed(target, namespace, 1000)
    out = run_locust(["--headless", "-u", "8", "-r", "8", "--namespace", namespace, "--mysql-url", MYSQL_URL,
                      "--redis-url", REDIS_URL, "--dataset", "orders", "--backend", "mysql,dynamodb",
                      "--phase-time", "4s", "--warmup", "1s",
                      "--key-distribution", "zipfian", "--staleness-sample", "0.2", "--strategies",
                      "db-only,cache-only,cache-aside,cache-aside+versioned", "--report-dir",
                      str(tmp_path / "r")], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    views = {v["phase"]: v for v in doc["server"]}
    for phase in ("orders/mysql/db-only", "orders/mysql/cache-only", "orders/mysql/cache-aside",
                  "orders/dynamodb/cache-only", "orders/dynamodb/cache-aside", "orders/dynamodb/cache-aside+versioned"):
        assert views[phase]["checks"] and not views[phase]["mismatches"], views[phase]["checks"]
    aside = {c["counter"]: c for c in views["orders/mysql/cache-aside"]["checks"]}
    # the database reads the misses' lists (and the audit's), far fewer than Redis's GETs; every create
    # order is an INSERT, then the list's DEL
    assert aside["Com_select"]["server_value"] < 0.5 * aside["cmd_get"]["server_value"]
    assert aside["Com_insert"]["server_value"] == aside["cmd_del"]["server_value"] > 0
    stale = {v["phase"]: v for v in doc["staleness"]}
    assert stale["orders/mysql/cache-aside"]["audited_hits"] > 100  # lists checked against the database
    # versioned: the Lua compare-and-set reads the list's version (its newest order's time), as a product's
    assert stale["orders/mysql/cache-aside+versioned"]["audited_hits"] > 100
    versioned = {c["counter"]: c for c in views["orders/mysql/cache-aside+versioned"]["checks"]}
    assert versioned["cmd_scripts"]["server_value"] > 0 and not views["orders/mysql/cache-aside+versioned"]["mismatches"]
    summary = {s["phase"]: s for s in doc["summary"]}
    assert 0.5 < summary["orders/mysql/cache-aside"]["hit_ratio"] < 1.0
    # the embedded DynamoDB Local, seeded by the run, with the lab's status index and its hot partition
    assert summary["orders/dynamodb/db-only"]["errors"] == 0 and summary["orders/dynamodb/db-only"]["throughput_ops"] > 0
    assert "status-index: PENDING" in out.stderr
    # each phase that writes to DynamoDB: its new orders/s against the index's PENDING partition
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("  partition ")]
    assert [line.split()[1].rstrip(":") for line in lines] == [
        "orders/dynamodb/db-only", "orders/dynamodb/cache-aside", "orders/dynamodb/cache-aside+versioned"], lines
    rows = {r["phase"]: r for r in doc["rows"] if r["op"] == "write" and r["outcome"] == "all"}
    aside = rows["orders/dynamodb/cache-aside"]
    assert f"{(aside['count'] - aside['errors']) / aside['measured_seconds']:,.0f} new orders/s" in lines[1]


def test_status_updates_are_one_update_each_and_the_servers_agree(namespace, target, tmp_path):
    """--orders-write update-status: each write moves the customer's newest order not yet delivered on,
    one UPDATE on MySQL (its count equals the clients' writes), the list invalidated or compared by its
    version; on DynamoDB Local the same, with no error; no order is added, some move on."""
    mysql_orders.seed(target, namespace, 500)
    table = mysql_orders.table_name(namespace)
    before = dict(_sql(target, f"SELECT status, COUNT(*) FROM `{table}` GROUP BY status"))
    out = run_locust(["--headless", "-u", "6", "-r", "6", "--namespace", namespace, "--mysql-url", MYSQL_URL,
                      "--redis-url", REDIS_URL, "--dataset", "orders", "--backend", "mysql,dynamodb",
                      "--orders-write", "update-status", "--read-ratio", "0.8", "--phase-time", "4s", "--warmup", "1s",
                      "--staleness-sample", "0.2", "--strategies", "db-only,cache-aside,cache-aside+versioned",
                      "--report-dir", str(tmp_path / "r")], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    views = {v["phase"]: v for v in doc["server"]}
    for phase in ("orders/mysql/db-only", "orders/mysql/cache-aside", "orders/mysql/cache-aside+versioned"):
        checks = {c["counter"]: c for c in views[phase]["checks"]}
        assert not views[phase]["mismatches"] and checks["Com_update"]["client"] > 0, views[phase]["checks"]
        assert "Com_insert" not in checks  # a status update inserts nothing
    after = dict(_sql(target, f"SELECT status, COUNT(*) FROM `{table}` GROUP BY status"))
    assert sum(after.values()) == sum(before.values()) == 500 * orders.DEFAULT_ORDERS
    assert after["PENDING"] < before["PENDING"] and after["DELIVERED"] > before["DELIVERED"]
    stale = {v["phase"]: v for v in doc["staleness"]}
    assert stale["orders/mysql/cache-aside"]["audited_hits"] > 50
    summary = {s["phase"]: s for s in doc["summary"]}
    assert all(summary[f"orders/dynamodb/{s}"]["errors"] == 0 for s in ("db-only", "cache-aside"))
    assert not [line for line in out.stdout.splitlines() if line.startswith("  partition ")]  # (creates only)
