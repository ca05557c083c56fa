"""MySQL/MariaDB (RDS for MySQL, Aurora MySQL): the backend as the catalog knows it.

Its options (declared here, added to Locust's parser and to `cacheswarm seed`/`clean` by the
catalog), its target and read replica, PyMySQL connections and the gevent-friendly pool
(stores/pool.py) of them, and the server's own counts of what a phase did (SHOW GLOBAL STATUS).
PyMySQL is pure Python, so under Locust's gevent monkey-patching every socket wait yields. A
connection whose call failed or was interrupted (a killed user greenlet) is closed, never
returned to the pool half-read.
"""

from __future__ import annotations

import math
import os
import ssl
import time
from dataclasses import replace

import pymysql

from ..optbase import BadInput, Opt, _as_bool
from ..server_stats import delta as counters_delta
from ..targets import MySQLTarget, parse_mysql_url
from . import OWNER_COMMENT, ConnectError, owned_names, tables_like  # (ConnectError re-exported: every database's)
from . import pool as pools

NAME = "mysql"
DEFAULT_URL = "mysql://root@127.0.0.1:3306/test"
OPTIONS = (
    Opt("--mysql-url", DEFAULT_URL, "MySQL/MariaDB URL mysql://user[:password]@host:port/db; a primary and its "
        "standby: host:port,host:port (connections go to the writable one; --drill db-failover)"),
    Opt("--mysql-password", "", "MySQL password (overrides the URL's; also CACHESWARM_MYSQL_PASSWORD)", secret=True),
    Opt("--mysql-ssl-ca", "", "CA certificate (PEM) to connect to MySQL over TLS (e.g. the RDS CA bundle)"),
    Opt("--mysql-iam-auth", False, "log in to RDS with an IAM token (boto3 generate_db_auth_token); needs --mysql-ssl-ca",
        bool),
    Opt("--mysql-reader-url", "", "MySQL read replica (e.g. an RDS read replica): database reads go there, writes "
        "to --mysql-url; its replication lag is probed every 100 ms"),
)
# statements each operation sends, per dataset (tests/test_server_stats.py checks them against the
# server's session counters): a read, a write, a write that returns the new row (write-through), an
# insert, a range scan (products)
PER_OP = {
    "products": {"read": {"Com_select": 1}, "write": {"Com_update": 1},
                 "write_value": {"Com_update": 1, "Com_select": 1}, "insert": {"Com_insert": 1},
                 "scan": {"Com_select": 1}},
    "restaurants": {"read": {"Com_select": 1}, "write": {"Com_insert": 1, "Com_update": 1},
                    "write_value": {"Com_insert": 1, "Com_update": 1, "Com_select": 1}},
    "orders": {"read": {"Com_select": 1}, "write": {"Com_insert": 1}, "write_value": {"Com_insert": 1, "Com_select": 1},
               # --orders-write update-status
               "write_update": {"Com_update": 1}, "write_update_value": {"Com_update": 1, "Com_select": 1}},
    "queries": {"read": {"Com_select": 1}, "write": {"Com_insert": 1, "Com_update": 1},  # a review posted
                "write_value": {"Com_insert": 1, "Com_update": 1, "Com_select": 1}},
}
# the replication lag probe's statements (replication.py): a marker UPDATEd on the primary, read on the replica
PROBE = {"write": {"Com_update": 1}, "read": {"Com_select": 1}}
WHAT: dict = {}  # (Com_select reads "select statements")
COUNTERS = ("Questions", "Com_select", "Com_update", "Com_insert", "Com_delete",
            "Innodb_buffer_pool_read_requests", "Innodb_buffer_pool_reads")
GAUGES = ("Threads_connected", "Threads_running")
STATUS_QUERY = ("SHOW GLOBAL STATUS WHERE Variable_name IN ("
                + ", ".join(f"'{n}'" for n in COUNTERS + GAUGES + ("Uptime",)) + ")")


def target(ns, region: str = "") -> MySQLTarget:
    """--mysql-url and its companions, validated (BadInput: one line naming the option)."""
    mysql = parse_mysql_url(str(getattr(ns, "mysql_url", DEFAULT_URL) or DEFAULT_URL),
                            str(getattr(ns, "mysql_password", "") or ""))
    ssl_ca = str(getattr(ns, "mysql_ssl_ca", "") or "")
    if ssl_ca and not os.path.isfile(ssl_ca):
        raise BadInput("--mysql-ssl-ca", f"{ssl_ca!r} is not a file; give the PEM file of the CA that signed the "
                                         "MySQL server's certificate")
    iam_region = ""
    if _as_bool(getattr(ns, "mysql_iam_auth", False)):
        if not ssl_ca:
            raise BadInput("--mysql-iam-auth", "needs TLS: add --mysql-ssl-ca with the RDS CA bundle (global-bundle.pem)")
        iam_region = region
        if not iam_region:
            raise BadInput("--aws-region", "--mysql-iam-auth needs a region: pass --aws-region or set AWS_REGION")
    return replace(mysql, ssl_ca=ssl_ca, iam_region=iam_region)


def reader(ns, primary: MySQLTarget) -> MySQLTarget | None:
    """--mysql-reader-url, or None: the replica's password (if its URL has none), TLS CA and IAM
    region are the primary's."""
    url = str(getattr(ns, "mysql_reader_url", "") or "")
    if not url:
        return None
    t = parse_mysql_url(url, "", "--mysql-reader-url")
    if t.hosts:
        raise BadInput("--mysql-reader-url", f"{t.redacted()!r} names several hosts; give the one read replica")
    return replace(t, password=t.password or primary.password, ssl_ca=primary.ssl_ca, iam_region=primary.iam_region)

ACCESS_DENIED = 1045
UNKNOWN_DATABASE = 1049
INSECURE_TRANSPORT = 3159


def iam_token(target: MySQLTarget) -> str:
    """An RDS IAM auth token (valid 15 minutes): made locally by signing, no network call."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, NoCredentialsError
    except ImportError:
        raise ConnectError("--mysql-iam-auth needs boto3: pip install boto3") from None
    try:
        rds = boto3.client("rds", region_name=target.iam_region)
        return rds.generate_db_auth_token(DBHostname=target.host, Port=target.port, DBUsername=target.user,
                                          Region=target.iam_region)
    except NoCredentialsError:
        raise ConnectError("--mysql-iam-auth found no AWS credentials: configure them (AWS_PROFILE, "
                           "~/.aws/credentials, an instance role) or drop --mysql-iam-auth") from None
    except BotoCoreError as e:
        raise ConnectError(f"--mysql-iam-auth could not make a token: {e}") from None


# TLS per server, learnt at its first connection: an SSLContext, or False where the server offers no TLS.
# PyMySQL builds a new context for every connection (and, with no CA given, tries TLS if the server
# offers it): loading the system's CA store took 22 ms of CPU each time here, in one C call that
# blocks the event loop, so 20 users' first connections stalled every user for 0.46 s, a backlog
# an open-loop phase near capacity took 6 s to drain. One context per server, kept, costs it once.
_TLS: dict = {}


def tls_context(ca: str | None) -> ssl.SSLContext:
    """The context PyMySQL would build: with a CA, verified (certificate and host name); without
    one, encrypted but unverified (PyMySQL's 'preferred' mode)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT  # as PyMySQL: MySQL's self-signed certificates fail it
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _tls_of(target: MySQLTarget) -> dict:
    """PyMySQL's TLS arguments for `target`: {} for its first connection without a CA (PyMySQL then
    tries TLS and falls back), the kept context (TLS required) or ssl_disabled after it."""
    key = (target.host, target.port, target.ssl_ca)
    known = _TLS.get(key)
    if known is None and target.ssl_ca:
        known = _TLS[key] = tls_context(target.ssl_ca)
    if known is None:
        return {}
    return {"ssl": known} if known else {"ssl_disabled": True}


def _learn_tls(target: MySQLTarget, conn: pymysql.Connection) -> None:
    """After a first connection without a CA: did the server take TLS? (one query, once per server)"""
    key = (target.host, target.port, target.ssl_ca)
    if key in _TLS:
        return
    with conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        row = cur.fetchone()
    # the context PyMySQL built for this first connection serves the rest (it has no CA: unverified)
    _TLS[key] = (getattr(conn, "ctx", None) or tls_context(None)) if row and row[1] else False


# a primary and its standbys (a URL of several hosts): the host found writable last, per target
_WRITABLE: dict = {}


def connect(target: MySQLTarget, timeout: float, local_infile: bool = False) -> pymysql.Connection:
    """A connection to the target; of a primary and its standbys, to the writable one (the one found
    writable last tried first): a standby is read-only, and so is a primary being failed over, so a
    connection follows a failover as an RDS Multi-AZ endpoint's DNS name does."""
    if not target.hosts:
        return connect_one(target, timeout, local_infile)
    first = _WRITABLE.get(target.hosts, 0)
    seen = []
    for n in (*range(first, len(target.hosts)), *range(first)):
        host, port = target.hosts[n]
        try:
            conn = connect_one(replace(target, host=host, port=port, hosts=()), timeout, local_infile)
        except ConnectError as e:
            if not str(e).startswith("cannot reach"):  # a login, TLS or database refused: the same on every host
                raise
            seen.append(f"{host}:{port} unreachable")
            continue
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT @@global.read_only")
                read_only = int(cur.fetchone()[0])
        except pymysql.err.MySQLError as e:
            conn._force_close()
            seen.append(f"{host}:{port} {e.args[-1] if e.args else e}")
            continue
        if not read_only:
            _WRITABLE[target.hosts] = n
            return conn
        conn.close()
        seen.append(f"{host}:{port} read-only")
    raise ConnectError(f"no server of --mysql-url {target.redacted()} is writable ({', '.join(seen)}): a failover "
                       "under way, or no primary among the hosts given")


def _query(conn, sql: str, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def fail_over(target: MySQLTarget, wait_s: float = 30.0, hold: float = 0.0, sleep=time.sleep,
              clock=time.monotonic) -> dict:
    """Fail a primary over to its standby as RDS Multi-AZ does on a reboot with failover, on servers
    named by a URL of several hosts (MySQL/MariaDB replication, every host with a binary log):
    the primary is made read-only and its clients' connections are closed (the primary goes away);
    once the standby has applied all it had written, the standby stops replicating and becomes
    writable (promoted), `hold` seconds after the fence at the earliest (RDS's takes a minute or two);
    the old primary then replicates from it (the new standby), so the pair can be failed over again. Connections made meanwhile find no writable host and fail; after it,
    they reach the new primary (connect above). Needs the URL's user to hold SUPER (or READ_ONLY
    ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ADMIN) on both."""
    t0 = clock()
    old = connect(target, wait_s)  # (the writable one: the primary now)
    old_host = (old.host, old.port)
    others = [h for h in target.hosts if h != old_host]
    try:
        _query(old, "SET GLOBAL read_only = ON")
        mine = _query(old, "SELECT CONNECTION_ID()")[0][0]
        clients = [row[0] for row in _query(
            old, "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> %s AND USER NOT IN "
                 "('system user', 'event_scheduler') AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', "
                 "'Daemon')", (mine,))]
        dropped = 0
        for cid in clients:
            try:
                _query(old, f"KILL CONNECTION {int(cid)}")
                dropped += 1
            except pymysql.err.MySQLError:  # (gone meanwhile)
                pass
        fenced, fenced_at = clock(), math.ceil(time.time() * 1000) / 1000
        status = _query(old, "SHOW MASTER STATUS")
        if not status:
            raise ConnectError(f"the primary {old_host[0]}:{old_host[1]} keeps no binary log: start it with "
                               "--log-bin so its standby can replicate it")
        log_file, log_pos = status[0][0], int(status[0][1])
        new_host, new = None, None
        for host in others:  # the standby that replicates the primary
            try:
                conn = connect_one(replace(target, host=host[0], port=host[1], hosts=()), wait_s)
            except ConnectError:
                continue
            waited = _query(conn, "SELECT MASTER_POS_WAIT(%s, %s, %s)", (log_file, log_pos, wait_s))[0][0]
            if waited is None or int(waited) < 0:
                conn.close()
                continue
            new_host, new = host, conn
            break
        if new is None:
            _query(old, "SET GLOBAL read_only = OFF")  # (nothing was promoted: the primary stays one)
            raise ConnectError(f"no standby of {target.redacted()} replicated the primary up to {log_file}:{log_pos} "
                               f"within {wait_s:g} s (replication stopped or behind): the primary was kept")
        caught_up = clock()
        if fenced + hold > caught_up:
            sleep(fenced + hold - caught_up)  # (the database stays away, as RDS's failover keeps it)
        try:
            _query(new, "STOP SLAVE")
            _query(new, "RESET SLAVE ALL")
            new_status = _query(new, "SHOW MASTER STATUS")
            _query(new, "SET GLOBAL read_only = OFF")
        finally:
            new.close()
        promoted = clock()
        out = {"old_primary": f"{old_host[0]}:{old_host[1]}", "new_primary": f"{new_host[0]}:{new_host[1]}",
               "connections_dropped": dropped, "fenced_at": fenced_at, "fenced_after_s": round(fenced - t0, 3),
               "caught_up_after_s": round(caught_up - t0, 3), "promoted_after_s": round(promoted - t0, 3)}
        try:  # the old primary becomes the new one's standby
            if not new_status:
                raise ConnectError(f"{new_host[0]}:{new_host[1]} keeps no binary log (--log-bin)")
            _query(old, "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s, "
                        "MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s",
                   (new_host[0], new_host[1], target.user, target.password, new_status[0][0], int(new_status[0][1])))
            _query(old, "START SLAVE")
            out["old_primary_replicates"] = True
        except Exception as e:  # (the failover is done: the old primary stays read-only)
            out["old_primary_replicates"] = False
            out["note"] = f"the old primary stays read-only and does not replicate the new one ({e})"
        _WRITABLE.pop(target.hosts, None)
        return out
    finally:
        old.close()


def connect_one(target: MySQLTarget, timeout: float, local_infile: bool = False) -> pymysql.Connection:
    password = iam_token(target) if target.iam_region else target.password  # a fresh token per connection
    try:
        conn = pymysql.connect(
            host=target.host, port=target.port, user=target.user, password=password,
            database=target.database, autocommit=True, connect_timeout=timeout,
            read_timeout=timeout, write_timeout=timeout, local_infile=local_infile, charset="utf8mb4",
            **_tls_of(target),
        )
        _learn_tls(target, conn)
        return conn
    except pymysql.err.OperationalError as e:
        code = e.args[0] if e.args else 0
        where = target.redacted()
        if code == ACCESS_DENIED:
            how = ("its IAM token: check the user is created WITH AWSAuthenticationPlugin and the IAM policy allows "
                   "rds-db:connect" if target.iam_region else
                   "password: check the user and password in --mysql-url, or set CACHESWARM_MYSQL_PASSWORD")
            raise ConnectError(f"MySQL at {where} refused the login for user {target.user!r} with {how}") from None
        if code == INSECURE_TRANSPORT or "insecure transport" in str(e).lower():
            raise ConnectError(f"MySQL at {where} requires TLS: pass --mysql-ssl-ca with its CA certificate") from None
        if code == UNKNOWN_DATABASE:
            raise ConnectError(f"MySQL at {where} has no database {target.database!r}: create it or name another "
                               "in --mysql-url") from None
        detail = e.args[-1] if e.args else e
        if target.ssl_ca and ("SSL" in str(detail) or "certificate" in str(detail).lower()):
            raise ConnectError(f"TLS with MySQL at {where} failed ({detail}): check --mysql-ssl-ca") from None
        raise ConnectError(f"cannot reach MySQL at {where} ({detail}): start it or fix --mysql-url") from None


class Pool(pools.Pool):
    """The process's pool of MySQL connections."""

    def __init__(self, target: MySQLTarget, size: int, timeout: float):
        super().__init__(target, size, timeout, connect, "MySQL")


def pool(t: MySQLTarget, size: int, timeout: float) -> Pool:
    """The process's pool of MySQL connections (first come, first served)."""
    return Pool(t, size, timeout)


def sample(p: Pool, _namespace: str = "") -> dict:
    """SHOW GLOBAL STATUS for the counters and gauges above, or {"error": why}. (The whole server's:
    another client's traffic shows, and the report says so when the counts disagree.)"""
    for attempt in (1, 2):  # (a connection the server closed meanwhile, e.g. in a failover, fails once)
        try:
            with p.connection() as conn, conn.cursor() as cur:
                cur.execute(STATUS_QUERY)
                rows = cur.fetchall()
                server = f"{conn.host}:{conn.port}"
            break
        except Exception as e:
            if attempt == 2:
                return {"error": f"SHOW GLOBAL STATUS failed: {type(e).__name__}: {str(e)[:120]}"}
    out = {name: int(value) for name, value in rows if str(value).lstrip("-").isdigit()}
    # a primary and standbys: which server answered (another one at the end of a phase: a failover, as Redis's run_id)
    out.update(uptime_s=out.pop("Uptime", None), at=round(time.time(), 3),
               **({"run_id": server} if p.target.hosts else {}))
    return out


def delta(first: dict, last: dict, under_load: dict) -> dict:
    m = counters_delta(first, last, COUNTERS, ())
    if "error" in m:
        return m
    m.update({k: under_load.get(k) for k in GAUGES if k in under_load})
    requests = m.get("Innodb_buffer_pool_read_requests")
    m["buffer_pool_hit_ratio"] = round(1 - m.get("Innodb_buffer_pool_reads", 0) / requests, 4) if requests else None
    return m


def seed_flags(t: MySQLTarget) -> str:
    return f"--mysql-url '{t.redacted()}'"


def owned_tables(t: MySQLTarget, namespace: str, timeout: float) -> list[str]:
    """The namespace's tables that cacheswarm created (their comment says so), for `cacheswarm clean`."""
    conn = connect(t, timeout)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
                        "AND table_name LIKE %s AND table_comment = %s ORDER BY 1",
                        (tables_like(namespace), OWNER_COMMENT))
            return owned_names(namespace, [r[0] for r in cur.fetchall()])
    finally:
        conn.close()


def drop_tables(t: MySQLTarget, names: list[str], timeout: float) -> None:
    conn = connect(t, timeout)
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f"DROP TABLE IF EXISTS `{name}`")
    finally:
        conn.close()


# ---- the replication lag probe (replication.py): a one-row table, UPDATEd on the primary, read on the replica
def probe_table(namespace: str) -> str:
    return f"{namespace}_lagprobe"


def probe_create(p: Pool, namespace: str) -> None:
    """The probe's table (on the primary; replication brings it to the replica)."""
    with p.connection() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS `{probe_table(namespace)}` (id TINYINT NOT NULL PRIMARY KEY, "
                    f"token BIGINT NOT NULL) ENGINE=InnoDB COMMENT='{OWNER_COMMENT}'")
        cur.execute(f"INSERT IGNORE INTO `{probe_table(namespace)}` (id, token) VALUES (1, 0)")


def probe_write(p: Pool, namespace: str, token: int) -> None:
    with p.connection() as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE `{probe_table(namespace)}` SET token = %s WHERE id = 1", (token,))


def probe_read(p: Pool, namespace: str) -> int | None:
    with p.connection() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT token FROM `{probe_table(namespace)}` WHERE id = 1")
        row = cur.fetchone()
    return None if row is None else int(row[0])
