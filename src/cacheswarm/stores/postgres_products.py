"""The products dataset on PostgreSQL: MySQLProducts's operations in PostgreSQL's dialect, its seed.

The same rows (products.row), the same JSON (the driver returns the same Decimal, datetime and
int), the same cache keys, so a cached product reads the same whichever database it came from.
"""

from __future__ import annotations

import csv
import io

from .. import products
from . import OWNER_COMMENT, refuse_foreign
from .mysql_products import PRICE_INDEX, MySQLProducts, ValueSizeMismatch
from .postgres import connect


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
    refuse_foreign(table_owner(cur, table), table, allow_existing)


def current_value_size(cur, table: str) -> int:
    cur.execute(f'SELECT COALESCE(LENGTH(payload), 0) FROM "{table}" WHERE id=1')
    found = cur.fetchone()
    return int(found[0]) if found else 0


class PostgresProducts(MySQLProducts):
    """MySQLProducts in PostgreSQL's dialect; its seeded() without MySQL's upgrades of older tables."""
    backend = "postgres"
    QUOTE = '"'
    NOW_UTC = "(now() AT TIME ZONE 'UTC')"
    owner_of = staticmethod(table_owner)
    value_size_of = staticmethod(current_value_size)

    def seeded(self) -> int:
        rows = self.seeded_rows()
        self.value_size = self.padding()
        return rows


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
