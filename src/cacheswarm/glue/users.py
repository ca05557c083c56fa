"""The Locust users: one class per dataset x backend x strategy a run can have (catalog.runnable());
the phase plan decides which one runs. Each runs its phase's operation loop (oploop.py), a batch of
operations per Locust task."""

from __future__ import annotations

from locust import User, constant, task
from locust.user.task import LOCUST_STATE_STOPPING

from .. import catalog
from .run import OPENED_MESSAGE, STATE, _ensure_monitor, _ensure_runtime, _users
from .stats import StatsBatch

OPS_PER_TASK = 50


class CacheswarmUser(User):
    """One user class per dataset x backend x strategy; the phase plan decides which one runs."""

    abstract = True
    host = "cacheswarm"  # targets come from --mysql-url/--redis-url; this only silences Locust's host prompt
    phase_key = ""  # dataset/backend/strategy
    wait_time = constant(0)

    def on_start(self):
        rt = _ensure_runtime(self.environment)
        _ensure_monitor(self.environment.runner)
        # workers learn these with the run's options
        STATE.clock.warmup, STATE.clock.phase_time = STATE.settings.warmup, STATE.settings.phase_time
        # the phase's key and per-user rate, as the master's step message said (a capacity step runs under
        # its own key, with its own histograms and window, at its own rate); else the run's own
        fixed = STATE.settings.target_rate / _users(self.environment)  # (0: closed loop)
        self.key, user_rate = STATE.running.get(self.phase_key, (self.phase_key, fixed))
        first = self.key not in STATE.clock.started
        self.batch = StatsBatch(self.environment)  # Locust's stats, fed once per task (stats.py)
        # which of the phase's users this is: this process's count, offset by the worker's index so that
        # workers of one user each still spread over a global table's regions
        user = STATE.users_started.get(self.key, 0)
        STATE.users_started[self.key] = user + 1
        self.loop = rt.loop(self.key, STATE.clock.measure_from(self.key), self.batch.add,
                            STATE.recorder, user_rate, STATE.clock.measure_until(self.key),
                            user + getattr(self.environment.runner, "worker_index", 0))
        if first:  # the plan keeps the phase running until this process's whole window has passed
            self.environment.runner.send_message(OPENED_MESSAGE, {"key": self.key})

    def on_stop(self):
        STATE.clock.stop(getattr(self, "key", self.phase_key))
        loop = getattr(self, "loop", None)
        if loop is not None:
            loop.flush()  # Locust's stats take the last batch
            loop.close()

    @task
    def operate(self):
        # A batch per task: Locust's per-task bookkeeping and wait() cost more than our
        # whole recording path; every operation still yields on its network I/O.
        step = self.loop.step
        try:
            for _ in range(OPS_PER_TASK):
                step()
                if self._state == LOCUST_STATE_STOPPING:  # the phase ended: this operation was completed
                    return
        finally:
            self.loop.flush()


def _class_name(dataset: str, backend: str, strategy: str) -> str:
    words = [dataset, "on", backend, *strategy.replace("+", "-").split("-"), "user"]
    return "".join(w.capitalize() for w in words).replace("Dynamodb", "DynamoDB").replace("Mysql", "MySQL").replace(
        "Postgres", "PostgreSQL")


USER_CLASSES = {f"{d}/{b}/{s}": type(_class_name(d, b, s), (CacheswarmUser,), {"phase_key": f"{d}/{b}/{s}"})
                for d, b, s in catalog.runnable()}
