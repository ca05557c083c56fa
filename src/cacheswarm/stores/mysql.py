"""MySQL/MariaDB connections: PyMySQL, and the gevent-friendly pool (stores/pool.py) of them.

PyMySQL is pure Python, so under Locust's gevent monkey-patching every socket wait yields.
A connection whose call failed or was interrupted (a killed user greenlet) is closed, never
returned to the pool half-read.
"""

from __future__ import annotations

import ssl

import pymysql

from ..options import MySQLTarget
from . import ConnectError  # (re-exported: every database's connection error)
from . import pool

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


def connect(target: MySQLTarget, timeout: float, local_infile: bool = False) -> pymysql.Connection:
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


class Pool(pool.Pool):
    """The process's pool of MySQL connections."""

    def __init__(self, target: MySQLTarget, size: int, timeout: float):
        super().__init__(target, size, timeout, connect, "MySQL")
