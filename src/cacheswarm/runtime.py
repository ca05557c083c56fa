"""Per-process runtime: connections, the per-phase operation loop and cache preparation.

Plain Python (no Locust import): the glue hands in a `fire` callback that reports each
operation to Locust. One Runtime per process, shared by all its users.
"""

from __future__ import annotations

import logging
import random
import time
from statistics import median_high

from botocore.exceptions import BotoCoreError, ClientError

from . import catalog, orders, restaurants, server_stats, stampede, strategies
from . import embedded_redis
from .cache import CacheError, RedisCache
from .embedded_redis import EmbeddedRedis, EmbeddedRedisError
from .inserts import InsertIds, inserts_prefix
from .oploop import PhaseLoop
from .options import BadInput, Settings, redact_url
from .recorder import Recorder
from .regions import RunRegions
from .stores import (ConnectError, ForeignTable, NotSeeded, dynamodb, dynamodb_http, dynamodb_orders, dynamodb_products,
                     dynamodb_restaurants)

log = logging.getLogger("cacheswarm")
# what a run seeds into the embedded emulator (it lives for one run), unless --keyspace says
# otherwise or another backend in the run has fewer rows
# (DynamoDB Local seeds ~7,000 items/s here; moto answers a GSI Query by scanning the table, so fewer there)
EMBEDDED_ROWS = {"products": 10_000, "restaurants": 1_000, "orders": 1_000}
MOTO_ROWS = {"products": 10_000, "restaurants": 200, "orders": 200}
EMBEDDED_REVIEWS = 10
WARM_BATCH, WARM_USERS, WARM_LIMIT_S = 200, 8, 10.0  # DynamoDB Local's warm-up (Runtime._warm_embedded)


def warmed(medians: list) -> bool:
    """Whether a warm-up's batch medians stopped falling: the median of the last three batches is no
    more than 10% below the median of the three before (single batches are too noisy to compare)."""
    return len(medians) >= 6 and median_high(medians[-3:]) >= 0.9 * median_high(medians[-6:-3])


def keeps_state_in_redis(settings: Settings) -> bool:
    """Whether the run keeps shared state in Redis (cached values, or the insert ids every process
    draws from): such a run needs Redis and holds the namespace's lease, db-only included."""
    return any(strategies.STRATEGIES[n].uses_cache for n in settings.strategies) or bool(settings.workload.insert_ratio)


class Preflight(Exception):
    """A target is unusable before the run: str() is the one line for the user."""


class Runtime:
    """Connections and stores of one process. On workers, `dynamodb_url` (the endpoint the
    master resolved, e.g. its embedded emulator) and `keyspaces` arrive with the run."""

    def __init__(self, settings: Settings, users: int = 1, dynamodb_url: str | None = None,
                 keyspaces: dict | None = None, redis_url: str | None = None, region_urls: dict | None = None):
        self.settings = settings
        self.users = users
        self.embedded_redis = None
        if settings.cache.redis_maxmemory and not redis_url:  # the master (or local process) starts it
            try:
                self.embedded_redis = EmbeddedRedis(settings.cache.redis_maxmemory).start()
            except EmbeddedRedisError as e:
                raise Preflight(str(e)) from None
            redis_url = self.embedded_redis.url
            log.info("cacheswarm: a private Redis with maxmemory %s (%s) on %s", settings.cache.redis_maxmemory,
                     embedded_redis.POLICY, redis_url)
        private = redis_url is not None and settings.cache.redis_maxmemory
        self.redis_url = redis_url or settings.redis_url
        # the pools of the backends a module describes (catalog.Backend), and of their replicas: opened by
        # their own hooks (a pool connects lazily)
        used = [b for b in catalog.described() if b.name in settings.backends]
        self.pools = {b.name: b.hooks().pool(settings.targets[b.name], settings.mysql_pool_size, settings.op_timeout)
                      for b in used}
        self.readers = {b.name: b.hooks().pool(settings.readers[b.name], settings.mysql_pool_size, settings.op_timeout)
                        for b in used if b.name in settings.readers}
        self.reader_cache = (RedisCache(settings.cache.redis_reader_url, settings.redis_password, 8, settings.op_timeout,
                                        settings.redis_ca_cert) if settings.cache.redis_reader_url else None)
        self.cache = (RedisCache(self.redis_url, pool_size=8, timeout=settings.op_timeout) if private else
                      RedisCache(self.redis_url, settings.redis_password, 8, settings.op_timeout, settings.redis_ca_cert))
        self.embedded = settings.dynamodb_endpoint == "embedded"
        self.dynamodb_url = dynamodb_url or (None if self.embedded else settings.dynamodb_endpoint)
        self.client = None
        self.stores: dict = {}
        self.keyspaces = dict(keyspaces or {})
        self.warmups: dict = {}  # dataset -> the embedded DynamoDB Local's warm-up (operations, seconds, medians)
        self.sampler = server_stats.Sampler(self.cache.client, self.reader_cache.client if self.reader_cache else None,
                                            self.pools, self.readers, settings.namespace)
        self.loads: dict = {}  # phase key -> stampede.Loads: what this process's users loaded (duplicate loads)
        self.inserts: dict = {}  # phase key -> InsertIds (runs with --insert-ratio)
        # a global table's run: a client, Redis and store per region (regions.py); the first region's are the
        # run's DynamoDB client and stores, which the seeding, warm-up and checks below use
        self.regions = RunRegions(settings, users, region_urls) if settings.regions.names else None
        self.region_stores: dict = {}  # (dataset, region) -> store
        if self.regions is not None and (region_urls or not self.embedded):
            self.dynamodb_url = self.regions.endpoints.get(self.regions.names[0], self.dynamodb_url)
        if self.dynamodb_url or "dynamodb" not in settings.backends:
            self._open_stores()

    def _open_stores(self) -> None:
        s = self.settings
        if "dynamodb" in s.backends and self.client is None:
            try:
                if self.regions is not None:
                    self.client = self.regions.open()[self.regions.names[0]]
                else:
                    self.client = dynamodb.make_client(self.dynamodb_url, s.aws_region, s.dynamodb_retries,
                                                       max(self.users, s.mysql_pool_size), s.op_timeout)
            except dynamodb.DynamoDBError as e:
                raise Preflight(str(e)) from None
        for dataset, backend in dict.fromkeys((d, b) for d, b, _ in catalog.combos(s.datasets, s.backends,
                                                                                   s.strategies)):
            handle = self.pools.get(backend, self.client)
            store = self.stores[(dataset, backend)] = catalog.BINDINGS[(dataset, backend)].store_class()(handle, s.namespace)
            store.configure(s)  # (options of a dataset's own: product pages, queries, the Redis-native ones)
            if backend in self.readers:
                store.reader = self.readers[backend]  # reads from the replica, writes (and audits) on the primary
            if backend == "dynamodb" and self.regions is not None:
                for region, client in self.regions.clients.items():
                    self.region_stores[(dataset, region)] = (store if client is self.client else
                                                             type(store)(client, s.namespace))
                    self.region_stores[(dataset, region)].configure(s)

    # ---- before the run (master or local process) ----
    def preflight(self) -> dict:
        """Check every target and table (seeding the embedded emulator); return the keyspace per dataset."""
        s = self.settings
        failures = (ConnectError, ForeignTable, BotoCoreError, ClientError, dynamodb.DynamoDBError)
        try:
            if "dynamodb" in s.backends and self.client is None and self.regions is not None:
                self.dynamodb_url = self.regions.start()[self.regions.names[0]]
                log.info("cacheswarm: embedded DynamoDB (%s) per region: %s", self.regions.emulator,
                         ", ".join(f"{n} on {u}" for n, u in self.regions.endpoints.items()))
                self._open_stores()
            elif "dynamodb" in s.backends and self.client is None:
                self.dynamodb_url = dynamodb.embedded_endpoint()
                log.info("cacheswarm: embedded DynamoDB (%s) on %s", dynamodb.embedded_name(), self.dynamodb_url)
                self._open_stores()
            if self.regions is not None:
                for name, client in self.regions.clients.items():
                    dynamodb.check_reachable(client, self.regions.endpoints.get(name, s.dynamodb_endpoint))
            elif self.client is not None:
                dynamodb.check_reachable(self.client, self.dynamodb_url)
            keyspaces = {d: self._dataset_rows(d) for d in s.datasets}
            for name, reader in self.readers.items():  # the lag probe's table, and the replica reachable
                catalog.BACKENDS[name].hooks().probe_create(self.pools[name], s.namespace)
                with reader.connection():
                    pass
        except failures as e:
            raise Preflight(str(e)) from None
        if keeps_state_in_redis(s):
            try:
                self.cache.check(redact_url(self.redis_url))
                if self.reader_cache is not None:
                    self.reader_cache.check(redact_url(s.cache.redis_reader_url))
                for name, cache in (self.regions.caches.items() if self.regions is not None else ()):
                    cache.check(f"{redact_url(s.regions.redis_urls[name])} ({name}'s cache)")
            except CacheError as e:
                raise Preflight(str(e)) from None
        self.keyspaces = keyspaces
        return keyspaces

    def _dataset_rows(self, dataset: str) -> int:
        s = self.settings
        found = {}
        for backend in s.backends:
            store = self.stores.get((dataset, backend))
            if store is None:  # no phase (a Redis-native dataset on a database, or the reverse)
                continue
            store.check_owned(s.allow_existing_table)
            try:
                found[backend] = store.seeded()
            except NotSeeded as e:
                if not (backend == "dynamodb" and self.embedded):
                    raise Preflight(f"{e} in {self._where(backend)}: seed it first with "
                                    f"`{self.seed_command(dataset, backend, e.rows)}`") from None
        embedded = self.embedded and "dynamodb" in s.backends
        if dataset == "products" and s.value_size:
            for backend in found:
                self._check_value_size(backend)
        others = [n for b, n in found.items() if not (embedded and b == "dynamodb")]
        if others and s.keyspace > min(others):  # before seeding the emulator for nothing
            raise BadInput("--keyspace", f"{s.keyspace} is larger than the {min(others)} seeded {dataset}; use at "
                                         f"most {min(others)} or seed more")
        if embedded:
            local = self.regions is not None or dynamodb.embedded_kind() == "dynamodb-local"
            most = EMBEDDED_ROWS if local else MOTO_ROWS
            want = s.keyspace or min([most[dataset], *others])
            regional = self.regions is not None
            for region, client in (self.regions.clients.items() if regional else [(None, self.client)]):
                if found.get("dynamodb", 0) < want or client is not self.client:
                    found["dynamodb"] = self._seed_embedded(dataset, want, client, region)
            if regional:  # seeded alike in every region: what is written from now on replicates
                self.regions.replicate(self.stores[(dataset, "dynamodb")].table)
            if local:
                for region, store in self._dynamodb_stores(dataset).items():
                    warm = self._warm_embedded(dataset, s.keyspace or found["dynamodb"], store)
                    self.warmups[f"{dataset}@{region}" if region else dataset] = warm
        elif self.regions is not None:
            self.regions.replicate(self.stores[(dataset, "dynamodb")].table)  # (on AWS: noted for the lag probe)
        keyspace = s.keyspace or min(found.values())
        if s.workload.insert_ratio and any(n != keyspace for n in found.values()):
            where = ", ".join(f"{n} in {b}" for b, n in found.items())
            raise Preflight(f"--insert-ratio: inserts add ids after the seeded {dataset}, so every backend must hold "
                            f"exactly the keyspace ({keyspace}), but there are {where}; seed them alike (or drop "
                            "--keyspace)")
        return keyspace

    def _check_value_size(self, backend: str) -> None:
        have, want = self.stores[("products", backend)].value_size, self.settings.value_size
        if have != want and not (backend == "dynamodb" and self.embedded):
            raise Preflight(f"--value-size: the products in {self._where(backend)} carry {have} bytes of padding, not "
                            f"{want}: seed them with `{self.seed_command('products', backend)} --reset`")

    def _dynamodb_stores(self, dataset: str) -> dict:
        """{region: the dataset's DynamoDB store there} ({None: the store} without regions)."""
        if self.regions is None:
            return {None: self.stores[(dataset, "dynamodb")]}
        return {r: self.region_stores[(dataset, r)] for r in self.regions.names}

    def _seed_embedded(self, dataset: str, rows: int, client, region: str | None = None) -> int:
        what = {"products": f"{rows} products", "orders": f"{rows} customers x {orders.DEFAULT_ORDERS} orders"}.get(
            dataset, f"{rows} restaurants x {EMBEDDED_REVIEWS} reviews")
        log.info("cacheswarm: seeding the embedded DynamoDB emulator%s with %s ...", f" ({region})" if region else "",
                 what)
        started = time.perf_counter()
        if dataset == "products":
            result = dynamodb_products.seed(client, self.settings.namespace, rows,
                                            value_size=self.settings.value_size,
                                            price_index=self.settings.workload.product_read == "page")
        elif dataset == "orders":
            result = dynamodb_orders.seed(client, self.settings.namespace, rows)
            log.info("cacheswarm: %s", orders.hot_partition(result["status_counts"]))
        else:
            result = dynamodb_restaurants.seed(client, self.settings.namespace, rows, EMBEDDED_REVIEWS)
        took = time.perf_counter() - started
        log.info("cacheswarm: %d items seeded in %.1fs (%.0f items/s)", result["loaded"], took,
                 result["loaded"] / took if took else 0)
        return self.stores[(dataset, "dynamodb")].seeded()

    def _warm_embedded(self, dataset: str, rows: int, store) -> dict:
        """Run the dataset's reads and writes against the fresh DynamoDB Local until its latency stops
        falling, before any phase is measured. It is a JVM: its first thousands of requests of a kind
        run interpreted while the JIT compiles them, so without this the first phase to use a query
        (db-only, first in every plan) measured the emulator warming: restaurants' db-only read p99 at
        300 ops/s was 114-290 ms as a run's first phase, 18-27 ms after the products phases had run,
        and 9.6 ms after 6,400 operations of its own (products' page read: 9-13 ms in demos, 5.0 ms).
        Batches of WARM_BATCH operations (one in five a write) from WARM_USERS greenlets, the emulator
        busy; the medians of batches are noisy, so it stops when the median of the last three batches is
        no more than 10% below the median of the three before (at least 2 x 3 batches), or after
        WARM_LIMIT_S."""
        import gevent.pool

        rng = random.Random(1)
        started, medians, done = time.perf_counter(), [], 0
        written = [0]  # writes that succeeded (a global table's replicate them)

        def one(key_write):
            key, write = key_write
            t0 = time.perf_counter()
            try:
                if write:
                    store.write(key)
                    written[0] += 1
                else:
                    store.read(key)
            except Exception:  # a warm-up operation that fails costs nothing; the run counts its own
                return None
            return time.perf_counter() - t0

        pool = gevent.pool.Pool(WARM_USERS)
        while time.perf_counter() - started < WARM_LIMIT_S:
            batch = [(rng.randrange(rows) + 1, rng.random() < 0.2) for _ in range(WARM_BATCH)]
            took = [t for t in pool.imap_unordered(one, batch) if t is not None]
            done += len(batch)
            if not took:
                break
            medians.append(median_high(took))
            if warmed(medians):
                break
        seconds = time.perf_counter() - started
        if medians:
            log.info("cacheswarm: warmed DynamoDB Local for %s with %d operations in %.1fs (batch median %.2f -> "
                     "%.2f ms): phases measure it compiled, not warming", dataset, done, seconds,
                     medians[0] * 1000, medians[-1] * 1000)
        return {"operations": done, "writes": written[0], "seconds": round(seconds, 2),
                "medians_ms": [round(m * 1000, 3) for m in medians]}

    def _where(self, backend: str) -> str:
        if backend in self.settings.targets:
            return self.settings.targets[backend].redacted()
        return dynamodb.describe(self.settings.dynamodb_endpoint)

    def seed_command(self, dataset: str, backend: str, rows: int | None = None) -> str:
        """The `cacheswarm seed` that makes `dataset` usable on `backend`: with `rows`, keeping the
        table's size (a seed fills the gaps below it)."""
        s = self.settings
        size = (f"--rows {rows or 100000}{f' --value-size {s.value_size}' if s.value_size else ''}"
                if dataset == "products" else f"--customers {rows or 1000}" if dataset == "orders"
                else f"--restaurants {rows or 1000} --reviews-per-restaurant {restaurants.DEFAULT_REVIEWS}")
        dataset = "restaurants" if dataset == "queries" else dataset  # queries read the restaurants' reviews
        where = (catalog.BACKENDS[backend].hooks().seed_flags(s.targets[backend]) if backend in s.targets
                 else f"--backend dynamodb --dynamodb-endpoint {s.dynamodb_endpoint}")
        return f"cacheswarm seed {dataset} {size} --namespace {s.namespace} {where}"

    def prepare(self, phase) -> str:
        """Set the cache state the phase starts from; return its description for the report."""
        s, ns = self.settings, self.settings.namespace
        if self.regions is not None:  # (remedy stream's consumers: the last phase's stop, this one's start)
            mine = phase.backend == "dynamodb"
            self.regions.before_phase(phase, {r: self.region_stores[(phase.dataset, r)] for r in self.regions.names}
                                      if mine else {}, self.stores[(phase.dataset, phase.backend)].table if mine else "")
        # before the clear, which removes the id counter that says how far earlier phases inserted
        inserted = self._reset_inserts(phase) if s.workload.insert_ratio else ""
        if phase.strategy == "db-only":
            if s.workload.insert_ratio:
                return "not used for values (db-only; the insert ids live in Redis)" + inserted
            return "not used (db-only never touches Redis)" + inserted
        started = time.perf_counter()
        removed = self.cache.clear(ns)
        # a global table's regions: each region's Redis starts the same way, from its own region's table
        regional = {} if self.regions is None or phase.backend != "dynamodb" else {
            r: (self.regions.caches[r], self.region_stores[(phase.dataset, r)]) for r in self.regions.names}
        removed += sum(c.clear(ns) for c, _ in regional.values() if c.url != self.cache.url)
        where = f" in each of {len(regional)} regions' Redis" if regional else ""
        if s.workload.insert_ratio:
            self._phase_ids(phase).reset()  # the counter again, after the seeded rows
        store = self.stores[(phase.dataset, phase.backend)]
        if phase.backend == "redis":  # a Redis-native pattern: its own starting state
            return f"{store.prepare(self.cache.client, self.keyspaces[phase.dataset])} after removing {removed} old keys"
        if phase.strategy == "cache-only" or s.warm_cache:
            ttl = None if phase.strategy == "cache-only" else s.cache_ttl
            keyspace = self.keyspaces[phase.dataset]
            log.info("cacheswarm: loading %d keys into Redis%s for %s ...", keyspace, where, phase.key)
            loaded = sum(c.bulk_load(st.iter_values(keyspace), ttl)
                         for c, st in (regional.values() or [(self.cache, store)]))
            took = time.perf_counter() - started
            log.info("cacheswarm: %d keys loaded in %.1fs", loaded, took)
            expiry = "no TTL" if ttl is None else f"TTL {ttl}s"
            return f"warm: {loaded} keys loaded{where} ({expiry}) after removing {removed} old keys" + inserted
        return f"cold: {removed} keys of namespace '{ns}' removed{where} (SCAN + UNLINK)" + inserted

    def clear_cache(self) -> int:
        """A drill's flush, mid-phase: every cached value of the namespace, in every region's Redis; the
        run's own state (lease, insert ids) stays. Returns how many keys were removed."""
        ns, keep = self.settings.namespace, (inserts_prefix(self.settings.namespace),)
        caches = [self.cache] + ([c for c in self.regions.caches.values() if c.url != self.cache.url]
                                 if self.regions is not None else [])
        return sum(c.clear(ns, keep=keep) for c in caches)

    def fail_over_database(self, backend: str, hold: float = 0.0, sleep=time.sleep) -> dict:
        """A drill's database failover, mid-phase: the backend's primary to its standby (its hooks' fail_over),
        the database away `hold` seconds before the promotion."""
        return catalog.BACKENDS[backend].hooks().fail_over(self.pools[backend].target, hold=hold, sleep=sleep)

    def _reset_inserts(self, phase) -> str:
        """Before a phase with inserts: remove the products earlier phases inserted, so every phase
        starts from the same table, and restart the id counter after the seeded rows."""
        ids = self._phase_ids(phase)
        highest = ids.reset()
        removed = self.stores[(phase.dataset, phase.backend)].remove_inserted(ids.base, highest)
        return f"; {removed} products inserted earlier removed, new ids from {ids.base + 1}"

    def _phase_ids(self, phase) -> InsertIds:
        return InsertIds(self.cache.client, self.settings.namespace, phase.dataset, phase.backend,
                         self.keyspaces[phase.dataset])

    def server_sample(self, phase, moment: str) -> dict:
        """What the servers the phase uses say now (read-only: INFO, SHOW GLOBAL STATUS); once its
        users are gone, also the memory of a sample of its dataset's cached values."""
        uses_cache = strategies.STRATEGIES[phase.strategy].uses_cache
        out = self.sampler.sample(phase.backend, uses_cache)
        store = self.stores[(phase.dataset, phase.backend)]
        if moment == "drained" and phase.backend == "redis":
            out["pattern"] = store.verdict(self.cache.client)
        if uses_cache and moment == "drained" and hasattr(store, "cache_key"):
            keyspace = self.keyspaces.get(phase.dataset, 0)
            ids = random.Random(phase.index).sample(range(1, keyspace + 1), min(keyspace, server_stats.MEMORY_SAMPLE))
            out["memory"] = server_stats.memory_sample(self.cache.client, [store.cache_key(i) for i in ids], keyspace)
        return out

    # ---- during the run (every process that runs users) ----
    def loop(self, phase_key: str, measure_from: float, fire, recorder: Recorder,
             user_rate: float = 0.0, measure_until: float = float("inf"), user: int = 0) -> "PhaseLoop":
        """A user's operation loop for phase `dataset/backend/strategy`: its own RNG, Redis
        connection and store handle, the process's database pool (or DynamoDB client); open loop
        at `user_rate` ops/s when it is above 0. `user`: which of the phase's users it is (a global
        table's users take the regions in turn)."""
        key = phase_key if isinstance(phase_key, catalog.PhaseKey) else catalog.PhaseKey.parse(phase_key)
        return PhaseLoop(self, key, measure_from, fire, recorder, user_rate, measure_until, user)

    def loads_of(self, phase_key: str) -> stampede.Loads:
        """The process's record of a phase's database loads (each phase starts from its own cache).
        Phases run one after another: a new phase's record replaces the last one's, whose per-key
        expiries (one entry per key loaded) would otherwise stay for the whole run."""
        loads = self.loads.get(phase_key)
        if loads is None:
            self.loads = {phase_key: stampede.Loads()}
            loads = self.loads[phase_key]
        return loads

    def insert_ids(self, dataset: str, backend: str, phase_key: str) -> InsertIds:
        """The process's view of phase `phase_key`'s inserted ids (one per phase: the master resets the
        counter before each)."""
        ids = self.inserts.get(phase_key)
        if ids is None:
            ids = self.inserts[phase_key] = InsertIds(self.cache.client, self.settings.namespace, dataset, backend,
                                                      self.keyspaces[dataset])
        return ids

    def close(self) -> None:
        for pool in (*self.pools.values(), *self.readers.values()):
            pool.close()
        self.cache.close()
        if self.reader_cache is not None:
            self.reader_cache.close()
        if self.embedded_redis is not None:
            self.embedded_redis.stop()
        if self.regions is not None:
            self.regions.close()  # (its clients include self.client)
        elif self.client is not None:
            dynamodb_http.close(self.client)
            self.client.close()
