"""A product's JSON (the cached value and what every database read returns) is built by one format
for the usual types and by json.dumps otherwise: the two give the same bytes, for rows as the
database returns them and for the cases the format does not take."""

import json
from datetime import datetime
from decimal import Decimal

import pytest

from cacheswarm import products
from cacheswarm.stores.mysql_products import SELECT_COLUMNS, seed, table_name


def definition(values, price_rank=None) -> bytes:
    doc = dict(zip(products.COLUMNS, values))
    if len(values) > len(products.COLUMNS) and values[len(products.COLUMNS)]:
        doc[products.PAYLOAD] = values[len(products.COLUMNS)]
    if price_rank is not None:
        doc["price_rank"] = int(price_rank)
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


def test_rows_from_the_database_encode_as_json_dumps_does(namespace, target, pool):
    seed(target, namespace, 300)
    with pool.cursor() as cur:  # Decimal prices, datetime times, as PyMySQL returns them
        cur.execute(f"UPDATE `{table_name(namespace)}` SET updated_at=UTC_TIMESTAMP(6), version=3 WHERE id<=10")
        cur.execute(f"SELECT {SELECT_COLUMNS} FROM `{table_name(namespace)}` ORDER BY id")
        rows = cur.fetchall()
    assert len(rows) == 300 and isinstance(rows[0][3], Decimal) and isinstance(rows[0][7], datetime)
    assert any(r[7].microsecond for r in rows[:10])
    assert [products.encode(r) for r in rows] == [definition(r) for r in rows]
    assert [products.encode_page(r, 7) for r in rows] == [definition(r, 7) for r in rows]


@pytest.mark.parametrize("values", [
    products.row(1), products.row(2, 40),  # text price and times; with a payload
    (3, 'Quote " and \\ back', "tab\tnew\nline \u00e9\u4e2d\U0001F600", Decimal("1.50"), 0, "toys",
     datetime(2024, 1, 1, 0, 0, 3), datetime(2024, 5, 6, 7, 8, 9, 123456), 12, "p\u00e9"),
    (4, "n", "d", 2.5, 1, "c", "t", "t", 0),  # a float price: a JSON number, json.dumps's way
    (5, "n", "d", "1.00", None, "c", "t", "t", 0, None),  # a NULL
    (6, "n", "d", 7, True, "c", 1700000000, "t", Decimal("2")),  # numbers where text is usual
    (7, "n", "d", "1.00", 1, "c", "t", "t", 0, b"bytes"),
])
def test_every_shape_encodes_as_json_dumps_does(values):
    try:
        expected = definition(values)
    except TypeError:
        with pytest.raises(TypeError):
            products.encode(values)
        return
    assert products.encode(values) == expected
    assert products.encode_page(values, 3) == definition(values, 3)
