"""The products dataset on PostgreSQL: MySQLProducts's operations in PostgreSQL's dialect, its seed.

The same rows (products.row), the same JSON (the driver returns the same Decimal, datetime and
int), the same cache keys, so a cached product reads the same whichever database it came from.
"""

from __future__ import annotations

import csv
import io
import logging

from .. import products
from . import FOREIGN_HINT, ForeignTable, NotSeeded
from .mysql_products import PRICE_INDEX, SELECT_COLUMNS, MySQLProducts, ValueSizeMismatch
from .postgres import OWNER_COMMENT, connect
log = logging.getLogger("cacheswarm")


def table_name(namespace: str) -> str:
    return f"{namespace}_products"


def create_table_sql(table: str) -> list[str]:
    return [f"""CREATE TABLE IF NOT EXISTS "{table}" (
  id INTEGER NOT NULL PRIMARY KEY,
  name VARCHAR(120) NOT NULL,
  description VARCHAR(500) NOT NULL,
  price NUMERIC(10,2) NOT NULL,
  quantity INTEGER NOT NULL,
  category VARCHAR(50) NOT NULL,
  created_at TIMESTAMP(0) NOT NULL,
  updated_at TIMESTAMP(6) NOT NULL,
  version BIGINT NOT NULL DEFAULT 0,
  payload TEXT NULL)""",
            f'CREATE INDEX IF NOT EXISTS "{table}_{PRICE_INDEX}" ON "{table}" (category, price)',
            f"COMMENT ON TABLE \"{table}\" IS '{OWNER_COMMENT}'"]


def table_owner(cur, table: str) -> str | None:
    """None if the table does not exist, else its comment (ours: OWNER_COMMENT)."""
    cur.execute("SELECT COALESCE(obj_description(c.oid, 'pg_class'), '') FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = %s AND c.relkind = 'r'",
                (table,))
    found = cur.fetchone()
    return None if found is None else found[0]


def refuse_foreign_table(cur, table: str, allow_existing: bool) -> None:
    owner = table_owner(cur, table)
    if owner is not None and owner != OWNER_COMMENT and not allow_existing:
        raise ForeignTable(f"table {table} exists but was not created by cacheswarm; {FOREIGN_HINT}")


def current_value_size(cur, table: str) -> int:
    cur.execute(f'SELECT COALESCE(LENGTH(payload), 0) FROM "{table}" WHERE id=1')
    found = cur.fetchone()
    return int(found[0]) if found else 0


class PostgresProducts(MySQLProducts):
    backend = "postgres"

    def __init__(self, pool, namespace: str, rng=None):
        super().__init__(pool, namespace, rng)
        t = self.table
        self._select = f'SELECT {SELECT_COLUMNS} FROM "{t}" WHERE id=%s'
        self._update = (f'UPDATE "{t}" SET price=%s, quantity=%s, version=version+1, '
                        "updated_at=(now() AT TIME ZONE 'UTC') WHERE id=%s")
        self._insert = f'INSERT INTO "{t}" ({SELECT_COLUMNS}) VALUES ({", ".join(["%s"] * 10)})'
        self._scan = f'SELECT {SELECT_COLUMNS} FROM "{t}" WHERE id BETWEEN %s AND %s ORDER BY id'

    def configure(self, settings) -> None:
        self.page = settings.product_read == "page"
        if self.page:
            cols = ", ".join(f"p.{c}" for c in (*products.COLUMNS, products.PAYLOAD))
            self._select = (f'SELECT {cols}, 1 + (SELECT COUNT(*) FROM "{self.table}" c WHERE c.category = p.category '
                            f'AND c.price < p.price) FROM "{self.table}" p WHERE p.id=%s')

    def read_many(self, ids: list[int]) -> dict[int, bytes]:
        with self.reader.cursor() as cur:
            cur.execute(f'SELECT {SELECT_COLUMNS} FROM "{self.table}" WHERE id IN ({", ".join(["%s"] * len(ids))})',
                        ids)
            return {values[0]: products.encode(values) for values in cur.fetchall()}

    def remove_inserted(self, base: int, _upto: int) -> int:
        with self.pool.cursor() as cur:
            cur.execute(f'DELETE FROM "{self.table}" WHERE id > %s AND category = %s', (base, products.INSERTED))
            return max(cur.rowcount, 0)

    def padding(self) -> int:
        with self.pool.cursor() as cur:
            return current_value_size(cur, self.table)

    def count(self, seeded_only: bool = False) -> tuple[int, int] | None:
        with self.pool.cursor() as cur:
            if table_owner(cur, self.table) is None:
                return None
            where = f" WHERE category <> '{products.INSERTED}'" if seeded_only else ""
            cur.execute(f'SELECT COUNT(*), COALESCE(MAX(id), 0) FROM "{self.table}"{where}')
            rows, top = cur.fetchone()
            return int(rows), int(top)

    def check_owned(self, allow_existing: bool) -> None:
        with self.pool.cursor() as cur:
            refuse_foreign_table(cur, self.table, allow_existing)

    def seeded(self) -> int:
        counted = self.count(seeded_only=True)
        if counted is None or counted[0] == 0:
            raise NotSeeded(f"table {self.table} {'is missing' if counted is None else 'is empty'}")
        rows, top = counted
        if rows != top:
            raise NotSeeded(f"table {self.table} has gaps (rows {rows}, highest id {top})", rows=top)
        self.value_size = self.padding()
        return rows

    def iter_values(self, n: int, batch: int = 5000):
        if self.page:
            with self.pool.cursor() as cur:
                cur.execute(f"SELECT * FROM (SELECT {SELECT_COLUMNS}, RANK() OVER (PARTITION BY category ORDER BY "
                            f'price) FROM "{self.table}") ranked WHERE id <= %s ORDER BY id', (n,))
                rows = cur.fetchall()
            for values in rows:
                yield self.cache_key(values[0]), self._encode(values)
            return
        for start in range(1, n + 1, batch):
            with self.pool.cursor() as cur:
                cur.execute(f'SELECT {SELECT_COLUMNS} FROM "{self.table}" WHERE id BETWEEN %s AND %s',
                            (start, min(n, start + batch - 1)))
                rows = cur.fetchall()
            for values in rows:
                yield self.cache_key(values[0]), products.encode(values)


def _csv_of(lo: int, hi: int, value_size: int) -> io.StringIO:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for i in range(lo, hi):
        w.writerow(products.row(i, value_size))  # None (no padding) as an unquoted empty field: NULL
    out.seek(0)
    return out


def seed(target, namespace: str, rows: int, reset: bool = False, chunk: int = 20_000, timeout: float = 60.0,
         progress=None, allow_existing: bool = False, value_size: int = 0, **_ignored) -> dict:
    """Load rows 1..rows deterministically (products.row); idempotent: missing rows added, rows
    above N removed; with reset, every row rewritten to its seeded value. Each chunk is one COPY
    into a temporary table and one INSERT .. ON CONFLICT from it."""
    table = table_name(namespace)
    conn = connect(target, timeout)
    try:
        cur = conn.cursor()
        refuse_foreign_table(cur, table, allow_existing)
        for statement in create_table_sql(table):
            cur.execute(statement)
        cur.execute(f'DELETE FROM "{table}" WHERE category = %s', (products.INSERTED,))
        removed_inserted = max(cur.rowcount, 0)
        cur.execute(f'SELECT COUNT(*), COALESCE(MAX(id), 0) FROM "{table}"')
        before, top = map(int, cur.fetchone())
        had = current_value_size(cur, table) if before else value_size
        if had != value_size and not reset:
            raise ValueSizeMismatch(f"--value-size: {table} holds products with {had} bytes of padding, not "
                                    f"{value_size}; add --reset to rewrite every row")
        trimmed = 0
        if top > rows:
            cur.execute(f'DELETE FROM "{table}" WHERE id > %s', (rows,))
            trimmed = max(cur.rowcount, 0)
        contiguous = before - trimmed == min(top, rows)
        start = 1 if reset or not contiguous else min(top, rows) + 1
        columns = ", ".join((*products.COLUMNS, products.PAYLOAD))
        on_conflict = ("DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in (*products.COLUMNS[1:],
                                                                                   products.PAYLOAD))
                       if reset else "DO NOTHING")
        cur.execute(f'CREATE TEMPORARY TABLE IF NOT EXISTS csw_seed (LIKE "{table}" INCLUDING DEFAULTS)')
        loaded = 0
        for lo in range(start, rows + 1, chunk):
            hi = min(rows + 1, lo + chunk)
            cur.execute("TRUNCATE csw_seed")
            cur.execute(f"COPY csw_seed ({columns}) FROM STDIN WITH (FORMAT csv)", stream=_csv_of(lo, hi, value_size))
            cur.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM csw_seed ON CONFLICT (id) '
                        f"{on_conflict}")
            loaded += max(cur.rowcount, 0)
            if progress:
                progress(hi - lo)
        cur.execute(f'ANALYZE "{table}"')
        cur.execute(f'SELECT COUNT(*) FROM "{table}"')
        after = int(cur.fetchone()[0])
    finally:
        conn.close()
    return {"table": table, "rows": after, "before": before, "trimmed": trimmed, "inserted_removed": removed_inserted,
            "loaded": loaded}
