"""Microsecond HDR histograms per series; encode / merge for distributed workers.

A series is (dataset, backend, strategy, op, outcome, window, kind): window is `measured`
or `warmup`; kind is `latency` (closed loop: the operation's time; open loop: from its
intended start, corrected for coordinated omission), `service` (open loop: from the actual
start), `start_delay` (open loop: how late the operation started) or `target` (open loop: its
service time plus how long past its intended start it waited for its user's previous reply: the
target's share of the latency, the rest being the generator's own lateness), all in microseconds
(3 significant digits, 1 µs .. 1 hour); or `capacity` (DynamoDB: the capacity units each
operation consumed, in hundredths, so the sum over the histogram is the phase's RCU/WCU).
"""

from __future__ import annotations

from collections import Counter

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
SEP = "|"
FIELDS = ("dataset", "backend", "strategy", "op", "outcome", "window", "kind")
MEASURED, WARMUP = "measured", "warmup"
LATENCY, SERVICE, START_DELAY, TARGET = "latency", "service", "start_delay", "target"
CAPACITY = "capacity"  # DynamoDB capacity units per operation, in hundredths (not a time)
SCAN_LOADED = "loaded"  # the EVENT outcome of a cache-aside scan: a value per scan, the records it loaded and SET
EVENT = "event"  # counts of what else a read did (stampede.EVENTS: a duplicate load, a wait, ...)
# the per-second timeline of a phase: window `t<second since the phase started here>`; coarser
# histograms (2 significant digits, up to 60 s: 2,560 counts instead of 23,552), one per second
TIMELINE = "t"
TIMELINE_HIGHEST_US = 60_000_000


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def _is_timeline(key: str) -> bool:
    parts = key.split(SEP)
    return len(parts) == len(FIELDS) and parts[5][:1] == TIMELINE


def _new_for(key: str) -> HdrHistogram:
    return HdrHistogram(LOWEST_US, TIMELINE_HIGHEST_US, 2) if _is_timeline(key) else new_histogram()


def timeline_key(dataset, backend, strategy, op, outcome, second: int) -> str:
    return SEP.join((dataset, backend, strategy, op, outcome, f"{TIMELINE}{second}", LATENCY))


def series_key(dataset, backend, strategy, op, outcome, window=MEASURED, kind=LATENCY) -> str:
    return SEP.join((dataset, backend, strategy, op, outcome, window, kind))


def parse_key(key: str) -> dict:
    return dict(zip(FIELDS, key.split(SEP)))


class Recorder:
    """Histograms by series key. record() only counts (value -> n) in a dict, ~20x cheaper than
    HdrHistogram.record_value in pure Python; counts reach the histograms at flush()."""

    MAX_PENDING_VALUES = 4096

    def __init__(self):
        self._histograms: dict[str, HdrHistogram] = {}
        self._pending: dict[str, dict[int, int]] = {}

    def record(self, key: str, micros: int) -> None:
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = Counter()
        if micros in pending:
            pending[micros] += 1
        else:
            pending[micros] = 1
            if len(pending) > self.MAX_PENDING_VALUES:
                self.flush()

    def pending_for(self, key: str) -> Counter:
        """The counts record() keeps `key`'s values in (value -> n; a Counter, so a caller may add a
        batch with update()), for a caller that counts into it directly (oploop) and calls flush()
        when one grows past MAX_PENDING_VALUES."""
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = Counter()
        return pending

    def flush(self) -> None:
        for key, pending in self._pending.items():
            if not pending:
                continue
            h = self._histograms.get(key)
            if h is None:
                h = self._histograms[key] = _new_for(key)
            top = h.highest_trackable_value
            for micros, n in pending.items():
                h.record_value(min(max(micros, 0), top), n)
            pending.clear()

    @property
    def histograms(self) -> dict[str, HdrHistogram]:
        self.flush()
        return self._histograms

    def total(self, window: str | None = None) -> int:
        """Operations recorded (latency series only, so an op counts once)."""
        return sum(h.get_total_count() for k, h in self.histograms.items()
                   if k.endswith(SEP + LATENCY) and not _is_timeline(k)
                   and (window is None or k.endswith(SEP + window + SEP + LATENCY)))

    def count(self, want) -> int:
        """Values recorded in the series (every window but the timeline's) whose parsed key `want` takes."""
        self.flush()
        return sum(h.get_total_count() for k, h in self.histograms.items()
                   if not _is_timeline(k) and want(parse_key(k)))

    def encode(self) -> dict[str, str]:
        """Every non-empty histogram, encoded (compressed, base64) by series key."""
        return {k: h.encode().decode("ascii") for k, h in self.histograms.items() if h.get_total_count()}

    def drain(self) -> dict[str, str]:
        """Encode what was recorded since the last drain and start afresh (worker -> master).
        The histograms are dropped, not reset: HdrHistogram.reset() zeroes its whole counts array
        in Python (~0.8 ms each), and a worker holding every series of a long run (hundreds)
        stalled its event loop for 100+ ms at every report, which showed in the latency tail."""
        out = self.encode()
        self._histograms = {}
        return out

    def merge(self, encoded: dict[str, str]) -> None:
        for key, blob in encoded.items():
            h = self._histograms.get(key)
            if h is None:
                h = self._histograms[key] = _new_for(key)
            h.decode_and_add(blob.encode("ascii") if isinstance(blob, str) else blob)

    def clear(self) -> None:
        self._histograms.clear()
        for pending in self._pending.values():  # emptied in place: a loop may count into them (pending_for)
            pending.clear()

    @classmethod
    def from_encoded(cls, encoded: dict[str, str]) -> "Recorder":
        r = cls()
        r.merge(encoded)
        return r
