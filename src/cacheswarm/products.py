"""The products dataset: deterministic rows, their JSON form and cache keys.

Shape of the products table of the AWS database lab (id, name, description, price,
quantity, category, created_at, updated_at) plus `version`, bumped by every write.
Row `i` is a pure function of `i`, so the same --rows always seeds the same data.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

COLUMNS = ("id", "name", "description", "price", "quantity", "category", "created_at", "updated_at", "version")
PAYLOAD = "payload"  # padding, --value-size bytes (none by default): rows as large as the user's own objects
MAX_VALUE_SIZE = 1_000_000  # DynamoDB items stop at 400 KB; a MEDIUMTEXT at 16 MB

CATEGORIES = ("books", "electronics", "garden", "grocery", "home", "kitchen", "music", "office",
              "outdoors", "sports", "tools", "toys")
ADJECTIVES = ("Ergonomic", "Rustic", "Sleek", "Compact", "Durable", "Handmade", "Smart", "Classic",
              "Portable", "Premium", "Recycled", "Modern", "Vintage", "Wireless", "Heavy-duty", "Organic")
NOUNS = ("Chair", "Lamp", "Kettle", "Backpack", "Keyboard", "Notebook", "Speaker", "Bottle", "Jacket",
         "Drill", "Blender", "Clock", "Desk", "Headphones", "Mug", "Tent")
PHRASES = ("built to last", "for everyday use", "with a two-year warranty", "loved by our customers",
           "in a gift box", "made from sustainable materials", "easy to clean", "ships in 24 hours")
BASE_TIME = datetime(2024, 1, 1)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
WRITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # a run's writes stamp updated_at to the microsecond


def _mix(i: int) -> int:
    """A cheap deterministic 32-bit scramble of the row id (Knuth multiplicative hash)."""
    return (i * 2654435761) & 0xFFFFFFFF


def pad(i: int, value_size: int) -> str | None:
    """Row i's padding: `value_size` times one letter of the row's own (None: no padding)."""
    return chr(97 + i % 26) * value_size if value_size else None


def row(i: int, value_size: int = 0) -> tuple:
    """Row i (1-based) as a tuple in COLUMNS order, then its padding; price in cents-exact text."""
    h = _mix(i)
    created = (BASE_TIME + timedelta(seconds=i)).strftime(TIME_FORMAT)
    name = f"{ADJECTIVES[h & 15]} {NOUNS[(h >> 4) & 15]} {i}"
    description = f"{name}, {PHRASES[(h >> 8) & 7]}, {PHRASES[(h >> 11) & 7]}."
    price = f"{1 + (h >> 14) % 99900 / 100:.2f}"
    return (i, name, description, price, (h >> 3) % 1000, CATEGORIES[(h >> 17) % 12], created, created, 0,
            pad(i, value_size))


INSERTED = "inserted"  # the category of the products a run inserts (YCSB D, E): never a seeded row's


def inserted_row(i: int, value_size: int = 0, now: datetime | None = None) -> tuple:
    """Product i as a run inserts it: row i's name, price and padding, category INSERTED, created and
    updated now (UTC; created_at to the second, as its column keeps it)."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    values = list(row(i, value_size))
    values[5], values[6], values[7] = INSERTED, now.replace(microsecond=0), now
    return tuple(values)


def _elt(index_sql: str, words) -> str:
    return f"ELT({index_sql} + 1, {', '.join(repr(w) for w in words)})"


def load_data_set_clause(var: str = "@i", value_size: int = 0) -> str:
    """The SET clause of a LOAD DATA that builds row(@i) on the server from a file of ids.

    The same formulas as row(), written in SQL (MySQL 8 and MariaDB), so seeding ships only
    ids over the wire and the server fills in the rest; a test checks both agree.
    """
    h = f"(({var} * 2654435761) & 4294967295)"
    name = f"CONCAT({_elt(f'({h} & 15)', ADJECTIVES)}, ' ', {_elt(f'(({h} >> 4) & 15)', NOUNS)}, ' ', {var})"
    return (
        f"id = {var}, name = {name}, "
        f"description = CONCAT({name}, ', ', {_elt(f'(({h} >> 8) & 7)', PHRASES)}, ', ', "
        f"{_elt(f'(({h} >> 11) & 7)', PHRASES)}, '.'), "
        f"price = 1 + (({h} >> 14) % 99900) / 100, quantity = ({h} >> 3) % 1000, "
        f"category = {_elt(f'(({h} >> 17) % 12)', CATEGORIES)}, "
        f"created_at = TIMESTAMP('{BASE_TIME:%Y-%m-%d}') + INTERVAL {var} SECOND, "
        f"updated_at = TIMESTAMP('{BASE_TIME:%Y-%m-%d}') + INTERVAL {var} SECOND, version = 0, "
        f"payload = " + (f"REPEAT(CHAR(97 + {var} % 26), {int(value_size)})" if value_size else "NULL")
    )


def encode(values: tuple) -> bytes:
    """A row tuple (COLUMNS order, then the padding if any, as the database returns it) -> compact
    JSON, the cached value (without a "payload" field when the row has no padding)."""
    try:
        return _encode_fast(values, "")
    except (TypeError, ValueError):
        return _encode_json(values, None)


def encode_page(values: tuple, price_rank: int) -> bytes:
    """A product page (--product-read page): the row's JSON plus `price_rank`, its place by price among
    the products of its category (1: the cheapest; ties share a rank)."""
    try:
        return _encode_fast(values, ',"price_rank":%d' % price_rank)
    except (TypeError, ValueError):
        return _encode_json(values, int(price_rank))


def _encode_json(values: tuple, price_rank: int | None) -> bytes:
    """The definition of a product's JSON: json.dumps of its fields, non-JSON types (Decimal,
    datetime) as their str()."""
    doc = dict(zip(COLUMNS, values))
    if len(values) > len(COLUMNS) and values[len(COLUMNS)]:
        doc[PAYLOAD] = values[len(COLUMNS)]
    if price_rank is not None:
        doc["price_rank"] = price_rank
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


_quote = json.encoder.encode_basestring_ascii  # json.dumps's own C quoting (ensure_ascii)
_TEXTUAL = frozenset((str, Decimal, datetime))  # what json.dumps(default=str) writes as a quoted str()


def _encode_fast(values: tuple, tail: str) -> bytes:
    """_encode_json's bytes for the usual types (int ids, counts and versions; str text; price and
    times as Decimal/datetime/str), built by one format instead of a dict and json.dumps's default
    hook per Decimal and datetime: 2.1 µs against 4.9 µs a row here, on every database read. Anything
    else (a float price, a NULL) raises, and the caller takes the general path; a test holds the two
    to the same bytes."""
    i, name, description, price, quantity, category, created, updated, version = values[:9]
    if (i.__class__ is not int or quantity.__class__ is not int or version.__class__ is not int
            or price.__class__ not in _TEXTUAL or created.__class__ not in _TEXTUAL
            or updated.__class__ not in _TEXTUAL):
        raise TypeError("not the usual types")
    payload = values[9] if len(values) > 9 else None
    return ('{"id":%d,"name":%s,"description":%s,"price":%s,"quantity":%d,"category":%s,"created_at":%s,'
            '"updated_at":%s,"version":%d%s%s}' % (
                i, _quote(name), _quote(description), _quote(str(price)), quantity, _quote(category),
                _quote(str(created)), _quote(str(updated)), version,
                ',"payload":' + _quote(payload) if payload else "", tail)).encode()


def cache_key(namespace: str, product_id: int) -> str:
    return f"{namespace}:product:{product_id}"


def fresh_value(product_id: int, price_cents: int, quantity: int, value_size: int = 0) -> bytes:
    """The value a cache-only write SETs: the row with a new price and quantity."""
    values = list(row(product_id, value_size))
    values[3] = f"{price_cents / 100:.2f}"
    values[4] = quantity
    return encode(tuple(values))


def version_of(value: bytes) -> tuple[int, float]:
    """(version, when that version was written, epoch seconds UTC) of a cached or read value."""
    doc = json.loads(value)
    text = str(doc.get("updated_at") or "")
    for fmt in (WRITE_TIME_FORMAT, TIME_FORMAT):
        try:
            written = datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
            break
        except ValueError:
            continue
    else:
        written = 0.0
    return int(doc["version"]), written
