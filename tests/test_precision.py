"""Sub-millisecond operations are recorded in microseconds, not rounded to 0 like Locust's stats."""

import statistics
import time

import redis

from cacheswarm.phases import PhaseClock
from cacheswarm.recorder import Recorder, series_key
from cacheswarm.runtime import Runtime
from cacheswarm.options import settings_from

from .conftest import REDIS_URL
from .test_end_to_end import locust_like_options


def test_redis_hit_p50_is_sub_millisecond_and_matches_a_bare_loop(seeded, cache):
    settings = settings_from(locust_like_options(seeded, strategies="cache-only", read_ratio=1.0,
                                                 key_distribution="uniform", warmup="0"))
    rt = Runtime(settings)
    keyspace = rt.preflight()["products"]
    store = rt.stores[("products", "mysql")]
    cache.bulk_load(store.iter_values(keyspace), None)
    fired = []
    recorder = Recorder()
    loop = rt.loop("products/mysql/cache-only", PhaseClock(0).measure_from("p"), lambda *a: fired.append(a[2]),
                   recorder)
    key = store.cache_key(1)
    bare_client = redis.Redis.from_url(REDIS_URL, single_connection_client=True)  # same connection model
    bare = []
    for _ in range(4):  # interleave so both see the same machine state
        for _ in range(500):
            loop.step()
        for _ in range(500):
            t0 = time.perf_counter_ns()
            bare_client.get(key)
            bare.append((time.perf_counter_ns() - t0) / 1000)
    h = recorder.histograms[series_key("products", "mysql", "cache-only", "read", "hit")]
    assert h.get_total_count() == 2000 == len(fired)
    p50_ms = h.get_value_at_percentile(50) / 1000
    assert 0.005 < p50_ms < 1.0, p50_ms  # well above 0, below 1 ms
    bare_ms = statistics.median(bare) / 1000
    assert abs(p50_ms - bare_ms) / bare_ms < 0.2, (p50_ms, bare_ms)
    # what Locust is told carries the same microseconds (as float ms), not a rounded 0
    assert statistics.median(fired) == pytest_approx(p50_ms)
    loop.close()
    rt.close()


def pytest_approx(value):
    import pytest

    return pytest.approx(value, rel=0.05)
