"""The seed/ folder of the project's card: each dataset's seeding runnable on its own (the same code as
`cacheswarm seed`), and seed/items.json, the restaurants in the shape of the source's items file."""

from __future__ import annotations

import subprocess

from .conftest import BIN, ROOT

from cacheswarm.stores import items_file, mysql_orders, mysql_products, mysql_restaurants


def _run(script, *args):
    return subprocess.run([str(BIN / "python"), str(ROOT / "seed" / script), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def _count(pool, sql) -> int:
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_items_json_is_what_the_seed_writes_for_the_first_ten_restaurants():
    made = _run("restaurants.py", "--print-items", "10")
    assert made.returncode == 0, made.stderr
    assert (ROOT / "seed" / "items.json").read_text() == made.stdout  # (regenerate it with that command)
    items = items_file.read(str(ROOT / "seed" / "items.json"))
    assert sum(i["SK"]["S"] == i["PK"]["S"] for i in items) == 10 and len(items) == 40


def test_the_seed_scripts_seed_like_cacheswarm_seed(namespace, pool):
    r = _run("products.py", "--rows", "50", "--namespace", namespace)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _count(pool, f"SELECT COUNT(*) FROM `{mysql_products.table_name(namespace)}`") == 50
    r = _run("restaurants.py", "--items-file", "seed/items.json", "--namespace", namespace)
    assert r.returncode == 0, r.stderr[-2000:]
    rest, reviews = mysql_restaurants.table_names(namespace)
    assert _count(pool, f"SELECT COUNT(*) FROM `{rest}`") == 10
    assert _count(pool, f"SELECT COUNT(*) FROM `{reviews}`") == 30
    r = _run("orders.py", "--customers", "40", "--orders-per-customer", "3", "--namespace", namespace)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _count(pool, f"SELECT COUNT(*) FROM `{mysql_orders.table_name(namespace)}`") == 120
    assert "status-index: PENDING" in r.stdout
    bad = _run("products.py", "--rows", "0", "--namespace", namespace)
    assert bad.returncode == 2 and "--rows" in bad.stderr and "Traceback" not in bad.stderr
