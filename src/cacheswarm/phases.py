"""The phase plan and its clock: one phase per strategy (x backend x dataset), run in turn.

Pure Python: the glue's LoadTestShape asks PhasePlan.tick() what to do each second.
Between phases the plan asks for 0 users (Locust only swaps user classes when it adds
users), waits until every user is gone, prepares the cache state the next phase starts
from, then starts that phase's users. Warm-up windows are timed per process by PhaseClock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

DRAIN = "drain"
RUN = "run"


@dataclass
class Phase:
    index: int
    dataset: str
    backend: str
    strategy: str
    started: float | None = None  # wall clock (time.time()) on the master
    ended: float | None = None
    cache_state: str = ""

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.backend}/{self.strategy}"

    def measured_seconds(self, warmup: float, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        end = self.ended if self.ended is not None else (now or time.time())
        return max(0.0, end - self.started - warmup)

    def to_dict(self, warmup: float) -> dict:
        return {"index": self.index, "dataset": self.dataset, "backend": self.backend,
                "strategy": self.strategy, "started": self.started, "ended": self.ended,
                "measured_seconds": round(self.measured_seconds(warmup), 3), "cache_state": self.cache_state}


def plan(settings) -> list[Phase]:
    """Every dataset x backend x strategy, datasets outermost (the report groups the same way)."""
    combos = [(d, b, s) for d in settings.datasets for b in settings.backends for s in settings.strategies]
    return [Phase(i, *combo) for i, combo in enumerate(combos)]


@dataclass
class PhasePlan:
    """State machine driven once a second by the load shape.

    tick(active_users) returns (DRAIN, None), (RUN, phase) or None when every phase is done.
    `prepare(phase)` sets the cache state the phase starts from and returns its description.
    """

    phases: list[Phase]
    phase_time: float
    prepare: callable
    clock: callable = time.time
    sleep: callable = time.sleep  # under Locust, gevent's: the shape greenlet waits, nothing else does
    tick_interval: float = 1.0  # Locust ticks the shape once a second
    current: int = 0
    state: str = DRAIN
    done: bool = False

    def tick(self, active_users: int):
        if self.state == RUN:
            phase = self.phases[self.current]
            left = self.phase_time - (self.clock() - phase.started)
            if left >= self.tick_interval:
                return RUN, phase
            if left > 0:  # the next tick would come up to a second late: end the phase on time
                self.sleep(left)
            phase.ended = self.clock()
            self.current += 1
            self.state = DRAIN
        if active_users > 0:
            return DRAIN, None
        if self.current >= len(self.phases):
            self.done = True
            return None
        phase = self.phases[self.current]
        phase.cache_state = self.prepare(phase)
        phase.started = self.clock()
        self.state = RUN
        return RUN, phase

    def interrupt(self) -> None:
        """Close the running phase (the run is being stopped early)."""
        if self.state == RUN and self.phases[self.current].ended is None:
            self.phases[self.current].ended = self.clock()


@dataclass
class PhaseClock:
    """Per process: when each phase's first user started here, so warm-up and the end of the
    measured window are timed locally. An operation counts if it starts in
    [start + warmup, start + phase_time) and before this process's users of the phase stopped;
    windows() gives each phase's measured seconds on this process."""

    warmup: float
    phase_time: float = 0.0  # 0: no end (a plan that ends phases itself)
    started: dict = field(default_factory=dict)
    stopped: dict = field(default_factory=dict)

    def measure_from(self, phase_key: str) -> float:
        """perf_counter() value from which this process's ops in the phase are measured."""
        start = self.started.get(phase_key)
        if start is None:
            start = self.started[phase_key] = time.perf_counter()
        return start + self.warmup

    def measure_until(self, phase_key: str) -> float:
        """perf_counter() value from which operations of the phase are no longer counted here."""
        start = self.started.get(phase_key)
        if start is None or not self.phase_time:
            return float("inf")
        return start + self.phase_time

    def stop(self, phase_key: str) -> None:
        """The phase's users are stopping on this process: its window ends now at the latest."""
        if phase_key in self.started:
            self.stopped.setdefault(phase_key, time.perf_counter())

    def windows(self, now: float | None = None) -> dict:
        """{phase key: measured seconds so far on this process}."""
        now = time.perf_counter() if now is None else now
        out = {}
        for key, start in self.started.items():
            end = min(self.measure_until(key), self.stopped.get(key, now))
            out[key] = round(max(0.0, end - (start + self.warmup)), 6)
        return out

    def reset(self) -> None:
        self.started.clear()
        self.stopped.clear()
