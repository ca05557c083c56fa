"""Bare open-loop gevent + redis-py GET loop: service time at a fixed rate with no instrumentation.

    python bench/bare_open_loop.py RATE SECONDS KEYS NAMESPACE [REDIS_URL]   -> prints service p50 and p99 in µs

One greenlet, one connection, a GET every 1/RATE s (sleep to 1 ms before, then spin on gevent.idle,
as cacheswarm's open-loop users do); the reference cacheswarm's open-loop service times are held to.
"""

from gevent import monkey

monkey.patch_all()

import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402

rate, seconds, keys, namespace = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
url = sys.argv[5] if len(sys.argv) > 5 else "redis://127.0.0.1:6379/0"
client = redis.Redis.from_url(url, single_connection_client=True)
interval = int(1e9 / rate)
samples = []
intended = time.perf_counter_ns() + 1_000_000_000  # 1 s warm-up
stop_at = intended + int(seconds * 1e9)
while intended < stop_at:
    wait = intended - time.perf_counter_ns()
    if wait > 1_000_000:
        time.sleep((wait - 1_000_000) / 1e9)
    while time.perf_counter_ns() < intended:
        gevent.idle()
    t0 = time.perf_counter_ns()
    client.get(f"{namespace}:product:{random.randrange(keys) + 1}")
    samples.append((time.perf_counter_ns() - t0) // 1000)
    intended += interval
samples.sort()
print(samples[len(samples) // 2], samples[int(len(samples) * 0.99)])
