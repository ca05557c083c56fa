"""Bare open-loop gevent + redis-py GET loop: service time at a fixed rate with no instrumentation.

    python bench/bare_open_loop.py RATE SECONDS KEYS NAMESPACE [REDIS_URL [GREENLETS]]
        -> prints service p50, service p99 and start-delay p99, in µs, and the share of starts over 1 ms late

GREENLETS greenlets (default 1), each with its own connection, each a GET every GREENLETS/RATE s
(sleep to 1 ms before, then spin on gevent.idle, as cacheswarm's open-loop users do): the
reference cacheswarm's open-loop service times and start delays are held to on the same machine.
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
greenlets = int(sys.argv[6]) if len(sys.argv) > 6 else 1
interval = int(1e9 * greenlets / rate)
samples, delays = [], []
begin = time.perf_counter_ns() + 1_000_000_000  # 1 s warm-up


def user(offset: int) -> None:
    client = redis.Redis.from_url(url, single_connection_client=True)
    intended = begin + offset
    stop_at = begin + int(seconds * 1e9)
    while intended < stop_at:
        wait = intended - time.perf_counter_ns()
        if wait > 1_000_000:
            time.sleep((wait - 1_000_000) / 1e9)
        while time.perf_counter_ns() < intended:
            gevent.idle()
        t0 = time.perf_counter_ns()
        client.get(f"{namespace}:product:{random.randrange(keys) + 1}")
        samples.append((time.perf_counter_ns() - t0) // 1000)
        delays.append((t0 - intended) // 1000)
        intended += interval


gevent.joinall([gevent.spawn(user, i * interval // greenlets) for i in range(greenlets)])
samples.sort()
delays.sort()
late = sum(1 for d in delays if d > 1000) / len(delays)
print(samples[len(samples) // 2], samples[int(len(samples) * 0.99)], delays[int(len(delays) * 0.99)], f"{late:.4f}")
