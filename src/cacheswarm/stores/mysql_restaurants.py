"""The restaurants dataset on MySQL/MariaDB: tables `<namespace>_restaurants` and `<namespace>_reviews`.

Summary = one round trip: the restaurant row LEFT JOINed to its 5 newest reviews (a derived
table read from the (restaurant_id, id) index backwards; ids are ULIDs, so newest = highest).
Posting a review = INSERT the review and increment the star counter in one transaction.
"""

from __future__ import annotations

import random

from .. import restaurants
from ..optbase import BadInput
from . import NotSeeded, dense_ids, each_value, refuse_foreign
from .mysql import Pool, connect
from .mysql_products import OWNER_COMMENT, refuse_foreign_table, table_owner
from .parallel import in_threads

STAR_COLUMNS = ", ".join(restaurants.RESTAURANT_FIELDS[3:])


def table_names(namespace: str) -> tuple[str, str]:
    return f"{namespace}_restaurants", f"{namespace}_reviews"


def create_sql(namespace: str) -> list[str]:
    rest, rev = table_names(namespace)
    stars = ",\n  ".join(f"{c} INT NOT NULL DEFAULT 0" for c in restaurants.RESTAURANT_FIELDS[3:])
    return [f"""CREATE TABLE IF NOT EXISTS `{rest}` (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  cuisine VARCHAR(50) NOT NULL,
  address VARCHAR(200) NOT NULL,
  {stars},
  UNIQUE KEY name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='{OWNER_COMMENT}'""", f"""CREATE TABLE IF NOT EXISTS `{rev}` (
  restaurant_id INT UNSIGNED NOT NULL,
  id VARCHAR(64) NOT NULL,
  username VARCHAR(100) NOT NULL,
  rating TINYINT NOT NULL,
  review VARCHAR(1000) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (restaurant_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='{OWNER_COMMENT}'"""]


class MySQLRestaurants:
    dataset = "restaurants"
    backend = "mysql"
    # the dialect (a SQL database's restaurants store is this class with its own: stores/postgres_restaurants.py)
    QUOTE = "`"
    owner_of = staticmethod(table_owner)  # (cursor, table) -> its comment, or None when it does not exist

    def __init__(self, pool: Pool, namespace: str, rng: random.Random | None = None):
        self.pool = self.reader = pool  # reader: a read replica's pool (--mysql-reader-url)
        self.namespace = namespace
        self.tables = table_names(namespace)
        self.table = self.tables[0]
        rest, rev = (f"{self.QUOTE}{t}{self.QUOTE}" for t in self.tables)
        self.quoted = rest
        self._summary = (
            f"SELECT r.name, r.cuisine, r.address, r.{STAR_COLUMNS.replace(', ', ', r.')}, "
            f"v.id, v.username, v.rating, v.review, v.created_at FROM {rest} r LEFT JOIN "
            f"(SELECT restaurant_id, id, username, rating, review, created_at FROM {rev} "
            f"WHERE restaurant_id = %s ORDER BY id DESC LIMIT {restaurants.SUMMARY_REVIEWS}) v "
            f"ON v.restaurant_id = r.id WHERE r.id = %s ORDER BY v.id DESC")
        self._insert = (f"INSERT INTO {rev} (restaurant_id, id, username, rating, review, created_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s)")
        self._bump = {star: f"UPDATE {rest} SET {star} = {star} + 1 WHERE id = %s" for star in restaurants.STARS}
        self.rng = rng or random.Random()

    version_of = staticmethod(restaurants.version_of)

    def configure(self, settings) -> None:
        """Nothing of the run's settings changes a summary."""

    def cache_key(self, key: int) -> str:
        return restaurants.cache_key(self.namespace, key)

    def _read(self, cur, key: int) -> bytes | None:
        cur.execute(self._summary, (key, key))
        rows = cur.fetchall()
        if not rows:
            return None
        first = rows[0]
        rest = dict(zip(restaurants.RESTAURANT_FIELDS, first[:8]))
        reviews = [{"id": r[8], "username": r[9], "restaurant": rest["name"], "rating": r[10], "review": r[11],
                    "created_at": restaurants.mysql_time(r[12])} for r in rows if r[8] is not None]
        return restaurants.summary(rest, reviews)

    def read(self, key: int, pool=None) -> bytes | None:
        with (pool or self.reader).cursor() as cur:
            return self._read(cur, key)

    def read_primary(self, key: int) -> bytes | None:
        """The summary as the primary has it (the staleness audit's truth)."""
        return self.read(key, self.pool)

    def write(self, key: int, want_value: bool = False) -> bytes | None:
        """Post a review: INSERT it and increment the star counter, one transaction."""
        review = restaurants.new_review("", self.rng)  # the name is the restaurant row's, joined on read
        with self.pool.connection() as conn, conn.cursor() as cur:
            # on any exception (or a user stopped mid-call) the pool closes the connection: the server
            # rolls the transaction back; never a rollback round trip here, which would swallow the stop
            conn.begin()
            cur.execute(self._insert, (key, review["id"], review["username"], review["rating"],
                                       review["review"], restaurants.parse_time(review["created_at"])))
            if not cur.execute(self._bump[restaurants.STARS[review["rating"] - 1]], (key,)):
                raise LookupError(f"restaurant {key} is not in {self.table}")
            conn.commit()
            return self._read(cur, key) if want_value else None

    def fresh_value(self, key: int) -> bytes:
        return restaurants.fresh_summary(key, self.rng)

    def for_user(self) -> "MySQLRestaurants":
        """The same store with its own random numbers for review ids (and the same read replica)."""
        mine = type(self)(self.pool, self.namespace)
        mine.reader = self.reader
        return mine

    def check_owned(self, allow_existing: bool) -> None:
        with self.pool.cursor() as cur:
            for t in self.tables:
                refuse_foreign(self.owner_of(cur, t), t, allow_existing)

    def seeded(self) -> int:
        with self.pool.cursor() as cur:
            for t in self.tables:
                if self.owner_of(cur, t) is None:
                    raise NotSeeded(f"table {t} is missing")
            cur.execute(f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM {self.quoted}")
            rows, top = map(int, cur.fetchone())
        return dense_ids(self.table, rows, top)

    def iter_values(self, n: int):
        with self.pool.cursor() as cur:
            yield from each_value(n, lambda key: self._read(cur, key), self.cache_key)


def _rest_row(i: int, r: dict) -> tuple:
    return (i, r["name"], r.get("cuisine", ""), r.get("address", ""),
            *(int(r.get(c, 0)) for c in restaurants.RESTAURANT_FIELDS[3:]))


def _review_row(rid: int, v: dict) -> tuple:
    return (rid, v["id"], v["username"], int(v["rating"]), v["review"], restaurants.parse_time(v["created_at"]))


def _prepare(target, namespace: str, timeout: float, reset: bool, allow_existing: bool, m: int | None = None) -> int:
    """Create the tables (emptied with reset); returns restaurants there before. With m, refuse
    (BadInput) to add to tables seeded with another number of reviews per restaurant."""
    conn = connect(target, timeout)
    with conn, conn.cursor() as cur:
        for t in table_names(namespace):
            refuse_foreign_table(cur, t, allow_existing)
        for sql in create_sql(namespace):
            cur.execute(sql)
        rest, rev = table_names(namespace)
        cur.execute(f"SELECT COUNT(*) FROM `{rest}`")
        before = int(cur.fetchone()[0])
        if m is not None and before and not reset:
            cur.execute(f"SELECT COUNT(*) FROM `{rev}` WHERE restaurant_id = 1 AND id < %s",
                        (restaurants.seeded_ids_below(),))
            seeded = int(cur.fetchone()[0])
            if seeded != m:
                raise BadInput("--reviews-per-restaurant", restaurants.mismatch(f"table {rev}", seeded, m))
        if reset:
            cur.execute(f"DELETE FROM `{rev}`")
            cur.execute(f"DELETE FROM `{rest}`")
    return before


def _insert_chunks(target, namespace, timeout, rest_rows, review_rows, parallel, progress, verb="INSERT IGNORE"):
    rest, rev = table_names(namespace)
    cols = ", ".join(("id", *restaurants.RESTAURANT_FIELDS))
    rest_sql = f"{verb} INTO `{rest}` ({cols}) VALUES ({', '.join(['%s'] * 9)})"
    rev_sql = (f"{verb} INTO `{rev}` (restaurant_id, id, username, rating, review, created_at) "
               "VALUES (%s, %s, %s, %s, %s, %s)")
    chunks = [(rest_sql, rest_rows[k:k + 1000]) for k in range(0, len(rest_rows), 1000)]
    chunks += [(rev_sql, review_rows[k:k + 2000]) for k in range(0, len(review_rows), 2000)]

    written = [0] * max(1, parallel)

    def work(take, done, k):
        conn = connect(target, timeout)
        with conn, conn.cursor() as cur:
            while (chunk := take()) is not None:
                # PyMySQL sends one multi-row INSERT per chunk; IGNORE counts only the rows it added
                written[k] += cur.executemany(*chunk) or 0
                done(len(chunk[1]))

    in_threads(chunks, parallel, work, progress)
    return sum(written)


def seed(target, namespace: str, n: int, m: int = restaurants.DEFAULT_REVIEWS, parallel: int = 2,
         timeout: float = 60.0, progress=None, reset: bool = False, allow_existing: bool = False) -> dict:
    """Restaurants 1..n with m reviews each (deterministic). Idempotent: missing rows added,
    restaurants above n (and their reviews) removed; --reset also removes reviews posted by runs
    and puts the counters back."""
    before = _prepare(target, namespace, timeout, reset, allow_existing, m)
    rest, rev = table_names(namespace)
    conn = connect(target, timeout)
    with conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM `{rev}` WHERE restaurant_id > %s", (n,))
        trimmed = cur.execute(f"DELETE FROM `{rest}` WHERE id > %s", (n,))
    rest_rows = [_rest_row(i, restaurants.restaurant(i, m)) for i in range(1, n + 1)]
    review_rows = [_review_row(i, v) for i in range(1, n + 1) for v in restaurants.reviews(i, m)]
    loaded = _insert_chunks(target, namespace, timeout, rest_rows, review_rows, parallel, progress)
    return {"table": f"{rest} + {rev}", "rows": n, "items": len(rest_rows) + len(review_rows), "before": before,
            "trimmed": trimmed, "loaded": loaded}


def seed_binding(target, namespace: str, n: int, reviews: int = restaurants.DEFAULT_REVIEWS, items=None,
                 value_size: int = 0, **kw) -> dict:
    """`cacheswarm seed restaurants` on MySQL (catalog's binding seed): n restaurants with `reviews`
    reviews each, or an --items-file's restaurants and reviews."""
    return load_items(target, namespace, items, **kw) if items is not None else seed(target, namespace, n, reviews, **kw)


def load_items(target, namespace: str, items: list[dict], parallel: int = 2, timeout: float = 60.0,
               progress=None, reset: bool = False, allow_existing: bool = False) -> dict:
    """Load an --items-file: restaurants get ids 1..n in file order, reviews join them by name."""
    from .items_file import split

    rests, reviews = split(items)
    before = _prepare(target, namespace, timeout, reset, allow_existing)
    ids = {r["name"]: i for i, r in enumerate(rests, 1)}
    rest_rows = [_rest_row(i, r) for i, r in enumerate(rests, 1)]
    review_rows = [_review_row(ids[v["restaurant"]], v) for v in reviews if v["restaurant"] in ids]
    _insert_chunks(target, namespace, timeout, rest_rows, review_rows, parallel, progress, verb="REPLACE")
    rest, rev = table_names(namespace)
    return {"table": f"{rest} + {rev}", "rows": len(rests), "items": len(rest_rows) + len(review_rows),
            "before": before, "trimmed": 0, "loaded": len(rest_rows) + len(review_rows)}
