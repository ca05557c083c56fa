"""The products dataset on DynamoDB: table `<namespace>-products` (PK id), same attributes and
the same cached JSON as the MySQL store, so strategies run unchanged on it.

Item id 0 is the seeding record (how many products were seeded): runs read it instead of
scanning the table to learn the keyspace.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from decimal import Decimal

from .. import products
from . import dynamodb, dynamodb_http
from . import NotSeeded
from .dynamodb import capacity

META_KEY = {"id": {"N": "0"}}  # the seeding record
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


def encode_item(item: dict) -> bytes:
    """A DynamoDB item -> the same compact JSON the MySQL store caches for the same row."""
    return products.encode((
        int(item["id"]["N"]), item["name"]["S"], item["description"]["S"],
        f'{Decimal(item["price"]["N"]):.2f}', int(item["quantity"]["N"]), item["category"]["S"],
        item["created_at"]["S"], item["updated_at"]["S"], int(item["version"]["N"]),
        item.get(products.PAYLOAD, {}).get("S"),
    ))


class DynamoDBProducts:
    dataset = "products"
    backend = "dynamodb"

    def __init__(self, client, namespace: str, rng: random.Random | None = None):
        self.client = client
        self.api = dynamodb_http.for_client(client).call  # reads and writes: the hot path
        self.namespace = namespace
        self.table = table_name(namespace)
        self.random = (rng or random.Random()).random
        self.consumed = 0.0  # capacity units reported by the server (ReturnConsumedCapacity=TOTAL)
        self.value_size = None  # the items' padding (--value-size), from the seeding record

    version_of = staticmethod(products.version_of)

    def cache_key(self, key: int) -> str:
        return products.cache_key(self.namespace, key)

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
        return None if item is None else encode_item(item)

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
        return encode_item(r["Attributes"]) if want_value else None

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

    def iter_values(self, n: int, batch: int = 100):
        """(cache key, JSON) for ids 1..n via BatchGetItem."""
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


def create_table(client, namespace: str) -> None:
    dynamodb.create_table(client, table_name(namespace), [{"AttributeName": "id", "KeyType": "HASH"}],
                          [{"AttributeName": "id", "AttributeType": "N"}], OWNER_KEY)


def _request(i: int, value_size: int = 0) -> dict:
    if i > 0:
        return {"PutRequest": {"Item": to_item(products.row(i, value_size))}}
    return {"DeleteRequest": {"Key": {"id": {"N": str(-i)}}}}


def seed(client, namespace: str, rows: int, parallel: int = 8, progress=None, reset: bool = False,
         allow_existing: bool = False, value_size: int = 0) -> dict:
    """Put items 1..rows (deterministic: products.row, with `value_size` bytes of padding) with
    parallel BatchWriteItem, delete items above `rows` that an earlier seeding put there, then
    write the seeding record. Idempotent: every seeded item is rewritten to its seeded value
    (so a new --value-size applies to all). With reset the table is recreated."""
    table = table_name(namespace)
    desc = dynamodb.refuse_foreign_table(client, table, allow_existing, OWNER_KEY)
    if reset and desc is not None:
        dynamodb.delete_table(client, table)
    create_table(client, namespace)
    meta = client.get_item(TableName=table, Key=META_KEY, ConsistentRead=True).get("Item")
    before = int(meta["seeded_rows"]["N"]) if meta else 0
    client.delete_item(TableName=table, Key=META_KEY)  # until the load completes, the table is not seeded
    extra = range(rows + 1, before + 1)
    ids = [*range(1, rows + 1), *(-i for i in extra)]  # > 0: put row i; < 0: delete item -i
    dynamodb.batch_write(client, table, ids, parallel, progress, build=lambda i: _request(i, value_size))
    client.put_item(TableName=table, Item={**META_KEY, "seeded_rows": {"N": str(rows)},
                                           "value_size": {"N": str(value_size)}})
    return {"table": table, "rows": rows, "before": before, "trimmed": len(extra), "loaded": rows}
