"""Stampedes on expiry: when a hot key expires, concurrent misses all go to the database.

- `Loads` counts, per process, misses for a key another user of the process is already
  loading (duplicate loads; with several processes or workers, a lower bound).
- Protection `lock`: the first miss takes `<key>:lock` (SET NX PX); the others poll the key
  every 2 ms until the value appears (served from the cache after a wait) or the lock expires
  (then they load it themselves).
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
    """Keys being loaded from the database by this process's users."""

    def __init__(self):
        self.loading: dict = {}
        self.lock = threading.Lock()

    def begin(self, key: str) -> bool:
        """Start a load; True if another user is already loading this key."""
        with self.lock:
            n = self.loading.get(key, 0)
            self.loading[key] = n + 1
            return n > 0

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
