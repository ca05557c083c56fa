"""--product-read page: a product and its price rank in its category, counted by the database (MySQL
over the (category, price) index, DynamoDB with a COUNT Query on a GSI): the same JSON from both,
ranks equal to a count over the seeded rows, cached as pages, counted by the servers."""

import json
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cacheswarm import products
from cacheswarm.stores import dynamodb, mysql_products
from cacheswarm.stores import dynamodb_products as ddb
from cacheswarm.stores.mysql import Pool

from .conftest import MYSQL_URL, REDIS_URL, run_locust
from .test_end_to_end import common, only_report

ROWS = 600
PAGE = SimpleNamespace(workload=SimpleNamespace(product_read="page"))


def brute_rank(i: int, rows: int) -> int:
    """1 + the seeded products of row i's category that are cheaper, counted here from the rows."""
    mine = products.row(i)
    return 1 + sum(1 for j in range(1, rows + 1) if products.row(j)[5] == mine[5]
                   and Decimal(products.row(j)[3]) < Decimal(mine[3]))


@pytest.fixture
def both(namespace, target, dynamodb_client):
    mysql_products.seed(target, namespace, ROWS)
    ddb.seed(dynamodb_client, namespace, ROWS, price_index=True)
    pool = Pool(target, 2, 5.0)
    my, dy = mysql_products.MySQLProducts(pool, namespace), ddb.DynamoDBProducts(dynamodb_client, namespace)
    my.configure(PAGE)
    dy.configure(PAGE)
    yield my, dy
    pool.close()
    dynamodb.delete_table(dynamodb_client, ddb.table_name(namespace))


def test_a_page_is_the_row_and_its_price_rank_the_same_from_both_databases(both):
    my, dy = both
    assert my.seeded() == ROWS and dy.seeded() == ROWS
    for i in (1, 77, 311, ROWS):
        page = json.loads(my.read(i))
        assert page["price_rank"] == brute_rank(i, ROWS)
        assert {k: v for k, v in page.items() if k != "price_rank"} == json.loads(products.encode(products.row(i)))
        assert dy.read(i) == my.read(i)
    # a bulk load (cache-only's) gives every page as a read would: one window / one scan, not a count each
    assert dict(my.iter_values(40)) == {my.cache_key(i): my.read(i) for i in range(1, 41)}
    assert dict(dy.iter_values(40)) == {dy.cache_key(i): dy.read(i) for i in range(1, 41)}
    # a write moves the price: the page read after it ranks the new price
    fresh = json.loads(my.write(77, want_value=True))
    cheaper = sum(1 for j in range(1, ROWS + 1) if j != 77 and products.row(j)[5] == fresh["category"]
                  and Decimal(products.row(j)[3]) < Decimal(fresh["price"]))
    assert fresh["price_rank"] == 1 + cheaper
    # DynamoDB charges the COUNT query beside the GetItem
    before = dy.consumed
    dy.read(5)
    assert dy.consumed > before


def test_pages_need_the_price_index(namespace, target, dynamodb_client):
    ddb.seed(dynamodb_client, namespace, 50)  # no GSI
    try:
        store = ddb.DynamoDBProducts(dynamodb_client, namespace)
        store.configure(PAGE)
        with pytest.raises(dynamodb.DynamoDBError, match="--product-read page: .* no price index"):
            store.seeded()
    finally:
        dynamodb.delete_table(dynamodb_client, ddb.table_name(namespace))


def _read_next(cur) -> int:
    cur.execute("SHOW GLOBAL STATUS LIKE 'Handler_read_next'")
    return int(cur.fetchone()[1])


def test_a_run_of_pages_scans_the_index_on_mysql_and_caches_pages(seeded, tmp_path, raw_redis):
    """db-only then cache-aside with page reads: MariaDB walked the (category, price) index for each
    page (Handler_read_next: index entries read in ranges; a primary-key lookup adds none), and the
    values Redis holds are pages."""
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"SHOW INDEX FROM `{mysql_products.table_name(seeded)}` WHERE Key_name = %s",
                    (mysql_products.PRICE_INDEX,))
        assert cur.fetchall()  # the seed made the index pages count over
        before = _read_next(cur)
        out = run_locust([*common(seeded, tmp_path / "r", phase="3s", warmup="0s"), "--product-read", "page",
                          "--strategies", "db-only,cache-aside", "--read-ratio", "1"], cwd=tmp_path)
        walked = _read_next(cur) - before
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert doc["run"]["product_read"] == "page"
    rows = {(r["strategy"], r["op"], r["outcome"]): r["count"] for r in doc["rows"]}
    loads = rows[("db-only", "read", "all")] + rows.get(("cache-aside", "read", "miss"), 0)
    # 1,000 products in 12 categories: a rank walks ~40 cheaper entries on average; 10 is a floor
    assert walked >= 10 * loads > 0, (walked, loads)
    key = next(iter(raw_redis.scan_iter(f"{seeded}:product:*")))
    assert "price_rank" in json.loads(raw_redis.get(key))
