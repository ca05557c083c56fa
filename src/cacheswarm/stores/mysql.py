"""MySQL/MariaDB connections: a small gevent-friendly pool over PyMySQL.

PyMySQL is pure Python, so under Locust's gevent monkey-patching every socket wait yields.
A connection whose call failed or was interrupted (a killed user greenlet) is closed, never
returned to the pool half-read.
"""

from __future__ import annotations

from collections import deque
import sys
from contextlib import contextmanager

import pymysql
from gevent import Timeout
from gevent.event import AsyncResult

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
    """At most `size` connections shared by every user of a process, handed out first come,
    first served.

    A released connection goes straight to the longest-waiting user: with plain semaphores
    or queues, a user that releases and asks again at once wins every time and 400 waiting
    users time out (seen with 500 users on a 32-connection pool).
    """

    def __init__(self, target: MySQLTarget, size: int, timeout: float):
        self.target, self.timeout, self.size = target, timeout, size
        self._idle: deque = deque()
        self._waiters: deque = deque()
        self._open = 0  # connections handed out or idle

    def _acquire(self):
        if self._idle and not self._waiters:
            return self._idle.pop()
        if self._open < self.size and not self._waiters:
            self._open += 1
            return self._connect_slot()
        waiter = AsyncResult()
        self._waiters.append(waiter)
        try:
            conn = waiter.get(timeout=self.timeout)
            return conn if conn is not None else self._connect_slot()  # None: a freed slot
        except Timeout:
            raise TimeoutError(f"no MySQL connection free within {self.timeout}s "
                               "(raise --mysql-pool-size or lower the user count)") from None
        finally:
            if not waiter.ready():
                self._waiters.remove(waiter)
            elif sys.exc_info()[0] is not None and waiter.successful():
                self._release(waiter.value)  # handed one (or a slot) just as we gave up: pass it on

    def _connect_slot(self):
        """Open a connection for a slot already counted in _open; give the slot back on failure."""
        try:
            return connect(self.target, self.timeout)
        except BaseException:
            self._release(None)
            raise

    def _release(self, conn) -> None:
        """Give a connection (or None: a closed one's slot) to the next waiter, else keep it."""
        if self._waiters:
            self._waiters.popleft().set(conn)
        elif conn is None:
            self._open -= 1
        else:
            self._idle.append(conn)

    @contextmanager
    def connection(self):
        conn = self._acquire()
        try:
            yield conn
        except BaseException:  # failed or interrupted mid-call: never reuse half-read
            conn._force_close()  # no goodbye round trip: this may be a user being stopped
            self._release(None)
            raise
        self._release(conn)

    def close(self) -> None:
        while self._idle:
            try:
                self._idle.pop().close()
                self._open -= 1
            except Exception:
                pass
