"""The phase plan and its clock: one phase per strategy (x backend x dataset), run in turn.

Pure Python: the glue's LoadTestShape asks PhasePlan.tick() what to do each second.
Between phases the plan asks for 0 users (Locust only swaps user classes when it adds
users), waits until every user is gone, prepares the cache state the next phase starts
from, then starts that phase's users. Warm-up windows are timed per process by PhaseClock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import catalog

DRAIN = "drain"
RUN = "run"
HOLD_LIMIT_S = 2.0  # the longest a phase waits beyond --phase-time for a process that began late


@dataclass
class Phase:
    index: int
    dataset: str
    backend: str
    strategy: str
    started: float | None = None  # wall clock (time.time()) on the master
    ended: float | None = None
    cache_state: str = ""
    step: int | None = None  # a capacity search's step (its own phase, own histograms), else None
    rate: float | None = None  # the step's target rate, ops/s
    server: dict = field(default_factory=dict)  # server_stats samples: start, end, drained
    last_began: float | None = None  # when (master's clock) the last process began its window
    drill: dict | None = None  # what a drill did mid-phase (drills.act)

    @property
    def phase_key(self) -> catalog.PhaseKey:
        return catalog.PhaseKey(self.dataset, self.backend, self.strategy, self.step)

    @property
    def base_key(self) -> str:
        return self.phase_key.base_text

    @property
    def key(self) -> str:
        return self.phase_key.text

    def measured_seconds(self, warmup: float, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        end = self.ended if self.ended is not None else (now or time.time())
        return max(0.0, end - self.started - warmup)

    def to_dict(self, warmup: float) -> dict:
        return {"index": self.index, "dataset": self.dataset, "backend": self.backend,
                "strategy": self.strategy, "started": self.started, "ended": self.ended,
                "measured_seconds": round(self.measured_seconds(warmup), 3), "cache_state": self.cache_state,
                "step": self.step, "target_rate": self.rate, "server": self.server, "drill": self.drill,
                "last_process_began_s": None if self.last_began is None else round(self.last_began - self.started, 3)}


def plan(settings, first_rate=None) -> list[Phase]:
    """Every dataset x backend x strategy, datasets outermost (the report groups the same way).
    `first_rate(dataset, backend, strategy)` -> a capacity search's first rate, or None for a
    phase at fixed load."""
    combos = catalog.combos(settings.datasets, settings.backends, settings.strategies)
    phases = []
    for i, combo in enumerate(combos):
        rate = first_rate(*combo) if first_rate else None
        phases.append(Phase(i, *combo, step=None if rate is None else 0, rate=rate))
    return phases


@dataclass
class PhasePlan:
    """State machine driven once a second by the load shape.

    tick(active_users) returns (DRAIN, None), (RUN, phase) or None when every phase is done.
    `prepare(phase)` sets the cache state the phase starts from and returns its description.
    `sample(phase, moment)` returns the servers' counters, recorded in phase.server at "start" (prepared), "end" (the phase's
    time is up, users still running) and "drained" (its users are gone).
    Once a phase's users are gone, `settle(phase)` says whether its last figures have arrived
    (workers report every few seconds; the plan drains until then) and `after(phase)` returns the
    phases to run next (a capacity search's next step), inserted before the rest of the plan.
    """

    phases: list[Phase]
    phase_time: float
    prepare: callable
    clock: callable = time.time
    sleep: callable = time.sleep  # under Locust, gevent's: the shape greenlet waits, nothing else does
    tick_interval: float = 1.0  # Locust ticks the shape once a second
    settle: callable = None
    after: callable = None
    sample: callable = None
    opened: callable = None  # phase -> when (plan clock) the last process began its window, or None
    began: callable = None  # phase -> None, as it begins (a drill's timer)
    current: int = 0
    state: str = DRAIN
    done: bool = False
    finished: Phase | None = None  # ended, not yet settled and followed up

    @property
    def running(self) -> Phase | None:
        return self.phases[self.current] if self.state == RUN else None

    def tick(self, active_users: int):
        if self.state == RUN:
            phase = self.phases[self.current]
            left = self._end_at(phase) - self.clock()
            if left >= self.tick_interval:
                return RUN, phase
            while left > 0:  # the next tick would come up to a second late: end the phase on time
                self.sleep(left)
                left = self._end_at(phase) - self.clock()
            phase.ended = self.clock()
            self._sample(phase, "end")
            self.current += 1
            self.state = DRAIN
            self.finished = phase
        if active_users > 0:
            return DRAIN, None
        if self.finished is not None:
            if "drained" not in self.finished.server:
                self._sample(self.finished, "drained")
            if self.settle is not None and not self.settle(self.finished):
                return DRAIN, None
            follow = self.after(self.finished) if self.after is not None else []
            self.finished = None
            at = self._place(follow)
            self.phases[at:at] = follow
            for i, p in enumerate(self.phases):
                p.index = i
        if self.current >= len(self.phases):
            self.done = True
            return None
        phase = self.phases[self.current]
        phase.cache_state = self.prepare(phase)
        self._sample(phase, "start")
        phase.started = self.clock()
        if self.began is not None:
            self.began(phase)
        self.state = RUN
        return RUN, phase

    def _place(self, follow: list[Phase]) -> int:
        """Where a search's next step goes: right after the next pending step of another search on the
        same dataset x backend, so that searches compared with each other alternate and a machine whose
        speed drifts over minutes (seen here: one database's capacity 469-1,000 ops/s within half an
        hour) moves both alike; with no such step pending, next."""
        if len(follow) == 1 and follow[0].step is not None:
            nxt = follow[0]
            for i in range(self.current, len(self.phases)):
                p = self.phases[i]
                if (p.step is not None and (p.dataset, p.backend) == (nxt.dataset, nxt.backend)
                        and p.strategy != nxt.strategy):
                    return i + 1
        return self.current

    def _end_at(self, phase: Phase) -> float:
        """When the phase's users stop: --phase-time after it began, or, when a process began its
        window later (its first user's start: workers' setup and the spawn message take time), after
        that process's whole window too, waiting at most HOLD_LIMIT_S longer."""
        end = phase.started + self.phase_time
        last = phase.last_began = self.opened(phase) if self.opened is not None else None
        if last is not None:
            end = max(end, min(last + self.phase_time, end + HOLD_LIMIT_S))
        return end

    def _sample(self, phase: Phase, moment: str) -> None:
        if self.sample is not None:
            phase.server[moment] = self.sample(phase, moment)

    def interrupt(self) -> None:
        """Close the running phase (the run is being stopped early)."""
        if self.state == RUN and self.phases[self.current].ended is None:
            self.phases[self.current].ended = self.clock()
            self._sample(self.phases[self.current], "end")


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
