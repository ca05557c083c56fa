"""Microsecond HDR histograms per series; encode / merge for distributed workers.

A series is (dataset, backend, strategy, op, outcome, window), window being `measured`
or `warmup`. Values are microseconds, 3 significant digits, 1 µs .. 1 hour.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
SEP = "|"
FIELDS = ("dataset", "backend", "strategy", "op", "outcome", "window")
MEASURED, WARMUP = "measured", "warmup"


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def series_key(dataset, backend, strategy, op, outcome, window=MEASURED) -> str:
    return SEP.join((dataset, backend, strategy, op, outcome, window))


def parse_key(key: str) -> dict:
    return dict(zip(FIELDS, key.split(SEP)))


class Recorder:
    def __init__(self):
        self.histograms: dict[str, HdrHistogram] = {}

    def record(self, key: str, micros: int) -> None:
        h = self.histograms.get(key)
        if h is None:
            h = self.histograms[key] = new_histogram()
        h.record_value(min(max(micros, 0), HIGHEST_US))

    def total(self, window: str | None = None) -> int:
        return sum(h.get_total_count() for k, h in self.histograms.items()
                   if window is None or k.endswith(SEP + window))

    def encode(self) -> dict[str, str]:
        """Every non-empty histogram, encoded (compressed, base64) by series key."""
        return {k: h.encode().decode("ascii") for k, h in self.histograms.items() if h.get_total_count()}

    def drain(self) -> dict[str, str]:
        """Encode what was recorded since the last drain and start afresh (worker -> master)."""
        out = self.encode()
        for h in self.histograms.values():
            h.reset()
        return out

    def merge(self, encoded: dict[str, str]) -> None:
        for key, blob in encoded.items():
            h = self.histograms.get(key)
            if h is None:
                h = self.histograms[key] = new_histogram()
            h.decode_and_add(blob.encode("ascii") if isinstance(blob, str) else blob)

    def clear(self) -> None:
        self.histograms.clear()

    @classmethod
    def from_encoded(cls, encoded: dict[str, str]) -> "Recorder":
        r = cls()
        r.merge(encoded)
        return r
