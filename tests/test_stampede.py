"""Stampedes on expiry against the real MariaDB and Redis: a hot key expires while many users
read it; duplicate loads are counted, and the lock and early refresh protections work."""

from __future__ import annotations

import json
import random
import re
import threading
import time

from cacheswarm import stampede
from cacheswarm.cache import RedisCache
from cacheswarm.strategies import HIT, MISS, make
from cacheswarm.stores import mysql_products

from cacheswarm.options import parse_mysql_url

from .conftest import REDIS_URL, ROOT, run_locust
from .helpers import PrivateMariaDB
from .test_end_to_end import MYSQL_URL, only_report

KEY = 11
USERS = 8


class HeldStore(mysql_products.MySQLProducts):
    """A database read that is held (a slow query of no fixed length) until `release` is set, counted."""

    def __init__(self, *args):
        super().__init__(*args)
        self.reads = 0
        self.count_lock = threading.Lock()
        self.release = threading.Event()

    def read(self, key, pool=None):
        value = super().read(key, pool)
        with self.count_lock:
            self.reads += 1
        self.release.wait(timeout=30)
        return value


class CountedGets:
    """A user's cache whose GETs of KEY are counted (how the test knows a user is waiting on it)."""

    def __init__(self, cache, key):
        self.cache, self.key, self.gets = cache, key, 0

    def get(self, key):
        if key == self.key:
            self.gets += 1
        return self.cache.get(key)

    def __getattr__(self, name):
        return getattr(self.cache, name)


def _stampede(seeded, pool, strategy):
    """USERS users read KEY right after it expired, the database read held by the test until every
    user is inside it (no protection: USERS loads at once) or every other user is polling for the
    loader's value (the lock): no timing of the machine's decides who got there first.
    [(outcome, event)], database reads, the cached value, whether the lock is left."""
    shared = RedisCache(REDIS_URL)
    store = HeldStore(pool, seeded)
    ck = store.cache_key(KEY)
    shared.client.delete(ck)  # the key just expired
    loads = stampede.Loads()
    caches = [CountedGets(shared.for_user(), ck) for _ in range(USERS)]
    users = [make(strategy, store, caches[i], 300, "invalidate", loads=loads) for i in range(USERS)]
    results = [None] * USERS

    def user(i):
        outcome, value = users[i].read(KEY)
        assert value is not None
        results[i] = (outcome, users[i].event)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(USERS)]
    for t in threads:
        t.start()
    locked = strategy.endswith("+lock")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # every user in the load, or (lock) one loading (its GET and re-check) and the rest polling
        if (not locked and store.reads == USERS) or (locked and store.reads == 1
                                                     and sum(c.gets >= 3 for c in caches) == USERS - 1):
            break
        time.sleep(0.005)
    store.release.set()
    for t in threads:
        t.join(timeout=30)
    cached = shared.client.get(ck)
    lock_left = shared.client.exists(stampede.lock_key(ck))
    for c in caches:
        c.close()
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


def _log_loads(db, namespace: str, phases: list[dict]) -> dict:
    """{phase key: [(epoch s, product id)]} of the product reads MariaDB's general log saw in each phase."""
    table = mysql_products.table_name(namespace)
    rows = db.sql("SELECT UNIX_TIMESTAMP(event_time), CONVERT(argument USING utf8mb4) FROM mysql.general_log "
                  f"WHERE command_type = 'Query' AND argument LIKE 'SELECT id, %% FROM `{table}` WHERE id=%%' "
                  "ORDER BY event_time")
    out = {}
    for p in phases:
        key = f'{p["dataset"]}/{p["backend"]}/{p["strategy"]}'
        out[key] = [(float(t), int(re.search(r"WHERE id=(\d+)$", q).group(1))) for t, q in rows
                    if p["started"] <= float(t) <= p["ended"]]
    return out


def _reloads_within_ttl(loads, ttl_s: float) -> int:
    """Loads of a key less than its TTL after the previous load of that key (the log's duplicates)."""
    last, n = {}, 0
    for t, key in loads:
        if key in last and t - last[key] < ttl_s:
            n += 1
        last[key] = t
    return n


def test_the_stampede_scenario_counts_duplicates_as_the_database_log_does(tmp_path):
    """scenarios/stampede.conf, shortened, on a private MariaDB with its general log on: each
    protection is a phase; the duplicate loads reported equal the reloads of a key within its TTL
    that the database's own log shows, and with the lock there are none."""
    db = PrivateMariaDB(tmp_path, "--general-log=1", "--log-output=TABLE", "--max-connections=500")
    try:
        namespace = "cswstampede"
        mysql_products.seed(parse_mysql_url(db.url), namespace, 200)
        db.sql("TRUNCATE mysql.general_log")
        out = run_locust(["--config", str(ROOT / "scenarios" / "stampede.conf"), "--namespace", namespace,
                          "--mysql-url", db.url, "--redis-url", REDIS_URL, "--dataset", "products",
                          "--phase-time", "4s", "--warmup", "0s", "-u", "16", "-r", "16", "--staleness-sample", "0",
                          "--report-dir", str(tmp_path / "r")], cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
        logged = _log_loads(db, namespace, doc["phases"])
    finally:
        RedisCache(REDIS_URL).clear("cswstampede")
        db.stop()
    views = {v["protection"]: v for v in doc["stampede"]}
    assert set(views) == {"none", "lock", "early-refresh"}
    for v in views.values():
        assert v["misses"] > 0 and v["misses_per_s_peak"] >= v["misses_per_s_mean"] > 0, v
    for protection in ("none", "lock"):
        v, loads = views[protection], logged[views[protection]["phase"]]
        print(protection, "log:", len(loads), "loads,", _reloads_within_ttl(loads, 1.0), "reloads within TTL; report:",
              v["database_loads"], "loads,", v["duplicate_loads"], "duplicates,", v["lock_timeouts"], "lock timeouts")
        # operations in flight when a phase ends are on the server, not in the report: at most a few
        assert abs(len(loads) - v["database_loads"]) <= 3, (protection, len(loads), v)
        assert abs(_reloads_within_ttl(loads, 1.0) - v["duplicate_loads"]) <= 3, (protection, v)
    assert views["none"]["duplicate_loads"] > 0
    assert views["lock"]["duplicate_loads"] == 0 and _reloads_within_ttl(logged[views["lock"]["phase"]], 1.0) == 0
    assert views["lock"]["database_loads"] == views["lock"]["misses"] - views["lock"]["waited"]
    assert views["none"]["waited"] == 0 and views["none"]["early_refreshes"] == 0
    assert "Stampedes on expiry" in (only_report(tmp_path / "r") / "comparison.html").read_text()


def test_a_loader_releases_only_its_own_lock(seeded, pool, raw_redis):
    """The lock is released by compare-and-delete of the loader's token: a loader whose lock
    expired (and was taken by another) leaves the other's lock in place."""
    shared = RedisCache(REDIS_URL)
    cache = shared.for_user()
    lock = stampede.lock_key(mysql_products.MySQLProducts(pool, seeded).cache_key(KEY))
    assert cache.set_nx(lock, 5, b"theirs")
    assert not cache.delete_if(lock, b"mine") and raw_redis.get(lock) == b"theirs"
    assert cache.delete_if(lock, b"theirs") and not raw_redis.exists(lock)
    cache.close()
    shared.close()
