"""A run's life on Locust's side: our options on its parser, init (validation, preflight, the web
form), a run's start (the plan), the workers' reports, the run's end (the report, the exit code).

The users are users.py, the phase shape shape.py; a locustfile imports locustfile.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from functools import partial

import gevent
from locust import events
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from .. import drills, options
from . import namespace, objectives, probe, process, progress, web
from ..report import console
from .reports import live_report, lost_workers, write_report
from ..lease import NamespaceBusy
from ..options import BadInput
from ..phases import PhasePlan, plan
from .state import State
from ..regions import LAG_MARKERS
from ..runtime import Preflight, Runtime
from ..saturation import Monitor

log = logging.getLogger("cacheswarm")
MESSAGE_KEY = "cacheswarm_histograms"
GENERATOR_KEY = "cacheswarm_generator"
WINDOWS_KEY = "cacheswarm_windows"
OPENED_MESSAGE = "cacheswarm_opened"  # a process -> the master (or a local runner -> itself): its window began
EXIT_INCOMPLETE = 3  # interrupted, a phase could not be prepared, a worker lost, or the report not written


STATE = State()  # everything this process knows about the current run (state.py)


def fail(message: str) -> None:
    """Bad input: one line, exit code 2, before any user spawns or anything is written."""
    sys.stderr.write(f"cacheswarm: error: {message}\n")
    sys.stderr.flush()
    process.stop_forked_workers()
    sys.exit(2)


def _settings(environment):
    web.restore_redacted(environment.parsed_options, STATE.startup_options)
    # a worker's own (the master's options, sent with the run, would replace it); a run of one region ignores it
    # (the fleet's workers are started with their instance's region)
    if STATE.home_region and getattr(environment.parsed_options, "dynamodb_regions", ""):
        environment.parsed_options.home_region = STATE.home_region
    return options.settings_from(environment.parsed_options)


@events.init_command_line_parser.add_listener
def _add_options(parser):
    options.add_to_parser(parser)  # not a group: only the parser itself takes include_in_web_ui


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    headless = environment.parsed_options.headless
    # with the web UI, Locust's own SIGTERM handler is in place
    process.stop_on_signals(STATE, (signal.SIGINT, signal.SIGTERM) if headless and not isinstance(runner, WorkerRunner)
                     else (signal.SIGINT,))
    if environment.web_ui:
        web.redact_web_form(environment.web_ui)
        web.refuse_bad_form(environment.web_ui, environment.parsed_options, STATE.startup_options)
    if runner is not None and not isinstance(runner, MasterRunner):  # the master sends, every process runs
        runner.register_message(objectives.STEP_MESSAGE, partial(objectives.on_step_message, STATE))
    if isinstance(runner, WorkerRunner):  # e.g. a worker on EC2 in eu-west-1: --home-region eu-west-1
        STATE.home_region = str(getattr(environment.parsed_options, "home_region", "") or "")
    if runner is not None and not isinstance(runner, WorkerRunner):
        runner.register_message(OPENED_MESSAGE, _on_opened)
    logging.getLogger("locust.runners").addFilter(process.quiet_spawn_lines)
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
            namespace.take_lease(STATE)
    except (BadInput, Preflight, NamespaceBusy) as e:
        _close_runtime()
        fail(str(e))
    except KeyboardInterrupt:  # a signal during the preflight (e.g. while the emulator starts or seeds)
        _close_runtime()
        sys.stderr.write("cacheswarm: interrupted before the run started; nothing was measured\n")
        process.stop_forked_workers()
        sys.exit(EXIT_INCOMPLETE)
    if isinstance(runner, MasterRunner):
        events.worker_report.add_listener(_on_worker_report)
    if environment.web_ui:
        web.install_web_tab(environment.web_ui, lambda: live_report(environment, STATE),
                            lambda: progress.running(STATE))
        web.serve_report(environment.web_ui, lambda: STATE.report_dir)


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
        # a global table's regions' endpoints (the master's emulators)
        regions = json.loads(getattr(opts, "cacheswarm_region_urls", "") or "{}") if shipped else None
        STATE.settings, STATE.runtime = settings, Runtime(settings, users, url or None, keyspaces, redis_url or None,
                                                          regions or None)
    return STATE.runtime


def begin_run(environment) -> None:
    """A run starts (master or local process): validate the options the run will use, new STATE.plan."""
    try:  # the web UI form may have changed options since init
        options.check_users(environment.parsed_options.num_users)
        rt = _ensure_runtime(environment)
        options.check_report_dir(STATE.settings.report_dir)
        if not rt.keyspaces:
            rt.preflight()
        namespace.take_lease(STATE)
    except (BadInput, Preflight, NamespaceBusy) as e:
        log.error("cacheswarm: error: %s", e)  # STATE.plan stays None: the shape ends the run
        return
    STATE.reset_run()
    environment.parsed_options.cacheswarm_dynamodb_url = rt.dynamodb_url or ""
    environment.parsed_options.cacheswarm_keyspaces = json.dumps(rt.keyspaces)
    environment.parsed_options.cacheswarm_redis_url = rt.redis_url if rt.embedded_redis else ""
    environment.parsed_options.cacheswarm_region_urls = json.dumps(rt.regions.endpoints if rt.regions else {})
    probe.start_lag_probe(STATE)
    STATE.searches, first_rate = objectives.searches_for(STATE.settings)
    STATE.running.clear()
    STATE.plan = PhasePlan(plan(STATE.settings, first_rate), STATE.settings.phase_time, _prepare(rt),
                           sleep=gevent.sleep, settle=objectives.make_settle(environment.runner, STATE),
                           after=objectives.make_after(environment, STATE), sample=rt.server_sample,
                           opened=_last_opened, began=_drill_timer(rt))


def _drill_timer(rt):
    """--drill: a greenlet per phase it applies to, which does it at its time (drills.act)."""
    drill = STATE.settings.cache.drill

    def began(phase):
        if drills.applies(drill, phase):
            gevent.spawn(drills.act, drill, phase, rt, rt.server_sample, gevent.sleep)
    return began


def _on_opened(environment=None, msg=None, **_kwargs) -> None:
    """A process began a phase's window (its first user started): noted when it arrived here."""
    STATE.opened.setdefault(msg.data["key"], {})[msg.node_id] = time.time()


def _last_opened(phase) -> float | None:
    return max(STATE.opened.get(phase.key, {}).values(), default=None)


def _prepare(rt):
    """A capacity search's later steps go on with the cache the previous step left (a step is a
    higher rate on the same system, not a cold start) when that step ran just before; after another
    phase (searches on one dataset x backend alternate: phases.PhasePlan._place), whose writes the
    cache never saw, a step starts as the search's first did."""
    def prepare(phase):
        before = STATE.plan.phases[phase.index - 1] if phase.step and phase.index else None
        if before is not None and before.base_key == phase.base_key:
            return f"as step {phase.step} left it (capacity search, {phase.rate:,.0f} ops/s)"
        state = rt.prepare(phase)
        if not phase.step:
            return state
        return f"{state} (capacity search, {phase.rate:,.0f} ops/s: another phase ran since step {phase.step})"
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
    namespace.release_lease(STATE)
    if STATE.runtime is not None and STATE.runtime.regions is not None and STATE.global_table is None:
        STATE.global_table = global_table(STATE.runtime)
    write_report(environment, STATE)
    return True


def global_table(rt) -> dict:
    """The global table's figures at the run's end (lag per region pair, lost updates); a probe that
    fails is said in the report, never the run's end. Each table notes its dataset, whose writes
    reports.py counts each time the report is written (workers' last ones arrive after this)."""
    regions = rt.regions
    if not STATE.partial:
        log.info("cacheswarm: probing the replication lag between %s ...", ", ".join(regions.names))
    try:
        # interrupted: no lag probe nor convergence check (a Ctrl-C in the terminal stopped the emulators too)
        out = ({**regions.summary(0, settle=False), "interrupted": True} if STATE.partial
               else regions.summary(LAG_MARKERS))
        for dataset in STATE.settings.datasets:
            store = rt.stores.get((dataset, "dynamodb"))
            if store is not None and store.table in out["tables"]:
                out["tables"][store.table]["dataset"] = dataset
        return out
    except Exception as e:  # (the phases' figures are written whatever this says)
        log.warning("cacheswarm: the replication lag probe failed: %s", e)
        return {"regions": regions.names, "emulated": regions.embedded, "pairs": [], "tables": {},
                "probe_error": str(e)}


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
        failed_slo = objectives.verdict_exit_code(results, STATE.settings.slo_strict)
        if STATE.partial or STATE.report_failed or lost_workers(environment.runner, STATE):
            environment.process_exit_code = EXIT_INCOMPLETE
            log.warning("cacheswarm: the run is incomplete (%s): exit code %d", _why_incomplete(environment),
                        EXIT_INCOMPLETE)
        elif failed_slo:
            environment.process_exit_code = failed_slo
            log.warning("cacheswarm: an objective failed%s: exit code %d",
                        " or was inconclusive (--slo-strict)" if STATE.settings.slo_strict else "", failed_slo)
    namespace.release_lease(STATE)
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

