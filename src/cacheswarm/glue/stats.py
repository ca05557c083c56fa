"""Locust's own stats, fed in batches: a user's operation loop keeps each request name's successes
(their response times and bytes, in oploop's slots) and hands them here once per task (glue's
OPS_PER_TASK operations) and when it stops.

Firing Locust's `request` event per operation cost more instructions than the rest of our
recording path (the event's dispatch, then StatsEntry.log twice: the name's entry and the total,
each reading the clock). At the flush each name's entry and the total take the batch's count,
response-time sum, min, max, content length, rounded response times (Locust's own
bucket_response_time) and requests of the second, exactly what as many log() calls would have left,
so Locust's UI, CSV, HTML and the workers' reports to the master count every operation. A failure
still fires the `request` event at once (with its exception: Locust's failures table and any
listener see it). Successes reach Locust's stats only, not other `request` listeners.
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import repeat
from operator import truediv

from locust import stats as locust_stats

LOCUST_BUCKET = locust_stats.bucket_response_time  # Locust's own: below 100 ms, round(ms)


class StatsBatch:
    def __init__(self, environment):
        self.environment = environment
        self.pending: dict = {}  # (method, name) -> [[µs ...], content length]

    def add(self, method: str, name: str, ms: float, length: int, exc) -> None:
        """One operation (oploop's `fire`): added to the batch, or, failed, sent to Locust now."""
        if exc is not None:
            self.environment.events.request.fire(request_type=method, name=name, response_time=ms,
                                                 response_length=length, exception=exc, context={})
            return
        self.take(method, name, [round(ms * 1000)], length)

    def take(self, method: str, name: str, us: list, length: int) -> None:
        """Successful operations of one name: their response times (µs) and bytes (oploop's slots)."""
        p = self.pending.get((method, name))
        if p is None:
            self.pending[(method, name)] = [list(us), length]
        else:
            p[0].extend(us)
            p[1] += length

    def flush(self) -> None:
        """Hand the batch to Locust's stats (the entry of each name, and the total)."""
        if not self.pending:
            return
        stats = self.environment.stats
        if stats is None:  # no runner (a bare Environment): nothing counts requests
            self.pending = {}
            return
        now = time.time()
        second = int(now)
        total = stats.total
        for (method, name), (us, length) in self.pending.items():
            values = list(map(truediv, us, repeat(1000.0)))  # Locust's response times are float ms
            n, sum_ms, low, high = len(values), sum(values), min(values), max(values)
            # Locust's bucketing (a user may replace it: looked up now), counted in C; its own is round()
            # below 100 ms
            bucket = locust_stats.bucket_response_time
            buckets = Counter(map(round if bucket is LOCUST_BUCKET and high < 100 else bucket, values))
            for entry in (total, stats.get(name, method)):
                if entry.use_response_times_cache and entry.last_request_timestamp and \
                        second > int(entry.last_request_timestamp):
                    entry._cache_response_times(second - 1)  # as log() does when a new second begins
                entry.num_requests += n
                entry.num_reqs_per_sec[second] += n
                entry.last_request_timestamp = now
                entry.total_response_time += sum_ms
                entry.min_response_time = low if entry.min_response_time is None else min(entry.min_response_time,
                                                                                            low)
                entry.max_response_time = max(entry.max_response_time, high)
                times = entry.response_times
                for b, c in buckets.items():
                    times[b] += c
                entry.total_content_length += length
        self.pending = {}
