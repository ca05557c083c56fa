"""The queries dataset on MySQL/MariaDB: caching the results of SQL queries, as the ElastiCache
database-caching demo does, over the restaurants' reviews table.

Query q (1..--queries) is a pure function of q: the reviews of ten consecutive restaurants, in
key order, `LIMIT k` with k in 1..--query-max-rows (75 in the demo). Its cache key is a hash of
the SQL text (`<namespace>:query:<sha1>`); its cached value the result rows as JSON, whose size
grows with k. A read runs the query (cache-aside: on a miss, then SET with --cache-ttl; the
demo's 5 s is `scenarios/query-cache.conf`). A write posts a review to one of the query's
restaurants; cache-aside then deletes that query's key, but every other cached query over that
restaurant stays as it was until its TTL ends: a query cache has no index from rows to keys,
which is why the demo relies on a short TTL.
"""

from __future__ import annotations

import hashlib
import json
import random

from .. import restaurants
from .mysql import Pool
from .mysql_restaurants import MySQLRestaurants

RANGE = 10  # restaurants per query
COLUMNS = ("restaurant_id", "id", "username", "rating", "review", "created_at")


def restaurant_of(q: int, restaurants_seeded: int) -> int:
    """The first restaurant query q reads (the query covers it and the next RANGE - 1)."""
    return 1 + restaurants._mix(q) % max(1, restaurants_seeded - RANGE + 1)


def limit_of(q: int, max_rows: int) -> int:
    """k of query q: 1..max_rows."""
    return 1 + (restaurants._mix(q) >> 12) % max_rows


def sql_of(table: str, q: int, restaurants_seeded: int, max_rows: int) -> str:
    """The SQL text of query q (its cache key is a hash of this text)."""
    first = restaurant_of(q, restaurants_seeded)
    return (f"SELECT {', '.join(COLUMNS)} FROM `{table}` WHERE restaurant_id BETWEEN {first} AND {first + RANGE - 1} "
            f"ORDER BY restaurant_id, id LIMIT {limit_of(q, max_rows)}")


def encode(rows) -> bytes:
    return json.dumps([dict(zip(COLUMNS, r)) for r in rows], separators=(",", ":"), default=str).encode()


class MySQLQueries:
    dataset = "queries"
    backend = "mysql"

    def __init__(self, pool: Pool, namespace: str, rng: random.Random | None = None, queries: int = 1000,
                 max_rows: int = 75):
        self.pool = self.reader = pool  # reader: a read replica's pool (--mysql-reader-url)
        self.namespace = namespace
        self.restaurants = MySQLRestaurants(pool, namespace, rng)  # the tables, their seeding, posting reviews
        self.table = self.restaurants.tables[1]
        self.queries, self.max_rows = queries, max_rows
        self.seeded_restaurants = 0  # learnt by seeded(); the SQL texts depend on it
        self._sql: dict = {}
        self._keys: dict = {}

    def configure(self, settings) -> None:
        """The run's options: --queries and --query-max-rows."""
        self.queries, self.max_rows = settings.workload.queries, settings.workload.query_max_rows

    def _learn(self, seeded_restaurants: int) -> None:
        """The SQL texts and their keys, which depend on how many restaurants are seeded."""
        self.seeded_restaurants = seeded_restaurants
        self._sql = {q: sql_of(self.table, q, seeded_restaurants, self.max_rows) for q in range(1, self.queries + 1)}
        self._keys = {q: f"{self.namespace}:query:{hashlib.sha1(sql.encode()).hexdigest()}" for q, sql in
                      self._sql.items()}

    def sql(self, q: int) -> str:
        return self._sql[q]

    def cache_key(self, q: int) -> str:
        return self._keys[q]

    def read(self, q: int, pool=None) -> bytes:
        with (pool or self.reader).connection() as conn, conn.cursor() as cur:
            cur.execute(self._sql[q])
            return encode(cur.fetchall())

    def write(self, q: int, want_value: bool = False) -> bytes | None:
        """Post a review to the first restaurant of query q; with want_value, the query's new result."""
        self.restaurants.write(restaurant_of(q, self.seeded_restaurants))
        return self.read(q, self.pool) if want_value else None

    def fresh_value(self, q: int) -> bytes:
        """Cache-only writes: the query's result as seeded (computed here, not read)."""
        first, k = restaurant_of(q, self.seeded_restaurants), limit_of(q, self.max_rows)
        rows = []
        for i in range(first, first + RANGE):
            for r in sorted(restaurants.reviews(i, restaurants.DEFAULT_REVIEWS), key=lambda r: r["id"]):
                rows.append((i, r["id"], r["username"], r["rating"], r["review"], r["created_at"]))
                if len(rows) == k:
                    return encode(rows)
        return encode(rows)

    def for_user(self) -> "MySQLQueries":
        if not self._sql:  # a worker process (the master's preflight configured its own): the SQL texts
            self._learn(self.restaurants.seeded())
        user = MySQLQueries(self.pool, self.namespace, None, self.queries, self.max_rows)
        user.reader, user.restaurants.reader = self.reader, self.reader
        user.seeded_restaurants, user._sql, user._keys = self.seeded_restaurants, self._sql, self._keys
        return user

    def check_owned(self, allow_existing: bool) -> None:
        self.restaurants.check_owned(allow_existing)

    def seeded(self) -> int:
        """The distinct queries (--queries), once the restaurants are seeded; or NotSeeded."""
        self._learn(self.restaurants.seeded())
        return self.queries

    def iter_values(self, n: int):
        for q in range(1, n + 1):
            yield self.cache_key(q), self.read(q, self.pool)
