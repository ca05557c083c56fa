"""Stampedes on expiry: when a hot key expires, concurrent misses all go to the database.

- A **duplicate load** is a database load of a key (a cache-aside miss's read) that starts while
  another load of that key is in flight, or before the value an earlier load SET has expired
  (its TTL, jitter included) with no write of the key since: the value should still have been in
  the cache, so the load repeated one the cache was there to save. A read-only run counts what the
  database's own log shows as reloads of a key within its TTL (tests/test_stampede.py checks the
  two against MariaDB's general log). `Loads` counts them per process: with several processes or
  workers it is a lower bound. An early refresh is a duplicate only while another load is in
  flight (it reloads a live key by design); a key evicted under maxmemory counts when reloaded.
- Protection `lock`: the first miss takes `<key>:lock` (SET NX PX with a token of its own), reads
  the key again (another loader may have SET it between this miss's GET and the lock), loads,
  SETs, and releases the lock by compare-and-delete of its token (a plain DEL could release a
  lock another loader took after this one's expired). The others poll the key every 2 ms until
  the value appears (served from the cache after a wait) or the lock expires after LOCK_S (a lock
  timeout: then they load it themselves, a duplicate the lock did not stop).
- Protection `early-refresh`: probabilistic early expiration (XFetch, Vattani et al., VLDB 2015):
  a hit whose key has `left` ms to live reloads it early when `-delta * beta * ln(U) >= left`,
  delta being how long a load takes, so one reader refreshes a hot key shortly before it
  expires instead of every reader missing at once.
- `--ttl-jitter J` spreads expiries: each SET's TTL is ttl x (1 + J x U).
"""

from __future__ import annotations

import math
import threading
import time

# events a read can carry (recorded as counts next to its outcome)
DUPLICATE_LOAD, WAITED, LOCK_TIMEOUT, EARLY_REFRESH = "duplicate_load", "waited", "lock_timeout", "early_refresh"
EVENTS = (DUPLICATE_LOAD, WAITED, LOCK_TIMEOUT, EARLY_REFRESH)
LOCK_S = 1.0
LOCK_POLL_S = 0.002
BETA = 1.0


class Loads:
    """Keys being loaded from the database by this process's users, and until when each key's
    last cached value should live (what makes a load a duplicate)."""

    def __init__(self, clock=time.monotonic):
        self.loading: dict = {}
        self.live_until: dict = {}  # cache key -> clock() when the value last SET expires
        self.clock = clock
        self.lock = threading.Lock()

    def begin(self, key: str, early: bool = False) -> bool:
        """Start a load; True if it is a duplicate (module docstring)."""
        with self.lock:
            n = self.loading.get(key, 0)
            self.loading[key] = n + 1
            return n > 0 or (not early and self.clock() < self.live_until.get(key, 0.0))

    def cached(self, key: str, ttl_s: float | None) -> None:
        """A value of `key` is about to be SET with `ttl_s` (None: no expiry)."""
        with self.lock:
            self.live_until[key] = float("inf") if ttl_s is None else self.clock() + ttl_s

    def removed(self, key: str) -> None:
        """A write removed `key` from the cache (DEL): reloading it is no duplicate."""
        with self.lock:
            self.live_until.pop(key, None)

    def end(self, key: str) -> None:
        with self.lock:
            n = self.loading.get(key, 1) - 1
            if n:
                self.loading[key] = n
            else:
                self.loading.pop(key, None)


def lock_key(cache_key: str) -> str:
    return f"{cache_key}:lock"


def wait_for_loader(cache, cache_key: str, sleep=time.sleep, clock=time.monotonic):
    """Another user holds the lock: poll for the value it loads. (value, event)."""
    deadline = clock() + LOCK_S
    while clock() < deadline:
        sleep(LOCK_POLL_S)
        value = cache.get(cache_key)
        if value is not None:
            return value, WAITED
    return None, LOCK_TIMEOUT


def refresh_early(left_ms: int, delta_s: float, random) -> bool:
    """XFetch: reload now, before the key expires in `left_ms`?"""
    if left_ms is None or left_ms < 0:
        return False
    return -delta_s * 1000 * BETA * math.log(max(random(), 1e-12)) >= left_ms


def ttl_with_jitter(ttl, jitter: float, random):
    if ttl is None or not jitter:
        return ttl
    return ttl * (1 + jitter * random())
