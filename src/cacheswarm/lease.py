"""One run per namespace: a lease key in Redis, taken with SET NX, renewed while the run lives,
released at its end, and expiring on its own if the process dies.

Two runs on one namespace would clear and load each other's keys (cache-only hit ratios of 0.83
and 0.45 instead of 1.0, both claiming a warm cache). The second is refused and told who holds it.
Plain Python: the glue renews it from a greenlet.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timezone

TTL_S = 30
RENEW_EVERY_S = 10

# compare-and-act, so a run never renews or removes a lease another run took after its own expired
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


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
        self.held = False

    def acquire(self) -> None:
        if self.held:
            return
        if not self.client.set(self.key, self.holder, nx=True, ex=self.ttl):
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
        ok = bool(self.client.eval(_RENEW, 1, self.key, self.holder, self.ttl))
        self.held = ok
        return ok

    def release(self) -> None:
        if self.held:
            try:
                self.client.eval(_RELEASE, 1, self.key, self.holder)
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
