"""One phase's operation loop: choose op and key, run the strategy, time it, record it.

Plain Python (no Locust import): the glue hands in a `fire` callback that reports each
operation to Locust. One PhaseLoop per user and phase.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from functools import partial
from time import perf_counter_ns

import gevent
from gevent import idle as _idle

from . import catalog, patterns, staleness, strategies
from .cache import CacheUnavailable
from .strategies import CACHE_ERROR
from .recorder import (CAPACITY, EVENT, LATENCY, MEASURED, SCAN_LOADED, SERVICE, START_DELAY, TARGET, WARMUP, Recorder,
                       series_key, timeline_key)
from .stores import dynamodb
from .workload import INSERT, READ, RMW, RMW_READ, RMW_WRITE, SCAN, SCAN_LENGTHS, WRITE, Workload, make_chooser

TIMER_SLACK_NS = 1_000_000
PAST_END_SLEEP_S = 0.05  # how a user idles between its phase's end and the shape stopping it
# what Locust is told for a cache_error: a failure (shown in its Failures tab), though the
# operation completed through the database
DEGRADED = CacheUnavailable("Redis unavailable: cache-aside fell back to the database")


def failed(e: Exception) -> str:
    """The outcome of an operation that raised `e`: throttled (DynamoDB) or error."""
    return strategies.THROTTLED if dynamodb.is_throttle(e) else strategies.ERROR


class PhaseLoop:
    """One phase's operation: choose op and key, run the strategy, time it, record it."""

    def __init__(self, rt, key: catalog.PhaseKey, measure_from: float, fire,
                 recorder: Recorder, user_rate: float = 0.0, measure_until: float = float("inf"), user: int = 0):
        s = rt.settings
        dataset, backend, strategy = key.dataset, key.backend, key.strategy
        field = key.field  # a capacity step's strategy carries its step (db-only@2): its own series
        binding = catalog.BINDINGS[(dataset, backend)]
        # a global table's user: its home region's replica and Redis, its figures under dynamodb@REGION
        region = rt.regions.home(user) if rt.regions is not None and backend == "dynamodb" else None
        store = (rt.region_stores[(dataset, region)] if region else rt.stores[(dataset, backend)]).for_user()
        shared = rt.regions.caches[region] if region else rt.cache
        wait = strategy == strategies.CacheOnly.name
        self.cache = None if not strategies.STRATEGIES[strategy].uses_cache else (
            rt.regions.user_cache(region, catalog.remedy_of(strategy), wait) if region
            else shared.for_user(rt.reader_cache, wait_when_down=wait))
        self.shared_cache, self.deferred = shared, []  # double-delete's second DELs still to come
        self.delay = s.cache.double_delete_delay
        rng = random.Random()
        self.loads = rt.loads_of(key.text)
        self.strategy = strategies.make(strategy, store, self.cache, s.cache_ttl, s.cache.write_policy, self.later,
                                        s.cache.stampede_protection, self.loads, s.cache.ttl_jitter, rng)
        self.take_capacity = getattr(store, "take_capacity", None)  # DynamoDB: capacity units per operation
        keyspace = rt.keyspaces[dataset]
        self.after_op = None  # what runs after an operation's timing (the rate limiter's audit)
        if binding.versions:  # a Redis-native pattern: its own operations and mix
            pattern_ops, self.after_op = store.ops(self.cache, strategy)
            self.inserts = None
            self.workload = patterns.PatternWorkload(store.MIX, make_chooser(s.key_distribution, keyspace,
                                                                              s.zipf_theta, rng), rng)
            ops = list(store.OPS)
        else:
            mix = s.workload.mix()
            self.inserts = (rt.insert_ids(dataset, backend, key.text) if mix["insert"]
                            else None)
            records = self.inserts.size if self.inserts is not None else (lambda: keyspace)
            chooser = make_chooser(s.key_distribution, keyspace, s.zipf_theta, rng, records)
            lengths = SCAN_LENGTHS[s.workload.scan_length_distribution](s.workload.max_scan_length, rng) if mix["scan"] else None
            self.workload = Workload(s.read_ratio, chooser, rng, mix, self.inserts, lengths, records)
            ops = [op for op, share in ((READ, s.read_ratio), (INSERT, mix["insert"]), (SCAN, mix["scan"]),
                                        (RMW, mix["rmw"])) if share]
            ops += [WRITE] if s.read_ratio + sum(mix.values()) < 1.0 - 1e-9 else []
            ops += [RMW_READ, RMW_WRITE] if mix["rmw"] else []
            pattern_ops = None
        self.parts: list = []  # a read-modify-write's read and write: (op, outcome, start ns, end ns, units)
        self.measure_from_ns = int(measure_from * 1e9)
        self.phase_start_ns = self.measure_from_ns - int(s.warmup * 1e9)  # this process's phase start
        # the phase's window ends here: later operations are not started (the user idles until the
        # shape stops it), so none is counted past --phase-time and the server sees the phase end
        self.measure_until_ns = int(measure_until * 1e9) if measure_until != float("inf") else 1 << 62
        self.fire = fire
        # Locust's stats: a StatsBatch takes each name's successes in lists at flush() (its add() is `fire`);
        # any other `fire` (tests) is told of every operation as it completes
        batch = getattr(fire, "__self__", None)
        self.batch = batch if hasattr(batch, "take") else None
        self.recorder = recorder
        self.record = recorder.record
        self.slots: dict = {}  # (op, outcome, window) -> Slot: what recording an operation touches
        self.last_end = 0  # perf_counter_ns when the last operation ended
        base = self.base = (dataset, rt.regions.backend(region) if region else backend, field)
        # series keys made when first used (every op x outcome x window x kind up front was 112 strings a
        # user: ~150 MB at 10,000 users)
        self.series = Keys(lambda k: series_key(*base, *k))  # (op, outcome, window, kind)
        self.ops = pattern_ops or {READ: self.strategy.read, WRITE: self.strategy.write, INSERT: self.strategy.insert,
                                   SCAN: self.strategy.scan, RMW: self.rmw}
        self.events_series = Keys(lambda k: series_key(*base, READ, k[0], k[1], EVENT))  # (event, window)
        # a cache-aside scan's records loaded and SET: one value per scan (exact below 2,048)
        self.scan_loaded = ({w: series_key(*base, SCAN, SCAN_LOADED, w, EVENT) for w in (MEASURED, WARMUP)}
                            if SCAN in ops and isinstance(self.strategy, strategies.CacheAside) else None)
        replica = backend in rt.readers  # db-only reads from a replica: audited against the primary
        self.after_read = isinstance(self.strategy, strategies.CacheAside) or replica
        self.audit = None
        audited = strategy.startswith(strategies.CacheAside.name) or (strategy == "db-only" and replica)
        if audited and s.cache.staleness_sample > 0 and catalog.VERSIONS in binding.capabilities:  # (not a query's result)
            double = key.policy(s.cache.write_policy) == "double-delete"
            self.audit = staleness.Auditor(store, self.cache, s.cache.staleness_sample, rng, recorder.record, {
                (o, w): series_key(*base, READ, o, w, staleness.AUDIT)
                for o in staleness.OUTCOMES for w in (MEASURED, WARMUP)},
                confirm_after=s.cache.double_delete_delay + 0.05 if double else staleness.RACE_CONFIRM_S)
        # anything an operation does after its timing beyond its counts and Locust's stats
        # (a cache-aside read's stampede events alone are counted inline: the strategy, in self.events)
        self.events = self.strategy if isinstance(self.strategy, strategies.CacheAside) else None
        plain_reads = self.audit is None and (self.events is not None or not self.after_read)
        self.extras = bool(self.take_capacity is not None or self.after_op is not None or not plain_reads
                           or self.scan_loaded is not None or RMW in ops)
        if user_rate > 0:  # open loop: a schedule of intended starts, first one staggered
            self.interval_ns = int(1e9 / user_rate)
            self.intended_ns = time.perf_counter_ns() + int(rng.random() * self.interval_ns)
            self.step = self.step_open
        else:
            self.step = partial(self.operate, None)  # closed loop: no frame of ours between the glue and it

    def later(self, cache_key: str) -> None:
        """double-delete: DEL `cache_key` again after --double-delete-delay, over the shared pool."""
        self.deferred = [(g, k) for g, k in self.deferred if not g.dead]
        self.deferred.append((gevent.spawn_later(self.delay, self.second_delete, cache_key), cache_key))

    def second_delete(self, cache_key: str) -> None:
        self.shared_cache.delete_quietly(cache_key)
        self.loads.removed(cache_key)

    def audited(self, key: int, outcome: str, value, window: str, t0: int) -> None:
        """After a cache-aside read's timing: count what else it did (a duplicate load, a wait for
        another loader, an early refresh), then the staleness audit of a sampled read (started at
        perf_counter_ns `t0`; a DynamoDB read it makes is not charged to the next operation)."""
        if self.events is not None and self.events.event is not None:
            self.record(self.events_series[(self.events.event, window)], 1)
        if self.audit is None:
            return
        self.audit.after_read(key, outcome, value, window, time.time() - (time.perf_counter_ns() - t0) / 1e9)
        if self.take_capacity is not None:
            self.take_capacity()

    def rmw(self, key):
        """Read-modify-write: the strategy's read, then its write of the same record, as one
        operation (outcome: the read's, or cache_error if either part degraded). Each part is
        kept in `parts` and recorded beside it, with the DynamoDB capacity it used; a part that
        raises is recorded as failed."""
        read_outcome, _value = self.part(RMW_READ, self.strategy.read, key, time.perf_counter_ns())
        write_outcome, value = self.part(RMW_WRITE, self.strategy.write, key, self.parts[-1][3])
        degraded = strategies.CACHE_ERROR in (read_outcome, write_outcome)
        return (strategies.CACHE_ERROR if degraded else read_outcome), value

    def part(self, op: str, call, key, start: int):
        """One part of a read-modify-write, from `start` (ns) to its end: kept in `parts` with the
        capacity it used, or as failed if it raised (the exception goes on to fail the whole)."""
        try:
            outcome, value = call(key)
        except Exception as e:
            self.parts.append((op, failed(e), start, time.perf_counter_ns(), 0))
            raise
        end = time.perf_counter_ns()
        self.parts.append((op, outcome, start, end, self.take_capacity() if self.take_capacity else 0))
        return outcome, value

    def record_parts(self, window: str, intended: int | None = None) -> None:
        """A read-modify-write's parts: the read timed from the operation's start (open loop: from its
        intended start, as a read there would be), the write from the end of the read."""
        for n, (op, outcome, start, end, units) in enumerate(self.parts):
            service = (end - start) // 1000
            latency = (end - intended) // 1000 if intended is not None and n == 0 else service
            self.record(self.series[(op, outcome, window, LATENCY)], latency)
            if intended is not None:
                self.record(self.series[(op, outcome, window, SERVICE)], service)
            if units:
                self.record(self.series[(op, outcome, window, CAPACITY)], round(units * 100))
        self.parts = []

    def count_capacity(self, op: str, outcome: str, window: str) -> None:
        units = self.take_capacity()
        if units:
            self.record(self.series[(op, outcome, window, CAPACITY)], round(units * 100))

    def past_the_end(self, start_ns: int) -> bool:
        if start_ns < self.measure_until_ns:
            return False
        for slot in self.slots.values():  # the window's last operations counted now, not at the next flush
            slot.fold()
        time.sleep(PAST_END_SLEEP_S)
        return True

    def step_open(self) -> None:
        """Wait for the intended start, then run the operation (operate: latency from the intended
        start, corrected for coordinated omission; service time from the actual start; start delay).
        The schedule never slips: after a stall, overdue operations start back to back."""
        intended = self.intended_ns
        if self.past_the_end(intended):
            return
        self.intended_ns = intended + self.interval_ns
        wait = intended - perf_counter_ns()
        if wait > 0:
            # gevent's timers fire ~1 ms late (poll granularity): sleep to 1 ms before the
            # intended start, then yield until it (measured: start delay p50 970 µs -> 2 µs)
            if wait > TIMER_SLACK_NS:
                time.sleep((wait - TIMER_SLACK_NS) / 1e9)
            while perf_counter_ns() < intended:
                # not sleep(0): a greenlet that re-queues itself is run again before the loop polls
                # for I/O (for up to gevent's switch interval), so other users' replies waited on
                # the spinner (2 users at 2,000 ops/s: service p50 0.08 -> 0.48 ms). An idle watcher
                # runs only after pending I/O has been handled.
                _idle()
        self.operate(intended)

    def operate(self, intended: int | None) -> str | None:
        """Choose, run and time the next operation, then record it; return its outcome (None: the window
        was over, nothing ran).

        Recorded, closed or open loop: its latency (µs; open loop from `intended`) counted for its
        histogram and its second of the phase's timeline, Locust's stats, then (self.extras) the
        DynamoDB capacity it used, a read-modify-write's parts, the pattern's audit, a cache-aside
        read's counts. Counts go straight into the recorder's pending dicts (recorder.pending_for);
        one function for the whole path, as every call per operation shows in its cost (bench).
        Closed loop (`intended` None), the end of the last operation says whether the window is over."""
        if intended is None and self.last_end >= self.measure_until_ns and self.past_the_end(perf_counter_ns()):
            return None
        op, key = self.workload.next()
        exc = None
        before = self.last_end  # this user's previous operation's end (open loop: it may have held this one)
        t0 = perf_counter_ns()
        try:
            outcome, value = self.ops[op](key)
        except Exception as e:  # counted, never fatal to the user
            outcome, value, exc = failed(e), None, e
        t1 = self.last_end = perf_counter_ns()
        if outcome == CACHE_ERROR:
            exc = DEGRADED
        if op == INSERT:  # done or failed, as YCSB: `latest` may now draw it (outside the timed call)
            self.inserts.acknowledge(key)
        start = t0 if intended is None else intended
        window = MEASURED if start >= self.measure_from_ns else WARMUP
        slot = self.slots.get((op, outcome, window)) or self.new_slot(op, outcome, window)
        if intended is not None:
            counts, us = slot.service, (t1 - t0) // 1000
            counts[us] = counts.get(us, 0) + 1
            counts, us = slot.delay, max(0, t0 - intended) // 1000
            counts[us] = counts.get(us, 0) + 1
            # the target's time: the service time plus the wait for this user's previous reply when that came
            # after the intended start (queued behind the target); the rest of the latency is the generator
            # late to send once the user was free
            counts, us = slot.target, (t1 - t0 + (before - intended if before > intended else 0)) // 1000
            counts[us] = counts.get(us, 0) + 1
        latency = (t1 - start) // 1000
        # the phase's per-second series (warm-up included, so a cold cache's warming shows)
        if start >= slot.second_end:  # (a loop's starts only rise)
            self.to_second(slot, start)
        length = len(value) if value.__class__ is bytes else size_of(value)
        if exc is None and self.batch is not None:
            # one list for Locust's batch and our counts: its latency and timeline counts are
            # taken from it (Counter.update, a C loop) at the second's end and at flush()
            slot.us.append(latency)
            slot.length += length
        else:
            counts = slot.latency
            counts[latency] = counts.get(latency, 0) + 1
            counts = slot.timeline
            counts[latency] = counts.get(latency, 0) + 1
            self.fire(op, slot.name, latency / 1000.0, length, exc)
        if self.extras:
            self.after(op, key, outcome, value, window, t0, intended)
        elif self.events is not None and self.events.event is not None:  # cache-aside: a load's stampede event
            self.record(self.events_series[(self.events.event, window)], 1)
        return outcome

    def after(self, op, key, outcome, value, window, t0, intended) -> None:
        if self.take_capacity is not None:
            self.count_capacity(op, outcome, window)
        if self.parts:
            self.record_parts(window, intended)
        if self.after_op is not None:
            self.after_op(outcome, value)
        if self.after_read and op == READ:
            self.audited(key, outcome, value, window, t0)
        elif op == SCAN and self.scan_loaded is not None and self.strategy.scan_loaded:
            self.record(self.scan_loaded[window], self.strategy.scan_loaded)

    def new_slot(self, op: str, outcome: str, window: str) -> "Slot":
        pending, base = self.recorder.pending_for, self.base
        slot = self.slots[(op, outcome, window)] = Slot(
            pending(series_key(*base, op, outcome, window, LATENCY)), pending(series_key(*base, op, outcome, window, SERVICE)),
            pending(series_key(*base, op, outcome, window, START_DELAY)), op, outcome, f"{'/'.join(base)}:{outcome}",
            pending(series_key(*base, op, outcome, window, TARGET)))
        return slot

    def to_second(self, slot: "Slot", start: int) -> None:
        """The slot's timeline counts move to the second of the phase `start` (ns) falls in (what its
        batch holds is counted first, in the second it ran)."""
        slot.fold()
        second = (start - self.phase_start_ns) // 1_000_000_000
        slot.second_end = self.phase_start_ns + (second + 1) * 1_000_000_000
        slot.timeline = self.recorder.pending_for(timeline_key(*self.base, slot.op, slot.outcome, second))

    def flush(self) -> None:
        """Hand Locust's stats their batch (glue: once per task, and when the user stops), and let the
        recorder fold counts that grew large into its histograms (at most a task's worth each time)."""
        limit = self.recorder.MAX_PENDING_VALUES
        full = False
        for slot in self.slots.values():
            if slot.us:
                slot.fold()
                self.batch.take(slot.op, slot.name, slot.us, slot.length)
                slot.folded = 0
                slot.us, slot.length = [], 0
            full = full or max(len(slot.latency), len(slot.timeline), len(slot.service), len(slot.target)) > limit
        if full:
            self.recorder.flush()
        if self.batch is not None:
            self.batch.flush()

    def close(self) -> None:
        """The user stops: double-delete's pending second DELs are sent now (not into the next phase)."""
        for greenlet, cache_key in self.deferred:
            if not greenlet.dead:
                greenlet.kill()
                self.shared_cache.delete_quietly(cache_key)
        self.deferred = []
        if self.cache is not None:
            self.cache.close()


def size_of(value) -> int:
    """Bytes an operation returned (a scan: its records')."""
    if not value:
        return 0
    return sum(map(len, value)) if isinstance(value, list) else len(value)


class Slot:
    """What an operation of one (op, outcome, window) records into: its latency, service-time and
    start-delay counts, its second's timeline counts, and Locust's batch for its name."""

    __slots__ = ("latency", "service", "delay", "target", "op", "outcome", "name", "second_end", "timeline", "us",
                 "length", "folded")

    def __init__(self, latency: Counter, service: Counter, delay: Counter, op: str, outcome: str, name: str,
                 target: Counter):
        self.latency, self.service, self.delay, self.target = latency, service, delay, target
        self.op, self.outcome, self.name = op, outcome, name
        self.second_end, self.timeline = 0, Counter()  # perf_counter_ns when the timeline's second ends
        # Locust's stats: the batch's latencies (µs) and bytes; the first `folded` of them are counted
        self.us, self.length, self.folded = [], 0, 0

    def fold(self) -> None:
        """Count the batch's latencies not yet counted into the latency and timeline counts."""
        if len(self.us) > self.folded:
            new = self.us[self.folded:] if self.folded else self.us  # (at flush, mostly nothing counted yet)
            self.latency.update(new)
            self.timeline.update(new)
            self.folded = len(self.us)


class Keys(dict):
    """Series keys made on first use by `make(k)`."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, k):
        key = self[k] = self.make(k)
        return key
