"""MySQL/MariaDB connections: a small gevent-friendly pool over PyMySQL.

PyMySQL is pure Python, so under Locust's gevent monkey-patching every socket wait yields.
A connection whose call failed or was interrupted (a killed user greenlet) is closed, never
returned to the pool half-read.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager

import pymysql

from ..options import MySQLTarget

ACCESS_DENIED = 1045
UNKNOWN_DATABASE = 1049


class ConnectError(Exception):
    """The database cannot be used; str() says why and what to do."""


def connect(target: MySQLTarget, timeout: float, local_infile: bool = False) -> pymysql.Connection:
    try:
        return pymysql.connect(
            host=target.host, port=target.port, user=target.user, password=target.password,
            database=target.database, autocommit=True, connect_timeout=timeout,
            read_timeout=timeout, write_timeout=timeout, local_infile=local_infile, charset="utf8mb4",
        )
    except pymysql.err.OperationalError as e:
        code = e.args[0] if e.args else 0
        where = target.redacted()
        if code == ACCESS_DENIED:
            raise ConnectError(f"MySQL at {where} refused the login for user {target.user!r}: check the user and "
                               "password in --mysql-url, or set CACHESWARM_MYSQL_PASSWORD") from None
        if code == UNKNOWN_DATABASE:
            raise ConnectError(f"MySQL at {where} has no database {target.database!r}: create it or name another "
                               "in --mysql-url") from None
        raise ConnectError(f"cannot reach MySQL at {where} ({e.args[-1] if e.args else e}): start it or fix "
                           "--mysql-url") from None


class Pool:
    """At most `size` connections, shared by every user of a process."""

    def __init__(self, target: MySQLTarget, size: int, timeout: float):
        self.target, self.timeout = target, timeout
        self._idle: deque = deque()
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self):
        if not self._slots.acquire(timeout=self.timeout):
            raise TimeoutError(f"no MySQL connection free within {self.timeout}s (raise --mysql-pool-size)")
        conn = None
        try:
            conn = self._idle.pop() if self._idle else connect(self.target, self.timeout)
            yield conn
            self._idle.append(conn)
            conn = None
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass
            self._slots.release()

    def close(self) -> None:
        while self._idle:
            try:
                self._idle.pop().close()
            except Exception:
                pass
