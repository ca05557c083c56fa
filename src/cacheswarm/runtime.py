"""Per-process runtime: connections, the per-phase operation loop and cache preparation.

Plain Python (no Locust import): the glue hands in a `fire` callback that reports each
operation to Locust. One Runtime per process, shared by all its users.
"""

from __future__ import annotations

import logging
import random
import time

import gevent
from botocore.exceptions import BotoCoreError, ClientError
from gevent import idle as _idle

from . import replication, restaurants, server_stats, stampede, staleness, strategies
from . import embedded_redis
from .cache import CacheError, CacheUnavailable, RedisCache
from .embedded_redis import EmbeddedRedis, EmbeddedRedisError
from .options import BadInput, Settings, redact_url
from .phases import split_strategy
from .recorder import CAPACITY, EVENT, LATENCY, MEASURED, SERVICE, START_DELAY, WARMUP, Recorder, series_key, timeline_key
from .stores import ForeignTable, NotSeeded, dynamodb, dynamodb_http, dynamodb_products, dynamodb_restaurants
from .stores import mysql_products, mysql_restaurants
from .stores.mysql import ConnectError, Pool
from .workload import READ, WRITE, Workload, make_chooser

log = logging.getLogger("cacheswarm")
TIMER_SLACK_NS = 1_000_000
PAST_END_SLEEP_S = 0.05  # how a user idles between its phase's end and the shape stopping it
OUTCOMES = (strategies.OK, strategies.HIT, strategies.MISS, strategies.ERROR, strategies.CACHE_ERROR,
            strategies.THROTTLED)
# what Locust is told for a cache_error: a failure (shown in its Failures tab), though the
# operation completed through the database
DEGRADED = CacheUnavailable("Redis unavailable: cache-aside fell back to the database")
STORES = {("products", "mysql"): mysql_products.MySQLProducts,
          ("restaurants", "mysql"): mysql_restaurants.MySQLRestaurants,
          ("products", "dynamodb"): dynamodb_products.DynamoDBProducts,
          ("restaurants", "dynamodb"): dynamodb_restaurants.DynamoDBRestaurants}
# what a run seeds into the embedded emulator (it lives for one run), unless --keyspace says
# otherwise or another backend in the run has fewer rows
EMBEDDED_ROWS = {"products": 10_000, "restaurants": 200}  # moto answers a GSI Query by scanning the table
EMBEDDED_REVIEWS = 10


class Preflight(Exception):
    """A target is unusable before the run: str() is the one line for the user."""


class Runtime:
    """Connections and stores of one process. On workers, `dynamodb_url` (the endpoint the
    master resolved, e.g. its embedded emulator) and `keyspaces` arrive with the run."""

    def __init__(self, settings: Settings, users: int = 1, dynamodb_url: str | None = None,
                 keyspaces: dict | None = None, redis_url: str | None = None):
        self.settings = settings
        self.users = users
        self.embedded_redis = None
        if settings.redis_maxmemory and not redis_url:  # the master (or local process) starts it
            try:
                self.embedded_redis = EmbeddedRedis(settings.redis_maxmemory).start()
            except EmbeddedRedisError as e:
                raise Preflight(str(e)) from None
            redis_url = self.embedded_redis.url
            log.info("cacheswarm: a private Redis with maxmemory %s (%s) on %s", settings.redis_maxmemory,
                     embedded_redis.POLICY, redis_url)
        private = redis_url is not None and settings.redis_maxmemory
        self.redis_url = redis_url or settings.redis_url
        self.pool = (Pool(settings.mysql, settings.mysql_pool_size, settings.op_timeout)
                     if "mysql" in settings.backends else None)
        self.reader_pool = (Pool(settings.mysql_reader, settings.mysql_pool_size, settings.op_timeout)
                            if settings.mysql_reader is not None and self.pool is not None else None)
        self.reader_cache = (RedisCache(settings.redis_reader_url, settings.redis_password, 8, settings.op_timeout,
                                        settings.redis_ca_cert) if settings.redis_reader_url else None)
        self.cache = (RedisCache(self.redis_url, pool_size=8, timeout=settings.op_timeout) if private else
                      RedisCache(self.redis_url, settings.redis_password, 8, settings.op_timeout, settings.redis_ca_cert))
        self.embedded = settings.dynamodb_endpoint == "embedded"
        self.dynamodb_url = dynamodb_url or (None if self.embedded else settings.dynamodb_endpoint)
        self.client = None
        self.stores: dict = {}
        self.keyspaces = dict(keyspaces or {})
        self.sampler = server_stats.Sampler(self.cache.client, self.pool,
                                            self.reader_cache.client if self.reader_cache else None, self.reader_pool)
        self.loads = stampede.Loads()  # keys this process's users are loading (duplicate loads)
        if self.dynamodb_url or "dynamodb" not in settings.backends:
            self._open_stores()

    def _open_stores(self) -> None:
        s = self.settings
        if "dynamodb" in s.backends and self.client is None:
            try:
                self.client = dynamodb.make_client(self.dynamodb_url, s.aws_region, s.dynamodb_retries,
                                                   max(self.users, s.mysql_pool_size), s.op_timeout)
            except dynamodb.DynamoDBError as e:
                raise Preflight(str(e)) from None
        for dataset in s.datasets:
            for backend in s.backends:
                handle = self.pool if backend == "mysql" else self.client
                store = self.stores[(dataset, backend)] = STORES[(dataset, backend)](handle, s.namespace)
                if backend == "mysql" and self.reader_pool is not None:
                    store.reader = self.reader_pool  # reads from the replica, writes (and audits) on the primary

    # ---- before the run (master or local process) ----
    def preflight(self) -> dict:
        """Check every target and table (seeding the embedded emulator); return the keyspace per dataset."""
        s = self.settings
        failures = (ConnectError, ForeignTable, BotoCoreError, ClientError, dynamodb.DynamoDBError)
        try:
            if "dynamodb" in s.backends and self.client is None:
                self.dynamodb_url = dynamodb.embedded_endpoint()
                log.info("cacheswarm: embedded DynamoDB emulator on %s", self.dynamodb_url)
                self._open_stores()
            if self.client is not None:
                dynamodb.check_reachable(self.client, self.dynamodb_url)
            keyspaces = {d: self._dataset_rows(d) for d in s.datasets}
            if self.reader_pool is not None:
                replication.create_probe_table(self.pool, s.namespace)
                with self.reader_pool.connection() as conn:
                    conn.ping()
        except failures as e:
            raise Preflight(str(e)) from None
        if any(strategies.STRATEGIES[n].uses_cache for n in s.strategies):
            try:
                self.cache.check(redact_url(self.redis_url))
                if self.reader_cache is not None:
                    self.reader_cache.check(redact_url(s.redis_reader_url))
            except CacheError as e:
                raise Preflight(str(e)) from None
        self.keyspaces = keyspaces
        return keyspaces

    def _dataset_rows(self, dataset: str) -> int:
        s = self.settings
        found = {}
        for backend in s.backends:
            store = self.stores[(dataset, backend)]
            store.check_owned(s.allow_existing_table)
            try:
                found[backend] = store.seeded()
            except NotSeeded as e:
                if not (backend == "dynamodb" and self.embedded):
                    raise Preflight(f"{e} in {self._where(backend)}: seed it first with "
                                    f"`{self.seed_command(dataset, backend)}`") from None
        embedded = self.embedded and "dynamodb" in s.backends
        if dataset == "products" and s.value_size:
            for backend in found:
                self._check_value_size(backend)
        others = [n for b, n in found.items() if not (embedded and b == "dynamodb")]
        if others and s.keyspace > min(others):  # before seeding the emulator for nothing
            raise BadInput("--keyspace", f"{s.keyspace} is larger than the {min(others)} seeded {dataset}; use at "
                                         f"most {min(others)} or seed more")
        if embedded:
            want = s.keyspace or min([EMBEDDED_ROWS[dataset], *others])
            if found.get("dynamodb", 0) < want:
                found["dynamodb"] = self._seed_embedded(dataset, want)
        return s.keyspace or min(found.values())

    def _check_value_size(self, backend: str) -> None:
        have, want = self.stores[("products", backend)].value_size, self.settings.value_size
        if have != want and not (backend == "dynamodb" and self.embedded):
            raise Preflight(f"--value-size: the products in {self._where(backend)} carry {have} bytes of padding, not "
                            f"{want}: seed them with `{self.seed_command('products', backend)} --reset`")

    def _seed_embedded(self, dataset: str, rows: int) -> int:
        what = f"{rows} products" if dataset == "products" else f"{rows} restaurants x {EMBEDDED_REVIEWS} reviews"
        log.info("cacheswarm: seeding the embedded DynamoDB emulator with %s ...", what)
        started = time.perf_counter()
        if dataset == "products":
            result = dynamodb_products.seed(self.client, self.settings.namespace, rows,
                                            value_size=self.settings.value_size)
        else:
            result = dynamodb_restaurants.seed(self.client, self.settings.namespace, rows, EMBEDDED_REVIEWS)
        took = time.perf_counter() - started
        log.info("cacheswarm: %d items seeded in %.1fs (%.0f items/s)", result["loaded"], took,
                 result["loaded"] / took if took else 0)
        return self.stores[(dataset, "dynamodb")].seeded()

    def _where(self, backend: str) -> str:
        if backend == "mysql":
            return self.settings.mysql.redacted()
        return dynamodb.describe(self.settings.dynamodb_endpoint)

    def seed_command(self, dataset: str, backend: str) -> str:
        s = self.settings
        size = (f"--rows 100000{f' --value-size {s.value_size}' if s.value_size else ''}" if dataset == "products"
                else f"--restaurants 1000 --reviews-per-restaurant {restaurants.DEFAULT_REVIEWS}")
        where = (f"--mysql-url '{s.mysql.redacted()}'" if backend == "mysql"
                 else f"--backend dynamodb --dynamodb-endpoint {s.dynamodb_endpoint}")
        return f"cacheswarm seed {dataset} {size} --namespace {s.namespace} {where}"

    def prepare(self, phase) -> str:
        """Set the cache state the phase starts from; return its description for the report."""
        s, ns = self.settings, self.settings.namespace
        if phase.strategy == "db-only":
            return "not used (db-only never touches Redis)"
        started = time.perf_counter()
        removed = self.cache.clear(ns)
        if phase.strategy == "cache-only" or s.warm_cache:
            ttl = None if phase.strategy == "cache-only" else s.cache_ttl
            keyspace = self.keyspaces[phase.dataset]
            log.info("cacheswarm: loading %d keys into Redis for %s ...", keyspace, phase.key)
            store = self.stores[(phase.dataset, phase.backend)]
            loaded = self.cache.bulk_load(store.iter_values(keyspace), ttl)
            took = time.perf_counter() - started
            log.info("cacheswarm: %d keys loaded in %.1fs", loaded, took)
            expiry = "no TTL" if ttl is None else f"TTL {ttl}s"
            return f"warm: {loaded} keys loaded ({expiry}) after removing {removed} old keys"
        return f"cold: {removed} keys of namespace '{ns}' removed (SCAN + UNLINK)"

    def server_sample(self, phase, moment: str) -> dict:
        """What the servers the phase uses say now (read-only: INFO, SHOW GLOBAL STATUS); once its
        users are gone, also the memory of a sample of its dataset's cached values."""
        uses_cache = strategies.STRATEGIES[phase.strategy].uses_cache
        out = self.sampler.sample(phase.backend, uses_cache)
        if uses_cache and moment == "drained":
            keyspace = self.keyspaces.get(phase.dataset, 0)
            store = self.stores[(phase.dataset, phase.backend)]
            ids = random.Random(phase.index).sample(range(1, keyspace + 1), min(keyspace, server_stats.MEMORY_SAMPLE))
            out["memory"] = server_stats.memory_sample(self.cache.client, [store.cache_key(i) for i in ids], keyspace)
        return out

    # ---- during the run (every process that runs users) ----
    def loop(self, phase_key: str, measure_from: float, fire, recorder: Recorder,
             user_rate: float = 0.0, measure_until: float = float("inf")) -> "PhaseLoop":
        """A user's operation loop for phase `dataset/backend/strategy`: its own RNG, Redis
        connection and store handle, the process's MySQL pool and DynamoDB client; open loop
        at `user_rate` ops/s when it is above 0."""
        return PhaseLoop(self, *phase_key.split("/"), measure_from, fire, recorder, user_rate, measure_until)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        self.cache.close()
        if self.reader_pool is not None:
            self.reader_pool.close()
        if self.reader_cache is not None:
            self.reader_cache.close()
        if self.embedded_redis is not None:
            self.embedded_redis.stop()
        if self.client is not None:
            dynamodb_http.close(self.client)
            self.client.close()


class PhaseLoop:
    """One phase's operation: choose op and key, run the strategy, time it, record it."""

    def __init__(self, rt: Runtime, dataset: str, backend: str, strategy: str, measure_from: float, fire,
                 recorder: Recorder, user_rate: float = 0.0, measure_until: float = float("inf")):
        s = rt.settings
        field = strategy  # a capacity step's strategy carries its step (db-only@2): its own series
        strategy, _step = split_strategy(field)
        store = rt.stores[(dataset, backend)].for_user()
        self.cache = rt.cache.for_user(rt.reader_cache) if strategies.STRATEGIES[strategy].uses_cache else None
        self.shared_cache, self.deferred = rt.cache, []  # double-delete's second DELs still to come
        self.delay = s.double_delete_delay
        rng = random.Random()
        self.strategy = strategies.make(strategy, store, self.cache, s.cache_ttl, s.write_policy, self.later,
                                        s.stampede_protection, rt.loads, s.ttl_jitter, rng)
        self.take_capacity = getattr(store, "take_capacity", None)  # DynamoDB: capacity units per operation
        chooser = make_chooser(s.key_distribution, rt.keyspaces[dataset], s.zipf_theta, rng)
        self.workload = Workload(s.read_ratio, chooser, rng)
        self.measure_from_ns = int(measure_from * 1e9)
        self.phase_start_ns = self.measure_from_ns - int(s.warmup * 1e9)  # this process's phase start
        self.tkeys: dict = {}  # (op, outcome, second) -> timeline series key
        # the phase's window ends here: later operations are not started (the user idles until the
        # shape stops it), so none is counted past --phase-time and the server sees the phase end
        self.measure_until_ns = int(measure_until * 1e9) if measure_until != float("inf") else 1 << 62
        self.fire = fire
        self.record = recorder.record
        base = self.base = (dataset, backend, field)
        kinds = (LATENCY, SERVICE, START_DELAY, CAPACITY)
        self.series = {(op, out, w, k): series_key(*base, op, out, w, k)
                       for op in (READ, WRITE) for out in OUTCOMES for w in (MEASURED, WARMUP) for k in kinds}
        self.names = {(op, out): f"{'/'.join(base)}:{out}" for op in (READ, WRITE) for out in OUTCOMES}
        self.ops = {READ: self.strategy.read, WRITE: self.strategy.write}
        self.events = {(e, w): series_key(*base, READ, e, w, EVENT) for e in stampede.EVENTS for w in (MEASURED, WARMUP)}
        self.after_read = isinstance(self.strategy, strategies.CacheAside) or rt.reader_pool is not None
        self.audit = None
        audited = strategy.startswith(strategies.CacheAside.name) or (strategy == "db-only" and rt.reader_pool is not None
                                                                         and backend == "mysql")
        if audited and s.staleness_sample > 0:
            double = strategies.policy_of(strategy, s.write_policy) == "double-delete"
            self.audit = staleness.Auditor(store, self.cache, s.staleness_sample, rng, recorder.record, {
                (o, w): series_key(*base, READ, o, w, staleness.AUDIT)
                for o in staleness.OUTCOMES for w in (MEASURED, WARMUP)},
                confirm_after=s.double_delete_delay + 0.05 if double else staleness.RACE_CONFIRM_S)
        if user_rate > 0:  # open loop: a schedule of intended starts, first one staggered
            self.interval_ns = int(1e9 / user_rate)
            self.intended_ns = time.perf_counter_ns() + int(rng.random() * self.interval_ns)
            self.step = self.step_open
        else:
            self.step = self.step_closed

    def later(self, cache_key: str) -> None:
        """double-delete: DEL `cache_key` again after --double-delete-delay, over the shared pool."""
        self.deferred = [(g, k) for g, k in self.deferred if not g.dead]
        self.deferred.append((gevent.spawn_later(self.delay, self.shared_cache.delete_quietly, cache_key), cache_key))

    def audited(self, key: int, outcome: str, value, window: str, t0: int) -> None:
        """After a cache-aside read's timing: count what else it did (a duplicate load, a wait for
        another loader, an early refresh), then the staleness audit of a sampled read (started at
        perf_counter_ns `t0`; a DynamoDB read it makes is not charged to the next operation)."""
        if getattr(self.strategy, "event", None) is not None:
            self.record(self.events[(self.strategy.event, window)], 1)
        if self.audit is None:
            return
        self.audit.after_read(key, outcome, value, window, time.time() - (time.perf_counter_ns() - t0) / 1e9)
        if self.take_capacity is not None:
            self.take_capacity()

    def timed(self):
        """Choose and run the next operation: (op, key, outcome, value, exception, t0, t1) in ns."""
        op, index = self.workload.next()
        call = self.ops[op]
        exc = None
        t0 = time.perf_counter_ns()
        try:
            outcome, value = call(index + 1)
        except Exception as e:  # counted, never fatal to the user
            outcome = strategies.THROTTLED if dynamodb.is_throttle(e) else strategies.ERROR
            value, exc = None, e
        t1 = time.perf_counter_ns()
        if outcome == strategies.CACHE_ERROR:
            exc = DEGRADED
        return op, index + 1, outcome, value, exc, t0, t1

    def timeline(self, op: str, outcome: str, t_ns: int, micros: int) -> None:
        """The phase's per-second series (warm-up included, so a cold cache's warming shows)."""
        key = (op, outcome, (t_ns - self.phase_start_ns) // 1_000_000_000)
        series = self.tkeys.get(key)
        if series is None:
            series = self.tkeys[key] = timeline_key(*self.base, *key)
        self.record(series, micros)

    def count_capacity(self, op: str, outcome: str, window: str) -> None:
        units = self.take_capacity()
        if units:
            self.record(self.series[(op, outcome, window, CAPACITY)], round(units * 100))

    def past_the_end(self, start_ns: int) -> bool:
        if start_ns < self.measure_until_ns:
            return False
        time.sleep(PAST_END_SLEEP_S)
        return True

    def step_closed(self) -> None:
        if self.past_the_end(time.perf_counter_ns()):
            return
        op, key, outcome, value, exc, t0, t1 = self.timed()
        micros = (t1 - t0) // 1000
        window = MEASURED if t0 >= self.measure_from_ns else WARMUP
        self.record(self.series[(op, outcome, window, LATENCY)], micros)
        self.timeline(op, outcome, t0, micros)
        if self.take_capacity is not None:
            self.count_capacity(op, outcome, window)
        self.fire(op, self.names[(op, outcome)], micros / 1000.0, len(value) if value else 0, exc)
        if self.after_read and op == READ:
            self.audited(key, outcome, value, window, t0)

    def step_open(self) -> None:
        """Wait for the intended start, run, record latency from the intended start (corrected
        for coordinated omission), service time from the actual start, and the start delay.
        The schedule never slips: after a stall, overdue operations start back to back."""
        intended = self.intended_ns
        if self.past_the_end(intended):
            return
        self.intended_ns = intended + self.interval_ns
        wait = intended - time.perf_counter_ns()
        if wait > 0:
            # gevent's timers fire ~1 ms late (poll granularity): sleep to 1 ms before the
            # intended start, then yield until it (measured: start delay p50 970 µs -> 2 µs)
            if wait > TIMER_SLACK_NS:
                time.sleep((wait - TIMER_SLACK_NS) / 1e9)
            while time.perf_counter_ns() < intended:
                # not sleep(0): a greenlet that re-queues itself is run again before the loop polls
                # for I/O (for up to gevent's switch interval), so other users' replies waited on
                # the spinner (2 users at 2,000 ops/s: service p50 0.08 -> 0.48 ms). An idle watcher
                # runs only after pending I/O has been handled.
                _idle()
        op, key, outcome, value, exc, t0, t1 = self.timed()
        window = MEASURED if intended >= self.measure_from_ns else WARMUP
        latency = (t1 - intended) // 1000
        self.record(self.series[(op, outcome, window, LATENCY)], latency)
        self.timeline(op, outcome, intended, latency)
        self.record(self.series[(op, outcome, window, SERVICE)], (t1 - t0) // 1000)
        self.record(self.series[(op, outcome, window, START_DELAY)], max(0, t0 - intended) // 1000)
        if self.take_capacity is not None:
            self.count_capacity(op, outcome, window)
        self.fire(op, self.names[(op, outcome)], latency / 1000.0, len(value) if value else 0, exc)
        if self.after_read and op == READ:
            self.audited(key, outcome, value, window, t0)

    def close(self) -> None:
        """The user stops: double-delete's pending second DELs are sent now (not into the next phase)."""
        for greenlet, cache_key in self.deferred:
            if not greenlet.dead:
                greenlet.kill()
                self.shared_cache.delete_quietly(cache_key)
        self.deferred = []
        if self.cache is not None:
            self.cache.close()
