"""A run's DynamoDB global table (--dynamodb-regions): one client, Redis and store per region, each
user's home region, and in the embedded emulation the regions' servers and their replication.

Plain Python (no Locust import). The master (or the local process) starts one DynamoDB Local per
region, seeds each alike, turns on each table's stream and starts a `Replicator` per table
(stores/dynamodb_global.py) before the warm-up, so every write of the run replicates with
--replication-lag, last writer wins; workers get the regions' endpoints with the run's options. A
user's writes carry who made them and when (`stamp_writes`), which is how the replicator orders them
and knows its own. At the end `summary()` gives what the report shows beside the phases: the lag per
region pair (markers written in one region, polled for in the other), the writes each pair applied
and the ones it dropped as older than what the replica held, and once replication settled, whether
every region holds every item alike and how far the counters the writes ADD to rose (the rest of the
writes were lost to last-writer-wins).
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from decimal import Decimal

from .cache import RedisCache
from .catalog import remedy_of
from .quantile_ci import rank_bounds
from .stores import dynamodb, dynamodb_global as glob, dynamodb_http

log = logging.getLogger("cacheswarm")
LAG_MARKERS = 20  # the end-of-run lag probe's markers per region pair
_WRITES = ("PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem")
_SET = re.compile(r"\bSET\b", re.IGNORECASE)


def stamped(target: str, payload: dict, region: str, now_ns: int | None = None) -> dict:
    """A write's payload with ORIGIN = region and WRITTEN = now on every item it puts or updates (the
    caller's dicts are not changed)."""
    now = {"N": str(time.time_ns() if now_ns is None else now_ns)}
    origin = {"S": region}

    def put(item: dict) -> dict:
        return {**item, glob.ORIGIN: origin, glob.WRITTEN: now}

    def update(u: dict) -> dict:
        expr = u["UpdateExpression"]
        stamp = f"{glob.WRITTEN} = :csw_w, {glob.ORIGIN} = :csw_o"
        m = _SET.search(expr)
        expr = f"{expr[:m.end()]} {stamp},{expr[m.end():]}" if m else f"SET {stamp} {expr}"
        return {**u, "UpdateExpression": expr,
                "ExpressionAttributeValues": {**u.get("ExpressionAttributeValues", {}), ":csw_w": now,
                                              ":csw_o": origin}}

    if target == "PutItem":
        return {**payload, "Item": put(payload["Item"])}
    if target == "UpdateItem":
        return update(payload)
    if target == "TransactWriteItems":
        items = []
        for entry in payload["TransactItems"]:
            if "Put" in entry:
                entry = {**entry, "Put": {**entry["Put"], "Item": put(entry["Put"]["Item"])}}
            elif "Update" in entry:
                entry = {**entry, "Update": update(entry["Update"])}
            items.append(entry)
        return {**payload, "TransactItems": items}
    if target == "BatchWriteItem":
        return {**payload, "RequestItems": {
            table: [{"PutRequest": {"Item": put(r["PutRequest"]["Item"])}} if "PutRequest" in r else r for r in rs]
            for table, rs in payload["RequestItems"].items()}}
    return payload


def stamp_writes(client, region: str) -> None:
    """Every write of the run's hot path on `client` (dynamodb_http) carries its region and time."""
    path = dynamodb_http.for_client(client)
    plain = type(path).call.__get__(path)

    def call(target: str, payload: dict) -> dict:
        return plain(target, stamped(target, payload, region) if target in _WRITES else payload)

    path.call = call  # (stores take `for_client(client).call` when they are made)


COUNTERS = ("version", "one_stars", "two_stars", "three_stars", "four_stars", "five_stars")  # what writes ADD to
SCAN_LIMIT = 200_000  # items per region the end-of-run convergence check reads at most


KEYS = ("id", "PK", "SK")  # the datasets' tables' key attributes (products: id; restaurants: PK, SK)


def table_state(client, table: str) -> tuple[dict, int] | None:
    """({item key: item without the replicator's stamps}, the sum of its counters) of a dataset's table:
    what the end-of-run check compares across regions (None past SCAN_LIMIT items). Each write of the run
    ADDs 1 to one counter (a product's version, a restaurant's star count), so the sum rises by the
    writes that survived. A probe's markers (glob.marker_key: 'csw-...', negative ids) are left out."""
    items, total, start = {}, 0, None
    while True:
        page = client.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        for item in page["Items"]:
            key = tuple((k, *item[k].items()) for k in KEYS if k in item)
            if any(str(v).startswith(("csw-", "-")) for _, (_, v) in key):
                continue
            # (a number as a value: a stream's image writes 410.6 where the writer sent 410.60)
            items[key] = {k: Decimal(v["N"]) if "N" in v else v for k, v in item.items()
                          if k not in (glob.ORIGIN, glob.WRITTEN)}
            total += sum(int(item[c]["N"]) for c in COUNTERS if c in item)
        start = page.get("LastEvaluatedKey")
        if len(items) > SCAN_LIMIT:
            return None
        if not start:
            return items, total


class _Quiet:
    """A stream consumer's cache: a record of no dataset item (a marker, the seeding record) is skipped."""

    def __init__(self, cache):
        self.cache = cache

    def delete(self, key) -> None:
        if key is not None:
            self.cache.delete(key)


def lag_pair(src: str, dst: str, lags: list) -> dict:
    """A region pair's lag probe as the reports keep it: markers sent and arrived, p50 with its 95%
    interval (order statistics), max; None in `lags` is a marker that never arrived."""
    arrived = sorted(x for x in lags if x is not None)
    pair = {"from": src, "to": dst, "markers": len(lags), "arrived": len(arrived)}
    if arrived:
        lo, hi = rank_bounds(len(arrived), 50)
        pair.update(p50_ms=round(statistics.median(arrived) * 1000, 2),
                    p50_ci_ms=[round(arrived[lo - 1] * 1000, 2) if lo >= 1 else None,
                               round(arrived[hi - 1] * 1000, 2) if hi <= len(arrived) else None],
                    max_ms=round(arrived[-1] * 1000, 2))
    return pair


class EveryRegion:
    """Remedy every-region: a user's cache (its home region's) whose DELs also go to every other region's
    Redis, in the write's timed call (on AWS each is a cross-region round trip the writer waits for)."""

    def __init__(self, home, others: list):
        self.home, self.others = home, others

    def __getattr__(self, name):  # everything else is the home region's
        return getattr(self.home, name)

    def delete(self, key: str) -> None:
        self.home.delete(key)
        for cache in self.others:
            cache.delete(key)

    def close(self) -> None:
        for cache in (self.home, *self.others):
            cache.close()


class RunRegions:
    """The regions of one process of a run. `endpoints` ({region: URL}) are the master's emulators on a
    worker, else None: the embedded emulation starts them (`start`), on AWS each region's endpoint."""

    def __init__(self, settings, users: int, endpoints: dict | None = None):
        self.settings, self.users = settings, users
        self.names = list(settings.regions.names)
        self.embedded = settings.dynamodb_endpoint == "embedded"
        self.endpoints = dict(endpoints or {})
        self.servers: list = []
        self.clients: dict = {}
        self.caches = {n: RedisCache(url, settings.redis_password, 8, settings.op_timeout, settings.redis_ca_cert)
                       for n, url in settings.regions.redis_urls.items()}
        self.replicators: dict = {}  # table -> Replicator (master or local process, embedded)
        self.invalidators: list = []  # remedy stream: a StreamInvalidator per region, while its phase runs
        self.invalidating = ""  # the phase they run for
        self.invalidated: dict = {}  # phase key -> {region: cached items its stream consumer deleted}
        self.tables: list[str] = []  # the run's tables (the lag probe writes its markers into the first)
        self.seeded: dict = {}  # table -> the sum of its counters when replication started (table_state)
        self.emulator = ""

    def start(self) -> dict:
        """Start one DynamoDB Local per region (embedded); the regions' endpoints."""
        if self.embedded and not self.endpoints:
            from . import emulator

            found = emulator.find_dynamodb_local()
            if isinstance(found, str):  # replication needs streams between separate servers: moto has neither
                raise dynamodb.DynamoDBError(f"--dynamodb-regions: {found}")
            for name in self.names:
                log.info("cacheswarm: starting DynamoDB Local for %s ...", name)
                try:
                    server = emulator.DynamoDBLocal(*found).start()
                except emulator.EmulatorError as e:
                    raise dynamodb.DynamoDBError(f"--dynamodb-regions: {e}") from None
                self.servers.append(server)
                self.endpoints[name] = server.endpoint
                self.emulator = server.name
        return self.endpoints

    def open(self) -> dict:
        """A client per region, its writes stamped in the emulation; {region: client}."""
        s = self.settings
        for name in self.names:
            if name not in self.clients:
                where = self.endpoints.get(name, "aws" if not self.embedded else None)
                self.clients[name] = dynamodb.make_client(where, name, s.dynamodb_retries,
                                                          max(self.users, s.mysql_pool_size), s.op_timeout)
                if self.embedded:
                    stamp_writes(self.clients[name], name)
        return self.clients

    def home(self, user: int) -> str:
        """The region of a phase's `user`-th user (counted over the run's processes): --home-region, else
        the regions in turn."""
        return self.settings.regions.home or self.names[user % len(self.names)]

    def backend(self, region: str) -> str:
        return self.settings.regions.backend(region)

    # ---- the emulation's replication (master or local process) ----
    def replicate(self, table: str) -> None:
        """Turn on `table`'s stream in every region (seeded alike, before) and replicate it from now on
        (on AWS the global table does: the table is only noted for the lag probe)."""
        if table not in self.tables:
            self.tables.append(table)
        if not self.embedded or table in self.replicators:
            return
        for name, client in self.clients.items():
            if not client.describe_table(TableName=table)["Table"].get("StreamSpecification", {}).get("StreamEnabled"):
                client.update_table(TableName=table, StreamSpecification={"StreamEnabled": True,
                                                                          "StreamViewType": "NEW_AND_OLD_IMAGES"})
        seeded = table_state(self.clients[self.names[0]], table)
        self.seeded[table] = seeded[1] if seeded else None
        regions = [glob.Region(n, c, dynamodb.make_client(self.endpoints[n], n, 0, 10, self.settings.op_timeout,
                                                          service="dynamodbstreams"))
                   for n, c in self.clients.items()]
        self.replicators[table] = glob.Replicator(regions, table, glob.parse_lag(self.settings.regions.lag)).start()
        log.info("cacheswarm: replicating %s between %s (emulated, lag %s)", table, ", ".join(self.names),
                 self.settings.regions.lag)

    def user_cache(self, region: str, remedy: str, wait_when_down: bool = False):
        """A user's cache in `region`: its Redis; with remedy every-region, DELs in every region's."""
        home = self.caches[region].for_user(wait_when_down=wait_when_down)
        if remedy != "every-region":
            return home
        return EveryRegion(home, [self.caches[r].for_user() for r in self.names if r != region])

    def before_phase(self, phase, store_of: dict, table: str) -> None:
        """Remedy stream runs while its phase does, and only then: the last phase's consumers stop, a
        cache-aside+stream phase's start. `store_of`: {region: the phase's dataset's store there}."""
        done = self.stop_invalidating()
        if done:
            log.info("cacheswarm: the stream consumers invalidated %s",
                     ", ".join(f"{n:,} in {r}" for r, n in done.items()))
        if phase.backend == "dynamodb" and remedy_of(phase.strategy) == "stream":
            self.invalidate_from_streams(phase.key, store_of, table)

    def invalidate_from_streams(self, phase: str, store_of: dict, table: str) -> None:
        """Remedy stream, for a phase: in each region a consumer of its table's stream DELs that region's
        cached copy of what a write from another region changed, once it landed there (on AWS, what a
        Lambda on the stream would do). `store_of`: {region: the dataset's store there} (its cache_key_of)."""
        self.stop_invalidating()
        self.invalidating = phase
        for name in self.names:
            streams = dynamodb.make_client(self.endpoints.get(name, "aws"), name, 0, 10, self.settings.op_timeout,
                                           service="dynamodbstreams")
            cache = self.caches[name].for_user()
            inv = glob.StreamInvalidator(glob.Region(name, self.clients[name], streams), table,
                                         _Quiet(cache), store_of[name].cache_key_of)
            self.invalidators.append(inv.__enter__())

    def stop_invalidating(self) -> dict:
        """End the stream consumers (kept in `invalidated`); {region: items they invalidated}."""
        for inv in self.invalidators:
            inv.__exit__()
        done = {inv.region.name: inv.invalidated for inv in self.invalidators}
        if self.invalidators:
            self.invalidated[self.invalidating] = done
        self.invalidators = []
        return done

    def summary(self, markers: int = LAG_MARKERS, settle: bool = True) -> dict:
        """What the report shows of the global table: the lag per region pair (a probe of `markers`
        markers per pair, now), and per table and pair the writes applied and those dropped as older
        than the replica's (lost to last-writer-wins), and with `settle`, whether the replicas agree
        once replication has settled; emulated replication only. An interrupted run takes neither
        probe nor check (Ctrl-C reaches the emulators too): markers=0, settle=False."""
        self.stop_invalidating()  # (the last phase is over)
        out = {"regions": self.names, "emulated": self.embedded, "emulator": self.emulator,
               "replication_lag": self.settings.regions.lag, "pairs": [], "tables": {},
               "stream_invalidated": self.invalidated}
        if not markers or not self.tables or len(self.clients) < 2:
            return self._settled(out, settle)
        table = self.tables[0]
        schema = glob.key_schema(self.clients[self.names[0]], table)
        regions = [glob.Region(n, c, None) for n, c in self.clients.items()]
        for src in regions:
            for dst in regions:
                if src is dst:
                    continue
                out["pairs"].append(lag_pair(src.name, dst.name, glob.probe_lag_keys(src, dst, table, schema,
                                                                                     markers)))
        return self._settled(out)

    def _settled(self, out: dict, settle: bool = True) -> dict:
        """`out` with, per table, what replication did (once it has settled, with `settle`)."""
        for _ in range(2 if settle else 0):  # the last records read, and any the readers had still to read
            deadline = time.monotonic() + 10
            while any(r.pending for r in self.replicators.values()) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(4 * glob.POLL_S)
        for name, r in self.replicators.items():
            out["tables"][name] = {
                "applied": {f"{a}->{b}": n for (a, b), n in sorted(r.applied.items())},
                "dropped": {f"{a}->{b}": n for (a, b), n in sorted(r.superseded.items())},
                "errors": len(r.errors), "first_error": r.errors[0] if r.errors else None,
                **(self._converged(name) if settle else {})}
        return out

    def _converged(self, table: str) -> dict:
        """After replication drained: how many items every region holds alike, and how far the counters
        the writes ADD to rose (from the first region) since replication started."""
        states = [table_state(self.clients[n], table) for n in self.names]
        if None in states:  # (too large to read back)
            return {}
        first = states[0][0]
        keys = set().union(*(s[0] for s in states))
        agree = sum(1 for k in keys if all(s[0].get(k) == first.get(k) for s in states[1:]))
        seeded = self.seeded.get(table)
        return {"items": len(keys), "agree": agree, "counters_rose": None if seeded is None else states[0][1] - seeded}

    def close(self) -> None:
        self.stop_invalidating()
        for r in self.replicators.values():
            r.stop()
        for client in self.clients.values():
            dynamodb_http.close(client)
            client.close()
        for cache in self.caches.values():
            cache.close()
        for server in self.servers:
            server.stop()
