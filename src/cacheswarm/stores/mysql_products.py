"""The products dataset on MySQL/MariaDB: read by id, update price/quantity, seeding."""

from __future__ import annotations

import logging
import os
import random
import tempfile

from pymysql.converters import escape_string

from .. import products
from . import OWNER_COMMENT, NotSeeded, refuse_foreign
from .mysql import Pool, connect
from .parallel import in_threads

SELECT_COLUMNS = ", ".join((*products.COLUMNS, products.PAYLOAD))
PRICE_INDEX = "by_category_price"  # a product page's price rank counts its category's cheaper products over it
log = logging.getLogger("cacheswarm")


def table_name(namespace: str) -> str:
    return f"{namespace}_products"


def create_table_sql(table: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS `{table}` (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(120) NOT NULL,
  description VARCHAR(500) NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  quantity INT NOT NULL,
  category VARCHAR(50) NOT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  version BIGINT NOT NULL DEFAULT 0,
  payload MEDIUMTEXT NULL,
  INDEX {PRICE_INDEX} (category, price)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='{OWNER_COMMENT}'"""


def table_owner(cur, table: str) -> str | None:
    """None if the table does not exist, else its comment (ours: OWNER_COMMENT)."""
    cur.execute("SELECT table_comment FROM information_schema.tables WHERE table_schema=DATABASE() "
                "AND table_name=%s", (table,))
    found = cur.fetchone()
    return None if found is None else (found[0] or "")


def refuse_foreign_table(cur, table: str, allow_existing: bool) -> None:
    refuse_foreign(table_owner(cur, table), table, allow_existing)


def current_value_size(cur, table: str) -> int:
    cur.execute(f"SELECT COALESCE(LENGTH(payload), 0) FROM `{table}` WHERE id=1")
    found = cur.fetchone()
    return int(found[0]) if found else 0


class MySQLProducts:
    dataset = "products"
    backend = "mysql"
    version_of = staticmethod(products.version_of)
    # the dialect (a SQL database's products store is this class with its own: stores/postgres_products.py)
    QUOTE = "`"
    NOW_UTC = "UTC_TIMESTAMP(6)"
    owner_of = staticmethod(table_owner)  # (cursor, table) -> its comment, or None when it does not exist
    value_size_of = staticmethod(current_value_size)

    def __init__(self, pool: Pool, namespace: str, rng: random.Random | None = None):
        self.pool = self.reader = pool  # reader: a read replica's pool (--mysql-reader-url)
        self.namespace = namespace
        self.key_prefix = products.cache_key(namespace, "")
        self.table = table_name(namespace)
        t = self.quoted = f"{self.QUOTE}{self.table}{self.QUOTE}"
        self._select = f"SELECT {SELECT_COLUMNS} FROM {t} WHERE id=%s"
        self._update = (f"UPDATE {t} SET price=%s, quantity=%s, version=version+1, "
                        f"updated_at={self.NOW_UTC} WHERE id=%s")
        self._insert = f"INSERT INTO {t} ({SELECT_COLUMNS}) VALUES ({', '.join(['%s'] * 10)})"
        self._scan = f"SELECT {SELECT_COLUMNS} FROM {t} WHERE id BETWEEN %s AND %s ORDER BY id"
        self.random = (rng or random.Random()).random
        self.value_size = None  # the rows' padding (--value-size), learnt when first needed
        self.page = False  # --product-read page: a read is the product and its price rank in its category

    def configure(self, settings) -> None:
        self.page = settings.workload.product_read == "page"
        if self.page:  # the rank: 1 + the products of its category that are cheaper, counted over PRICE_INDEX
            cols = ", ".join(f"p.{c}" for c in (*products.COLUMNS, products.PAYLOAD))
            self._select = (f"SELECT {cols}, 1 + (SELECT COUNT(*) FROM {self.quoted} c WHERE c.category = p.category "
                            f"AND c.price < p.price) FROM {self.quoted} p WHERE p.id=%s")

    def cache_key(self, key: int) -> str:
        return f"{self.key_prefix}{key}"  # products.cache_key, without a call more per operation

    def read(self, key: int, pool=None) -> bytes | None:
        with (pool or self.reader).cursor() as cur:
            cur.execute(self._select, (key,))
            values = cur.fetchone()
        return None if values is None else self._encode(values)

    def _encode(self, values) -> bytes:
        return products.encode_page(values[:-1], values[-1]) if self.page else products.encode(values)

    def read_primary(self, key: int) -> bytes | None:
        """The row as the primary has it (the staleness audit's truth)."""
        return self.read(key, self.pool)

    def write(self, key: int, want_value: bool = False) -> bytes | None:
        """UPDATE price/quantity and bump version; with want_value, return the new row's JSON."""
        price = f"{1 + int(self.random() * 99900) / 100:.2f}"
        quantity = int(self.random() * 1000)
        with self.pool.cursor() as cur:
            cur.execute(self._update, (price, quantity, key))
            if not want_value:
                return None
            cur.execute(self._select, (key,))
            values = cur.fetchone()
        return None if values is None else self._encode(values)

    def insert(self, key: int) -> bytes:
        """INSERT product `key` (products.inserted_row) and return its JSON, as a read would give it."""
        if self.value_size is None:
            self.value_size = self.padding()
        values = products.inserted_row(key, self.value_size)
        with self.pool.cursor() as cur:
            cur.execute(self._insert, values)
        return products.encode(values)

    def scan(self, first: int, last: int) -> list[bytes]:
        """Products first..last in id order (one range query)."""
        with self.reader.cursor() as cur:
            cur.execute(self._scan, (first, last))
            return [products.encode(values) for values in cur.fetchall()]

    def read_many(self, ids: list[int]) -> dict[int, bytes]:
        """{id: JSON} of those of `ids` that exist (one query)."""
        with self.reader.cursor() as cur:
            cur.execute(f"SELECT {SELECT_COLUMNS} FROM {self.quoted} WHERE id IN ({', '.join(['%s'] * len(ids))})",
                        ids)
            return {values[0]: products.encode(values) for values in cur.fetchall()}

    def remove_inserted(self, base: int, _upto: int) -> int:
        """Remove the products runs inserted (ids above the `base` seeded ones); how many."""
        with self.pool.cursor() as cur:
            cur.execute(f"DELETE FROM {self.quoted} WHERE id > %s AND category = %s", (base, products.INSERTED))
            return max(cur.rowcount, 0)

    def fresh_value(self, key: int) -> bytes:
        """A new value for cache-only writes, which never touch the database."""
        if self.value_size is None:
            self.value_size = self.padding()
        return products.fresh_value(key, 100 + int(self.random() * 99900), int(self.random() * 1000),
                                    self.value_size)

    def padding(self) -> int:
        """Bytes of padding the seeded rows carry (row 1's; seeding gives every row the same)."""
        with self.pool.cursor() as cur:
            return self.value_size_of(cur, self.table)

    def count(self, seeded_only: bool = False) -> tuple[int, int] | None:
        """(rows, max id), or None when the table does not exist; seeded_only: without the products
        runs inserted (an interrupted run can leave some)."""
        with self.pool.cursor() as cur:
            if self.owner_of(cur, self.table) is None:
                return None
            where = f" WHERE category <> '{products.INSERTED}'" if seeded_only else ""
            cur.execute(f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM {self.quoted}{where}")
            rows, top = cur.fetchone()
            return int(rows), int(top)

    def check_owned(self, allow_existing: bool) -> None:
        with self.pool.cursor() as cur:
            refuse_foreign(self.owner_of(cur, self.table), self.table, allow_existing)

    def seeded_rows(self) -> int:
        """The seeded rows (ids 1..n, not counting inserted products), or NotSeeded: missing, empty, gaps."""
        counted = self.count(seeded_only=True)
        if counted is None or counted[0] == 0:
            raise NotSeeded(f"table {self.table} {'is missing' if counted is None else 'is empty'}")
        rows, top = counted
        if rows != top:
            raise NotSeeded(f"table {self.table} has gaps (rows {rows}, highest id {top})", rows=top)
        return rows

    def seeded(self) -> int:
        """Rows to draw keys from (seeded_rows()), or NotSeeded, also for a table of an older cacheswarm."""
        rows = self.seeded_rows()
        with self.pool.connection() as conn, conn.cursor() as cur:
            if column(cur, self.table, "payload") is None:
                raise NotSeeded(f"table {self.table} was seeded by an older cacheswarm (no payload column); seeding "
                                "again adds it and keeps the rows")
            self.value_size = current_value_size(cur, self.table)
            found = column(cur, self.table, "updated_at")
            if self.page and not has_index(cur, self.table, PRICE_INDEX):
                raise NotSeeded(f"table {self.table} has no index on (category, price), which product pages count "
                                "over (seeded by an older cacheswarm); seeding again adds it and keeps the rows")
        if found is not None and not found[0]:
            log.warning("cacheswarm: %s keeps updated_at in whole seconds (seeded by an older cacheswarm): stale-read "
                        "ages are off by up to 1 s; `cacheswarm seed products` again upgrades it", self.table)
        return rows

    def for_user(self) -> "MySQLProducts":
        return self  # nothing per user: the pool is the process's

    def iter_values(self, n: int, batch: int = 5000):
        """(cache key, JSON) for ids 1..n, streamed in id ranges (for bulk cache loads)."""
        if self.page:  # every page at once: the ranks from one window over the table, not a count per product
            with self.pool.cursor() as cur:
                cur.execute(f"SELECT * FROM (SELECT {SELECT_COLUMNS}, RANK() OVER (PARTITION BY category ORDER BY "
                            f"price) FROM {self.quoted}) ranked WHERE id <= %s ORDER BY id", (n,))
                rows = cur.fetchall()
            for values in rows:
                yield self.cache_key(values[0]), self._encode(values)
            return
        for start in range(1, n + 1, batch):
            with self.pool.cursor() as cur:
                cur.execute(f"SELECT {SELECT_COLUMNS} FROM {self.quoted} WHERE id BETWEEN %s AND %s",
                            (start, min(n, start + batch - 1)))
                rows = cur.fetchall()
            for values in rows:
                yield self.cache_key(values[0]), products.encode(values)


class ValueSizeMismatch(Exception):
    """The table's rows carry other padding than asked: str() says so and how to rewrite them."""


def seed(target, namespace: str, rows: int, reset: bool = False, chunk: int = 50_000,
         parallel: int = 2, timeout: float = 60.0, progress=None, allow_existing: bool = False,
         value_size: int = 0, **_ignored) -> dict:
    """Load rows 1..rows deterministically; idempotent: missing rows added, rows above N removed.

    Ships only ids: LOAD DATA LOCAL INFILE of one file of ids per chunk, the server computing
    each row (products.load_data_set_clause), `parallel` connections loading chunks at once.
    With reset, existing rows are rewritten to their seeded values (REPLACE), undoing the
    writes of earlier runs. `value_size`: bytes of padding per row (products.pad); a table seeded
    with other padding is refused unless reset (rewriting every row).
    """
    table = table_name(namespace)
    conn = connect(target, timeout, local_infile=True)
    try:
        with conn.cursor() as cur:
            refuse_foreign_table(cur, table, allow_existing)
            cur.execute(create_table_sql(table))
            upgrade_updated_at(cur, table)
            if column(cur, table, "payload") is None:
                cur.execute(f"ALTER TABLE `{table}` ADD COLUMN payload MEDIUMTEXT NULL")
            if not has_index(cur, table, PRICE_INDEX):  # tables seeded before product pages
                cur.execute(f"ALTER TABLE `{table}` ADD INDEX {PRICE_INDEX} (category, price)")
            # products that runs inserted (YCSB D, E) are never seeded rows: removed first, so that
            # rows 1..N are the seeded ones whatever earlier runs inserted
            removed_inserted = cur.execute(f"DELETE FROM `{table}` WHERE category = %s", (products.INSERTED,))
            cur.execute(f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM `{table}`")
            before, top = map(int, cur.fetchone())
            had = current_value_size(cur, table) if before else value_size
            if had != value_size and not reset:
                raise ValueSizeMismatch(f"--value-size: {table} holds products with {had} bytes of padding, not "
                                        f"{value_size}; add --reset to rewrite every row")
            trimmed = cur.execute(f"DELETE FROM `{table}` WHERE id > %s", (rows,)) if top > rows else 0
            contiguous = before - trimmed == min(top, rows)
            start = 1 if reset or not contiguous else min(top, rows) + 1
            chunks = [(lo, min(rows + 1, lo + chunk)) for lo in range(start, rows + 1, chunk)]
            _load_parallel(target, timeout, table, "REPLACE" if reset else "IGNORE", chunks, parallel, progress,
                           value_size)
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            after = cur.fetchone()[0]
    finally:
        conn.close()
    return {"table": table, "rows": after, "before": before, "trimmed": trimmed, "inserted_removed": removed_inserted,
            # rows added (IGNORE skips those present) or rewritten (REPLACE)
            "loaded": sum(hi - lo for lo, hi in chunks) if reset else after - (before - trimmed)}


def upgrade_updated_at(cur, table: str) -> None:
    """Tables seeded before staleness ages: updated_at to the microsecond (DATETIME(6)), so the
    age of a stale read is not rounded to whole seconds."""
    found = column(cur, table, "updated_at")
    if found is not None and not found[0]:
        cur.execute(f"ALTER TABLE `{table}` MODIFY updated_at DATETIME(6) NOT NULL")


def has_index(cur, table: str, name: str) -> bool:
    cur.execute("SELECT 1 FROM information_schema.statistics WHERE table_schema=DATABASE() AND table_name=%s "
                "AND index_name=%s LIMIT 1", (table, name))
    return cur.fetchone() is not None


def column(cur, table: str, name: str) -> tuple | None:
    """(DATETIME_PRECISION,) of a column of `table`, or None when the table has no such column
    (how an older cacheswarm's tables are told apart)."""
    cur.execute("SELECT DATETIME_PRECISION FROM information_schema.columns WHERE table_schema=DATABASE() "
                "AND table_name=%s AND column_name=%s", (table, name))
    return cur.fetchone()


def _load_parallel(target, timeout, table, mode, chunks, parallel, progress, value_size=0) -> None:
    """Each thread takes the next chunk of ids, writes it to a file and LOADs it."""
    set_clause = products.load_data_set_clause(value_size=value_size)

    def work(take, done, k: int) -> None:
        path = os.path.join(tmpdir, f"ids-{k}.txt")
        conn = connect(target, timeout, local_infile=True)
        with conn, conn.cursor() as cur:
            while (chunk := take()) is not None:
                lo, hi = chunk
                with open(path, "w", encoding="ascii") as f:
                    f.write("\n".join(map(str, range(lo, hi))) + "\n")
                cur.execute(f"LOAD DATA LOCAL INFILE '{escape_string(path)}' {mode} INTO TABLE `{table}` "
                            f"LINES TERMINATED BY '\\n' (@i) SET {set_clause}")
                done(hi - lo)

    with tempfile.TemporaryDirectory(prefix="cacheswarm-seed-") as tmpdir:
        in_threads(chunks, parallel, work, progress)
