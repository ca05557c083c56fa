"""The staleness audit and the invalidation race, made to happen on purpose against the real
MariaDB and Redis, and the write policies that remedy it."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from cacheswarm import staleness
from cacheswarm.cache import RedisCache
from cacheswarm.recorder import MEASURED, Recorder
from cacheswarm.strategies import HIT, MISS, make
from cacheswarm.stores import mysql_products, mysql_restaurants

from .conftest import REDIS_URL, run_locust
from .test_end_to_end import MYSQL_URL, only_report

KEY = 7


class RacingStore(mysql_products.MySQLProducts):
    """A store whose next read runs `hook` between its SELECT and its return: the reader holds the
    old row while a whole write (UPDATE, then DEL or SET) happens."""

    hook = None

    def read(self, key, pool=None):
        value = super().read(key, pool)
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return value


def _auditor(store, cache, recorder, confirm_after=staleness.RACE_CONFIRM_S):
    series = {(o, w): f"{o}|{w}" for o in staleness.OUTCOMES for w in (MEASURED,)}
    return staleness.Auditor(store, cache, 1.0, random.Random(1), recorder.record, series,
                             confirm_after=confirm_after)


def _count(recorder, outcome) -> int:
    recorder.flush()
    h = recorder.histograms.get(f"{outcome}|{MEASURED}")
    return h.get_total_count() if h is not None else 0


def _later_in_thread(delay):
    def later(cache_key):
        threading.Timer(delay, lambda: RedisCache(REDIS_URL).delete_quietly(cache_key)).start()
    return later


@pytest.mark.parametrize("strategy,races", [("cache-aside", 1), ("cache-aside+write-through", 1),
                                            ("cache-aside+versioned", 0), ("cache-aside+double-delete", 0)])
def test_the_invalidation_race_is_counted_and_the_remedies_prevent_it(seeded, pool, strategy, races):
    ns = seeded
    shared = RedisCache(REDIS_URL)
    reader_cache, writer_cache = shared.for_user(), shared.for_user()
    store = RacingStore(pool, ns)
    delay = 0.2
    writer = make(strategy, mysql_products.MySQLProducts(pool, ns), writer_cache, 300, "invalidate",
                  _later_in_thread(delay))
    reader = make(strategy, store, reader_cache, 300, "invalidate", _later_in_thread(delay))
    store.hook = lambda: writer.write(KEY)  # the write lands while the miss holds the old row
    outcome, value = reader.read(KEY)
    assert outcome == MISS
    loaded = mysql_products.products.version_of(value)[0]
    recorder = Recorder()
    audit = _auditor(store, reader_cache, recorder, confirm_after=delay + 0.1 if "double" in strategy else 0.01)
    audit.after_read(KEY, outcome, value, MEASURED, time.time())
    assert _count(recorder, staleness.MISS_CHECKED) == 1
    assert _count(recorder, staleness.RACE) == races, strategy
    cached = shared.client.get(store.cache_key(KEY))
    if races:  # the old value is really there, with the TTL the miss gave it
        assert mysql_products.products.version_of(cached)[0] == loaded
        assert 290_000_000 < recorder.histograms[f"{staleness.RACE}|{MEASURED}"].get_max_value() <= 301_000_000
    else:  # the newer value won (versioned) or the key is gone (double-delete's second DEL)
        assert cached is None or mysql_products.products.version_of(cached)[0] > loaded
    shared.close()


def test_a_stale_hit_is_counted_with_its_age(seeded, pool, raw_redis):
    """The cache holds version 0; the database was updated 2 s before the read, without invalidating."""
    ns = seeded
    store = mysql_products.MySQLProducts(pool, ns)
    cache = RedisCache(REDIS_URL)
    strategy = make("cache-aside", store, cache.for_user(), 300, "invalidate")
    assert strategy.read(KEY)[0] == MISS
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE `{store.table}` SET version = version + 1, "
                    "updated_at = UTC_TIMESTAMP(6) - INTERVAL 2 SECOND WHERE id = %s", (KEY,))
    outcome, value = strategy.read(KEY)
    assert outcome == HIT
    recorder = Recorder()
    audit = _auditor(store, cache.for_user(), recorder)
    audit.after_read(KEY, outcome, value, MEASURED, time.time())
    assert _count(recorder, staleness.STALE) == 1 and _count(recorder, staleness.FRESH) == 0
    age_ms = recorder.histograms[f"{staleness.STALE}|{MEASURED}"].get_max_value() / 1000
    assert 1990 < age_ms < 2500, age_ms
    # a fresh hit (the cache refreshed) counts as fresh
    raw_redis.delete(store.cache_key(KEY))
    strategy.read(KEY)
    outcome, value = strategy.read(KEY)
    audit.after_read(KEY, outcome, value, MEASURED, time.time())
    assert _count(recorder, staleness.FRESH) == 1 and _count(recorder, staleness.STALE) == 1
    cache.close()


def test_a_write_during_the_audit_is_not_a_stale_read(seeded, pool):
    """The database moved after the cache answered: the read was not stale."""
    ns = seeded
    store = mysql_products.MySQLProducts(pool, ns)
    cache = RedisCache(REDIS_URL)
    strategy = make("cache-aside", store, cache.for_user(), 300, "invalidate")
    strategy.read(KEY)
    outcome, value = strategy.read(KEY)
    read_at = time.time()
    time.sleep(0.01)
    with pool.connection() as conn, conn.cursor() as cur:  # a write after the read, not invalidated yet
        cur.execute(f"UPDATE `{store.table}` SET version = version + 1, updated_at = UTC_TIMESTAMP(6) WHERE id = %s",
                    (KEY,))
    recorder = Recorder()
    _auditor(store, cache.for_user(), recorder).after_read(KEY, outcome, value, MEASURED, read_at)
    assert _count(recorder, staleness.FRESH) == 1 and _count(recorder, staleness.STALE) == 0
    cache.close()


def test_restaurant_summaries_carry_a_version(namespace, target, pool):
    """Every review bumps one star counter: their sum is the summary's version."""
    mysql_restaurants.seed(target, namespace, 3, 4)
    store = mysql_restaurants.MySQLRestaurants(pool, namespace)
    before, written_before = store.version_of(store.read(2))
    assert before == 4
    value = store.write(2, want_value=True)
    after, written = store.version_of(value)
    assert after == 5 and abs(written - time.time()) < 5 and written > written_before


def test_a_run_reports_staleness_per_write_policy(seeded, tmp_path):
    """Remedies side by side in one run: each cache-aside variant is its own phase with its audit."""
    out = run_locust(["--headless", "-u", "8", "-r", "8", "--namespace", seeded, "--mysql-url", MYSQL_URL,
                      "--redis-url", REDIS_URL, "--phase-time", "3s", "--warmup", "1s",
                      "--report-dir", str(tmp_path / "r"), "--only-summary", "--keyspace", "20",
                      "--read-ratio", "0.5", "--staleness-sample", "1", "--double-delete-delay", "0.1",
                      "--strategies", "db-only,cache-aside,cache-aside+versioned,cache-aside+double-delete"],
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    views = {v["phase"]: v for v in doc["staleness"]}
    assert set(views) == {f"products/mysql/{s}" for s in ("cache-aside", "cache-aside+versioned",
                                                           "cache-aside+double-delete")}
    assert [views[f"products/mysql/{s}"]["write_policy"] for s in ("cache-aside", "cache-aside+versioned",
                                                                      "cache-aside+double-delete")] == \
        ["invalidate", "versioned", "double-delete"]
    for v in views.values():
        assert v["audited_hits"] > 0 and v["audit_errors"] == 0, v
        assert v["stale_rate"] is not None and 0 <= v["stale_rate"] < 1
    assert views["products/mysql/cache-aside"]["misses_checked"] > 0
    # every variant has its rows and summary line; Locust keeps them apart by name
    phases = {s["phase"] for s in doc["summary"]}
    assert "products/mysql/cache-aside+double-delete" in phases
    html = (report / "comparison.html").read_text()
    assert "Stale reads and invalidation races" in html and "double-delete" in html
    # a race's "stale for" is the TTL left when it was found: the next write may remove it sooner
    assert "stale for up to (p50) ms" in html
    assert all(v["race_stale_for_is_upper_bound"] is True for v in views.values())
