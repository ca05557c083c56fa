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

    Writes go to the database, then invalidate (DEL) or write-through (SET the new value).
    """

    name = "cache-aside"
    uses_cache = True

    def __init__(self, store, cache, ttl: int | None = 300, write_policy: str = "invalidate"):
        self.store, self.cache, self.ttl = store, cache, ttl
        self.write_through = write_policy == "write-through"

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
                self.cache.set(cache_key, value, self.ttl)
            except CacheUnavailable:
                return CACHE_ERROR, value
        return MISS, value

    def write(self, key):
        value = self.store.write(key, want_value=self.write_through)
        cache_key = self.store.cache_key(key)
        try:
            if self.write_through and value is not None:
                self.cache.set(cache_key, value, self.ttl)
            else:
                self.cache.delete(cache_key)
        except CacheUnavailable:
            return CACHE_ERROR, value  # the database has the write; Redis may now serve a stale value
        return OK, value


STRATEGIES = {cls.name: cls for cls in (DbOnly, CacheOnly, CacheAside)}


def make(name: str, store, cache, ttl: int, write_policy: str):
    return STRATEGIES[name](store, cache, ttl, write_policy)
