"""Seeding: deterministic, idempotent, grows and trims; the CLI shows progress and a rate."""

import os

import pymysql

from cacheswarm import products
from cacheswarm.stores import mysql_products

from .conftest import MYSQL_URL, cli


def table_rows(target, namespace):
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, password=target.password,
                           database=target.database)
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT {mysql_products.SELECT_COLUMNS} FROM `{mysql_products.table_name(namespace)}` ORDER BY id")
        return cur.fetchall()


def test_rows_match_the_python_definition(namespace, target):
    mysql_products.seed(target, namespace, 500)
    rows = table_rows(target, namespace)
    assert [products.encode(r) for r in rows] == [products.encode(products.row(i)) for i in range(1, 501)]


def test_idempotent_grow_trim_and_deterministic(namespace, target):
    first = mysql_products.seed(target, namespace, 3000, chunk=700)
    assert first["rows"] == 3000 and first["loaded"] == 3000
    snapshot = table_rows(target, namespace)
    again = mysql_products.seed(target, namespace, 3000)
    assert again["rows"] == 3000 and again["loaded"] == 0
    assert table_rows(target, namespace) == snapshot
    grown = mysql_products.seed(target, namespace, 5000)
    assert grown["rows"] == 5000 and grown["loaded"] == 2000
    assert table_rows(target, namespace)[:3000] == snapshot
    trimmed = mysql_products.seed(target, namespace, 1000)
    assert trimmed["rows"] == 1000 and trimmed["trimmed"] == 4000
    assert table_rows(target, namespace) == snapshot[:1000]


def test_reset_undoes_writes(namespace, target, pool):
    mysql_products.seed(target, namespace, 100)
    store = mysql_products.MySQLProducts(pool, namespace)
    seeded = products.encode(products.row(10))
    assert products.encode(table_rows(target, namespace)[9]) == seeded  # compared as the cached JSON, not
    store.write(10)                                                    # Decimal/datetime against strings
    written = table_rows(target, namespace)[9]
    assert products.encode(written) != seeded and written[8] == 1  # the write changed it: version 1
    mysql_products.seed(target, namespace, 100, reset=True)
    assert products.encode(table_rows(target, namespace)[9]) == seeded
    assert table_rows(target, namespace)[9][8] == 0  # version


def test_cli_seed_reports_rows_and_rate(namespace):
    out = cli("seed", "products", "--rows", "2000", "--namespace", namespace,
                          "--mysql-url", MYSQL_URL, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"{namespace}_products: 2000 products (2000 items loaded) in" in out.stdout
    assert "items/s" in out.stdout


def test_cli_seed_bad_input_is_one_line(namespace):
    out = cli("seed", "products", "--rows", "0", "--namespace", namespace, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--rows" in out.stderr
    out = cli("seed", "products", "--namespace", namespace,
                          "--mysql-url", "mysql://root:wrong@127.0.0.1:3306/test", timeout=60)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "--mysql-url" in out.stderr and "wrong" not in out.stderr


def test_cli_seeds_restaurants_on_both_backends_and_clean_removes_them(namespace, dynamodb_client, tmp_path):
    from cacheswarm.stores import dynamodb, dynamodb_restaurants

    endpoint = dynamodb_client.meta.endpoint_url
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    for backend in ("mysql", "dynamodb"):
        out = cli("seed", "restaurants", "--restaurants", "30",
                              "--reviews-per-restaurant", "4", "--backend", backend, "--namespace", namespace,
                              "--mysql-url", MYSQL_URL, "--dynamodb-endpoint", endpoint, timeout=120, env=env)
        assert out.returncode == 0, out.stderr
        assert "30 restaurants (150 items loaded" in out.stdout, out.stdout
    assert dynamodb_restaurants.DynamoDBRestaurants(dynamodb_client, namespace).seeded() == 30
    out = cli("clean", "--yes", "--namespace", namespace, "--mysql-url",
                          MYSQL_URL, "--dynamodb-endpoint", endpoint, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert f"{namespace}_restaurants" in out.stdout and f"{namespace}-restaurants" in out.stdout
    assert "removed 3 table(s)" in out.stdout
    assert dynamodb.table_status(dynamodb_client, dynamodb_restaurants.table_name(namespace)) is None


def test_cli_seed_refuses_the_embedded_emulator_and_bad_items_files(namespace, tmp_path):
    out = cli("seed", "products", "--backend", "dynamodb", "--namespace",
                          namespace, timeout=60)
    assert out.returncode == 2 and "--dynamodb-endpoint" in out.stderr and "lives for one run" in out.stderr
    bad = tmp_path / "items.jsonl"
    bad.write_text("not json\n")
    out = cli("seed", "restaurants", "--items-file", str(bad), "--namespace",
                          namespace, "--mysql-url", MYSQL_URL, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "--items-file" in out.stderr and "items.jsonl:1 is not JSON" in out.stderr


def _preflight(namespace, **overrides):
    from cacheswarm.options import settings_from
    from cacheswarm.runtime import Runtime

    from .test_end_to_end import locust_like_options

    rt = Runtime(settings_from(locust_like_options(namespace, strategies="db-only", **overrides)))
    try:
        return rt.preflight()
    finally:
        rt.close()


def test_a_bigger_seed_after_inserts_leaves_no_gaps_and_the_suggested_command_fixes_gaps(namespace, target, pool):
    """After YCSB D/E inserts (rows of category `inserted` above the seeded ones), a bigger seed makes
    rows 1..N the seeded rows, so the next run starts; a table with gaps names a seed that fixes it."""
    import shlex

    import pytest

    from cacheswarm.runtime import Preflight

    mysql_products.seed(target, namespace, 2000)
    store = mysql_products.MySQLProducts(pool, namespace)
    for key in range(2001, 2051):  # what a YCSB D run leaves behind
        store.insert(key)
    out = cli("seed", "products", "--rows", "3000", "--namespace", namespace, "--mysql-url", MYSQL_URL)
    assert out.returncode == 0, out.stderr
    assert "(1000 items loaded" in out.stdout, out.stdout  # rows 2001..3000, the inserted ones replaced
    rows = table_rows(target, namespace)
    assert [products.encode(r) for r in rows] == [products.encode(products.row(i)) for i in range(1, 3001)]
    assert _preflight(namespace)["products"] == 3000
    # a table with a hole (rows removed by hand): the error names a command, and that command fixes it
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, password=target.password,
                           database=target.database, autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM `{mysql_products.table_name(namespace)}` WHERE id BETWEEN 10 AND 19")
    with pytest.raises(Preflight) as failed:
        _preflight(namespace)
    message = str(failed.value)
    assert "has gaps" in message and "`cacheswarm seed products --rows 3000 " in message, message
    suggested = shlex.split(message.split("`")[1])
    fixed = cli(*suggested[1:])
    assert fixed.returncode == 0, fixed.stderr
    assert "(10 items loaded" in fixed.stdout, fixed.stdout
    assert _preflight(namespace)["products"] == 3000


def test_restaurants_reseed_says_nothing_was_loaded(namespace):
    args = ("seed", "restaurants", "--restaurants", "30", "--reviews-per-restaurant", "3", "--namespace", namespace,
            "--mysql-url", MYSQL_URL)
    first = cli(*args)
    assert first.returncode == 0 and "(120 items loaded" in first.stdout, first.stdout + first.stderr
    again = cli(*args)
    assert again.returncode == 0 and "(0 items loaded" in again.stdout, again.stdout + again.stderr
