"""The orders dataset on MySQL/MariaDB: table `<namespace>_orders`, primary key (customer_id,
order_date) as the lab's DynamoDB table, and `status_index` (status, order_date) as its GSI.

A customer's orders = one range read of the primary key backwards (newest first, LIMIT 10); create
order = one INSERT; update status = one UPDATE of the customer's newest order not yet delivered
(ORDER BY order_date DESC LIMIT 1 over the primary key).
"""

from __future__ import annotations

import random

from .. import orders
from ..optbase import BadInput
from . import OWNER_COMMENT, NotSeeded, dense_ids, each_value, refuse_foreign
from .mysql import Pool, connect
from .mysql_products import table_owner
from .parallel import in_threads

COLUMNS = ", ".join(orders.ORDER_FIELDS)
PLACES = ", ".join(["%s"] * len(orders.ORDER_FIELDS))


def table_name(namespace: str) -> str:
    return f"{namespace}_orders"


def create_sql(table: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS `{table}` (
  customer_id INT UNSIGNED NOT NULL,
  order_date VARCHAR(40) NOT NULL,
  order_id VARCHAR(40) NOT NULL,
  status VARCHAR(16) NOT NULL,
  total_cents INT NOT NULL,
  items INT NOT NULL,
  status_ms BIGINT NOT NULL,
  PRIMARY KEY (customer_id, order_date),
  KEY status_index (status, order_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='{OWNER_COMMENT}'"""


class MySQLOrders:
    dataset = "orders"
    backend = "mysql"

    def __init__(self, pool: Pool, namespace: str, rng: random.Random | None = None):
        self.pool = self.reader = pool  # reader: a read replica's pool (--mysql-reader-url)
        self.namespace = namespace
        self.table = table_name(namespace)
        self._list = (f"SELECT {COLUMNS} FROM `{self.table}` WHERE customer_id = %s ORDER BY order_date DESC "
                      f"LIMIT {orders.LIST_ORDERS}")
        self._insert = f"INSERT INTO `{self.table}` ({COLUMNS}) VALUES ({PLACES})"
        self._update = (f"UPDATE `{self.table}` SET status = IF(status = 'PENDING', 'SHIPPED', 'DELIVERED'), "
                        "status_ms = %s WHERE customer_id = %s AND status <> 'DELIVERED' ORDER BY order_date DESC "
                        "LIMIT 1")
        self.rng = rng or random.Random()
        self.update_status = False  # --orders-write update-status

    version_of = staticmethod(orders.version_of)

    def configure(self, settings) -> None:
        """--orders-write: what a write does."""
        self.update_status = settings.workload.orders_write == "update-status"

    def cache_key(self, key: int) -> str:
        return orders.cache_key(self.namespace, key)

    def _read(self, cur, key: int) -> bytes | None:
        cur.execute(self._list, (key,))
        rows = cur.fetchall()
        return orders.order_list(key, [dict(zip(orders.ORDER_FIELDS, r)) for r in rows]) if rows else None

    def read(self, key: int, pool=None) -> bytes | None:
        with (pool or self.reader).cursor() as cur:
            return self._read(cur, key)

    def read_primary(self, key: int) -> bytes | None:
        """The list as the primary has it (the staleness audit's truth)."""
        return self.read(key, self.pool)

    def write(self, key: int, want_value: bool = False) -> bytes | None:
        """Create an order for customer `key` (PENDING, now), or move their newest order not yet delivered on."""
        with self.pool.cursor() as cur:
            if self.update_status:
                cur.execute(self._update, (orders.now_ms(), key))
            else:
                o = orders.new_order(key, self.rng)
                cur.execute(self._insert, tuple(o[f] for f in orders.ORDER_FIELDS))
            return self._read(cur, key) if want_value else None

    def fresh_value(self, key: int) -> bytes:
        return orders.fresh_list(key, self.rng)

    def for_user(self) -> "MySQLOrders":
        mine = type(self)(self.pool, self.namespace)
        mine.reader, mine.update_status = self.reader, self.update_status
        return mine

    def check_owned(self, allow_existing: bool) -> None:
        with self.pool.cursor() as cur:
            refuse_foreign(table_owner(cur, self.table), self.table, allow_existing)

    def seeded(self) -> int:
        """Customers with orders (ids 1..n, no gaps), or NotSeeded."""
        with self.pool.cursor() as cur:
            if table_owner(cur, self.table) is None:
                raise NotSeeded(f"table {self.table} is missing")
            refuse_old_table(cur, self.table)
            cur.execute(f"SELECT COUNT(DISTINCT customer_id), COALESCE(MAX(customer_id), 0) FROM `{self.table}`")
            customers, top = map(int, cur.fetchone())
        return dense_ids(self.table, customers, top, "customers")

    def iter_values(self, n: int):
        with self.pool.cursor() as cur:
            yield from each_value(n, lambda key: self._read(cur, key), self.cache_key)

    def status_counts(self) -> dict:
        """Orders per status (over the status index)."""
        with self.pool.cursor() as cur:
            cur.execute(f"SELECT status, COUNT(*) FROM `{self.table}` GROUP BY status")
            return {s: int(n) for s, n in cur.fetchall()}


def refuse_old_table(cur, table: str) -> None:
    """A table an earlier cacheswarm seeded, before orders kept status_ms: NotSeeded, reseed with --reset."""
    cur.execute(f"SHOW COLUMNS FROM `{table}` LIKE 'status_ms'")
    if not cur.fetchall():
        raise NotSeeded(f"table {table} was seeded by an earlier cacheswarm (its orders keep no status_ms): seed it "
                        "again with --reset")


def seed(target, namespace: str, n: int, k: int = orders.DEFAULT_ORDERS, parallel: int = 2, timeout: float = 60.0,
         progress=None, reset: bool = False, allow_existing: bool = False) -> dict:
    """Customers 1..n with k orders each (deterministic). Idempotent: missing orders added, customers
    above n removed; --reset also removes the orders runs created."""
    table = table_name(namespace)
    conn = connect(target, timeout)
    with conn, conn.cursor() as cur:
        owner = table_owner(cur, table)
        refuse_foreign(owner, table, allow_existing)
        if reset and owner == OWNER_COMMENT:  # (ours: it may be an earlier cacheswarm's, without status_ms)
            cur.execute(f"DROP TABLE `{table}`")
        elif reset and owner is not None:  # (another's, allowed: its rows only)
            cur.execute(f"DELETE FROM `{table}`")
        cur.execute(create_sql(table))
        try:
            refuse_old_table(cur, table)
        except NotSeeded as e:
            raise BadInput("--reset", str(e)) from None
        cur.execute(f"SELECT COUNT(DISTINCT customer_id) FROM `{table}`")
        before = int(cur.fetchone()[0])
        if before and not reset:
            cur.execute(f"SELECT COUNT(*) FROM `{table}` WHERE customer_id = 1 AND order_id LIKE 'o%%'")
            seeded = int(cur.fetchone()[0])
            if seeded != k:
                raise BadInput("--orders-per-customer", f"table {table} was seeded with {seeded} orders per customer, "
                                                        f"not {k}: seed with --orders-per-customer {seeded}, or --reset")
        trimmed = cur.execute(f"DELETE FROM `{table}` WHERE customer_id > %s", (n,))
    rows = [tuple(o[f] for f in orders.ORDER_FIELDS) for c in range(1, n + 1) for o in orders.orders(c, k)]
    sql = f"INSERT IGNORE INTO `{table}` ({COLUMNS}) VALUES ({PLACES})"
    chunks = [(sql, rows[i:i + 2000]) for i in range(0, len(rows), 2000)]
    written = [0] * max(1, parallel)

    def work(take, done, w):
        c = connect(target, timeout)
        with c, c.cursor() as cur:
            while (chunk := take()) is not None:
                written[w] += cur.executemany(*chunk) or 0
                done(len(chunk[1]))

    in_threads(chunks, parallel, work, progress)
    c = connect(target, timeout)
    with c, c.cursor() as cur:
        cur.execute(f"SELECT status, COUNT(*) FROM `{table}` GROUP BY status")
        counts = {s: int(k) for s, k in cur.fetchall()}
    return {"table": table, "rows": n, "items": len(rows), "before": before, "trimmed": trimmed,
            "loaded": sum(written), "status_counts": counts}


def seed_binding(target, namespace: str, n: int, reviews: int = orders.DEFAULT_ORDERS, items=None, value_size: int = 0,
                 **kw) -> dict:
    """`cacheswarm seed orders` on MySQL (catalog's binding seed): n customers with `reviews` (the
    per-record count: --orders-per-customer) orders each."""
    return seed(target, namespace, n, reviews, **kw)
