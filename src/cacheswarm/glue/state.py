"""What one process knows about the current run (master, worker or local), kept by the glue."""

from __future__ import annotations

import time

from . import objectives
from ..phases import PhaseClock, PhasePlan
from ..recorder import Recorder
from ..runtime import Runtime
from ..saturation import Monitor


class State:
    """Everything this process knows about the current run."""

    def __init__(self):
        self.settings = None
        self.runtime: Runtime | None = None
        self.recorder = Recorder()
        self.generator = Recorder()  # CPU and loop-lag samples (saturation.Monitor)
        self.monitor: Monitor | None = None
        self.clock = PhaseClock(0)
        self.plan: PhasePlan | None = None
        self.run_started: float | None = None
        self.report_dir: str | None = None
        self.written_total = -1
        self.partial = False
        self.workers: set[str] = set()  # workers whose histograms reached this master
        self.last_report: dict[str, float] = {}  # worker -> when its last report arrived
        self.windows: dict[str, dict] = {}  # worker -> {phase key: measured seconds there}
        self.opened: dict[str, dict] = {}  # phase key -> {process: when its window's start arrived here}
        self.lease = None  # lease.NamespaceLease  # this run's hold on its namespace (runs that use Redis)
        self.stopping = False  # a signal asked this process to stop: later signals are ignored
        self.finished = False  # the run's final report was written (or failed)
        self.report_failed = False
        self.incomplete_reason = ""
        self.startup_options: dict = {}  # URL and secret options as given at start (the web form shows them redacted)
        self.searches: dict = {}  # base phase key -> capacity.Search (--find-capacity)
        self.announced = None  # the phase whose key and rate were last sent to every process
        # {base phase key: (the phase key its users run now, ops/s per user; 0 = closed loop)}, from the
        # master's step message (a capacity step runs under a key of its own, at its own rate)
        self.running: dict[str, tuple[str, float]] = {}
        self.report = None  # the last report written (its SLO verdicts decide the exit code)
        self.live = None  # (when, the live tab's figures)
        self.probe = None  # (runtime, greenlet) of the replication lag probe
        self.global_table = None  # a global table's run: regions.RunRegions.summary() at its end
        self.users_started: dict[str, int] = {}  # phase key -> users this process started in it
        self.home_region = ""  # a worker's own --home-region (a global table's run)

    def capacity_results(self, final: bool = True) -> dict:
        return objectives.capacity_results(self, final)

    def reset_run(self) -> None:
        self.recorder.clear()
        self.generator.clear()
        self.clock = PhaseClock(self.settings.warmup if self.settings else 0)
        self.run_started = time.time()
        self.report_dir = None
        self.written_total = -1
        self.partial = False
        self.workers = set()
        self.last_report = {}
        self.windows = {}
        self.opened = {}
        self.finished = False
        self.report_failed = False
        self.incomplete_reason = ""
        self.searches = {}
        self.announced = None
        self.report = None
        self.global_table = None
        self.users_started = {}
        self.live = None
