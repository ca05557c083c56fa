"""The restaurants dataset on PostgreSQL: MySQLRestaurants's summary and review posting in PostgreSQL's
dialect, and its seed (COPY). The same summary JSON, cache keys and review ids as on MySQL.
"""

from __future__ import annotations

import csv
import io

from .. import restaurants
from ..optbase import BadInput
from .mysql_restaurants import MySQLRestaurants, _rest_row, _review_row, table_names
from .postgres import connect
from .postgres_products import OWNER_COMMENT, refuse_foreign_table, table_owner

REVIEW_COLUMNS = "restaurant_id, id, username, rating, review, created_at"


def create_sql(namespace: str) -> list[str]:
    rest, rev = table_names(namespace)
    stars = ",\n  ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in restaurants.RESTAURANT_FIELDS[3:])
    return [f"""CREATE TABLE IF NOT EXISTS "{rest}" (
  id INTEGER NOT NULL PRIMARY KEY,
  name VARCHAR(200) NOT NULL UNIQUE,
  cuisine VARCHAR(50) NOT NULL,
  address VARCHAR(200) NOT NULL,
  {stars})""", f"""CREATE TABLE IF NOT EXISTS "{rev}" (
  restaurant_id INTEGER NOT NULL,
  id VARCHAR(64) NOT NULL,
  username VARCHAR(100) NOT NULL,
  rating SMALLINT NOT NULL,
  review VARCHAR(1000) NOT NULL,
  created_at TIMESTAMP(3) NOT NULL,
  PRIMARY KEY (restaurant_id, id))""", *(f"COMMENT ON TABLE \"{t}\" IS '{OWNER_COMMENT}'" for t in (rest, rev))]


class PostgresRestaurants(MySQLRestaurants):
    """MySQLRestaurants in PostgreSQL's dialect; a review posted in an explicit transaction."""
    backend = "postgres"
    QUOTE = '"'
    owner_of = staticmethod(table_owner)

    def write(self, key: int, want_value: bool = False) -> bytes | None:
        """Post a review: INSERT it and increment the star counter, one transaction (a failure or a
        stopped user closes the connection, and the server rolls back)."""
        review = restaurants.new_review("", self.rng)
        with self.pool.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(self._insert, (key, review["id"], review["username"], review["rating"],
                                       review["review"], restaurants.parse_time(review["created_at"])))
            cur.execute(self._bump[restaurants.STARS[review["rating"] - 1]], (key,))
            if cur.rowcount != 1:
                raise LookupError(f"restaurant {key} is not in {self.table}")
            cur.execute("COMMIT")
            return self._read(cur, key) if want_value else None


def _copy(cur, table: str, columns: str, rows, staging: str) -> int:
    """COPY `rows` into a temporary copy of `table`, then add those it lacks; how many it added."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    out.seek(0)
    cur.execute(f'CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE "{table}")')
    cur.execute(f"TRUNCATE {staging}")
    cur.execute(f"COPY {staging} ({columns}) FROM STDIN WITH (FORMAT csv)", stream=out)
    cur.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM {staging} ON CONFLICT DO NOTHING')
    return max(cur.rowcount, 0)


def seed(target, namespace: str, n: int, reviews: int = restaurants.DEFAULT_REVIEWS, timeout: float = 60.0,
         progress=None, reset: bool = False, allow_existing: bool = False, **_ignored) -> dict:
    """Restaurants 1..n with `reviews` reviews each (deterministic, as on MySQL). Idempotent: missing
    rows added, restaurants above n (and their reviews) removed; with reset, the tables are emptied
    first (removing the reviews runs posted and putting the counters back)."""
    m = reviews
    rest, rev = table_names(namespace)
    conn = connect(target, timeout)
    try:
        cur = conn.cursor()
        for t in (rest, rev):
            refuse_foreign_table(cur, t, allow_existing)
        for sql in create_sql(namespace):
            cur.execute(sql)
        cur.execute(f'SELECT COUNT(*) FROM "{rest}"')
        before = int(cur.fetchone()[0])
        if before and not reset:
            cur.execute(f'SELECT COUNT(*) FROM "{rev}" WHERE restaurant_id = 1 AND id < %s',
                        (restaurants.seeded_ids_below(),))
            seeded = int(cur.fetchone()[0])
            if seeded != m:
                raise BadInput("--reviews-per-restaurant", restaurants.mismatch(f"table {rev}", seeded, m))
        if reset:
            cur.execute(f'DELETE FROM "{rev}"')
            cur.execute(f'DELETE FROM "{rest}"')
        cur.execute(f'DELETE FROM "{rev}" WHERE restaurant_id > %s', (n,))
        cur.execute(f'DELETE FROM "{rest}" WHERE id > %s', (n,))
        trimmed = max(cur.rowcount, 0)
        cols = ", ".join(("id", *restaurants.RESTAURANT_FIELDS))
        loaded = 0
        for lo in range(1, n + 1, 1000):  # a thousand restaurants and their reviews per COPY pair
            ids = range(lo, min(n, lo + 999) + 1)
            loaded += _copy(cur, rest, cols, [_rest_row(i, restaurants.restaurant(i, m)) for i in ids], "csw_rest")
            loaded += _copy(cur, rev, REVIEW_COLUMNS,
                            [_review_row(i, v) for i in ids for v in restaurants.reviews(i, m)], "csw_rev")
            if progress:
                progress(len(ids) * (m + 1))
        cur.execute(f'ANALYZE "{rest}"')
        cur.execute(f'ANALYZE "{rev}"')
    finally:
        conn.close()
    return {"table": f"{rest} + {rev}", "rows": n, "items": n * (m + 1), "before": before, "trimmed": trimmed,
            "loaded": loaded}
