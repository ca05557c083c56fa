"""Emulated DynamoDB global tables (issue 24): one DynamoDB Local per region, and a replicator that
stands in for AWS's replication between them with a lag the run chooses.

No emulator models replicas with lag (moto ignores ReplicaUpdates, others replicate synchronously),
so the regions here are separate DynamoDB Local servers, each with the table and its stream
(NEW_AND_OLD_IMAGES), and `Replicator` does what AWS does for a multi-region eventually consistent
(MREC) table: it tails every region's stream, holds each record for the configured lag, then applies
it to every other region, last writer wins. A write carries who made it and when (`stamp`: the
region in ORIGIN, a nanosecond timestamp in WRITTEN); a replicated write is applied only where the
item's own WRITTEN is older (ties broken by region name, so every replica picks the same winner),
and a write that arrives older than what a replica holds is dropped there: it was lost to a
concurrent write in another region (counted in `superseded`, per region pair). A put whose ORIGIN
is not its stream's region, and a delete the replicator made, are its own and not sent on again.

`probe_lag` measures what a user sees: a marker written in one region, polled for in another from
the same process (one clock, so no skew), the time until it is there. Figures from this module are
emulated replication and are labelled as such wherever they are shown.
"""

from __future__ import annotations

import heapq
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

from ..catalog import REGION_REMEDIES
from ..optbase import BadInput

ORIGIN = "csw_origin"  # the region whose user made the write
WRITTEN = "csw_written_ns"  # when, in ns since the epoch (the writer's clock; one process's in the emulation)
POLL_S = 0.005  # how often an idle replicator reads the streams, and the lag probe polls
SHARDS_EVERY_S = 1.0  # how often the replicator looks for new shards
# a replicated write lands where the replica's version is older (ties: the lower region name loses);
# a replicated delete where the replica holds the version deleted or an older one (a newer write wins)
_NEWER = f"attribute_not_exists({WRITTEN}) OR {WRITTEN} < :w OR ({WRITTEN} = :w AND {ORIGIN} < :o)"
_NOT_NEWER = f"attribute_not_exists({WRITTEN}) OR {WRITTEN} < :w OR ({WRITTEN} = :w AND {ORIGIN} <= :o)"


def _item(region: str, keys: dict) -> tuple:
    """An item of a region's table as a dict key: (region, its key attributes, typed, in order)."""
    return (region, *sorted((k, *v.items()) for k, v in keys.items()))


def stamp(item: dict, region: str, now_ns: int | None = None) -> dict:
    """`item` (DynamoDB's typed attributes) with who wrote it and when: what the replicator orders by."""
    return {**item, ORIGIN: {"S": region}, WRITTEN: {"N": str(time.time_ns() if now_ns is None else now_ns)}}


def parse_duration(text: str, option: str) -> float:
    """'40ms', '1.5s', '500us' -> seconds; BadInput naming the option otherwise."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(us|ms|s)", str(text).strip())
    if not m:
        raise BadInput(option, f"{text!r} is not a time: give one like 40ms or 1s")
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]


def parse_lag(text: str, option: str = "--replication-lag"):
    """'40ms' (fixed) or '20ms..150ms' (uniform between the two) -> a function that draws one lag in
    seconds. Bad input raises BadInput naming the option."""
    parts = str(text).split("..")
    try:
        values = [parse_duration(p, option) for p in parts]
    except BadInput:
        raise BadInput(option, f"{text!r} is not a lag: give a time like 40ms, or a range like 20ms..150ms") from None
    if len(values) > 2 or (len(values) == 2 and values[0] > values[1]):
        raise BadInput(option, f"{text!r}: a range is LOW..HIGH with LOW <= HIGH, e.g. 20ms..150ms")
    if len(values) == 1:
        lag = values[0]
        return lambda: lag
    low, high = values
    draw = random.Random().uniform
    return lambda: draw(low, high)


@dataclass
class Region:
    """One region's table: its DynamoDB client and its streams client (stores.dynamodb.make_client)."""
    name: str
    client: object
    streams: object
    iterators: dict = field(default_factory=dict)  # shard id -> next iterator (None: the shard is closed)
    shards_at: float = 0.0


def open_shards(r: Region, table: str, iterators: dict, where: str) -> None:
    """An iterator in `iterators` (shard id -> iterator) for each shard of the table's stream in region
    `r` that has none yet, at `where` (LATEST or TRIM_HORIZON)."""
    arn = r.client.describe_table(TableName=table)["Table"].get("LatestStreamArn")
    if not arn:
        raise ValueError(f"{table} in {r.name} has no stream: create it with NEW_AND_OLD_IMAGES")
    for shard in r.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        if shard["ShardId"] not in iterators:
            iterators[shard["ShardId"]] = r.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=where)["ShardIterator"]


def read_shards(r: Region, iterators: dict):
    """One read of every open shard: yields each read's records and moves its iterator on (None once
    the shard is closed)."""
    for shard, it in list(iterators.items()):
        if it is not None:
            out = r.streams.get_records(ShardIterator=it)
            iterators[shard] = out.get("NextShardIterator")
            yield out["Records"]


class Replicator:
    """Replication between the regions' tables, `lag()` seconds after a write reached its stream.

    start() tails each stream from its end (what is written from then on replicates: start it before
    the writes, as a global table's replicas exist before its users), a shard found later from its
    beginning; stop() ends it. A replicated delete removes the item where no newer write is: there
    are no tombstones, so a write older than the delete that arrives after it brings the item back
    (AWS keeps the delete's time; runs that delete and write one item across regions within the lag
    see more resurrections here than there). Counters: `applied[(src, dst)]`, `superseded[(src, dst)]` (a
    write that lost to a newer one already in dst: an update lost to last-writer-wins), `errors`."""

    def __init__(self, regions: list[Region], table: str, lag, poll_s: float = POLL_S):
        if len(regions) < 2:
            raise ValueError("a global table needs two regions or more")
        self.regions, self.table, self.lag, self.poll_s = regions, table, lag, poll_s
        self.applied: dict = {}
        self.superseded: dict = {}
        self.errors: list[str] = []
        self._due: list = []  # heap of (due, seq, source region, record), under _ready's lock
        self._ready = threading.Condition()
        self._seq = self._applying = 0
        self._last_due: dict = {}  # (region, key) -> when its latest write is due elsewhere
        self._echoes: dict = {}  # (region, key) -> deletes the replicator made there, whose REMOVE is not a user's
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Replicator":
        for r in self.regions:
            self._refresh_shards(r, time.monotonic(), "LATEST")
        # a reader per region (its stream polled as fast as the emulator answers) and one applier that
        # sleeps until the next record is due: the lag is the one given, not rounded up to a poll cycle
        self._threads = [threading.Thread(target=self._reader, args=(r,), name=f"cacheswarm-replicator-{r.name}",
                                          daemon=True) for r in self.regions]
        self._threads.append(threading.Thread(target=self._applier, name="cacheswarm-replicator-apply", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        for t in self._threads:
            t.join(timeout)

    def __enter__(self) -> "Replicator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pending(self) -> int:
        """Records read from a stream and not yet applied (held for their lag, or being applied)."""
        return len(self._due) + self._applying

    def _refresh_shards(self, r: Region, now: float, where: str = "TRIM_HORIZON") -> None:
        open_shards(r, self.table, r.iterators, where)
        r.shards_at = now

    def _reader(self, r: Region) -> None:
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now - r.shards_at >= SHARDS_EVERY_S:
                    self._refresh_shards(r, now)
                got = self._read(r)
            except Exception as e:  # counted; replication goes on (a region's hiccup is not the run's end)
                self.errors.append(f"{r.name}: {e}")
                got = 0
            if not got:
                self._stop.wait(self.poll_s)

    def _read(self, r: Region) -> int:
        got = 0
        for records in read_shards(r, r.iterators):
            seen = time.monotonic()
            for record in records:
                item = _item(r.name, record["dynamodb"]["Keys"])
                if record["eventName"] == "REMOVE":
                    with self._ready:  # a delete the replicator made here: replicated once, not sent on
                        echo = self._echoes.get(item, 0)
                        if echo:
                            self._echoes[item] = echo - 1
                            continue
                elif record["dynamodb"].get("NewImage", {}).get(ORIGIN, {}).get("S") not in (None, r.name):
                    continue  # the replicator's own write (it carries its origin): replicated once, not sent on
                # an item's writes arrive in their order, as AWS replicates them: with a drawn lag, never
                # before the item's previous write from this region (else LWW would count it as lost)
                due = max(seen + self.lag(), self._last_due.get(item, 0.0))
                self._last_due[item] = due
                with self._ready:
                    self._seq += 1
                    heapq.heappush(self._due, (due, self._seq, r.name, record))
                    self._ready.notify()
                got += 1
        return got

    def _applier(self) -> None:
        while True:
            with self._ready:
                while not self._stop.is_set() and (not self._due or self._due[0][0] > time.monotonic()):
                    self._ready.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if self._stop.is_set():
                    return
                _, _, source, record = heapq.heappop(self._due)
                self._applying = 1
            for dst in self.regions:
                if dst.name != source:
                    self._apply(source, dst, record)
            self._applying = 0

    def _apply(self, source: str, dst: Region, record: dict) -> None:
        data, pair = record["dynamodb"], (source, dst.name)
        image = data.get("NewImage") or data["OldImage"]
        written, origin = image.get(WRITTEN), image.get(ORIGIN, {"S": source})
        values = {":w": written or {"N": "0"}, ":o": origin}
        try:
            if record["eventName"] == "REMOVE":
                # a delete in `source` removes the replica's item unless a newer write is already there. The
                # REMOVE it causes in dst's stream is this delete's echo: counted before the delete (dst's reader
                # may see the REMOVE before the call returns), taken back if nothing was removed
                item = _item(dst.name, data["Keys"])
                with self._ready:
                    self._echoes[item] = self._echoes.get(item, 0) + 1
                removed = False
                try:
                    removed = "Attributes" in dst.client.delete_item(
                        TableName=self.table, Key=data["Keys"], ConditionExpression=_NOT_NEWER,
                        ExpressionAttributeValues=values, ReturnValues="ALL_OLD")
                finally:
                    if not removed:
                        with self._ready:
                            self._echoes[item] -= 1
            else:
                dst.client.put_item(TableName=self.table, Item=data["NewImage"], ConditionExpression=_NEWER,
                                    ExpressionAttributeValues=values)
            self.applied[pair] = self.applied.get(pair, 0) + 1
        except dst.client.exceptions.ConditionalCheckFailedException:
            self.superseded[pair] = self.superseded.get(pair, 0) + 1
        except Exception as e:  # counted, never fatal
            self.errors.append(f"{source}->{dst.name}: {e}")


def probe_lag(source: Region, dest: Region, table: str, key_name: str, count: int = 20, **kw) -> list[float | None]:
    """Replication lag from `source` to `dest` as a user sees it: `count` markers written in `source`
    (`every_s` apart), each polled for in `dest` with strongly consistent reads every `poll_s`; the
    seconds from the write to the first read that found it (each request's middle: see _probe), or
    None when it did not arrive within `timeout_s`. The markers are deleted afterwards (in both regions: the delete replicates).
    `key_name`: the table's string hash key (probe_lag_keys takes any key schema)."""
    return probe_lag_keys(source, dest, table, [(key_name, "S")], count, **kw)


def key_schema(client, table: str) -> list[tuple[str, str]]:
    """[(attribute, type S|N|B), ...] of the table's key, hash first."""
    return schema_of(client.describe_table(TableName=table)["Table"])


def schema_of(t: dict) -> list[tuple[str, str]]:
    """key_schema of a DescribeTable answer's Table."""
    types = {a["AttributeName"]: a["AttributeType"] for a in t["AttributeDefinitions"]}
    return [(k["AttributeName"], types[k["AttributeName"]]) for k in sorted(t["KeySchema"], key=lambda k: k["KeyType"])]


def marker_key(schema: list[tuple[str, str]], name: str) -> dict:
    """A key of the probe's own, far from a dataset's: strings 'csw-<name>', numbers negative."""
    number = -(int.from_bytes(name.encode()[-7:], "big") % 10**15) - 1
    typed = {"S": {"S": f"csw-{name}"}, "N": {"N": str(number)}, "B": {"B": f"csw-{name}".encode()}}
    return {attr: typed[kind] for attr, kind in schema}


def probe_lag_keys(source: Region, dest: Region, table: str, schema, count: int = 20, **kw) -> list[float | None]:
    """probe_lag for any key schema (key_schema; its markers from marker_key). `into`: a list the lags
    are appended to as they are measured (what an interrupted probe had measured stays there)."""
    token = uuid.uuid4().hex[:12]
    return _probe(source, dest, table, [marker_key(schema, f"lag-{token}-{i}") for i in range(count)], **kw)


INFLIGHT = 32  # a lag probe's reads in flight at once: a far region's round trip does not set its resolution


def _probe(source, dest, table, keys, every_s: float = 0.05, timeout_s: float = 10.0, poll_s: float = 0.002,
           into: list | None = None):
    """Each marker's lag from the middle of its write to the middle of the first read that found it: a
    request reaches its server about half its round trip after it is sent, so a probe far from either
    region does not add its distance to the lag (on AWS, a read from us-east-1 into eu-west-1 takes
    ~70 ms; its answer describes the table as it was ~35 ms after sending). A read starts every `poll_s`
    without waiting for the one before (up to INFLIGHT at once), so the resolution is `poll_s` there too."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    def read(key):
        asked = time.monotonic()
        try:
            found = bool(dest.client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item"))
        except Exception:  # a failed read finds nothing; the marker's timeout bounds the wait
            found = False
        return (asked + time.monotonic()) / 2, found

    lags = [] if into is None else into
    with ThreadPoolExecutor(max_workers=INFLIGHT, thread_name_prefix="cacheswarm-lag-probe") as pool:
        for key in keys:
            sent = time.monotonic()
            source.client.put_item(TableName=table, Item=stamp(key, source.name))
            written = (sent + time.monotonic()) / 2
            pending, seen, next_at = set(), [], time.monotonic()
            while not seen and time.monotonic() - written < timeout_s:
                if len(pending) < INFLIGHT and time.monotonic() >= next_at:
                    pending.add(pool.submit(read, key))
                    next_at = time.monotonic() + poll_s
                done, pending = wait(pending, timeout=max(0.0, next_at - time.monotonic()),
                                     return_when=FIRST_COMPLETED)
                seen = [middle for middle, found in (f.result() for f in done) if found]
            # reads sent before the first that found it may still find it, at an earlier middle
            seen += [middle for middle, found in (f.result() for f in wait(pending).done) if found]
            lags.append(max(0.0, min(seen) - written) if seen else None)
            source.client.delete_item(TableName=table, Key=key)
            time.sleep(every_s)
    return lags


VALUE = "csw_value"  # the conflict probe's attribute: which region's write this copy holds


REFUSED = "ReplicatedWriteConflictException"  # a multi-region strongly consistent table's answer to a conflict


def probe_conflicts(regions: list[Region], table: str, schema, count: int = 10, timeout_s: float = 30.0,
                    poll_s: float = 0.02) -> dict:
    """Concurrent updates, as users in every region make them: each of `count` items written once in
    every region, back to back (well within any replication lag), then read in every region until all
    copies agree or `timeout_s` passes. On an eventually consistent table (MREC) last writer wins: of each
    item's acknowledged writes all but the one every replica keeps are lost, silently. A strongly
    consistent one (MRSC) refuses a conflicting write instead (ReplicatedWriteConflictException): counted
    as `refused`, not lost, as its writer was told.
    -> {items, writes, acknowledged, refused, lost, agree, winners: {region: items}, converged_s}; the
    items are deleted after."""
    token = uuid.uuid4().hex[:12]
    keys = [marker_key(schema, f"conflict-{token}-{i}") for i in range(count)]
    acknowledged, refused = [0] * count, 0
    for i, key in enumerate(keys):
        for r in regions:
            try:
                r.client.put_item(TableName=table, Item={**stamp(key, r.name), VALUE: {"S": r.name}})
                acknowledged[i] += 1
            except r.client.exceptions.ClientError as e:
                if e.response.get("Error", {}).get("Code") != REFUSED:
                    raise
                refused += 1
    started = time.monotonic()
    finals: list[set] = []
    while True:
        finals = [{(r.client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {})
                   .get(VALUE, {}).get("S") for r in regions} for key in keys]
        if all(len(f) == 1 for f in finals) or time.monotonic() - started > timeout_s:
            break
        time.sleep(poll_s)
    converged = time.monotonic() - started
    agreed = [(i, next(iter(f))) for i, f in enumerate(finals) if len(f) == 1 and None not in f]
    winners: dict = {}
    for _, w in agreed:
        winners[w] = winners.get(w, 0) + 1
    for key in keys:
        regions[0].client.delete_item(TableName=table, Key=key)
    return {"items": count, "writes": count * len(regions), "acknowledged": sum(acknowledged), "refused": refused,
            "agree": len(agreed), "lost": sum(acknowledged[i] - 1 for i, _ in agreed), "winners": winners,
            "converged_s": round(converged, 3) if len(agreed) == count else None}


class EmulatedRegions:
    """One DynamoDB Local per region on loopback, each with `table` (string hash key `id`, on-demand,
    its stream NEW_AND_OLD_IMAGES), and a Replicator between them with `lag`; stopped on exit whatever
    ends it. `say(line)` is told what starts (it takes a few seconds per region)."""

    def __init__(self, names: list[str], table: str, lag, timeout: float = 10.0, say=lambda _line: None):
        self.names, self.table, self.lag, self.timeout, self.say = names, table, lag, timeout, say
        self.servers: list = []
        self.regions: list[Region] = []
        self.replicator: Replicator | None = None
        self.emulator = ""

    def __enter__(self) -> "EmulatedRegions":
        from .. import emulator
        from . import dynamodb

        found = emulator.find_dynamodb_local()
        if isinstance(found, str):  # replication needs streams between separate servers: moto has neither
            raise emulator.EmulatorError(found)
        try:
            for name in self.names:
                self.say(f"starting DynamoDB Local for {name} ...")
                server = emulator.DynamoDBLocal(*found).start()
                self.servers.append(server)
                client = dynamodb.make_client(server.endpoint, name, 0, INFLIGHT + 8, self.timeout)
                client.create_table(TableName=self.table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                    BillingMode="PAY_PER_REQUEST",
                                    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
                streams = dynamodb.make_client(server.endpoint, name, 0, 10, self.timeout, service="dynamodbstreams")
                self.regions.append(Region(name, client, streams))
                self.emulator = server.name
            self.replicator = Replicator(self.regions, self.table, self.lag).start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.replicator is not None:
            self.replicator.stop()
        for server in self.servers:
            server.stop()


# ---- regional caches: what a user in another region reads through its own cache after a write ----

REMEDIES = ("local", *REGION_REMEDIES)
REMEDY_TEXT = {"local": "the writer invalidates its own region's cache",
               "every-region": "the writer invalidates every region's cache",
               "stream": "each region's stream consumer invalidates its cache when the write arrives"}


class StreamInvalidator:
    """Remedy 'stream': a consumer of one region's stream that deletes that region's cached copy of each
    item a replicated write (or delete) changed, once it has landed in that region's replica."""

    def __init__(self, region: Region, table: str, cache, cache_key, poll_s: float = POLL_S):
        self.region, self.table, self.cache, self.cache_key, self.poll_s = region, table, cache, cache_key, poll_s
        self.invalidated = 0
        self.seen: dict = {}  # cache key -> how many times this consumer deleted it
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._iterators: dict = {}
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "StreamInvalidator":
        open_shards(self.region, self.table, self._iterators, "LATEST")
        self._thread = threading.Thread(target=self._run, name=f"cacheswarm-invalidator-{self.region.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            got = 0
            try:  # (what a read returned before a failing one is handled; the failed shard is read next time)
                for records in read_shards(self.region, self._iterators):
                    for record in records:
                        image = record["dynamodb"].get("NewImage")
                        if image is not None and image.get(ORIGIN, {}).get("S") in (None, self.region.name):
                            continue  # this region's own write: its writer invalidated already
                        key = self.cache_key(record["dynamodb"]["Keys"])
                        self.cache.delete(key)
                        self.invalidated += 1
                        self.seen[key] = self.seen.get(key, 0) + 1
                        got += 1
            except Exception as e:  # counted; the consumer goes on
                self.errors.append(str(e))
            if not got:
                self._stop.wait(self.poll_s)


def read_through(region: Region, cache, table: str, key: dict, cache_key: str, ttl_ms: int):
    """A cache-aside read in `region`: its cache, else its own replica (strongly consistent there),
    then SET with the TTL. -> (value, 'hit'|'miss')."""
    cached = cache.get(cache_key)
    if cached is not None:
        return cached.decode(), "hit"
    item = region.client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}
    value = item.get(VALUE, {}).get("S", "")
    cache.set(cache_key, value, px=ttl_ms)
    return value, "miss"


def probe_stale(regions: list[Region], caches: dict, table: str, remedy: str, items: int = 5, ttl_s: float = 2.0,
                prefix: str = "cacheswarm:replication", poll_s: float = 0.005, schema=(("id", "S"),)) -> dict:
    """Cross-region stale reads through regional caches, for one remedy. Per item: a first value written
    in the first region and replicated everywhere, every region's cache warmed with it, then a second
    value written in the first region (and invalidated as `remedy` says); users in every other region
    then read through their own cache every `poll_s` until they see the second value (or `ttl_s` + 1 s
    pass). -> {remedy, items, ttl_s, stale_s: [per item and reading region, None: never fresh],
    stale_reads, reads, recached_stale (misses that loaded the old value back from a replica the write
    had not reached: a deletion too early)}. `caches`: region name -> a redis client (one Redis per
    region; locally, one Redis with a key prefix per region). `schema`: the table's key (key_schema)."""
    if remedy not in REMEDIES:
        raise ValueError(f"remedy {remedy!r}: one of {', '.join(REMEDIES)}")
    home, others = regions[0], regions[1:]
    token = uuid.uuid4().hex[:12]
    def ckey(region: str, keys: dict) -> str:  # the item's key in that region's cache
        return f"{prefix}:{region}:" + "|".join(str(next(iter(keys[attr].values()))) for attr, _ in schema)

    ttl_ms = max(1, round(ttl_s * 1000))
    result = {"remedy": remedy, "items": items, "ttl_s": ttl_s, "stale_s": [], "stale_reads": 0, "reads": 0,
              "recached_stale": 0}
    consumers = [StreamInvalidator(r, table, caches[r.name], lambda keys, n=r.name: ckey(n, keys), poll_s)
                 for r in others] if remedy == "stream" else []
    for c in consumers:
        c.__enter__()
    try:
        for i in range(items):
            key = marker_key(list(schema), f"stale-{token}-{i}")
            home.client.put_item(TableName=table, Item={**stamp(key, home.name), VALUE: {"S": "old"}})
            for r in others:  # replicated everywhere (and its consumers done with it) before the caches are warmed
                while (r.client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}) \
                        .get(VALUE, {}).get("S") != "old":
                    time.sleep(poll_s)
            while not all(c.seen.get(ckey(c.region.name, key)) for c in consumers):
                time.sleep(poll_s)
            for r in regions:
                caches[r.name].delete(ckey(r.name, key))
                read_through(r, caches[r.name], table, key, ckey(r.name, key), ttl_ms)
            home.client.put_item(TableName=table, Item={**stamp(key, home.name), VALUE: {"S": "new"}})
            written = time.monotonic()
            for r in (regions if remedy == "every-region" else [home]):
                caches[r.name].delete(ckey(r.name, key))
            pending = {r.name: r for r in others}
            while pending and time.monotonic() - written < ttl_s + 1.0:
                for name, r in list(pending.items()):
                    value, how = read_through(r, caches[name], table, key, ckey(name, key), ttl_ms)
                    result["reads"] += 1
                    if value == "new":
                        result["stale_s"].append(round(time.monotonic() - written, 4))
                        del pending[name]
                    else:
                        result["stale_reads"] += 1
                        result["recached_stale"] += how == "miss"
                time.sleep(poll_s)
            result["stale_s"].extend(None for _ in pending)
            home.client.delete_item(TableName=table, Key=key)
            for r in regions:
                caches[r.name].delete(ckey(r.name, key))
    finally:
        for c in consumers:
            c.__exit__()
    result["invalidated_by_streams"] = sum(c.invalidated for c in consumers)
    return result
