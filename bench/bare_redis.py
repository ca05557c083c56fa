"""Bare gevent + redis-py GET loop: the ceiling one Python process reaches with no instrumentation.

    python bench/bare_redis.py pool|single USERS SECONDS KEYS NAMESPACE [REDIS_URL]   -> prints ops/s

pool: every greenlet shares one BlockingConnectionPool (the usual redis-py pattern);
single: each greenlet has a connection of its own (what cacheswarm users do).
"""

from gevent import monkey

monkey.patch_all()

import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402

mode, users, seconds, keys, namespace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
url = sys.argv[6] if len(sys.argv) > 6 else "redis://127.0.0.1:6379/0"
shared = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(url, max_connections=64))
counts = [0] * users
measure_from = time.perf_counter() + 1.0  # 1 s warm-up
stop_at = measure_from + seconds


def user(i):
    client = shared if mode == "pool" else redis.Redis.from_url(url, single_connection_client=True)
    randrange, get = random.randrange, client.get
    while True:
        get(f"{namespace}:product:{randrange(keys) + 1}")
        now = time.perf_counter()
        if now >= stop_at:
            return
        if now >= measure_from:
            counts[i] += 1


gevent.joinall([gevent.spawn(user, i) for i in range(users)])
print(f"{sum(counts) / seconds:.1f}")
