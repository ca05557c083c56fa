"""--value-size: products padded to the size of the user's own objects (memtier's --data-size), in
the database rows and so in the cached values; seeding stays deterministic and idempotent, a table
with other padding is refused (exit 2, nothing rewritten) unless --reset; the report gives the
values' bytes and what Redis spends on each."""

from __future__ import annotations

import json

import pytest

from cacheswarm import products
from cacheswarm.stores import mysql_products

from .conftest import cli, run_locust
from .test_end_to_end import MYSQL_URL, common, only_report

SIZE = 2000


def _rows(target, namespace, ids):
    from cacheswarm.stores.mysql import connect

    conn = connect(target, 10)
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT {mysql_products.SELECT_COLUMNS} FROM `{mysql_products.table_name(namespace)}` "
                    f"WHERE id IN ({','.join(map(str, ids))}) ORDER BY id")
        return cur.fetchall()


def _seed(namespace, *extra):
    return cli("seed", "products", "--rows", "300", "--namespace", namespace, "--mysql-url", MYSQL_URL, *extra)


def test_seeding_pads_every_row_deterministically_and_refuses_other_padding(namespace, target):
    out = _seed(namespace, "--value-size", str(SIZE))
    assert out.returncode == 0, out.stderr
    ids = [1, 2, 27, 150, 300]
    rows = _rows(target, namespace, ids)
    # the server built each row (LOAD DATA) exactly as products.row() says, padding included
    assert [products.encode(r) for r in rows] == [products.encode(products.row(i, SIZE)) for i in ids]
    assert all(len(r[-1]) == SIZE for r in rows) and rows[0][-1][0] != rows[1][-1][0]
    value = products.encode(rows[0])
    assert SIZE < len(value) < SIZE + 500 and json.loads(value)["payload"] == "b" * SIZE

    again = _seed(namespace, "--value-size", str(SIZE))
    assert again.returncode == 0 and _rows(target, namespace, ids) == rows  # idempotent

    other = _seed(namespace, "--value-size", "100")
    assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stderr
    assert "--value-size" in other.stderr and f"{SIZE} bytes of padding" in other.stderr and "--reset" in other.stderr
    assert _rows(target, namespace, ids) == rows  # nothing rewritten

    reset = _seed(namespace, "--value-size", "100", "--reset")
    assert reset.returncode == 0, reset.stderr
    assert [len(r[-1]) for r in _rows(target, namespace, ids)] == [100] * len(ids)
    plain = _seed(namespace, "--reset")
    assert plain.returncode == 0
    assert [products.encode(r) for r in _rows(target, namespace, [5])] == [products.encode(products.row(5))]
    assert b"payload" not in products.encode(_rows(target, namespace, [5])[0])  # no padding: the JSON as before


def test_bad_value_sizes_are_refused(namespace):
    for args, message in ((["products", "--value-size", "-1"], "out of range"),
                          (["restaurants", "--value-size", "10"], "pads products")):
        out = cli("seed", *args, "--namespace", namespace, "--mysql-url", MYSQL_URL)
        assert out.returncode == 2 and "--value-size" in out.stderr and message in out.stderr, out.stderr


def test_a_run_carries_the_padding_into_the_cache_and_reports_its_bytes(namespace, tmp_path):
    assert _seed(namespace, "--value-size", str(SIZE)).returncode == 0
    out = run_locust([*common(namespace, tmp_path / "r"), "--strategies", "cache-only,cache-aside",
                      "--value-size", str(SIZE), "--read-ratio", "0.5"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert doc["run"]["value_size"] == SIZE
    expected = len(products.encode(products.row(7, SIZE)))
    for view in doc["server"]:
        memory = view["memory"]
        assert abs(memory["value_bytes_mean"] - expected) < 50, (view["phase"], memory)
        assert memory["bytes_per_value_mean"] >= memory["value_bytes_mean"]  # Redis's own overhead on top
    # (half the operations are writes: cache-only's SETs of unpadded values would pull its mean far down)

    # a run that expects other padding is refused before any user starts, with the seed command
    wrong = run_locust([*common(namespace, tmp_path / "r2"), "--value-size", "100"], cwd=tmp_path)
    assert wrong.returncode == 2, wrong.stderr[-2000:]
    assert f"carry {SIZE} bytes of padding, not 100" in wrong.stderr and "--value-size 100 " in wrong.stderr and "--reset`" in wrong.stderr
    assert not (tmp_path / "r2").exists()


def test_the_embedded_emulator_is_seeded_with_the_padding(namespace, tmp_path):
    out = run_locust([*common(namespace, tmp_path / "r"), "--backend", "dynamodb", "--strategies", "cache-aside",
                      "--value-size", "1500", "--keyspace", "300"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    (view,) = doc["server"]
    assert abs(view["memory"]["value_bytes_mean"] - len(products.encode(products.row(3, 1500)))) < 50


def test_a_table_seeded_before_value_sizes_is_upgraded_by_seeding_again(namespace, target, pool):
    from cacheswarm.stores import NotSeeded
    from cacheswarm.stores.mysql import connect

    assert _seed(namespace).returncode == 0
    conn = connect(target, 10)
    with conn, conn.cursor() as cur:  # the table as an older cacheswarm left it
        cur.execute(f"ALTER TABLE `{mysql_products.table_name(namespace)}` DROP COLUMN payload")
    store = mysql_products.MySQLProducts(pool, namespace)
    with pytest.raises(NotSeeded, match="no payload column"):
        store.seeded()
    out = _seed(namespace)
    assert out.returncode == 0 and "0 items loaded" in out.stdout, out.stdout  # the rows kept, the column added
    assert store.seeded() == 300 and store.value_size == 0
