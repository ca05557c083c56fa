"""The products dataset on DynamoDB: table `<namespace>-products` (PK id), same attributes and
the same cached JSON as the MySQL store, so strategies run unchanged on it.

Item id 0 is the seeding record (how many products were seeded): runs read it instead of
scanning the table to learn the keyspace.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from datetime import datetime, timezone
from decimal import Decimal

from .. import products
from . import dynamodb, dynamodb_http
from . import NotSeeded
from .dynamodb import capacity

META_KEY = {"id": {"N": "0"}}  # the seeding record
PRICE_INDEX = "PRICE"  # GSI (category, price), keys only: a product page's price rank counts over it
OWNER_KEY = {"id": {"N": "-1"}}  # marks the table as created by cacheswarm


def table_name(namespace: str) -> str:
    return f"{namespace}-products"


def to_item(values: tuple) -> dict:
    """A row tuple (products.COLUMNS order) -> a low-level DynamoDB item."""
    item = {}
    for column, value in zip(products.COLUMNS, values):
        if column in ("id", "quantity", "version", "price"):
            item[column] = {"N": str(value)}
        else:
            item[column] = {"S": str(value)}
    if len(values) > len(products.COLUMNS) and values[len(products.COLUMNS)]:
        item[products.PAYLOAD] = {"S": values[len(products.COLUMNS)]}
    return item


def encode_item(item: dict, price_rank: int | None = None) -> bytes:
    """A DynamoDB item -> the same compact JSON the MySQL store caches for the same row (a product
    page's with its price rank)."""
    values = (
        int(item["id"]["N"]), item["name"]["S"], item["description"]["S"],
        f'{Decimal(item["price"]["N"]):.2f}', int(item["quantity"]["N"]), item["category"]["S"],
        item["created_at"]["S"], item["updated_at"]["S"], int(item["version"]["N"]),
        item.get(products.PAYLOAD, {}).get("S"),
    )
    return products.encode(values) if price_rank is None else products.encode_page(values, price_rank)


class DynamoDBProducts:
    dataset = "products"
    backend = "dynamodb"

    def __init__(self, client, namespace: str, rng: random.Random | None = None):
        self.client = client
        self.api = dynamodb_http.for_client(client).call  # reads and writes: the hot path
        self.namespace = namespace
        self.key_prefix = products.cache_key(namespace, "")
        self.table = table_name(namespace)
        self.random = (rng or random.Random()).random
        self.consumed = 0.0  # capacity units reported by the server (ReturnConsumedCapacity=TOTAL)
        self.value_size = None  # the items' padding (--value-size), from the seeding record
        self.page = False  # --product-read page: the item, then its price rank from a COUNT query on PRICE_INDEX

    def configure(self, settings) -> None:
        self.page = settings.workload.product_read == "page"

    def _rank(self, item: dict) -> int:
        """1 + the products of the item's category that are cheaper (Query, Select COUNT, every page)."""
        request = {"TableName": self.table, "IndexName": PRICE_INDEX, "Select": "COUNT",
                   "KeyConditionExpression": "#c = :c AND #p < :p", "ExpressionAttributeNames": {"#c": "category",
                                                                                             "#p": "price"},
                   "ExpressionAttributeValues": {":c": item["category"], ":p": item["price"]},
                   "ReturnConsumedCapacity": "TOTAL"}
        cheaper = 0
        while True:
            r = self.api("Query", request)
            self.consumed += capacity(r)
            cheaper += int(r.get("Count", 0))
            if not r.get("LastEvaluatedKey"):
                return 1 + cheaper
            request = {**request, "ExclusiveStartKey": r["LastEvaluatedKey"]}

    def _encode(self, item: dict) -> bytes:
        return encode_item(item, self._rank(item)) if self.page else encode_item(item)

    version_of = staticmethod(products.version_of)

    def cache_key(self, key: int) -> str:
        return f"{self.key_prefix}{key}"  # products.cache_key, without a call more per operation

    def cache_key_of(self, keys: dict) -> str | None:
        """The cache key of the product a stream record's item key names (None: the seeding record, a
        probe's marker)."""
        key = int(keys["id"]["N"])
        return self.cache_key(key) if key > 0 else None

    def take_capacity(self) -> float:
        """Capacity units used since the last call (per user: see for_user)."""
        used, self.consumed = self.consumed, 0.0
        return used

    def for_user(self) -> "DynamoDBProducts":
        """The same client and table, its own capacity count and random numbers."""
        return DynamoDBProducts(self.client, self.namespace)

    def check_owned(self, allow_existing: bool) -> None:
        dynamodb.refuse_foreign_table(self.client, self.table, allow_existing, OWNER_KEY)

    def seeded(self) -> int:
        """Products seeded (ids 1..n), from the seeding record; or NotSeeded."""
        if dynamodb.table_status(self.client, self.table) is None:
            raise NotSeeded(f"table {self.table} is missing")
        meta = self._meta()
        if not meta or int(meta["seeded_rows"]["N"]) == 0:
            raise NotSeeded(f"table {self.table} is empty (no seeding record)")
        self.value_size = _padding(meta)
        if self.page and not self.has_price_index():
            raise dynamodb.DynamoDBError(
                f"--product-read page: table {self.table} has no price index (GSI {PRICE_INDEX}), which product pages "
                "count over; the embedded DynamoDB is seeded with it, a lasting table is not yet: use "
                "--dynamodb-endpoint embedded or --product-read row")
        return int(meta["seeded_rows"]["N"])

    def _meta(self) -> dict:
        """The seeding record ({} when there is none)."""
        return self.client.get_item(TableName=self.table, Key=META_KEY, ConsistentRead=True).get("Item") or {}

    def padding(self) -> int:
        """Bytes of padding the seeded items carry (from the seeding record)."""
        return _padding(self._meta())

    def read(self, key: int) -> bytes | None:
        r = self.api("GetItem", {"TableName": self.table, "Key": {"id": {"N": str(key)}},
                                 "ReturnConsumedCapacity": "TOTAL"})
        self.consumed += capacity(r)
        item = r.get("Item")
        return None if item is None else self._encode(item)

    def write(self, key: int, want_value: bool = False) -> bytes | None:
        """Update price/quantity, bump version; with want_value return the new item's JSON."""
        now = datetime.now(timezone.utc).strftime(products.WRITE_TIME_FORMAT)
        r = self.api("UpdateItem", {
            "TableName": self.table, "Key": {"id": {"N": str(key)}},
            "UpdateExpression": "SET price = :p, quantity = :q, updated_at = :u ADD version :one",
            "ConditionExpression": "attribute_exists(id)",
            "ExpressionAttributeValues": {":p": {"N": f"{1 + int(self.random() * 99900) / 100:.2f}"},
                                          ":q": {"N": str(int(self.random() * 1000))}, ":u": {"S": now},
                                          ":one": {"N": "1"}},
            "ReturnValues": "ALL_NEW" if want_value else "NONE", "ReturnConsumedCapacity": "TOTAL"})
        self.consumed += capacity(r)
        return self._encode(r["Attributes"]) if want_value else None

    def insert(self, key: int) -> bytes:
        """Put product `key` (products.inserted_row) unless it exists; return its JSON."""
        if self.value_size is None:
            self.value_size = self.padding()
        item = to_item(products.inserted_row(key, self.value_size))
        r = self.api("PutItem", {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(id)",
                                 "ReturnConsumedCapacity": "TOTAL"})
        self.consumed += capacity(r)
        return encode_item(item)

    def remove_inserted(self, base: int, upto: int) -> int:
        """Delete items base+1..upto (what earlier phases inserted); how many ids were cleared."""
        ids = [-i for i in range(base + 1, upto + 1)]
        if ids:
            dynamodb.batch_write(self.client, self.table, ids, 8, None, build=_request)
        return len(ids)

    def fresh_value(self, key: int) -> bytes:
        if self.value_size is None:
            self.value_size = self.padding()
        return products.fresh_value(key, 100 + int(self.random() * 99900), int(self.random() * 1000),
                                    self.value_size)

    def count(self) -> tuple[int, int] | None:
        """(items, highest id), or None when the table does not exist (a Scan: fine for test sizes)."""
        try:
            self.client.describe_table(TableName=self.table)
        except self.client.exceptions.ResourceNotFoundException:
            return None
        items, top = 0, 0
        kwargs = {"TableName": self.table, "ProjectionExpression": "id"}
        while True:
            page = self.client.scan(**kwargs)
            ids = [int(i["id"]["N"]) for i in page["Items"] if int(i["id"]["N"]) > 0]
            items += len(ids)
            top = max([top, *ids])
            if "LastEvaluatedKey" not in page:
                return items, top
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def has_price_index(self) -> bool:
        desc = self.client.describe_table(TableName=self.table)["Table"]
        return any(g["IndexName"] == PRICE_INDEX for g in desc.get("GlobalSecondaryIndexes") or [])

    def iter_values(self, n: int, batch: int = 100):
        """(cache key, JSON) for ids 1..n via BatchGetItem (product pages: one Scan, ranks counted here)."""
        if self.page:
            items, kwargs = [], {"TableName": self.table}
            while True:
                got = self.client.scan(**kwargs)
                items += [i for i in got["Items"] if "category" in i]
                if "LastEvaluatedKey" not in got:
                    break
                kwargs["ExclusiveStartKey"] = got["LastEvaluatedKey"]
            prices: dict = {}
            for i in items:
                prices.setdefault(i["category"]["S"], []).append(Decimal(i["price"]["N"]))
            for v in prices.values():
                v.sort()
            for i in sorted(items, key=lambda i: int(i["id"]["N"])):
                if 1 <= int(i["id"]["N"]) <= n:
                    rank = 1 + bisect_left(prices[i["category"]["S"]], Decimal(i["price"]["N"]))
                    yield self.cache_key(int(i["id"]["N"])), encode_item(i, rank)
            return
        for start in range(1, n + 1, batch):
            keys = [{"id": {"N": str(i)}} for i in range(start, min(n, start + batch - 1) + 1)]
            request = {self.table: {"Keys": keys}}
            while request:
                r = self.client.batch_get_item(RequestItems=request)
                for item in r["Responses"].get(self.table, []):
                    yield self.cache_key(int(item["id"]["N"])), encode_item(item)
                request = r.get("UnprocessedKeys") or None


def _padding(meta: dict) -> int:
    return int(meta.get("value_size", {"N": "0"})["N"])


def create_table(client, namespace: str, price_index: bool = False) -> None:
    """The table; with price_index, the GSI product pages count over (every write then also writes it)."""
    attributes = [{"AttributeName": "id", "AttributeType": "N"}]
    gsis = None
    if price_index:
        attributes += [{"AttributeName": "category", "AttributeType": "S"},
                       {"AttributeName": "price", "AttributeType": "N"}]
        gsis = [{"IndexName": PRICE_INDEX, "KeySchema": [{"AttributeName": "category", "KeyType": "HASH"},
                                                         {"AttributeName": "price", "KeyType": "RANGE"}],
                 "Projection": {"ProjectionType": "KEYS_ONLY"}}]
    dynamodb.create_table(client, table_name(namespace), [{"AttributeName": "id", "KeyType": "HASH"}],
                          attributes, OWNER_KEY, gsis)


def _request(i: int, value_size: int = 0) -> dict:
    if i > 0:
        return {"PutRequest": {"Item": to_item(products.row(i, value_size))}}
    return {"DeleteRequest": {"Key": {"id": {"N": str(-i)}}}}


def seed(client, namespace: str, rows: int, parallel: int = 8, progress=None, reset: bool = False,
         allow_existing: bool = False, value_size: int = 0, price_index: bool = False) -> dict:
    """Put items 1..rows (deterministic: products.row, with `value_size` bytes of padding) with
    parallel BatchWriteItem, delete items above `rows` that an earlier seeding put there, then
    write the seeding record. Idempotent: every seeded item is rewritten to its seeded value
    (so a new --value-size applies to all). With reset the table is recreated."""
    table = table_name(namespace)
    desc = dynamodb.refuse_foreign_table(client, table, allow_existing, OWNER_KEY)
    if reset and desc is not None:
        dynamodb.delete_table(client, table)
    create_table(client, namespace, price_index)
    meta = client.get_item(TableName=table, Key=META_KEY, ConsistentRead=True).get("Item")
    before = int(meta["seeded_rows"]["N"]) if meta else 0
    client.delete_item(TableName=table, Key=META_KEY)  # until the load completes, the table is not seeded
    extra = range(rows + 1, before + 1)
    ids = [*range(1, rows + 1), *(-i for i in extra)]  # > 0: put row i; < 0: delete item -i
    dynamodb.batch_write(client, table, ids, parallel, progress, build=lambda i: _request(i, value_size))
    client.put_item(TableName=table, Item={**META_KEY, "seeded_rows": {"N": str(rows)},
                                           "value_size": {"N": str(value_size)}})
    return {"table": table, "rows": rows, "before": before, "trimmed": len(extra), "loaded": rows}
