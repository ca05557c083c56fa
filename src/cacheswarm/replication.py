"""Replication lag, measured while phases run: every PROBE_EVERY_S (100 ms) the master writes a
marker on the primary and times how long until the replica (the reader endpoint) shows it; one
marker at a time, so a stall of the replica shows as a lag within 100 ms of its length (the probe
written at most that long after the stall began; `resolution_ms` in the summary).

- Redis: SET `<namespace>:lagprobe` <token> on the primary (60 s TTL), then GET on the reader
  every millisecond until it returns the token.
- a database with a replica (its module's probe_write/probe_read; MySQL's: UPDATE
  `<namespace>_lagprobe`, a one-row table cacheswarm creates, on the primary, then SELECT on the
  reader every millisecond).

Each probe is recorded in the running phase (`phase.server["lag"][server]`) with the reads it
sent, so the server cross-check can count the probe's own commands: the lag in ms, or, for a
marker still not visible when the phase ended (or after PROBE_TIMEOUT_S), `at_least_ms`: the lag
is at least that. Polls are 1 ms apart for the first 100 ms, then 10 ms.
"""

from __future__ import annotations

import time
from functools import partial

PROBE_EVERY_S = 0.1
PROBE_TIMEOUT_S = 10.0
POLL_S = 0.001
SLOW_POLL_S = 0.01  # after FAST_POLLS_S: a replica that lags does not get 1,000 reads a second
FAST_POLLS_S = 0.1


def probe_key(namespace: str) -> str:
    return f"{namespace}:lagprobe"


class LagProbe:
    """`redis` = (primary client, reader client) or None; `databases` = {backend: (its module, primary
    pool, reader pool)} for each database with a replica."""

    def __init__(self, namespace: str, redis=None, databases=None, sleep=time.sleep):
        self.namespace, self.redis, self.sleep = namespace, redis, sleep
        self.databases = {name: (partial(hooks.probe_write, primary, namespace), partial(hooks.probe_read, reader, namespace))
                          for name, (hooks, primary, reader) in (databases or {}).items()}

    def run(self, running_phase) -> None:
        """Forever (a greenlet): probe every PROBE_EVERY_S while a phase runs."""
        while True:
            started = time.monotonic()
            phase = running_phase()
            if phase is not None:
                lag = phase.server.setdefault("lag", {})
                still = lambda: running_phase() is phase  # noqa: E731
                if self.redis is not None:
                    lag.setdefault("redis", []).append(self._once(self._redis_write, self._redis_read, still))
                for name, (write, read) in self.databases.items():
                    if still():
                        lag.setdefault(name, []).append(self._once(write, read, still))
            self.sleep(max(0.0, PROBE_EVERY_S - (time.monotonic() - started)))

    def _once(self, write, read, still=lambda: True) -> dict:
        """{"ms": lag, "reads": reads sent to the replica} of one probe; {"at_least_ms"} when the
        phase ended (`still()` false) or the timeout passed first; {"error"} when it failed."""
        token = time.time_ns()
        reads = 0
        try:
            write(token)
            t0 = time.perf_counter()
            while True:
                reads += 1
                if read() == token:
                    return {"ms": round((time.perf_counter() - t0) * 1000, 3), "reads": reads}
                waited = time.perf_counter() - t0
                if waited >= PROBE_TIMEOUT_S or not still():
                    return {"ms": None, "at_least_ms": round(waited * 1000, 3), "reads": reads}
                self.sleep(POLL_S if waited < FAST_POLLS_S else SLOW_POLL_S)
        except Exception as e:  # a probe that fails is recorded, never fatal
            return {"ms": None, "reads": reads, "error": f"{type(e).__name__}: {str(e)[:100]}"}

    def _redis_write(self, token: int) -> None:
        self.redis[0].set(probe_key(self.namespace), token, ex=60)

    def _redis_read(self):
        value = self.redis[1].get(probe_key(self.namespace))
        return None if value is None else int(value)


def summarize(samples: list) -> dict:
    """Lag p50/p99/max in ms over a phase's probes. A marker not seen in time counts with the
    time it was waited for (a lower bound: `unfinished`); failed probes are counted apart."""
    lags = sorted(s["ms"] if s.get("ms") is not None else s["at_least_ms"] for s in samples if "error" not in s)
    out = {"probes": len(samples), "resolution_ms": round(PROBE_EVERY_S * 1000),
           "unfinished": sum(1 for s in samples if "at_least_ms" in s),
           "failed": sum(1 for s in samples if "error" in s)}
    if lags:
        out.update(p50_ms=lags[len(lags) // 2], p99_ms=lags[min(len(lags) - 1, int(len(lags) * 0.99))],
                   max_ms=lags[-1])
    return out
