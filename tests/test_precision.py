"""Sub-millisecond operations are recorded in microseconds, not rounded to 0 like Locust's stats."""

import statistics

from cacheswarm.phases import PhaseClock
from cacheswarm.recorder import Recorder, series_key
from cacheswarm.runtime import Runtime
from cacheswarm.options import settings_from

from .test_end_to_end import locust_like_options


def test_redis_hit_is_recorded_in_microseconds_not_rounded(seeded, cache):
    """Precision, not speed (the speed comparison with a bare loop is bench P1): a sub-millisecond
    hit is recorded as the microseconds it took, the same value Locust is told, never 0 or 1 ms."""
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
    for _ in range(2000):
        loop.step()
    h = recorder.histograms[series_key("products", "mysql", "cache-only", "read", "hit")]
    assert h.get_total_count() == 2000 == len(fired)
    p50_ms = h.get_value_at_percentile(50) / 1000
    assert 0.005 < p50_ms < 1.0, p50_ms  # well above 0, below 1 ms
    assert len({round(v, 3) for v in fired}) > 20  # microsecond values, not a handful of whole ms
    # what Locust is told carries the same microseconds (as float ms), not a rounded 0
    assert statistics.median(fired) == pytest_approx(p50_ms)
    loop.close()
    rt.close()


def pytest_approx(value):
    import pytest

    return pytest.approx(value, rel=0.05)
