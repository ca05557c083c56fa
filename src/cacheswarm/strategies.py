"""Caching strategies, written once against "a store" and "a cache".

Each operation returns (outcome, value). Outcomes: `ok` (db-only reads, every write),
`hit` and `miss` (reads that went through the cache; a cache-aside miss includes the
database read and the SET), `cache_error` (cache-aside kept working without Redis: the
read was served by the database, or the write reached the database but its invalidation or
write-through did not reach Redis). Other exceptions propagate: the caller counts them as
`error`, or `throttled` when DynamoDB refused it for capacity (cache-only has nothing to fall
back on).
"""


from __future__ import annotations

import random as _random
import time
from dataclasses import dataclass

from . import stampede
from .cache import CacheUnavailable
from .catalog import REGION_VARIANTS, VARIANTS, policy_of, protection_of

OK, HIT, MISS, ERROR, CACHE_ERROR, THROTTLED = "ok", "hit", "miss", "error", "cache_error", "throttled"


@dataclass(frozen=True)
class Done:
    """What a phase's clients did, in the terms its Redis commands follow from (report/server.py
    counts it; each strategy's `commands` says what Redis counted for it)."""
    hits: int = 0
    misses: int = 0
    writes: int = 0
    inserts: int = 0
    scans: int = 0
    scan_sets: int = 0  # records cache-aside scans loaded from the database, each SET
    audit_gets: int = 0  # the staleness audit's GETs (on the primary)
    probes: int = 0  # the Redis lag probe's markers SET on the primary
    probe_reads: int = 0  # ... and its GETs on the reader
    failed: int = 0  # operations that failed: what they sent is uncertain
    inserts_failed: int = 0


def _reads(d: Done, counted: bool):
    """A cached read's GET on the reader (the primary without a replica); with `counted`, its hit or
    miss is Redis's (no scan's MGET, lock poll or compare-and-set GET among them)."""
    yield "redis_reader", "cmd_get", d.hits + d.misses + d.probe_reads, d.failed
    if counted:
        yield "redis_reader", "keyspace_hits", d.hits, d.failed + d.probe_reads + d.audit_gets
        yield "redis_reader", "keyspace_misses", d.misses, d.failed + d.probe_reads + d.audit_gets
        # each insert's id: BITPOS looks up a key of the counter (inserts.py) on the primary
        if d.inserts:  # (no check of the primary's hits otherwise: with a replica, reads go there)
            yield "redis", "keyspace_hits", d.inserts, d.inserts_failed + 2


class DbOnly:
    name = "db-only"
    uses_cache = False
    uses_database = True

    @staticmethod
    def commands(_done: Done, _policy: str, _protection: str):
        """(server, Redis counter, count, uncertain) its operations imply: none, Redis is not used."""
        return ()

    def __init__(self, store, cache=None, ttl: int | None = None, write_policy: str = "invalidate"):
        self.store = store

    def read(self, key):
        return OK, self.store.read(key)

    def write(self, key):
        return OK, self.store.write(key)

    def insert(self, key):
        return OK, self.store.insert(key)

    def scan(self, first_last):
        return OK, self.store.scan(*first_last)


class CacheOnly:
    """Reads and writes go to Redis only: the ceiling. Keys never expire here."""

    name = "cache-only"
    uses_cache = True
    uses_database = False

    @staticmethod
    def commands(d: Done, _policy: str, protection: str):
        """(server, Redis counter, count, uncertain): a GET per read, a SET per write and insert."""
        if protection == "lock":  # (a run's --stampede-protection lock: its Redis counts are left unchecked)
            return
        yield from _reads(d, counted=not d.scans)
        yield "redis", "cmd_set", d.writes + d.inserts + d.probes, d.failed
        yield "redis", "cmd_del", 0, d.failed

    def __init__(self, store, cache, ttl: int | None = None, write_policy: str = "invalidate"):
        self.store, self.cache = store, cache

    def read(self, key):
        value = self.cache.get(self.store.cache_key(key))
        return (MISS if value is None else HIT), value

    def write(self, key):
        value = self.store.fresh_value(key)
        self.cache.set(self.store.cache_key(key), value, None)
        return OK, value

    insert = write  # a new key, SET like any other

    def scan(self, first_last):
        """MGET the range's keys: a hit if every one was there."""
        first, last = first_last
        values = self.cache.mget([self.store.cache_key(i) for i in range(first, last + 1)])
        found = [v for v in values if v is not None]
        return (HIT if len(found) == len(values) else MISS), found


class CacheAside:
    """Lazy loading: GET; on a miss read the database and SET with a TTL.

    Writes go to the database, then by write policy: `invalidate` DEL; `write-through` SET the new
    value; `versioned` SET the new value, and every SET (a miss's too) is a compare-and-set that
    never replaces a newer version (Lua); `double-delete` DEL, then DEL again `later` (a miss that
    read the old row before the write and SET it after the first DEL is removed by the second).
    Misses can be protected from stampedes (`lock`, `early-refresh`; see stampede.py). After each
    read, `event` says what else happened (a duplicate load, a wait for another loader, ...).
    """

    name = "cache-aside"
    uses_cache = True
    uses_database = True

    @staticmethod
    def commands(d: Done, policy: str, protection: str):
        """(server, Redis counter, count, uncertain): a GET per read, a SET per miss (and per record a
        scan loaded), then by write policy a DEL (two for double-delete) or a SET per write; with
        `versioned` every SET a Lua compare-and-set that GETs the key first. A lock's polls depend on
        timing: with `lock`, Redis is left unchecked (the database's statements still are)."""
        if protection == "lock":
            return
        yield from _reads(d, counted=not d.scans and protection == "none" and policy != "versioned")
        yield "redis", "cmd_get", d.audit_gets, 0
        if policy == "versioned":  # each compare-and-set GETs the key first
            sets = d.misses + d.scan_sets + d.writes + d.inserts
            yield "redis", "cmd_get", sets, d.failed
            if not d.scans:  # (a scan's MGET is a lookup per key, which the clients do not count)
                yield "redis", "lookups", d.misses + d.writes + d.audit_gets + 2 * d.inserts, d.failed
                yield "redis_reader", "lookups", d.hits + d.misses + d.probe_reads, d.failed
            if protection == "none":
                yield "redis", "cmd_scripts", sets, d.failed
        else:
            through = policy == "write-through"
            yield "redis", "cmd_set", d.misses + d.scan_sets + (d.writes + d.inserts if through else 0) + d.probes, d.failed
            yield ("redis", "cmd_del", 0 if through else (d.writes + d.inserts) * (2 if policy == "double-delete" else 1),
                   d.failed)

    def __init__(self, store, cache, ttl: int | None = 300, write_policy: str = "invalidate", later=None,
                 protection: str = "none", loads: stampede.Loads | None = None, ttl_jitter: float = 0.0, rng=None):
        self.store, self.cache, self.ttl = store, cache, ttl
        self.policy = write_policy
        self.write_through = write_policy in ("write-through", "versioned")
        self.versioned = write_policy == "versioned"
        self.later = later  # later(cache_key): the second delete of double-delete
        self.protection, self.loads, self.jitter = protection, loads, ttl_jitter
        self.random = (rng or _random.Random()).random
        self.load_s = 0.001  # how long a load takes (moving average): early refresh's delta
        self.event = None
        self.scan_loaded = 0  # records the last scan loaded from the database and SET
        self.token = b"%016x" % int(self.random() * (1 << 64))  # this user's locks (compare-and-delete)

    def _set(self, cache_key: str, value: bytes) -> None:
        ttl = stampede.ttl_with_jitter(self.ttl, self.jitter, self.random)
        if self.loads is not None:
            self.loads.cached(cache_key, ttl)
        if self.versioned:
            self.cache.set_if_newer(cache_key, value, ttl, self.store.version_of(value)[0])
        else:
            self.cache.set(cache_key, value, ttl)

    def _load(self, key, cache_key: str, early: bool = False):
        duplicate = self.loads.begin(cache_key, early) if self.loads is not None else False
        started = time.perf_counter()
        try:
            value = self.store.read(key)
        finally:
            if self.loads is not None:
                self.loads.end(cache_key)
        self.load_s += 0.2 * (time.perf_counter() - started - self.load_s)
        if duplicate and self.event is None:
            self.event = stampede.DUPLICATE_LOAD
        return value

    def read(self, key):
        self.event = None
        cache_key = self.store.cache_key(key)
        try:
            if self.protection == "early-refresh":
                value, left_ms = self.cache.get_with_ttl(cache_key)
            else:
                value = self.cache.get(cache_key)
                left_ms = None
        except CacheUnavailable:
            return CACHE_ERROR, self.store.read(key)  # degraded: the database serves the read
        if value is not None:
            if left_ms is None or not stampede.refresh_early(left_ms, self.load_s, self.random):
                return HIT, value
            self.event = stampede.EARLY_REFRESH
        lock = None
        try:
            if value is None and self.protection == "lock":
                lock = stampede.lock_key(cache_key)
                if self.cache.set_nx(lock, stampede.LOCK_S, self.token):
                    # another loader may have SET the key and released its lock since our GET
                    value = self.cache.get(cache_key)
                    if value is not None:
                        self.event = stampede.WAITED
                        return MISS, value  # served from the cache: another user loaded it
                else:
                    lock = None
                    value, self.event = stampede.wait_for_loader(self.cache, cache_key)
                    if value is not None:
                        return MISS, value  # served from the cache once another user loaded it
            value = self._load(key, cache_key, early=self.event == stampede.EARLY_REFRESH)
            if value is not None:
                self._set(cache_key, value)
        except CacheUnavailable:
            return CACHE_ERROR, value
        finally:
            if lock is not None:
                try:
                    self.cache.delete_if(lock, self.token)
                except CacheUnavailable:
                    pass  # it expires by itself
        return MISS, value

    def write(self, key):
        return self._after_write(key, self.store.write(key, want_value=self.write_through))

    def insert(self, key):
        """INSERT, then the write policy (a new id was never cached: DEL is cheap insurance; a
        write-through policy SETs the new record)."""
        return self._after_write(key, self.store.insert(key))

    def scan(self, first_last):
        """A scan caches its records, not its result: MGET the range's keys, then load the missing
        ones in one query and SET each with the TTL. Writes invalidate a record wherever scans meet
        it, and a range never goes stale as a whole. A hit: every record was cached."""
        first, last = first_last
        self.scan_loaded = 0
        ids = range(first, last + 1)
        keys = [self.store.cache_key(i) for i in ids]
        try:
            values = self.cache.mget(keys)
        except CacheUnavailable:
            return CACHE_ERROR, self.store.scan(first, last)
        missing = [i for i, v in zip(ids, values) if v is None]
        if not missing:
            return HIT, values
        loaded = self.store.read_many(missing)
        self.scan_loaded = len(loaded)  # records SET below (the server cross-check counts them)
        found = [v if v is not None else loaded.get(i) for i, v in zip(ids, values)]
        try:
            if self.versioned or self.jitter:  # each SET its own compare-and-set or TTL
                for i, v in loaded.items():
                    self._set(self.store.cache_key(i), v)
            elif loaded:
                self.cache.set_many({self.store.cache_key(i): v for i, v in loaded.items()}, self.ttl)
        except CacheUnavailable:
            return CACHE_ERROR, [v for v in found if v is not None]
        return MISS, [v for v in found if v is not None]

    def _after_write(self, key, value):
        cache_key = self.store.cache_key(key)
        try:
            if self.write_through and value is not None:
                self._set(cache_key, value)
            else:
                self.cache.delete(cache_key)
                if self.loads is not None:
                    self.loads.removed(cache_key)
                if self.policy == "double-delete" and self.later is not None:
                    self.later(cache_key)
        except CacheUnavailable:
            return CACHE_ERROR, value  # the database has the write; Redis may now serve a stale value
        return OK, value


class RedisNative:
    """A version of a Redis-native pattern (patterns.py: the rate limiter's lab and atomic): Redis is
    the only store and the pattern brings its own operations; nothing to do here."""

    name = "redis-native"
    uses_cache = True

    def __init__(self, *_args, **_kwargs):
        pass


STRATEGIES = {cls.name: cls for cls in (DbOnly, CacheOnly, CacheAside)}
STRATEGIES.update({name: CacheAside for name in VARIANTS + REGION_VARIANTS})
STRATEGIES.update({"lab": RedisNative, "atomic": RedisNative})


def make(name: str, store, cache, ttl: int, write_policy: str, later=None, protection: str = "none",
         loads=None, ttl_jitter: float = 0.0, rng=None):
    cls = STRATEGIES[name]
    policy = policy_of(name, write_policy)
    if cls is not CacheAside:
        return cls(store, cache, ttl, policy)
    return cls(store, cache, ttl, policy, later, protection_of(name, protection), loads, ttl_jitter, rng)
