"""The restaurants dataset on DynamoDB: the single-table design of the ElastiCache + DynamoDB
tutorial, table `<namespace>-restaurants`, keys PK/SK, GSI `GSI1` on GSI1PK/GSI1SK.

  restaurant  PK = SK = GSI1PK = GSI1SK = REST#<name>; name, cuisine, address, five_stars..one_stars
  review      PK USER#<user>, SK REST#<restaurant>, GSI1PK REST#<restaurant>, GSI1SK #REVIEW#<id>

Summary = Query GSI1 for REST#<name>, descending, Limit 6: `REST#` sorts above `#REVIEW#`,
so the restaurant comes first, then its reviews newest first (ids are ULIDs). A review is
posted with TransactWriteItems: the review put and the star counter increment, atomically.
The item PK = SK = META#cacheswarm records what was seeded (and, for an --items-file load,
the restaurant names in key order).
"""

from __future__ import annotations

import random

from .. import restaurants
from ..optbase import BadInput
from . import dynamodb, dynamodb_http, items_file
from . import NotSeeded, each_value
from .dynamodb import capacity

META_KEY = {"PK": {"S": "META#cacheswarm"}, "SK": {"S": "META#cacheswarm"}}  # the seeding record
OWNER_KEY = {"PK": {"S": "OWNER#cacheswarm"}, "SK": {"S": "OWNER#cacheswarm"}}  # marks the table as ours
INDEX = "GSI1"
META_NAMES_LIMIT = 380_000  # bytes of restaurant names the seeding record holds (DynamoDB items: 400 KB)
REVIEW_PREFIX = "#REVIEW#"


def table_name(namespace: str) -> str:
    return f"{namespace}-restaurants"


def restaurant_item(r: dict) -> dict:
    key = {"S": f"REST#{r['name']}"}
    item = {"PK": key, "SK": key, "GSI1PK": key, "GSI1SK": key,
            "name": {"S": r["name"]}, "cuisine": {"S": r["cuisine"]}, "address": {"S": r["address"]}}
    item.update({f: {"N": str(r[f])} for f in restaurants.STARS})
    return item


def review_item(v: dict) -> dict:
    return {"PK": {"S": f"USER#{v['username']}"}, "SK": {"S": f"REST#{v['restaurant']}"},
            "GSI1PK": {"S": f"REST#{v['restaurant']}"}, "GSI1SK": {"S": f"{REVIEW_PREFIX}{v['id']}"},
            "username": {"S": v["username"]}, "restaurant": {"S": v["restaurant"]}, "id": {"S": v["id"]},
            "rating": {"N": str(v["rating"])}, "review": {"S": v["review"]}, "created_at": {"S": v["created_at"]}}


def _plain(item: dict) -> dict:
    return {k: (int(v["N"]) if "N" in v else v.get("S")) for k, v in item.items()}


def encode_items(items: list[dict]) -> bytes | None:
    """GSI1 query items (restaurant first, then reviews newest first) -> the summary JSON."""
    if not items or not items[0]["GSI1SK"]["S"].startswith("REST#"):
        return None
    return restaurants.summary(_plain(items[0]), [_plain(i) for i in items[1:]])


class DynamoDBRestaurants:
    dataset = "restaurants"
    backend = "dynamodb"

    def __init__(self, client, namespace: str, rng: random.Random | None = None, names: list | None = None):
        self.client = client
        self.api = dynamodb_http.for_client(client).call  # reads and writes: the hot path
        self.namespace = namespace
        self.table = table_name(namespace)
        self.rng = rng or random.Random()
        self.names = names  # from the seeding record of an --items-file load; else restaurants.name(i)
        self.consumed = 0.0

    def name(self, key: int) -> str:
        return self.names[key - 1] if self.names else restaurants.name(key)

    version_of = staticmethod(restaurants.version_of)

    def configure(self, settings) -> None:
        """Nothing of the run's settings changes a summary."""

    def cache_key(self, key: int) -> str:
        return restaurants.cache_key(self.namespace, key)

    def cache_key_of(self, keys: dict) -> str | None:
        """The cache key of the summary a stream record's item belongs to (a restaurant, or a review of it:
        both have SK REST#<name>); None for the seeding record or a probe's marker."""
        sk = keys.get("SK", {}).get("S", "")
        if not sk.startswith("REST#"):
            return None
        name = sk[5:]
        if self.names:
            if getattr(self, "_index", None) is None:
                self._index = {n: i + 1 for i, n in enumerate(self.names)}
            key = self._index.get(name)
        else:  # restaurants.name(i) ends with " i"
            tail = name.rpartition(" ")[2]
            key = int(tail) if tail.isdigit() else None
        return None if key is None else self.cache_key(key)

    def _query(self, name: str, limit: int = 1 + restaurants.SUMMARY_REVIEWS) -> list[dict]:
        r = self.api("Query", {"TableName": self.table, "IndexName": INDEX, "KeyConditionExpression": "GSI1PK = :pk",
                               "ExpressionAttributeValues": {":pk": {"S": f"REST#{name}"}}, "ScanIndexForward": False,
                               "Limit": limit, "ReturnConsumedCapacity": "TOTAL"})
        self.consumed += capacity(r)
        return r.get("Items", [])

    def read(self, key: int) -> bytes | None:
        return encode_items(self._query(self.name(key)))

    def write(self, key: int, want_value: bool = False) -> bytes | None:
        """Post a review: put it and increment the restaurant's star counter in one transaction."""
        name = self.name(key)
        review = restaurants.new_review(name, self.rng)
        star = restaurants.STARS[review["rating"] - 1]
        rest_key = {"PK": {"S": f"REST#{name}"}, "SK": {"S": f"REST#{name}"}}
        r = self.api("TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": self.table, "Item": review_item(review),
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Update": {"TableName": self.table, "Key": rest_key, "UpdateExpression": f"ADD {star} :one",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ], "ReturnConsumedCapacity": "TOTAL"})
        self.consumed += capacity(r)
        if not want_value:
            return None
        # GSI reads are eventually consistent: take the counters from a consistent read of the
        # restaurant and make sure the review just written is in the list
        got = self.api("GetItem", {"TableName": self.table, "Key": rest_key, "ConsistentRead": True,
                                   "ReturnConsumedCapacity": "TOTAL"})
        self.consumed += capacity(got)
        newest = {v["id"]: v for v in (_plain(i) for i in self._query(name)[1:])}
        newest[review["id"]] = review
        ordered = sorted(newest.values(), key=lambda v: v["id"], reverse=True)
        return restaurants.summary(_plain(got["Item"]), ordered)

    def fresh_value(self, key: int) -> bytes:
        return restaurants.fresh_summary(key, self.rng)

    def take_capacity(self) -> float:
        used, self.consumed = self.consumed, 0.0
        return used

    def for_user(self) -> "DynamoDBRestaurants":
        return DynamoDBRestaurants(self.client, self.namespace, names=self.names)

    def check_owned(self, allow_existing: bool) -> None:
        dynamodb.refuse_foreign_table(self.client, self.table, allow_existing, OWNER_KEY)

    def seeded(self) -> int:
        """Restaurants seeded (keys 1..n), from the seeding record; or NotSeeded."""
        if dynamodb.table_status(self.client, self.table) is None:
            raise NotSeeded(f"table {self.table} is missing")
        meta = read_meta(self.client, self.table)
        if not meta or not meta["restaurants"]:
            raise NotSeeded(f"table {self.table} is empty (no seeding record)")
        self.names = meta.get("names") or None
        return meta["restaurants"]

    def iter_values(self, n: int):
        return each_value(n, self.read, self.cache_key)


def read_meta(client, table: str) -> dict | None:
    item = client.get_item(TableName=table, Key=META_KEY, ConsistentRead=True).get("Item")
    if not item:
        return None
    return {"restaurants": int(item["restaurants"]["N"]),
            "reviews_per_restaurant": int(item.get("reviews_per_restaurant", {"N": "0"})["N"]),
            "names": [n["S"] for n in item.get("names", {}).get("L", [])]}


def create_table(client, namespace: str) -> None:
    s = [{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK", "GSI1PK", "GSI1SK")]
    gsi = {"IndexName": INDEX, "Projection": {"ProjectionType": "ALL"},
           "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                         {"AttributeName": "GSI1SK", "KeyType": "RANGE"}]}
    dynamodb.create_table(client, table_name(namespace), [{"AttributeName": "PK", "KeyType": "HASH"},
                                                          {"AttributeName": "SK", "KeyType": "RANGE"}], s, OWNER_KEY, [gsi])


def _prepare(client, namespace: str, reset: bool, allow_existing: bool,
             m: int | None = None) -> tuple[str, dict | None]:
    table = table_name(namespace)
    desc = dynamodb.refuse_foreign_table(client, table, allow_existing, OWNER_KEY)
    if reset and desc is not None:
        dynamodb.delete_table(client, table)
    create_table(client, namespace)
    before = read_meta(client, table)
    if m is not None and before and before["reviews_per_restaurant"] != m:  # reset: the table is new
        raise BadInput("--reviews-per-restaurant",
                       restaurants.mismatch(f"table {table}", before["reviews_per_restaurant"], m))
    client.delete_item(TableName=table, Key=META_KEY)  # until the load completes, the table is not seeded
    return table, before


def seed(client, namespace: str, n: int, m: int = restaurants.DEFAULT_REVIEWS, parallel: int = 8,
         progress=None, reset: bool = False, allow_existing: bool = False) -> dict:
    """Restaurants 1..n with m reviews each (deterministic), then the seeding record.
    Idempotent, like the MySQL seeding: restaurants already seeded are left as runs left them
    (their counters match their reviews), missing ones are added, those above n removed with
    their seeded reviews; --reset recreates the table."""
    table, before = _prepare(client, namespace, reset, allow_existing, m)
    had = before["restaurants"] if before else 0  # no record (none, or an interrupted seeding): write all
    requests = []
    for i in range(had + 1, n + 1):
        requests.append({"PutRequest": {"Item": restaurant_item(restaurants.restaurant(i, m))}})
        requests += [{"PutRequest": {"Item": review_item(v)}} for v in restaurants.reviews(i, m)]
    for i in range(n + 1, had + 1):
        key = f"REST#{restaurants.name(i)}"
        requests.append({"DeleteRequest": {"Key": {"PK": {"S": key}, "SK": {"S": key}}}})
        requests += [{"DeleteRequest": {"Key": {"PK": {"S": f"USER#{v['username']}"}, "SK": {"S": key}}}}
                     for v in restaurants.reviews(i, m)]
    dynamodb.batch_write(client, table, requests, parallel, progress)
    client.put_item(TableName=table, Item={**META_KEY, "restaurants": {"N": str(n)},
                                           "reviews_per_restaurant": {"N": str(m)}})
    return {"table": table, "rows": n, "items": len(requests), "before": had, "trimmed": max(0, had - n),
            "loaded": len(requests)}


def load_items(client, namespace: str, items: list[dict], parallel: int = 8, progress=None,
               reset: bool = False, allow_existing: bool = False) -> dict:
    """Load items of the tutorial's format (low-level DynamoDB items) as they are; restaurants
    become keys 1..n in file order (their names kept in the seeding record)."""
    names = [r["name"] for r in items_file.split(items)[0]]
    size = sum(len(n.encode()) + 3 for n in names)
    if size > META_NAMES_LIMIT:  # checked before anything is written
        raise dynamodb.DynamoDBError(
            f"--items-file: the names of its {len(names)} restaurants take {size:,} bytes, more than the seeding record "
            f"can hold on DynamoDB (an item is at most 400 KB); load fewer restaurants, or load this file into MySQL")
    table, _ = _prepare(client, namespace, reset, allow_existing)
    dynamodb.batch_write(client, table, [{"PutRequest": {"Item": i}} for i in items], parallel, progress)
    client.put_item(TableName=table, Item={**META_KEY, "restaurants": {"N": str(len(names))},
                                           "names": {"L": [{"S": n} for n in names]}})
    return {"table": table, "rows": len(names), "items": len(items), "loaded": len(items)}
