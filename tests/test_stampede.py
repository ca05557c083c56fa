"""Stampedes on expiry against the real MariaDB and Redis: a hot key expires while many users
read it; duplicate loads are counted, and the lock and early refresh protections work."""

from __future__ import annotations

import json
import random
import threading
import time

from cacheswarm import stampede
from cacheswarm.cache import RedisCache
from cacheswarm.strategies import HIT, MISS, make
from cacheswarm.stores import mysql_products

from .conftest import REDIS_URL, ROOT, run_locust
from .test_end_to_end import MYSQL_URL, only_report

KEY = 11
USERS = 8


class SlowStore(mysql_products.MySQLProducts):
    """A database read that takes 50 ms (a slow query), counted."""

    def __init__(self, *args):
        super().__init__(*args)
        self.reads = 0
        self.count_lock = threading.Lock()

    def read(self, key, pool=None):
        value = super().read(key, pool)
        with self.count_lock:
            self.reads += 1
        time.sleep(0.05)
        return value


def _stampede(seeded, pool, strategy):
    """USERS users read KEY at once right after it expired: [(outcome, event)], database reads."""
    shared = RedisCache(REDIS_URL)
    store = SlowStore(pool, seeded)
    shared.client.delete(store.cache_key(KEY))  # the key just expired
    loads = stampede.Loads()
    users = [make(strategy, store, shared.for_user(), 300, "invalidate", loads=loads) for _ in range(USERS)]
    start = threading.Barrier(USERS)
    results = [None] * USERS

    def user(i):
        start.wait()
        outcome, value = users[i].read(KEY)
        assert value is not None
        results[i] = (outcome, users[i].event)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(USERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    cached = shared.client.get(store.cache_key(KEY))
    lock_left = shared.client.exists(stampede.lock_key(store.cache_key(KEY)))
    shared.close()
    return results, store.reads, cached, lock_left


def test_without_protection_every_concurrent_miss_loads_and_is_counted_a_duplicate(seeded, pool):
    results, reads, cached, _ = _stampede(seeded, pool, "cache-aside")
    assert reads == USERS
    assert [o for o, _ in results] == [MISS] * USERS
    assert sum(e == stampede.DUPLICATE_LOAD for _, e in results) == USERS - 1
    assert cached is not None


def test_the_lock_lets_one_user_load_and_the_others_wait_for_its_value(seeded, pool):
    results, reads, cached, lock_left = _stampede(seeded, pool, "cache-aside+lock")
    assert reads == 1
    assert sum(e == stampede.WAITED for _, e in results) == USERS - 1
    assert not any(e == stampede.DUPLICATE_LOAD for _, e in results)
    assert cached is not None and not lock_left  # the loader released the lock


def test_early_refresh_reloads_a_key_about_to_expire_and_leaves_a_fresh_one(seeded, pool, raw_redis):
    cache = RedisCache(REDIS_URL)
    store = mysql_products.MySQLProducts(pool, seeded)
    ck = store.cache_key(KEY)
    strategy = make("cache-aside+early-refresh", store, cache.for_user(), 300, "invalidate", rng=random.Random(3))
    strategy.load_s = 1.0  # a load takes a second: a key with 0.5 s left is refreshed with p = 0.61 per read
    raw_redis.set(ck, store.read(KEY), px=500)
    outcomes = []
    for _ in range(20):
        outcome, _value = strategy.read(KEY)
        outcomes.append((outcome, strategy.event))
        if strategy.event == stampede.EARLY_REFRESH:
            break
    assert (MISS, stampede.EARLY_REFRESH) in outcomes
    assert raw_redis.pttl(ck) > 290_000  # refreshed with the full TTL
    # a key with its whole TTL left is never refreshed early (p = e^-300 per read)
    assert all(strategy.read(KEY) == (HIT, raw_redis.get(ck)) and strategy.event is None for _ in range(50))
    cache.close()


def test_ttl_jitter_spreads_expiries(seeded, pool, raw_redis):
    cache = RedisCache(REDIS_URL)
    store = mysql_products.MySQLProducts(pool, seeded)
    strategy = make("cache-aside", store, cache.for_user(), 100, "invalidate", ttl_jitter=0.5, rng=random.Random(5))
    ttls = []
    for key in range(1, 41):
        strategy.read(key)
        ttls.append(raw_redis.pttl(store.cache_key(key)))
    assert 99_000 < min(ttls) and max(ttls) <= 150_000
    assert max(ttls) - min(ttls) > 30_000  # spread over most of the 50 s of jitter
    cache.close()


def test_the_stampede_scenario_compares_protections_in_one_run(seeded, tmp_path):
    """scenarios/stampede.conf, shortened: each protection is a phase; the lock never loads a key twice at once."""
    out = run_locust(["--config", str(ROOT / "scenarios" / "stampede.conf"), "--namespace", seeded,
                      "--mysql-url", MYSQL_URL, "--redis-url", REDIS_URL, "--dataset", "products",
                      "--phase-time", "4s", "--warmup", "1s", "-u", "16", "-r", "16",
                      "--report-dir", str(tmp_path / "r")], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    views = {v["protection"]: v for v in doc["stampede"]}
    assert set(views) == {"none", "lock", "early-refresh"}
    for v in views.values():
        assert v["misses"] > 0 and v["misses_per_s_peak"] >= v["misses_per_s_mean"] > 0, v
    assert views["lock"]["duplicate_loads"] == 0
    assert views["lock"]["database_loads"] == views["lock"]["misses"] - views["lock"]["waited"]
    assert views["none"]["waited"] == 0 and views["none"]["early_refreshes"] == 0
    assert "Stampedes on expiry" in (only_report(tmp_path / "r") / "comparison.html").read_text()
