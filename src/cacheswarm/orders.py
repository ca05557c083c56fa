"""The orders dataset (seed 002's Lab 4): customers and their orders, deterministic, and a customer's
order list (their newest orders), which both stores return and Redis caches as one JSON value.

The lab's table: partition key `customer_id`, sort key `order_date`, a `status-index` GSI on
`status` (+ `order_date`). The read is "a customer's orders" (Query on the customer, newest first,
at most LIST_ORDERS), cached as the lab would: the key `<ns>:orders:<customer>`, invalidated (or
written through) when that customer's orders change. The write (--orders-write) is "create order",
a new PENDING order for the customer, or "update status", the customer's newest order not yet
DELIVERED moving on (PENDING -> SHIPPED -> DELIVERED). Seeded orders are PENDING, SHIPPED or
DELIVERED by a fixed hash (STATUS_SHARE), and every new one is PENDING: the status index's PENDING
partition is the classic hot partition. Each order keeps `status_ms`, when its status last changed.

Customer `c` (1-based) and its `k` seeded orders are pure functions of (c, k). An order's
`order_date` is an ISO time in milliseconds followed by `#` and 6 hex digits, so two orders of a
customer in the same millisecond still differ, and string order is time order.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timezone

LIST_ORDERS = 10  # orders in a customer's list (newest first)
DEFAULT_ORDERS = 5  # seeded orders per customer
STATUSES = ("PENDING", "SHIPPED", "DELIVERED")
STATUS_SHARE = (70, 20, 10)  # percent of the seeded orders in each status
ORDER_FIELDS = ("order_id", "customer_id", "order_date", "status", "total_cents", "items", "status_ms")
WRITES = ("create", "update-status")  # --orders-write
NEXT_STATUS = {"PENDING": "SHIPPED", "SHIPPED": "DELIVERED"}  # what update status moves an order to
BASE_MS = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
MAX_SEEDED_ORDERS = 1000


def _mix(n: int) -> int:
    return (n * 2654435761) & 0xFFFFFFFF


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def status_of(h: int) -> str:
    pick, edge = h % 100, 0
    for status, share in zip(STATUSES, STATUS_SHARE):
        edge += share
        if pick < edge:
            return status
    return STATUSES[-1]


def order(c: int, j: int, k: int = DEFAULT_ORDERS) -> dict:
    """Seeded order j (0-based; j = k - 1 the newest) of customer c."""
    n = (c - 1) * k + j
    h = _mix(n + 1)
    ms = BASE_MS + j * 86_400_000 + c * 1000  # a customer's orders a day apart
    return {"order_id": f"o{n + 1:09d}", "customer_id": c, "order_date": f"{_iso(ms)}#{h & 0xFFFFFF:06x}",
            "status": status_of(h >> 8), "total_cents": 500 + (h >> 3) % 20_000, "items": 1 + (h >> 17) % 6,
            "status_ms": ms}


def orders(c: int, k: int = DEFAULT_ORDERS) -> list[dict]:
    return [order(c, j, k) for j in range(k)]


def new_order(c: int, rng: random.Random) -> dict:
    """An order placed during a run: now, PENDING."""
    ms = time.time_ns() // 1_000_000
    h = rng.getrandbits(32)
    return {"order_id": f"r{rng.getrandbits(64):016x}", "customer_id": c,
            "order_date": f"{_iso(ms)}#{h & 0xFFFFFF:06x}", "status": STATUSES[0],
            "total_cents": 500 + (h >> 3) % 20_000, "items": 1 + (h >> 17) % 6, "status_ms": ms}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _ms(order_date: str) -> int:
    """'2025-01-01T00:00:01.000Z#3fa1c2' -> its milliseconds since the epoch."""
    text = order_date.partition("#")[0].rstrip("Z")
    when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


def order_list(c: int, newest: list[dict]) -> bytes:
    """The cached value: {"customer_id": c, "version": the list's latest change in ms, "orders": [newest
    first, at most LIST_ORDERS]} as compact JSON. A list changes when the customer orders (a newer
    order) or an order's status moves on (a newer status_ms), so the latest of those times is a
    version (the staleness audit's, and the versioned write policy's Lua compare-and-set reads
    `version` as it does a product's; two changes in one millisecond share one). An order's status_ms
    is never before its order_date (it starts there), so the latest status_ms is that time; a table
    seeded before status_ms has none: its newest order's time."""
    top = newest[:LIST_ORDERS]
    changed = max((o.get("status_ms") or 0 for o in top), default=0)
    doc = {"customer_id": c, "version": changed or (_ms(top[0]["order_date"]) if top else 0),
           "orders": [{f: o.get(f) for f in ORDER_FIELDS} for o in top]}
    return json.dumps(doc, separators=(",", ":")).encode()


def version_of(value: bytes) -> tuple[int, float]:
    """(version, when it was written, epoch seconds) of a cached or read list."""
    version = int(json.loads(value)["version"])
    return version, version / 1000


def fresh_list(c: int, rng: random.Random, k: int = DEFAULT_ORDERS) -> bytes:
    """A new list for cache-only writes (which never touch the database): one more order on top."""
    return order_list(c, [new_order(c, rng)] + list(reversed(orders(c, k))))


def cache_key(namespace: str, c: int) -> str:
    return f"{namespace}:orders:{c}"


# every new order is PENDING, and an order's item (< 1 KB) costs 1 write unit in the status index: its copy
# lands in the index's PENDING partition (DynamoDB Local's ConsumedCapacity per index says so: tests/test_orders.py)
INDEX_WRITE_UNITS = 1
PARTITION_WCU = 1000  # what one DynamoDB partition takes per second


def index_line(phase: str, new_orders_per_s: float) -> str:
    """What a phase's new orders do to the status index's PENDING partition, against a partition's limit."""
    wcu = new_orders_per_s * INDEX_WRITE_UNITS
    text = (f"{phase}: {new_orders_per_s:,.0f} new orders/s, each {INDEX_WRITE_UNITS} write unit in status-index's "
            f"{STATUSES[0]} partition ({wcu:,.0f} WCU/s on one partition key); a DynamoDB partition takes at most "
            f"{PARTITION_WCU:,} WCU/s, so the index throttles new orders near {PARTITION_WCU // INDEX_WRITE_UNITS:,}/s")
    if wcu:
        text += f", {PARTITION_WCU / wcu:,.1f}× this phase's rate"
    return text + ", whatever the table's capacity (the emulator has no partitions: only AWS throttles)"


def hot_partition(counts: dict) -> str:
    """What the status index's partitions hold, and what it means for its writes."""
    total = sum(counts.values())
    if not total:
        return "the status index is empty"
    share = {s: counts.get(s, 0) / total for s in STATUSES}
    parts = ", ".join(f"{s} {counts.get(s, 0):,} ({share[s]:.0%})" for s in STATUSES)
    return (f"status-index: {parts}; every new order is {STATUSES[0]}, so one partition key takes all the index's "
            f"writes of new orders (on DynamoDB a partition takes at most 1,000 write units/s: the index throttles "
            f"at about 1,000 new orders/s, whatever the table's capacity)")
