"""Per-process runtime: connections, the per-phase operation loop and cache preparation.

Plain Python (no Locust import): the glue hands in a `fire` callback that reports each
operation to Locust. One Runtime per process, shared by all its users.
"""

from __future__ import annotations

import logging
import random
import time

from . import strategies
from .cache import CacheError, CacheUnavailable, RedisCache
from .options import BadInput, Settings, redact_url
from .recorder import LATENCY, MEASURED, SERVICE, START_DELAY, WARMUP, Recorder, series_key
from .stores import mysql_products
from .stores.mysql import ConnectError, Pool
from .workload import READ, WRITE, Workload, make_chooser

log = logging.getLogger("cacheswarm")
TIMER_SLACK_NS = 1_000_000
OUTCOMES = (strategies.OK, strategies.HIT, strategies.MISS, strategies.ERROR, strategies.CACHE_ERROR)
# what Locust is told for a cache_error: a failure (shown in its Failures tab), though the
# operation completed through the database
DEGRADED = CacheUnavailable("Redis unavailable: cache-aside fell back to the database")


class Preflight(Exception):
    """A target is unusable before the run: str() is the one line for the user."""


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.pool = Pool(settings.mysql, settings.mysql_pool_size, settings.op_timeout)
        self.cache = RedisCache(settings.redis_url, settings.redis_password, 8, settings.op_timeout,
                                settings.redis_ca_cert)
        self.store = mysql_products.MySQLProducts(self.pool, settings.namespace)
        self.keyspace = settings.keyspace

    # ---- before the run (master or local process) ----
    def preflight(self) -> int:
        """Check MySQL, Redis and the seeded table; return the keyspace to use."""
        s = self.settings
        try:  # the first query also proves the login
            self.store.check_owned(s.allow_existing_table)
            counted = self.store.count()
        except (ConnectError, mysql_products.ForeignTable) as e:
            raise Preflight(str(e)) from None
        seed_cmd = f"cacheswarm seed products --rows 100000 --namespace {s.namespace} --mysql-url '{s.mysql.redacted()}'"
        if counted is None or counted[0] == 0:
            what = "is missing" if counted is None else "is empty"
            raise Preflight(f"table {self.store.table} {what} in {s.mysql.redacted()}: seed it first with `{seed_cmd}`")
        rows, top = counted
        if rows != top:
            raise Preflight(f"table {self.store.table} has gaps (rows {rows}, highest id {top}): re-seed with `{seed_cmd}`")
        if s.keyspace > rows:
            raise BadInput("--keyspace", f"{s.keyspace} is larger than the {rows} seeded rows; use at most {rows} "
                                         "or seed more rows")
        if any(strategies.STRATEGIES[n].uses_cache for n in s.strategies):
            try:
                self.cache.check(redact_url(s.redis_url))
            except CacheError as e:
                raise Preflight(str(e)) from None
        self.keyspace = s.keyspace or rows
        return self.keyspace

    def prepare(self, phase) -> str:
        """Set the cache state the phase starts from; return its description for the report."""
        s, ns = self.settings, self.settings.namespace
        if phase.strategy == "db-only":
            return "not used (db-only never touches Redis)"
        started = time.perf_counter()
        removed = self.cache.clear(ns)
        if phase.strategy == "cache-only" or s.warm_cache:
            ttl = None if phase.strategy == "cache-only" else s.cache_ttl
            log.info("cacheswarm: loading %d keys into Redis for %s ...", self.keyspace, phase.key)
            loaded = self.cache.bulk_load(self.store.iter_values(self.keyspace), ttl)
            took = time.perf_counter() - started
            log.info("cacheswarm: %d keys loaded in %.1fs", loaded, took)
            expiry = "no TTL" if ttl is None else f"TTL {ttl}s"
            return f"warm: {loaded} keys loaded ({expiry}) after removing {removed} old keys"
        return f"cold: {removed} keys of namespace '{ns}' removed (SCAN + UNLINK)"

    # ---- during the run (every process that runs users) ----
    def loop(self, strategy: str, measure_from: float, fire, recorder: Recorder,
             user_rate: float = 0.0) -> "PhaseLoop":
        """A user's operation loop: its own RNG and Redis connection, the process's MySQL pool;
        open loop at `user_rate` ops/s when it is above 0."""
        return PhaseLoop(self, strategy, measure_from, fire, recorder, user_rate)

    def close(self) -> None:
        self.pool.close()
        self.cache.close()


class PhaseLoop:
    """One phase's operation: choose op and key, run the strategy, time it, record it."""

    def __init__(self, rt: Runtime, strategy: str, measure_from: float, fire, recorder: Recorder,
                 user_rate: float = 0.0):
        s = rt.settings
        self.cache = rt.cache.for_user() if strategies.STRATEGIES[strategy].uses_cache else None
        self.strategy = strategies.make(strategy, rt.store, self.cache, s.cache_ttl, s.write_policy)
        rng = random.Random()
        self.workload = Workload(s.read_ratio, make_chooser(s.key_distribution, rt.keyspace, s.zipf_theta, rng), rng)
        self.measure_from_ns = int(measure_from * 1e9)
        self.fire = fire
        self.record = recorder.record
        base = (rt.store.dataset, rt.store.backend, strategy)
        kinds = (LATENCY, SERVICE, START_DELAY)
        self.series = {(op, out, w, k): series_key(*base, op, out, w, k)
                       for op in (READ, WRITE) for out in OUTCOMES for w in (MEASURED, WARMUP) for k in kinds}
        self.names = {(op, out): f"{'/'.join(base)}:{out}" for op in (READ, WRITE) for out in OUTCOMES}
        self.ops = {READ: self.strategy.read, WRITE: self.strategy.write}
        if user_rate > 0:  # open loop: a schedule of intended starts, first one staggered
            self.interval_ns = int(1e9 / user_rate)
            self.intended_ns = time.perf_counter_ns() + int(rng.random() * self.interval_ns)
            self.step = self.step_open
        else:
            self.step = self.step_closed

    def timed(self):
        """Choose and run the next operation: (op, outcome, value, exception, t0, t1) in ns."""
        op, index = self.workload.next()
        call = self.ops[op]
        exc = None
        t0 = time.perf_counter_ns()
        try:
            outcome, value = call(index + 1)
        except Exception as e:  # counted, never fatal to the user
            outcome, value, exc = strategies.ERROR, None, e
        t1 = time.perf_counter_ns()
        if outcome == strategies.CACHE_ERROR:
            exc = DEGRADED
        return op, outcome, value, exc, t0, t1

    def step_closed(self) -> None:
        op, outcome, value, exc, t0, t1 = self.timed()
        micros = (t1 - t0) // 1000
        window = MEASURED if t0 >= self.measure_from_ns else WARMUP
        self.record(self.series[(op, outcome, window, LATENCY)], micros)
        self.fire(op, self.names[(op, outcome)], micros / 1000.0, len(value) if value else 0, exc)

    def step_open(self) -> None:
        """Wait for the intended start, run, record latency from the intended start (corrected
        for coordinated omission), service time from the actual start, and the start delay.
        The schedule never slips: after a stall, overdue operations start back to back."""
        intended = self.intended_ns
        self.intended_ns = intended + self.interval_ns
        wait = intended - time.perf_counter_ns()
        if wait > 0:
            # gevent's timers fire ~1 ms late (poll granularity): sleep to 1 ms before the
            # intended start, then yield until it (measured: start delay p50 970 µs -> 2 µs)
            if wait > TIMER_SLACK_NS:
                time.sleep((wait - TIMER_SLACK_NS) / 1e9)
            while time.perf_counter_ns() < intended:
                time.sleep(0)
        op, outcome, value, exc, t0, t1 = self.timed()
        window = MEASURED if intended >= self.measure_from_ns else WARMUP
        latency = (t1 - intended) // 1000
        self.record(self.series[(op, outcome, window, LATENCY)], latency)
        self.record(self.series[(op, outcome, window, SERVICE)], (t1 - t0) // 1000)
        self.record(self.series[(op, outcome, window, START_DELAY)], max(0, t0 - intended) // 1000)
        self.fire(op, self.names[(op, outcome)], latency / 1000.0, len(value) if value else 0, exc)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
