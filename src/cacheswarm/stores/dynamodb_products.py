"""The products dataset on DynamoDB: table `<namespace>-products` (PK id), same attributes and
the same cached JSON as the MySQL store, so strategies run unchanged on it.

Groundwork for issue 3: the store and its seeding work against any endpoint (the embedded
emulator, DynamoDB Local, AWS); wiring `--backend dynamodb` into runs is still to do.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from decimal import Decimal

from .. import products
from .parallel import in_threads

BATCH = 25  # BatchWriteItem's limit


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
    return item


def encode_item(item: dict) -> bytes:
    """A DynamoDB item -> the same compact JSON the MySQL store caches for the same row."""
    return products.encode((
        int(item["id"]["N"]), item["name"]["S"], item["description"]["S"],
        f'{Decimal(item["price"]["N"]):.2f}', int(item["quantity"]["N"]), item["category"]["S"],
        item["created_at"]["S"], item["updated_at"]["S"], int(item["version"]["N"]),
    ))


class DynamoDBProducts:
    dataset = "products"
    backend = "dynamodb"

    def __init__(self, client, namespace: str, rng: random.Random | None = None):
        self.client = client
        self.namespace = namespace
        self.table = table_name(namespace)
        self.random = (rng or random.Random()).random
        self.consumed = 0.0  # capacity units reported by the server (ReturnConsumedCapacity=TOTAL)

    def cache_key(self, key: int) -> str:
        return products.cache_key(self.namespace, key)

    def _count_capacity(self, response: dict) -> None:
        used = response.get("ConsumedCapacity")
        if used:
            self.consumed += used.get("CapacityUnits", 0.0)

    def read(self, key: int) -> bytes | None:
        r = self.client.get_item(TableName=self.table, Key={"id": {"N": str(key)}}, ReturnConsumedCapacity="TOTAL")
        self._count_capacity(r)
        item = r.get("Item")
        return None if item is None else encode_item(item)

    def write(self, key: int, want_value: bool = False) -> bytes | None:
        """Update price/quantity, bump version; with want_value return the new item's JSON."""
        now = datetime.now(timezone.utc).strftime(products.TIME_FORMAT)
        r = self.client.update_item(
            TableName=self.table, Key={"id": {"N": str(key)}},
            UpdateExpression="SET price = :p, quantity = :q, updated_at = :u ADD version :one",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":p": {"N": f"{1 + int(self.random() * 99900) / 100:.2f}"},
                                       ":q": {"N": str(int(self.random() * 1000))}, ":u": {"S": now},
                                       ":one": {"N": "1"}},
            ReturnValues="ALL_NEW" if want_value else "NONE", ReturnConsumedCapacity="TOTAL")
        self._count_capacity(r)
        return encode_item(r["Attributes"]) if want_value else None

    def fresh_value(self, key: int) -> bytes:
        return products.fresh_value(key, 100 + int(self.random() * 99900), int(self.random() * 1000))

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
            items += page["Count"]
            top = max([top, *(int(i["id"]["N"]) for i in page["Items"])])
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


def create_table(client, namespace: str) -> None:
    table = table_name(namespace)
    try:
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                            BillingMode="PAY_PER_REQUEST",
                            Tags=[{"Key": "created-by", "Value": "cacheswarm"}])
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def seed(client, namespace: str, rows: int, parallel: int = 8, progress=None) -> dict:
    """Put items 1..rows (deterministic: products.row) with BatchWriteItem, `parallel` threads,
    retrying UnprocessedItems with backoff; delete items above `rows`. Idempotent."""
    create_table(client, namespace)
    table = table_name(namespace)
    store = DynamoDBProducts(client, namespace)
    before = store.count() or (0, 0)
    extra = list(range(rows + 1, before[1] + 1))
    puts = [{"PutRequest": {"Item": to_item(products.row(i))}} for i in range(1, rows + 1)]
    deletes = [{"DeleteRequest": {"Key": {"id": {"N": str(i)}}}} for i in extra]
    chunks = [reqs[k:k + BATCH] for reqs in (puts, deletes) for k in range(0, len(reqs), BATCH)]

    def work(take, done, _k: int) -> None:
        while (chunk := take()) is not None:
            pending, delay = {table: chunk}, 0.05
            while pending:
                r = client.batch_write_item(RequestItems=pending)
                pending = r.get("UnprocessedItems") or {}
                if pending:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
            done(sum(1 for req in chunk if "PutRequest" in req))

    in_threads(chunks, parallel, work, progress)
    return {"table": table, "rows": rows, "before": before[0], "trimmed": len(extra), "loaded": rows}
