"""The orders dataset on DynamoDB: the lab's table `<namespace>-orders`, partition key `customer_id`
(N), sort key `order_date` (S), and the GSI `status-index` on `status` + `order_date` (all attributes).

A customer's orders = Query on the customer, newest first, Limit 10; create order = PutItem (which
also writes the index: every new order lands in its PENDING partition); update status = that Query
(consistent) for the newest order not yet delivered among the 10 (MySQL's UPDATE looks past them, which
changes no list: the lists, and so the cache, agree), then UpdateItem of its status if it still has
the one read (another user that moved it first made this one's moot: nothing more is done), which
moves its copy in the index from one status's partition to the next's. The seeding record and the
owner mark live under customer_id 0 and have no status, so the index never holds them.
"""

from __future__ import annotations

import random

from botocore.exceptions import ClientError

from .. import orders
from ..optbase import BadInput
from . import NotSeeded, dynamodb, dynamodb_http, each_value
from .dynamodb import capacity

META_KEY = {"customer_id": {"N": "0"}, "order_date": {"S": "META#cacheswarm"}}  # the seeding record
OWNER_KEY = {"customer_id": {"N": "0"}, "order_date": {"S": "OWNER#cacheswarm"}}  # marks the table as ours
INDEX = "status-index"


def table_name(namespace: str) -> str:
    return f"{namespace}-orders"


def order_item(o: dict) -> dict:
    return {"customer_id": {"N": str(o["customer_id"])}, "order_date": {"S": o["order_date"]},
            "order_id": {"S": o["order_id"]}, "status": {"S": o["status"]},
            "total_cents": {"N": str(o["total_cents"])}, "items": {"N": str(o["items"])},
            "status_ms": {"N": str(o["status_ms"])}}


def _plain(item: dict) -> dict:
    return {k: (int(v["N"]) if "N" in v else v.get("S")) for k, v in item.items()}


class DynamoDBOrders:
    dataset = "orders"
    backend = "dynamodb"

    def __init__(self, client, namespace: str, rng: random.Random | None = None):
        self.client = client
        self.api = dynamodb_http.for_client(client).call  # reads and writes: the hot path
        self.namespace = namespace
        self.table = table_name(namespace)
        self.rng = rng or random.Random()
        self.consumed = 0.0
        self.update_status = False  # --orders-write update-status

    version_of = staticmethod(orders.version_of)

    def configure(self, settings) -> None:
        """--orders-write: what a write does."""
        self.update_status = settings.workload.orders_write == "update-status"

    def cache_key(self, key: int) -> str:
        return orders.cache_key(self.namespace, key)

    def _newest(self, key: int, consistent: bool) -> list[dict]:
        r = self.api("Query", {"TableName": self.table, "KeyConditionExpression": "customer_id = :c",
                               "ExpressionAttributeValues": {":c": {"N": str(key)}}, "ScanIndexForward": False,
                               "Limit": orders.LIST_ORDERS, "ConsistentRead": consistent,
                               "ReturnConsumedCapacity": "TOTAL"})
        self.consumed += capacity(r)
        return [_plain(i) for i in r.get("Items", [])]

    def read(self, key: int, consistent: bool = False) -> bytes | None:
        newest = self._newest(key, consistent)
        return orders.order_list(key, newest) if newest else None

    def read_primary(self, key: int) -> bytes | None:
        """A strongly consistent read (the staleness audit's truth)."""
        return self.read(key, consistent=True)

    def write(self, key: int, want_value: bool = False) -> bytes | None:
        """Create an order for customer `key` (PENDING, now; it must not exist yet), or move their newest
        order not yet delivered on."""
        if self.update_status:
            self._update_status(key)
        else:
            r = self.api("PutItem", {"TableName": self.table, "Item": order_item(orders.new_order(key, self.rng)),
                                     "ConditionExpression": "attribute_not_exists(order_date)",
                                     "ReturnConsumedCapacity": "TOTAL"})
            self.consumed += capacity(r)
        return self.read(key, consistent=True) if want_value else None

    def _update_status(self, key: int) -> None:
        o = next((o for o in self._newest(key, True) if o.get("status") in orders.NEXT_STATUS), None)
        if o is None:
            return
        try:
            r = self.api("UpdateItem", {
                "TableName": self.table, "Key": {"customer_id": {"N": str(key)}, "order_date": {"S": o["order_date"]}},
                "UpdateExpression": "SET #s = :next, status_ms = :t", "ConditionExpression": "#s = :was",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":next": {"S": orders.NEXT_STATUS[o["status"]]}, ":was": {"S": o["status"]},
                                              ":t": {"N": str(orders.now_ms())}},
                "ReturnConsumedCapacity": "TOTAL"})
            self.consumed += capacity(r)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def fresh_value(self, key: int) -> bytes:
        return orders.fresh_list(key, self.rng)

    def take_capacity(self) -> float:
        used, self.consumed = self.consumed, 0.0
        return used

    def for_user(self) -> "DynamoDBOrders":
        mine = DynamoDBOrders(self.client, self.namespace)
        mine.update_status = self.update_status
        return mine

    def check_owned(self, allow_existing: bool) -> None:
        dynamodb.refuse_foreign_table(self.client, self.table, allow_existing, OWNER_KEY)

    def seeded(self) -> int:
        """Customers seeded (ids 1..n), from the seeding record; or NotSeeded."""
        if dynamodb.table_status(self.client, self.table) is None:
            raise NotSeeded(f"table {self.table} is missing")
        meta = read_meta(self.client, self.table)
        if not meta or not meta["customers"]:
            raise NotSeeded(f"table {self.table} is empty (no seeding record)")
        return meta["customers"]

    def iter_values(self, n: int):
        return each_value(n, self.read, self.cache_key)

    def status_counts(self) -> dict:
        """Orders per status: a COUNT Query of each status's partition of the index."""
        out = {}
        for status in orders.STATUSES:
            total, start = 0, None
            while True:
                kwargs = {"TableName": self.table, "IndexName": INDEX, "KeyConditionExpression": "#s = :s",
                          "ExpressionAttributeNames": {"#s": "status"},
                          "ExpressionAttributeValues": {":s": {"S": status}}, "Select": "COUNT"}
                if start:
                    kwargs["ExclusiveStartKey"] = start
                r = self.client.query(**kwargs)
                total += r["Count"]
                start = r.get("LastEvaluatedKey")
                if not start:
                    break
            out[status] = total
        return out


def read_meta(client, table: str) -> dict | None:
    item = client.get_item(TableName=table, Key=META_KEY, ConsistentRead=True).get("Item")
    if not item:
        return None
    return {"customers": int(item["customers"]["N"]), "orders_per_customer": int(item["orders_per_customer"]["N"])}


def create_table(client, namespace: str) -> None:
    attributes = [{"AttributeName": "customer_id", "AttributeType": "N"},
                  {"AttributeName": "order_date", "AttributeType": "S"},
                  {"AttributeName": "status", "AttributeType": "S"}]
    gsi = {"IndexName": INDEX, "Projection": {"ProjectionType": "ALL"},
           "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                         {"AttributeName": "order_date", "KeyType": "RANGE"}]}
    dynamodb.create_table(client, table_name(namespace), [{"AttributeName": "customer_id", "KeyType": "HASH"},
                                                          {"AttributeName": "order_date", "KeyType": "RANGE"}],
                          attributes, OWNER_KEY, [gsi])


def seed(client, namespace: str, n: int, k: int = orders.DEFAULT_ORDERS, parallel: int = 8, progress=None,
         reset: bool = False, allow_existing: bool = False) -> dict:
    """Customers 1..n with k orders each (deterministic), then the seeding record. Idempotent, like the
    MySQL seeding: customers already seeded are left as runs left them, missing ones added, those
    above n removed with their seeded orders; --reset recreates the table."""
    table = table_name(namespace)
    desc = dynamodb.refuse_foreign_table(client, table, allow_existing, OWNER_KEY)
    if reset and desc is not None:
        dynamodb.delete_table(client, table)
    create_table(client, namespace)
    before = read_meta(client, table)
    if before and before["orders_per_customer"] != k:
        raise BadInput("--orders-per-customer", f"table {table} was seeded with {before['orders_per_customer']} "
                                                f"orders per customer, not {k}: seed with that, or --reset")
    client.delete_item(TableName=table, Key=META_KEY)  # until the load completes, the table is not seeded
    had = before["customers"] if before else 0
    requests = [{"PutRequest": {"Item": order_item(o)}} for c in range(had + 1, n + 1) for o in orders.orders(c, k)]
    requests += [{"DeleteRequest": {"Key": {"customer_id": {"N": str(c)}, "order_date": {"S": o["order_date"]}}}}
                 for c in range(n + 1, had + 1) for o in orders.orders(c, k)]
    dynamodb.batch_write(client, table, requests, parallel, progress)
    client.put_item(TableName=table, Item={**META_KEY, "customers": {"N": str(n)},
                                           "orders_per_customer": {"N": str(k)}})
    return {"table": table, "rows": n, "items": len(requests), "before": had, "trimmed": max(0, had - n),
            "loaded": len(requests), "status_counts": DynamoDBOrders(client, namespace).status_counts()}
