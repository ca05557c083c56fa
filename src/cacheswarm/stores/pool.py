"""A database connection pool for gevent users: first come, first served, a half-read connection never reused.

Written for PyMySQL and used for PostgreSQL's pg8000 too: both are pure Python, so under Locust's
gevent monkey-patching every socket wait yields. A connection whose call failed or was interrupted
(a killed user greenlet) is closed (its `_force_close()`: no goodbye round trip), never returned
to the pool half-read.
"""

from __future__ import annotations

import sys
from collections import deque

from gevent import Timeout
from gevent.event import AsyncResult


class Pool:
    """At most `size` connections shared by every user of a process, handed out first come,
    first served.

    A released connection goes straight to the longest-waiting user: with plain semaphores
    or queues, a user that releases and asks again at once wins every time and 400 waiting
    users time out (seen with 500 users on a 32-connection pool).
    """

    def __init__(self, target, size: int, timeout: float, connect, name: str):
        self.target, self.timeout, self.size = target, timeout, size
        self._connect, self.name = connect, name  # the database's connect(target, timeout) -> connection
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
            raise TimeoutError(f"no {self.name} connection free within {self.timeout}s "
                               "(raise --mysql-pool-size or lower the user count)") from None
        finally:
            if not waiter.ready():
                self._waiters.remove(waiter)
            elif sys.exc_info()[0] is not None and waiter.successful():
                self._release(waiter.value)  # handed one (or a slot) just as we gave up: pass it on

    def _connect_slot(self):
        """Open a connection for a slot already counted in _open; give the slot back on failure."""
        try:
            return self._connect(self.target, self.timeout)
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

    def connection(self) -> "Lease":
        """`with pool.connection() as conn`: a connection of the pool, back to it after the block (closed
        instead if the block failed or was interrupted mid-call: never reuse half-read)."""
        return Lease(self, False)

    def cursor(self) -> "Lease":
        """`with pool.cursor() as cur`: the connection's own cursor, kept with it (PyMySQL's execute clears
        the last result): a cursor made and closed per operation cost more than our recording of it."""
        return Lease(self, True)

    def each_idle(self, call) -> None:
        """`call(conn)` on every connection idle now, each taken out of the pool meanwhile, so no user is
        handed one mid-call (two greenlets on one socket garble both replies); back after, closed if the
        call failed."""
        taken = [self._idle.popleft() for _ in range(len(self._idle))]
        for n, conn in enumerate(taken):
            try:
                call(conn)
            except BaseException:
                conn._force_close()
                self._release(None)
                for rest in taken[n + 1:]:
                    self._release(rest)
                raise
            self._release(conn)

    def close(self) -> None:
        while self._idle:
            try:
                self._idle.pop().close()
                self._open -= 1
            except Exception:
                pass


class Lease:
    """A connection lent by a Pool for one `with` block (a class, not a generator: a contextlib manager
    per operation cost ~70 Python opcodes, this ~20)."""

    __slots__ = ("pool", "want_cursor", "conn")

    def __init__(self, pool: Pool, want_cursor: bool):
        self.pool, self.want_cursor = pool, want_cursor

    def __enter__(self):
        conn = self.conn = self.pool._acquire()
        if not self.want_cursor:
            return conn
        try:
            return conn.cacheswarm_cursor
        except AttributeError:
            cur = conn.cacheswarm_cursor = conn.cursor()
            return cur

    def __exit__(self, kind, _exc, _tb) -> bool:
        if kind is None:
            self.pool._release(self.conn)
        else:  # failed or interrupted mid-call: never reuse half-read
            self.conn._force_close()  # no goodbye round trip: this may be a user being stopped
            self.pool._release(None)
        return False
