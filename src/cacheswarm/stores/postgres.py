"""PostgreSQL (RDS for PostgreSQL, Aurora PostgreSQL): the backend as the catalog knows it.

Its options (declared here, added to Locust's parser and to `cacheswarm seed`/`clean` by the
catalog), its target, a gevent-friendly pool (pg8000 is pure Python: under Locust's monkey
patching every socket wait yields, as PyMySQL's do), and the server's own counts of what a
phase did: pg_stat_user_tables of the namespace's tables, which no other client's traffic
reaches (unlike SHOW GLOBAL STATUS). A backend keeps its statistics pending for up to 10 s
before it reports them; the sample asks every idle connection of the pool to flush first
(pg_stat_force_next_flush(), PostgreSQL 15+), so a phase's counts are complete when it ends.

pg8000 is imported only where a connection is made, so the options cost nothing to declare.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from dataclasses import dataclass
from functools import partial
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from ..optbase import BadInput, Opt, _as_bool
from ..server_stats import delta as counters_delta
from ..targets import DatabaseTarget, _check_userinfo, redact_url
from . import OWNER_COMMENT, ConnectError, owned_names, tables_like
from .pool import Pool

NAME = "postgres"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD_ENV = "CACHESWARM_POSTGRES_PASSWORD"
OPTIONS = (
    Opt("--postgres-url", DEFAULT_URL, "PostgreSQL URL postgresql://user[:password]@host:port/db (RDS for PostgreSQL, "
                                       "Aurora PostgreSQL)"),
    Opt("--postgres-password", "", f"PostgreSQL password (overrides the URL's; also {PASSWORD_ENV})", secret=True),
    Opt("--postgres-ssl-ca", "", "CA certificate (PEM) to connect to PostgreSQL over verified TLS (the RDS CA bundle)"),
    Opt("--postgres-iam-auth", False, "log in to RDS/Aurora PostgreSQL with an IAM token (boto3 "
                                      "generate_db_auth_token); needs --postgres-ssl-ca and --aws-region", bool),
)
INVALID_PASSWORD, INVALID_AUTHORIZATION, UNKNOWN_ROLE, UNKNOWN_DATABASE = "28P01", "28000", "28000", "3D000"
# what each operation of a dataset makes the server count in pg_stat_user_tables (summed over the
# namespace's tables). `scans` is index plus sequential scans: a read by id is one scan of the table
# whichever plan serves it (a table of a page or two is read sequentially); an UPDATE by id one scan
# and one row updated; an INSERT one row inserted and no scan (its unique check is not counted); a
# product page (--product-read page) two scans, the row and its category's cheaper products
PER_OP = {
    "products": {"read": {"scans": 1}, "read_page": {"scans": 2}, "write": {"scans": 1, "n_tup_upd": 1},
                 "write_value": {"scans": 2, "n_tup_upd": 1}, "insert": {"n_tup_ins": 1}, "scan": {"scans": 1}},
    # a summary reads the restaurant and its newest reviews (a scan of each table); posting a review
    # inserts it and bumps the restaurant's star counter (a scan and a row updated)
    "restaurants": {"read": {"scans": 2}, "write": {"scans": 1, "n_tup_upd": 1, "n_tup_ins": 1},
                    "write_value": {"scans": 3, "n_tup_upd": 1, "n_tup_ins": 1}},
}
WHAT = {"scans": "table scans", "n_tup_upd": "rows updated", "n_tup_ins": "rows inserted"}
COUNTERS = ("scans", "idx_scan", "seq_scan", "n_tup_upd", "n_tup_ins", "n_tup_del", "idx_tup_fetch", "xact_commit",
            "xact_rollback", "blks_hit", "blks_read")


@dataclass(frozen=True)
class PostgresTarget(DatabaseTarget):
    SCHEME: ClassVar[str] = "postgresql"


def target(ns, region: str = "") -> PostgresTarget:
    """--postgres-url and its companions, validated (BadInput: one line naming the option)."""
    url = str(getattr(ns, "postgres_url", DEFAULT_URL) or DEFAULT_URL)
    parts = urlsplit(url)
    _check_userinfo("--postgres-url", url, parts, f"--postgres-password or {PASSWORD_ENV}")
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise BadInput("--postgres-url", f"{redact_url(url)!r} is not a PostgreSQL URL; use "
                                         "postgresql://user:password@host:5432/database")
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise BadInput("--postgres-url", f"{redact_url(url)!r} names no database; end it with /<database>, e.g. /test")
    try:
        port = parts.port or 5432
    except ValueError:
        raise BadInput("--postgres-url", f"{redact_url(url)!r} has a bad port; use host:5432") from None
    password = (str(getattr(ns, "postgres_password", "") or "") or os.environ.get(PASSWORD_ENV, "")
                or unquote(parts.password or ""))
    ssl_ca = str(getattr(ns, "postgres_ssl_ca", "") or "")
    if ssl_ca and not os.path.isfile(ssl_ca):
        raise BadInput("--postgres-ssl-ca", f"{ssl_ca!r} is not a file; give the PEM file of the CA that signed the "
                                            "PostgreSQL server's certificate")
    iam_region = ""
    if _as_bool(getattr(ns, "postgres_iam_auth", False)):
        if not ssl_ca:
            raise BadInput("--postgres-iam-auth", "needs TLS: add --postgres-ssl-ca with the RDS CA bundle "
                                                  "(global-bundle.pem)")
        iam_region = region
        if not iam_region:
            raise BadInput("--aws-region", "--postgres-iam-auth needs a region: pass --aws-region or set AWS_REGION")
    return PostgresTarget(parts.hostname, port, unquote(parts.username or "postgres"), password, database, ssl_ca,
                          iam_region)


def _iam_token(t: PostgresTarget) -> str:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, NoCredentialsError
    except ImportError:
        raise ConnectError("--postgres-iam-auth needs boto3: pip install boto3") from None
    try:
        return boto3.client("rds", region_name=t.iam_region).generate_db_auth_token(
            DBHostname=t.host, Port=t.port, DBUsername=t.user, Region=t.iam_region)
    except NoCredentialsError:
        raise ConnectError("--postgres-iam-auth found no AWS credentials: configure them (AWS_PROFILE, "
                           "~/.aws/credentials, an instance role) or drop --postgres-iam-auth") from None
    except BotoCoreError as e:
        raise ConnectError(f"--postgres-iam-auth could not make a token: {e}") from None


# TLS per server, as for MySQL (stores/mysql.py): one context, kept. With a CA, verified; without
# one, TLS when the server offers it, unverified (libpq's and PyMySQL's 'prefer'). pg8000 left to
# itself builds a context per connection (loading the CA store: a blocking C call, ~20 ms of CPU).
_TLS: dict = {}  # (host, port, CA) -> SSLContext, or False where the server offers no TLS


def _tls(t: PostgresTarget):
    key = (t.host, t.port, t.ssl_ca)
    known = _TLS.get(key)
    if known is None:
        known = _TLS[key] = ssl.create_default_context(cafile=t.ssl_ca or None)
        if not t.ssl_ca:
            known.check_hostname = False
            known.verify_mode = ssl.CERT_NONE
    return known


_make_params = None  # pg8000's own conversion of parameters, once a connection has imported it


def connect(t: PostgresTarget, timeout: float):
    """One autocommit connection (pg8000.dbapi, %s parameters as PyMySQL's), or ConnectError."""
    global _make_params
    import pg8000.dbapi
    from pg8000.converters import make_params as _make_params
    from pg8000.exceptions import DatabaseError, InterfaceError

    password = _iam_token(t) if t.iam_region else (t.password or None)
    where = t.redacted()
    try:
        try:
            conn = pg8000.dbapi.connect(user=t.user, host=t.host, port=t.port, database=t.database, password=password,
                                        ssl_context=_tls(t), timeout=timeout, application_name="cacheswarm")
        except InterfaceError as e:
            if "refuses SSL" not in str(e):
                raise
            if t.ssl_ca:
                raise ConnectError(f"PostgreSQL at {where} offers no TLS: turn ssl on in its postgresql.conf, or drop "
                                   "--postgres-ssl-ca") from None
            _TLS[(t.host, t.port, t.ssl_ca)] = False  # a server without TLS: plain connections from now on
            conn = pg8000.dbapi.connect(user=t.user, host=t.host, port=t.port, database=t.database, password=password,
                                        ssl_context=False, timeout=timeout, application_name="cacheswarm")
    except DatabaseError as e:
        info = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
        code, message = info.get("C", ""), info.get("M", str(e))
        if "no encryption" in message and not t.ssl_ca:  # pg_hba.conf: hostssl only
            raise ConnectError(f"PostgreSQL at {where} requires TLS: pass --postgres-ssl-ca with its CA certificate "
                               f"({message})") from None
        if code == UNKNOWN_DATABASE:
            raise ConnectError(f"PostgreSQL at {where} has no database {t.database!r}: create it or name another in "
                               "--postgres-url") from None
        if code in (INVALID_PASSWORD, INVALID_AUTHORIZATION):
            how = ("its IAM token: check the user has the rds_iam role and the IAM policy allows rds-db:connect"
                   if t.iam_region else f"password: check --postgres-url's user and password, or set {PASSWORD_ENV}")
            raise ConnectError(f"PostgreSQL at {where} refused the login for user {t.user!r} with {how} "
                               f"({message})") from None
        raise ConnectError(f"PostgreSQL at {where} refused the connection ({message})") from None
    except InterfaceError as e:
        detail = str(e.args[0] if e.args else e)
        if t.ssl_ca and ("SSL" in detail or "certificate" in detail.lower()):
            raise ConnectError(f"TLS with PostgreSQL at {where} failed ({detail}): check --postgres-ssl-ca") from None
        raise ConnectError(f"cannot reach PostgreSQL at {where} ({detail}): start it or fix --postgres-url") from None
    except ssl.SSLError as e:
        raise ConnectError(f"TLS with PostgreSQL at {where} failed ({e}): check --postgres-ssl-ca") from None
    except OSError as e:
        raise ConnectError(f"cannot reach PostgreSQL at {where} ({e}): start it or fix --postgres-url") from None
    conn.autocommit = True
    conn._force_close = partial(_hard_close, conn)  # the pool's Lease: no goodbye for a half-read connection
    conn.cacheswarm_cursor = PreparedCursor(conn)  # what the pool's `with pool.cursor() as cur` gives
    return conn


class PreparedCursor:
    """A connection's cursor for the stores' statements: each statement with parameters (%s, as PyMySQL
    writes them) is prepared once per connection and then only bound and run. pg8000's DB-API cursor
    has the server parse every statement anew and rewrites its parameters in Python each time: a read
    by id cost 184 µs of client CPU here against 70 µs prepared (PyMySQL's: 81 µs). Statements without
    parameters (BEGIN, COMMIT) and COPY go through pg8000's own cursor."""

    __slots__ = ("conn", "raw", "prepared", "rows", "rowcount", "_at")

    def __init__(self, conn):
        self.conn, self.raw, self.prepared = conn, conn.cursor(), {}
        self.rows, self.rowcount, self._at = None, -1, 0

    def execute(self, sql: str, params=(), stream=None) -> None:
        if not params or stream is not None:
            self.raw.execute(sql, params or (), stream=stream)
            self.rows, self.rowcount, self._at = None, self.raw.rowcount, 0
            return
        found = self.prepared.get(sql)
        if found is None:
            parts = sql.split("%s")
            statement = "".join(f"{p}${i}" for i, p in enumerate(parts[:-1], 1)) + parts[-1]
            found = self.prepared[sql] = (*self.conn.prepare_statement(statement, ()), statement)
        name, columns, input_funcs, statement = found
        context = self.conn.execute_named(name, _make_params(self.conn.py_types, params), columns, input_funcs,
                                          statement)
        self.rows, self.rowcount, self._at = context.rows or [], context.row_count, 0

    def fetchone(self):
        if self.rows is None:
            return self.raw.fetchone()
        if self._at >= len(self.rows):
            return None
        self._at += 1
        return self.rows[self._at - 1]

    def fetchall(self) -> list:
        if self.rows is None:
            return self.raw.fetchall()
        rows, self._at = self.rows[self._at:], len(self.rows)
        return rows


def _hard_close(conn) -> None:
    """Close the connection's socket now, whatever still refers to it (pg8000's buffered file of it keeps
    the descriptor open past socket.close(), and the server would keep the session, its transaction
    and its locks): shutdown ends the TCP connection, so the server rolls back at once."""
    try:
        conn._usock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    for f in (conn._sock, conn._usock):
        try:
            f.close()
        except OSError:
            pass


def pool(t: PostgresTarget, size: int, timeout: float) -> Pool:
    """The process's pool of PostgreSQL connections (first come, first served, as MySQL's)."""
    return Pool(t, size, timeout, connect, "PostgreSQL")


def sample(p, namespace: str) -> dict:
    """The namespace's tables' counters (pg_stat_user_tables, summed) and the database's
    (pg_stat_database), after every idle connection of the pool flushed its pending statistics;
    or {"error": why}."""
    try:
        # (a connection in use flushes when the phase's last operation ends)
        p.each_idle(lambda conn: conn.cursor().execute("SELECT pg_stat_force_next_flush()"))
        with p.connection() as conn:
            cur = conn.cursor()
            cur.execute("SELECT pg_stat_force_next_flush()")
            cur.execute("SELECT COALESCE(SUM(idx_scan), 0), COALESCE(SUM(seq_scan), 0), COALESCE(SUM(n_tup_upd), 0), "
                        "COALESCE(SUM(n_tup_ins), 0), COALESCE(SUM(n_tup_del), 0), COALESCE(SUM(idx_tup_fetch), 0) "
                        "FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname LIKE %s",
                        (tables_like(namespace),))
            tables = cur.fetchone()
            cur.execute("SELECT xact_commit, xact_rollback, blks_hit, blks_read, "
                        "EXTRACT(EPOCH FROM now() - pg_postmaster_start_time()) "
                        "FROM pg_stat_database WHERE datname = current_database()")
            db = cur.fetchone()
    except Exception as e:
        return {"error": f"pg_stat_user_tables failed: {type(e).__name__}: {str(e)[:120]}"}
    out = dict(zip(COUNTERS[1:], [int(v) for v in tables] + [int(v) for v in db[:4]]))
    out["scans"] = out["idx_scan"] + out["seq_scan"]
    out.update(uptime_s=float(db[4]), at=round(time.time(), 3))
    return out


def delta(first: dict, last: dict, _under_load: dict) -> dict:
    d = counters_delta(first, last, COUNTERS, ())
    if "error" not in d:
        reads = d.get("blks_hit", 0) + d.get("blks_read", 0)
        d["buffer_hit_ratio"] = round(d.get("blks_hit", 0) / reads, 4) if reads else None
    return d


def seed_flags(t: PostgresTarget) -> str:
    return f"--backend {NAME} --postgres-url '{t.redacted()}'"


def owned_tables(t: PostgresTarget, namespace: str, timeout: float) -> list[str]:
    """The namespace's tables that cacheswarm created (their comment says so), for `cacheswarm clean`."""
    conn = connect(t, timeout)
    try:
        cur = conn.cursor()
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE %s "
                    "AND obj_description(c.oid, 'pg_class') = %s ORDER BY 1", (tables_like(namespace), OWNER_COMMENT))
        return owned_names(namespace, [r[0] for r in cur.fetchall()])
    finally:
        conn.close()


def drop_tables(t: PostgresTarget, names: list[str], timeout: float) -> None:
    conn = connect(t, timeout)
    try:
        for name in names:
            conn.cursor().execute(f'DROP TABLE IF EXISTS "{name}"')
    finally:
        conn.close()
