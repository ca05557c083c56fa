"""The staleness audit: a sample of cache-aside reads checked against the database, outside the
timed call (a user's next operation waits for it; its latency does not include it).

- A sampled **hit** reads the row again from the database and compares versions (products:
  `version`; restaurant summaries: the sum of their star counters, which every review bumps
  once). The read was stale if the database's version is higher *and* was written before the
  cache was asked (a write that landed during the audit proves nothing); its age is the time
  from that write to the read (a lower bound of how long the value had been stale; exact when
  one write happened since it was cached). Times are the database's (MySQL UTC_TIMESTAMP(6),
  a review's creation time) against this host's clock: keep clocks in sync (NTP).
- A sampled **miss** checks for the invalidation race: the miss loaded version v, SET it; if the
  database has moved past v and the key still holds v 10 ms later (with double-delete: after
  its second DEL), a write's DEL (or write-through SET) landed before this SET, and the old
  value stays until its TTL ends or the key's next write removes it. The race is recorded with
  that remaining TTL: how long readers can be served the old value at most (an upper bound). The wait is outside the timed call; it happens only
  when the database has moved past the value just loaded.

Counts go into the recorder as series of kind `audit` (outcomes fresh / stale / race /
miss_checked / audit_error, and audit_get for each GET the race check sent), so they merge across workers like every other histogram.
"""

from __future__ import annotations

import time

from .recorder import HIGHEST_US

AUDIT = "audit"
FRESH, STALE, RACE, MISS_CHECKED, AUDIT_ERROR = "fresh", "stale", "race", "miss_checked", "audit_error"
AUDIT_GET = "audit_get"  # a GET the race check sent (the server cross-check counts them)
OUTCOMES = (FRESH, STALE, RACE, MISS_CHECKED, AUDIT_ERROR, AUDIT_GET)
RACE_CONFIRM_S = 0.01  # a write between its UPDATE and its DEL is not a race: look again after this


class Auditor:
    """One user's audit. `series[(outcome, window)]` names the recorder series; `record(key, value)`."""

    def __init__(self, store, cache, fraction: float, rng, record, series: dict, sleep=time.sleep,
                 confirm_after: float = RACE_CONFIRM_S):
        self.store, self.cache, self.fraction = store, cache, fraction
        self.random, self.record, self.series = rng.random, record, series
        self.version_of = store.version_of
        self.read_truth = getattr(store, "read_primary", store.read)  # with a read replica: the primary
        self.sleep = sleep
        self.confirm_after = confirm_after  # double-delete: past its second DEL

    def after_read(self, key: int, outcome: str, value, window: str, read_at: float) -> None:
        """`read_at`: wall-clock time (time.time()) when the read started."""
        if value is None or outcome not in ("hit", "miss", "ok") or self.random() >= self.fraction:
            return
        try:
            if outcome != "miss":  # a hit, or a db-only read from a read replica
                self._hit(key, value, window, read_at)
            else:
                self._miss(key, value, window)
        except Exception:  # the audit never fails a user: an audit that could not run is counted
            self.record(self.series[(AUDIT_ERROR, window)], 1)

    def _hit(self, key: int, value: bytes, window: str, read_at: float) -> None:
        cached, _ = self.version_of(value)
        fresh = self.read_truth(key)
        if fresh is None:
            return
        current, written = self.version_of(fresh)
        if current > cached and written < read_at:
            age_us = int((read_at - written) * 1e6)
            self.record(self.series[(STALE, window)], min(max(age_us, 1), HIGHEST_US))
        else:
            self.record(self.series[(FRESH, window)], 1)

    def _miss(self, key: int, value: bytes, window: str) -> None:
        loaded, _ = self.version_of(value)
        self.record(self.series[(MISS_CHECKED, window)], 1)
        fresh = self.read_truth(key)
        if fresh is None or self.version_of(fresh)[0] <= loaded:
            return
        cache_key = self.store.cache_key(key)
        for attempt in range(2):
            self.record(self.series[(AUDIT_GET, window)], 1)
            cached = self.cache.get_primary(cache_key)
            if cached is None or self.version_of(cached)[0] != loaded:
                return
            if attempt == 0:
                self.sleep(self.confirm_after)
        left_ms = self.cache.ttl_ms(cache_key)
        if left_ms == -2:  # expired or replaced meanwhile: the stale value is gone
            return
        self.record(self.series[(RACE, window)], HIGHEST_US if left_ms < 0 else max(1, left_ms * 1000))
