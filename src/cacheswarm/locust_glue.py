"""The only Locust-aware module: options on Locust's parser, events, users, shape, reports.

A locustfile needs just:  from cacheswarm.locust_glue import *  (users + shape + listeners)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time

import gevent
from locust import LoadTestShape, User, constant, events, task
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner
from locust.user.task import LOCUST_STATE_STOPPING

from . import catalog, glue_process, glue_slo, options, web_form
from .report import console
from .glue_report import live_report, lost_workers, write_report
from .lease import NamespaceBusy
from .options import BadInput
from .phases import DRAIN, PhasePlan, plan
from .glue_state import State
from .glue_stats import StatsBatch
from .runtime import Preflight, Runtime
from .saturation import Monitor

log = logging.getLogger("cacheswarm")
MESSAGE_KEY = "cacheswarm_histograms"
GENERATOR_KEY = "cacheswarm_generator"
WINDOWS_KEY = "cacheswarm_windows"
OPENED_MESSAGE = "cacheswarm_opened"  # a process -> the master (or a local runner -> itself): its window began
OPS_PER_TASK = 50
EXIT_INCOMPLETE = 3  # interrupted, a phase could not be prepared, a worker lost, or the report not written


STATE = State()  # everything this process knows about the current run (glue_state.py)


def fail(message: str) -> None:
    """Bad input: one line, exit code 2, before any user spawns or anything is written."""
    sys.stderr.write(f"cacheswarm: error: {message}\n")
    sys.stderr.flush()
    glue_process.stop_forked_workers()
    sys.exit(2)


def _settings(environment):
    web_form.restore_redacted(environment.parsed_options, STATE.startup_options)
    return options.settings_from(environment.parsed_options)


@events.init_command_line_parser.add_listener
def _add_options(parser):
    options.add_to_parser(parser)  # not a group: only the parser itself takes include_in_web_ui


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    headless = environment.parsed_options.headless
    # with the web UI, Locust's own SIGTERM handler is in place
    glue_process.stop_on_signals(STATE, (signal.SIGINT, signal.SIGTERM) if headless and not isinstance(runner, WorkerRunner)
                     else (signal.SIGINT,))
    if environment.web_ui:
        web_form.redact_web_form(environment.web_ui)
    if runner is not None and not isinstance(runner, MasterRunner):  # the master sends, every process runs
        runner.register_message(glue_slo.STEP_MESSAGE, glue_slo.on_step_message)
    if runner is not None and not isinstance(runner, WorkerRunner):
        runner.register_message(OPENED_MESSAGE, _on_opened)
    logging.getLogger("locust.runners").addFilter(glue_process.quiet_spawn_lines)
    if isinstance(runner, WorkerRunner):  # options arrive from the master when a run starts
        return
    try:
        STATE.settings = _settings(environment)
        STATE.runtime = check_start(STATE.settings, environment.parsed_options)
        # users stop between operations, never inside one (an UPDATE whose DEL never came): Locust
        # lets a stopping user finish its task, and ours returns after the operation in hand; the
        # master sends this to its workers with each spawn
        environment.stop_timeout = max(environment.stop_timeout or 0.0, STATE.settings.op_timeout + 1.0)
        if headless:
            glue_process.take_lease(STATE)
    except (BadInput, Preflight, NamespaceBusy) as e:
        _close_runtime()
        fail(str(e))
    except KeyboardInterrupt:  # a signal during the preflight (e.g. while the emulator starts or seeds)
        _close_runtime()
        sys.stderr.write("cacheswarm: interrupted before the run started; nothing was measured\n")
        glue_process.stop_forked_workers()
        sys.exit(EXIT_INCOMPLETE)
    if isinstance(runner, MasterRunner):
        events.worker_report.add_listener(_on_worker_report)
    if environment.web_ui:
        web_form.install_web_tab(environment.web_ui, lambda: live_report(environment, STATE))


def check_start(settings, parsed_options) -> Runtime:
    """What refuses bad input before any user spawns, after the options' own validation: the
    users, the report folder, and every target and table (the runtime's preflight). Returns the
    runtime, or raises BadInput / Preflight (tests/bad_input_cases.py runs it for many cases in
    one process)."""
    options.check_users(parsed_options.num_users)
    options.check_report_dir(settings.report_dir)
    runtime = Runtime(settings, max(1, int(getattr(parsed_options, "num_users", 1) or 1)))
    try:
        runtime.preflight()
    except BaseException:
        runtime.close()
        raise
    return runtime


def _close_runtime() -> None:
    """Close connections and stop the embedded emulator (and remove its files) now, not at exit."""
    if STATE.runtime is not None:
        STATE.runtime.close()
        STATE.runtime = None


def _users(environment) -> int:
    return max(1, int(getattr(environment.parsed_options, "num_users", 1) or 1))


def _ensure_runtime(environment) -> Runtime:
    """Build (or rebuild, after options changed) this process's runtime. Workers use the
    DynamoDB endpoint and keyspaces the master resolved (shipped with the run's options)."""
    settings = _settings(environment)
    users = _users(environment)
    rt = STATE.runtime
    if rt is None or STATE.settings != settings or users > rt.users:
        if rt is not None:
            rt.close()
        opts = environment.parsed_options
        shipped = isinstance(environment.runner, WorkerRunner)
        url = getattr(opts, "cacheswarm_dynamodb_url", None) if shipped else None
        keyspaces = json.loads(getattr(opts, "cacheswarm_keyspaces", "") or "{}") if shipped else None
        redis_url = getattr(opts, "cacheswarm_redis_url", None) if shipped else None  # the master's private Redis
        STATE.settings, STATE.runtime = settings, Runtime(settings, users, url or None, keyspaces, redis_url or None)
    return STATE.runtime


def begin_run(environment) -> None:
    """A run starts (master or local process): validate the options the run will use, new STATE.plan."""
    try:  # the web UI form may have changed options since init
        options.check_users(environment.parsed_options.num_users)
        rt = _ensure_runtime(environment)
        options.check_report_dir(STATE.settings.report_dir)
        if not rt.keyspaces:
            rt.preflight()
        glue_process.take_lease(STATE)
    except (BadInput, Preflight, NamespaceBusy) as e:
        log.error("cacheswarm: error: %s", e)  # STATE.plan stays None: the shape ends the run
        return
    STATE.reset_run()
    # shipped to workers with the run's options: each user's share of --target-rate
    environment.parsed_options.cacheswarm_user_rate = STATE.settings.target_rate / _users(environment)
    environment.parsed_options.cacheswarm_dynamodb_url = rt.dynamodb_url or ""
    environment.parsed_options.cacheswarm_keyspaces = json.dumps(rt.keyspaces)
    environment.parsed_options.cacheswarm_redis_url = rt.redis_url if rt.embedded_redis else ""
    glue_process.start_lag_probe(STATE)
    STATE.searches, first_rate = glue_slo.searches_for(STATE.settings)
    glue_slo.ACTIVE.clear()
    STATE.plan = PhasePlan(plan(STATE.settings, first_rate), STATE.settings.phase_time, _prepare(rt),
                           sleep=gevent.sleep, settle=glue_slo.make_settle(environment.runner, STATE),
                           after=glue_slo.make_after(environment, STATE), sample=rt.server_sample,
                           opened=_last_opened)


def _on_opened(environment=None, msg=None, **_kwargs) -> None:
    """A process began a phase's window (its first user started): noted when it arrived here."""
    STATE.opened.setdefault(msg.data["key"], {})[msg.node_id] = time.time()


def _last_opened(phase) -> float | None:
    return max(STATE.opened.get(phase.key, {}).values(), default=None)


def _prepare(rt):
    """A capacity search's later steps go on with the cache the previous step left (a step is a
    higher rate on the same system, not a cold start)."""
    def prepare(phase):
        if phase.step:
            return f"as step {phase.step} left it (capacity search, {phase.rate:,.0f} ops/s)"
        return rt.prepare(phase)
    return prepare


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        STATE.settings = None  # rebuilt from the options the master sent with this run
        STATE.reset_run()


def _ensure_monitor(runner) -> None:
    """Sample this process's CPU and loop lag while it runs users (started once per process)."""
    if STATE.monitor is not None:
        return

    def current_phase():
        if not runner.user_count or not STATE.clock.started:
            return None  # between phases (draining, preparing the cache): not the generator's load
        return next(reversed(STATE.clock.started))

    STATE.monitor = Monitor(STATE.generator, current_phase)
    gevent.spawn(STATE.monitor.run_cpu, gevent.sleep)
    gevent.spawn(STATE.monitor.run_lag, gevent.sleep)


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
        shipped = getattr(self.environment.parsed_options, "cacheswarm_user_rate", 0.0) or 0.0  # 0: closed loop
        # a capacity step runs under its own key (its own histograms and window) at its own rate
        self.key, user_rate = glue_slo.ACTIVE.get(self.phase_key, (self.phase_key, shipped))
        first = self.key not in STATE.clock.started
        self.batch = StatsBatch(self.environment)  # Locust's stats, fed once per task (glue_stats)
        self.loop = rt.loop(self.key, STATE.clock.measure_from(self.key), self.batch.add,
                            STATE.recorder, user_rate, STATE.clock.measure_until(self.key))
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


# e.g. ProductsOnMySQLCacheAsideUser: Locust keeps each phase's users (and stats names) apart
USER_CLASSES = {f"{d}/{b}/{s}": type(_class_name(d, b, s), (CacheswarmUser,), {"phase_key": f"{d}/{b}/{s}"})
                for d, b, s in catalog.runnable()}
globals().update({cls.__name__: cls for cls in USER_CLASSES.values()})


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
            glue_slo.announce(self.runner, phase, users, self.runner.environment.parsed_options.cacheswarm_user_rate)
            _progress(phase)
        return users, rate, [USER_CLASSES[phase.base_key]]


def _progress(phase) -> None:
    plan_, s = STATE.plan, STATE.settings
    what = f"capacity step {phase.step + 1} at {phase.rate:,.0f} ops/s" if phase.step is not None else (
        f"{s.target_rate:,.0f} ops/s" if s.target_rate else "closed loop")
    searching = any(x.stop_reason is None for x in STATE.searches.values())
    left = (len(plan_.phases) - phase.index) * (s.phase_time + 1)  # a phase plus its drain and cache preparation
    log.info("cacheswarm: phase %d/%d%s %s (%s, %ds, first %ds not measured; about %s left%s)", phase.index + 1,
             len(plan_.phases), "+" if searching else "", phase.base_key, what, s.phase_time, s.warmup,
             _duration(left), " plus the capacity steps still to come" if searching else "")


def _duration(seconds: float) -> str:
    m, sec = divmod(int(seconds), 60)
    return f"{m}m{sec:02d}s" if m else f"{sec}s"


@events.report_to_master.add_listener
def _on_report_to_master(client_id, data, **_kwargs):
    data[MESSAGE_KEY] = STATE.recorder.drain()
    data[GENERATOR_KEY] = STATE.generator.drain()
    data[WINDOWS_KEY] = STATE.clock.windows()


def _on_worker_report(client_id, data, **_kwargs):
    encoded = data.get(MESSAGE_KEY)
    STATE.last_report[client_id] = time.time()
    if encoded:
        STATE.recorder.merge(encoded)
        STATE.workers.add(client_id)
    STATE.generator.merge(data.get(GENERATOR_KEY) or {})
    if data.get(WINDOWS_KEY):
        STATE.windows[client_id] = data[WINDOWS_KEY]


def _finish_run(environment) -> bool:
    """The run ends (stopped, finished or interrupted): write what was measured, partial if cut short."""
    if isinstance(environment.runner, WorkerRunner) or STATE.plan is None:
        return False
    if not STATE.plan.done and not STATE.finished:
        STATE.plan.interrupt()
        STATE.partial = True
        STATE.incomplete_reason = STATE.incomplete_reason or "stopped before every phase ran"
    STATE.finished = True
    glue_process.release_lease(STATE)
    write_report(environment, STATE)
    return True


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    if _finish_run(environment) and isinstance(environment.runner, MasterRunner):
        # workers' last histograms arrive up to one report interval later: refresh then
        gevent.spawn_later(WORKER_REPORT_INTERVAL + 0.5, write_report, environment, STATE)


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    # from here a signal must not break off the report, nor Locust's exit after it (a Ctrl-C
    # then ends the process by the signal, exit code -2, with the report already written)
    STATE.stopping = True
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    _finish_run(environment)
    if STATE.plan is not None and not isinstance(environment.runner, WorkerRunner):
        results = (STATE.report or {}).get("slo") or []
        failed_slo = glue_slo.verdict_exit_code(results, STATE.settings.slo_strict)
        if STATE.partial or STATE.report_failed or lost_workers(environment.runner, STATE):
            environment.process_exit_code = EXIT_INCOMPLETE
            log.warning("cacheswarm: the run is incomplete (%s): exit code %d", _why_incomplete(environment),
                        EXIT_INCOMPLETE)
        elif failed_slo:
            environment.process_exit_code = failed_slo
            log.warning("cacheswarm: an objective failed%s: exit code %d",
                        " or was inconclusive (--slo-strict)" if STATE.settings.slo_strict else "", failed_slo)
    glue_process.release_lease(STATE)
    _close_runtime()


def _why_incomplete(environment) -> str:
    if STATE.report_failed:
        return "the report could not be written"
    if lost_workers(environment.runner, STATE):
        return "a worker was lost"
    return STATE.incomplete_reason or "stopped before every phase ran"


@events.quit.add_listener
def _on_quit(exit_code, **_kwargs):
    """Fired after Locust printed its own summary: the report path is the last thing shown."""
    if STATE.report_dir and STATE.written_total >= 0:
        if STATE.report is not None:
            print("\n" + console.summary(STATE.report), flush=True)
        print(f"\ncacheswarm report: {os.path.join(STATE.report_dir, 'comparison.html')}", flush=True)


__all__ = [*(cls.__name__ for cls in USER_CLASSES.values()), "ComparePhases"]
