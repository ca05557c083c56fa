"""Strategy semantics on the real MariaDB and Redis."""

import json

import pytest

from cacheswarm import strategies
from cacheswarm.stores.mysql_products import MySQLProducts


@pytest.fixture
def store(seeded, pool):
    return MySQLProducts(pool, seeded)


def version_in_db(store, key):
    with store.pool.connection() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT version, price FROM `{store.table}` WHERE id=%s", (key,))
        return cur.fetchone()


def test_cache_aside_miss_then_hit_with_ttl(store, cache, raw_redis):
    s = strategies.make("cache-aside", store, cache, 120, "invalidate")
    outcome, first = s.read(7)
    assert outcome == "miss"
    assert json.loads(first)["id"] == 7
    assert raw_redis.get(store.cache_key(7)) == first
    assert 110 < raw_redis.ttl(store.cache_key(7)) <= 120
    outcome, second = s.read(7)
    assert (outcome, second) == ("hit", first)


def test_invalidate_deletes_and_next_read_misses_with_new_row(store, cache, raw_redis):
    s = strategies.make("cache-aside", store, cache, 300, "invalidate")
    _, before = s.read(11)
    assert s.read(11)[0] == "hit"
    s.write(11)
    assert raw_redis.exists(store.cache_key(11)) == 0
    outcome, after = s.read(11)
    assert outcome == "miss"
    assert json.loads(after)["version"] == json.loads(before)["version"] + 1
    assert json.loads(after)["version"] == version_in_db(store, 11)[0]


def test_write_through_leaves_the_new_value_in_redis(store, cache, raw_redis):
    s = strategies.make("cache-aside", store, cache, 300, "write-through")
    s.read(12)
    outcome, value = s.write(12)
    assert outcome == "ok"
    cached = raw_redis.get(store.cache_key(12))
    assert cached == value
    version, price = version_in_db(store, 12)
    assert json.loads(cached)["version"] == version == 1
    assert json.loads(cached)["price"] == str(price)
    assert 290 < raw_redis.ttl(store.cache_key(12)) <= 300
    assert s.read(12) == ("hit", cached)


def test_db_only_never_touches_redis(store, cache, raw_redis):
    s = strategies.make("db-only", store, cache, 300, "invalidate")
    outcome, value = s.read(5)
    assert outcome == "ok" and json.loads(value)["id"] == 5
    s.write(5)
    assert version_in_db(store, 5)[0] == 1
    assert raw_redis.exists(store.cache_key(5)) == 0


def test_cache_only_reads_and_writes_redis_only(store, cache, raw_redis):
    s = strategies.make("cache-only", store, cache, 300, "invalidate")
    assert s.read(3) == ("miss", None)
    outcome, value = s.write(3)
    assert raw_redis.get(store.cache_key(3)) == value
    assert raw_redis.ttl(store.cache_key(3)) == -1  # cache-only keys do not expire
    assert s.read(3) == ("hit", value)
    assert version_in_db(store, 3)[0] == 0  # the database was not written


def test_bulk_load_and_clear_stay_in_the_namespace(store, cache, raw_redis, namespace):
    foreign = f"not{namespace}:product:1"
    raw_redis.set(foreign, b"keep me")
    try:
        loaded = cache.bulk_load(store.iter_values(1000, batch=300), None)
        assert loaded == 1000
        assert raw_redis.get(store.cache_key(1000)) == store.read(1000)
        assert cache.clear(namespace) == 1000
        assert raw_redis.get(foreign) == b"keep me"
    finally:
        raw_redis.delete(foreign)
