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

from .cache import CacheUnavailable
from .options import WRITE_POLICIES

OK, HIT, MISS, ERROR, CACHE_ERROR, THROTTLED = "ok", "hit", "miss", "error", "cache_error", "throttled"


class DbOnly:
    name = "db-only"
    uses_cache = False

    def __init__(self, store, cache=None, ttl: int | None = None, write_policy: str = "invalidate"):
        self.store = store

    def read(self, key):
        return OK, self.store.read(key)

    def write(self, key):
        return OK, self.store.write(key)


class CacheOnly:
    """Reads and writes go to Redis only: the ceiling. Keys never expire here."""

    name = "cache-only"
    uses_cache = True

    def __init__(self, store, cache, ttl: int | None = None, write_policy: str = "invalidate"):
        self.store, self.cache = store, cache

    def read(self, key):
        value = self.cache.get(self.store.cache_key(key))
        return (MISS if value is None else HIT), value

    def write(self, key):
        value = self.store.fresh_value(key)
        self.cache.set(self.store.cache_key(key), value, None)
        return OK, value


class CacheAside:
    """Lazy loading: GET; on a miss read the database and SET with a TTL.

    Writes go to the database, then by write policy: `invalidate` DEL; `write-through` SET the new
    value; `versioned` SET the new value, and every SET (a miss's too) is a compare-and-set that
    never replaces a newer version (Lua); `double-delete` DEL, then DEL again `later` (a miss that
    read the old row before the write and SET it after the first DEL is removed by the second).
    """

    name = "cache-aside"
    uses_cache = True

    def __init__(self, store, cache, ttl: int | None = 300, write_policy: str = "invalidate", later=None):
        self.store, self.cache, self.ttl = store, cache, ttl
        self.policy = write_policy
        self.write_through = write_policy in ("write-through", "versioned")
        self.versioned = write_policy == "versioned"
        self.later = later  # later(cache_key): the second delete of double-delete

    def _set(self, cache_key: str, value: bytes) -> None:
        if self.versioned:
            self.cache.set_if_newer(cache_key, value, self.ttl, self.store.version_of(value)[0])
        else:
            self.cache.set(cache_key, value, self.ttl)

    def read(self, key):
        cache_key = self.store.cache_key(key)
        try:
            value = self.cache.get(cache_key)
        except CacheUnavailable:
            return CACHE_ERROR, self.store.read(key)  # degraded: the database serves the read
        if value is not None:
            return HIT, value
        value = self.store.read(key)
        if value is not None:
            try:
                self._set(cache_key, value)
            except CacheUnavailable:
                return CACHE_ERROR, value
        return MISS, value

    def write(self, key):
        value = self.store.write(key, want_value=self.write_through)
        cache_key = self.store.cache_key(key)
        try:
            if self.write_through and value is not None:
                self._set(cache_key, value)
            else:
                self.cache.delete(cache_key)
                if self.policy == "double-delete" and self.later is not None:
                    self.later(cache_key)
        except CacheUnavailable:
            return CACHE_ERROR, value  # the database has the write; Redis may now serve a stale value
        return OK, value


VARIANT_SEP = "+"  # cache-aside+versioned: cache-aside with that write policy, a phase of its own
STRATEGIES = {cls.name: cls for cls in (DbOnly, CacheOnly, CacheAside)}
STRATEGIES.update({f"{CacheAside.name}{VARIANT_SEP}{p}": CacheAside for p in WRITE_POLICIES})


def policy_of(name: str, default: str) -> str:
    """The write policy a strategy runs with: its variant's, else --write-policy."""
    return name.partition(VARIANT_SEP)[2] or default


def make(name: str, store, cache, ttl: int, write_policy: str, later=None):
    cls = STRATEGIES[name]
    policy = policy_of(name, write_policy)
    return cls(store, cache, ttl, policy, later) if cls is CacheAside else cls(store, cache, ttl, policy)
