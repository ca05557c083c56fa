"""The phase shape: each phase (dataset x backend x strategy, and a capacity search's steps) with -u
users, a 0-user drain between phases; Locust's LoadTestShape, driven by the phase plan (phases.py)."""

from __future__ import annotations

import logging
import time

import gevent
from locust import LoadTestShape

from .. import options
from ..phases import DRAIN
from . import objectives, progress
from .run import STATE, _users, begin_run
from .users import USER_CLASSES

log = logging.getLogger("cacheswarm")


class ComparePhases(LoadTestShape):
    """Runs each strategy as its own phase with -u users, a 0-user drain between phases."""

    use_common_options = True
    starting = False
    owner = None  # the shape greenlet of the current run

    def _drain_now(self, rate: float) -> bool:
        """Stop the phase's users from here and wait until they are gone (each finishes the operation
        in hand), so the next phase starts at once: a drain left to Locust's shape loop cost a whole
        one-second tick between phases. False if they are not gone in time (the loop drains as before)."""
        if self.get_current_user_count() > 0:
            self.runner.start(user_count=0, spawn_rate=rate)
            deadline = time.monotonic() + (self.runner.environment.stop_timeout or 0.0) + 5.0
            while self.get_current_user_count() > 0 and time.monotonic() < deadline:
                gevent.sleep(0.02)
            # what the shape loop last started was the phase: the next phase's users must differ from it,
            # even when its class is the same (a capacity search's next step)
            self.runner.shape_last_tick = (0, rate, None)
        return self.get_current_user_count() == 0

    def reset_time(self):
        """start_shape() calls this right after spawning the shape greenlet: a new run begins.
        The setup (which does I/O, and so yields) happens on the first tick, in that greenlet.
        MasterRunner.start() calls it again on the run's first spawn: same greenlet, same run."""
        super().reset_time()
        owner = self.runner.shape_greenlet if self.runner else None
        if owner is not None and owner is self.owner:
            return
        self.owner = owner
        STATE.plan = None
        self.starting = True

    def tick(self):
        if self.starting:
            self.starting = False
            begin_run(self.runner.environment)
        if STATE.plan is None:
            return None
        users = _users(self.runner.environment)
        rate = float(self.runner.environment.parsed_options.spawn_rate or users)
        try:
            step = STATE.plan.tick(self.get_current_user_count())
            if step is not None and step[0] == DRAIN and self._drain_now(users):
                step = STATE.plan.tick(0)  # the next phase now, not at Locust's next one-second tick
        except Exception as e:  # e.g. Redis down while loading the cache for the next phase
            STATE.incomplete_reason = (f"preparing {STATE.plan.phases[STATE.plan.current].key} failed: "
                                       f"{options.redact_url(str(e))}")
            log.error("cacheswarm: preparing the next phase failed (%s); stopping, the report keeps what was "
                      "measured", e)
            return None
        if step is None:
            return None
        kind, phase = step
        if kind == DRAIN:
            return 0, users, None  # stop every user at once
        if phase is not STATE.announced:
            STATE.announced = phase
            objectives.announce(self.runner, phase, users, STATE.settings.target_rate)
            _progress(phase)
        return users, rate, [USER_CLASSES[phase.base_key]]


def _progress(phase) -> None:
    log.info("cacheswarm: %s", progress.line(STATE, phase))
