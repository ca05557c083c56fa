"""One run per namespace: a lease key in Redis, renewed while the run lives, released at its end,
and expiring on its own if the process dies: redis-py's Lock (SET NX PX; its compare-and-act
scripts, so a run never renews or removes a lease another run took after its own expired), its
token the holder's description, which a refused run is shown.

Two runs on one namespace would clear and load each other's keys (cache-only hit ratios of 0.83
and 0.45 instead of 1.0, both claiming a warm cache). The second is refused and told who holds it.
Plain Python: the glue renews it from a greenlet.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timezone

from redis.exceptions import LockError

TTL_S = 30
RENEW_EVERY_S = 10


class NamespaceBusy(Exception):
    """Another run holds the namespace: str() names it and what to do."""


def lease_key(namespace: str) -> str:
    return f"{namespace}:lease"


def describe_holder(run_name: str) -> str:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"run '{run_name}' on {socket.gethostname()} (pid {os.getpid()}, started {started})"


class NamespaceLease:
    def __init__(self, client, namespace: str, holder: str, ttl: int = TTL_S):
        self.client, self.namespace, self.holder, self.ttl = client, namespace, holder, ttl
        self.key = lease_key(namespace)
        # thread_local=False: the greenlet that renews it is not the one that took it
        self.lock = client.lock(self.key, timeout=ttl, blocking=False, thread_local=False)
        self.held = False

    def acquire(self) -> None:
        if self.held:
            return
        if not self.lock.acquire(token=self.holder):
            other = self.client.get(self.key)
            left = self.client.ttl(self.key)
            who = other.decode(errors="replace") if other else "another run"
            raise NamespaceBusy(f"namespace '{self.namespace}' is in use by {who}; wait for it to end, or pass "
                                f"another --namespace (if that run died, its lease expires within {max(left, 0)}s)")
        self.held = True

    def renew(self) -> bool:
        """Extend the lease; False if it is no longer ours (it expired and another run took it)."""
        if not self.held:
            return False
        try:
            self.lock.extend(self.ttl, replace_ttl=True)
        except LockError:  # LockNotOwnedError: it expired, and perhaps another run holds it now
            self.held = False
        return self.held

    def release(self) -> None:
        if self.held:
            try:
                self.lock.release()
            except LockError:  # no longer ours: nothing of ours to remove
                pass
            finally:
                self.held = False

    def keep(self, sleep=time.sleep, every: float = RENEW_EVERY_S) -> None:
        """Forever (in a greenlet): renew every `every` seconds while held."""
        while self.held:
            sleep(every)
            try:
                if self.held and not self.renew():
                    return
            except Exception:  # Redis briefly away: try again next round; the TTL covers the gap
                continue
