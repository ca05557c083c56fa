"""The glue for objectives and the capacity search: which phase (step) and rate each process's
users run, waiting for a step's last figures, deciding the next step, and the run's verdicts
(console lines, exit code). Locust-aware; the search is capacity.py, the rules slo.py.
"""

from __future__ import annotations

import logging
import time

from locust.runners import STATE_MISSING, WORKER_REPORT_INTERVAL, MasterRunner

from .. import slo
from ..capacity import STALL_CPU_PERCENT, Search, Step, client_tail
from .reports import phase_record
from ..phases import Phase
from ..recorder import SEP, Recorder
from ..report.rows import build

log = logging.getLogger("cacheswarm")
STEP_MESSAGE = "cacheswarm_step"
EXIT_SLO_FAILED = 4
SETTLE_LIMIT_S = 2 * WORKER_REPORT_INTERVAL + 2  # a worker whose report has not come by then is not waited for

def on_step_message(STATE, environment=None, msg=None, **_kwargs) -> None:
    """Master -> workers (and a local runner -> itself) before a phase's users spawn: STATE.running."""
    STATE.running[msg.data["base"]] = (msg.data["key"], float(msg.data["user_rate"]))


def announce(runner, phase: Phase, users: int, target_rate: float) -> None:
    """Tell every process which phase key and per-user rate the phase's users take: a capacity
    step's rate, else the run's --target-rate (0: closed loop), shared by its users."""
    user_rate = (phase.rate or target_rate) / users
    runner.send_message(STEP_MESSAGE, {"base": phase.base_key, "key": phase.key, "user_rate": user_rate})


def searches_for(settings) -> tuple[dict, callable]:
    """({base key: Search}, first_rate(dataset, backend, strategy)) for the phase plan."""
    searches: dict[str, Search] = {}

    def first_rate(dataset, backend, strategy):
        if not settings.searched(dataset, backend, strategy):
            return None
        search = searches[f"{dataset}/{backend}/{strategy}"] = Search(
            settings.capacity_start, settings.capacity_factor, settings.capacity_max_rate,
            settings.capacity_steps, settings.capacity_refine)
        return search.first_rate()

    return searches, first_rate


def make_settle(runner, STATE):
    """A capacity step's verdict needs every worker's last histograms: they come with the next
    report after its users stopped (every few seconds). Fixed-load phases need no wait."""
    since: dict = {}

    def settle(phase: Phase) -> bool:
        if phase.step is None or not isinstance(runner, MasterRunner):
            return True
        now = time.time()
        start = since.setdefault(phase.key, now)
        waiting = [c.id for c in runner.clients.values()
                   if c.state != STATE_MISSING and STATE.last_report.get(c.id, 0) <= start]
        if waiting and now - start < SETTLE_LIMIT_S:
            return False
        if waiting:
            log.warning("cacheswarm: %s: no report from %s since the step ended; deciding without it",
                        phase.key, ", ".join(waiting))
        return True

    return settle


def step_figures(environment, STATE, phase: Phase, runs=()) -> tuple[dict, dict]:
    """(summary row, {rule text: (observed, why, bounds)}) of one finished step, from its own
    histograms; the rules are judged on them merged with those of `runs` (earlier steps of its
    search at the same rate, by step number), so a re-run adds operations instead of starting over."""
    prefix = phase.key.replace("/", SEP) + SEP  # series keys are dataset|backend|strategy@step|...
    recorder = Recorder()
    recorder.histograms.update((k, h) for k, h in STATE.recorder.histograms.items() if k.startswith(prefix))
    data = {"run": {"model": "open", "warmup": STATE.settings.warmup}, "phases": [phase_record(environment, STATE, phase)]}
    report = build(data, recorder)
    srow = report["summary"][0] if report["summary"] else {
        "phase": phase.key, "throughput_ops": 0.0, "error_rate": None, "hit_ratio": None,
        "generator_bound": data["phases"][0].get("generator_bound")}
    read = next((r for r in report["rows"] if r["op"] == "read" and r["outcome"] == "all"), None)
    srow["service_read_p99_ms"] = read.get("service_p99_ms") if read else None
    srow["target_read_p99_ms"] = read.get("target_p99_ms") if read else None
    hists = report["hists"]
    if runs:
        merged = Recorder()
        merged.merge({k: h.encode() for k, h in recorder.histograms.items()})
        base = phase.base_key.replace("/", SEP)
        for n in runs:
            earlier = f"{base}@{n}{SEP}"
            merged.merge({prefix + k[len(earlier):]: h.encode() for k, h in STATE.recorder.histograms.items()
                          if k.startswith(earlier)})
        hists = build(data, merged)["hists"]
    rules = [r for r in STATE.settings.slo if not r.is_ratio and r.applies(phase.dataset, phase.backend, phase.strategy)]
    figures = {r.text: slo.figure(r, srow, hists) for r in rules}
    return srow, figures


def make_after(environment, STATE):
    """After a capacity step: record it in its search; the next step, if any, runs next."""

    def after(phase: Phase) -> list[Phase]:
        if phase.step is None:
            return []
        search = STATE.searches[phase.base_key]
        # an undecided step's re-run is judged together with the runs before it at that rate
        runs = [s.index for s in search.steps if s.rate == phase.rate and s.undecided]
        srow, figures = step_figures(environment, STATE, phase, runs)
        rules = [r for r in STATE.settings.slo if r.text in figures]
        state, reasons = slo.passes(rules, figures)
        if not srow.get("count"):
            state, reasons = slo.FAIL, ["no operation completed"]
        step = Step(phase.rate, state == slo.PASS, srow.get("throughput_ops") or 0.0, bool(srow.get("generator_bound")),
                    reasons,
                    {"read_p50_ms": srow.get("read_p50_ms"), "read_p99_ms": srow.get("read_p99_ms"),
                     "read_p99_ci_ms": srow.get("read_p99_ci_ms"),
                     "write_p99_ms": srow.get("write_p99_ms"), "hit_ratio": srow.get("hit_ratio"),
                     "error_rate": srow.get("error_rate"),
                     "observed": {t: v for t, (v, _why, _b) in figures.items()},
                     "interval": {t: list(b) if b else None for t, (_v, _why, b) in figures.items()},
                     "merged_runs": len(runs) + 1},
                    undecided=state == slo.INCONCLUSIVE, index=phase.step)
        if state == slo.FAIL and not step.generator_bound:
            client = client_tail(rules, srow)
            if client:  # the knee is the target's only when the client's share of the tail is small
                cpu = srow.get("generator_cpu_p50_percent")
                if cpu is not None and cpu < STALL_CPU_PERCENT:
                    step.stall = True  # not busy: a stall, which the search runs again before it bounds it
                else:
                    step.generator_bound = True
                step.reasons.append(client)
        step.figures["generator_cpu_percent"] = srow.get("generator_cpu_p50_percent")
        nxt = search.record(step)
        verdict = ("meets the SLO" if step.passed else ("undecided: " if step.undecided else "breaks it: ")
                   + "; ".join(step.reasons))
        log.info("cacheswarm: capacity %s step %d: %s ops/s (achieved %s, read p99 %s ms%s) %s", phase.base_key,
                 phase.step + 1, f"{phase.rate:,.0f}", f"{step.achieved:,.0f}", _ms(step.figures["read_p99_ms"]),
                 ", generator saturated" if step.generator_bound else "", verdict)
        if nxt is None:
            r = search.result()
            log.info("cacheswarm: capacity %s: %s%s ops/s (%s)", phase.base_key,
                     "at least " if r["lower_bound"] else "", f"{r['capacity_ops']:,.0f}", r["why_stopped"])
            return []
        return [Phase(0, phase.dataset, phase.backend, phase.strategy, step=phase.step + 1, rate=nxt)]

    return after


def _ms(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def capacity_results(STATE, final: bool = True) -> dict:
    """{base key: the search's result} for the report (a search the run cut short says so; while
    the run goes on, an unfinished search is shown as it stands)."""
    out = {}
    for key, search in (STATE.searches or {}).items():
        if not search.steps:
            continue
        if search.stop_reason is None and final:
            search.interrupt()
        result = search.result()
        if search.stop_reason is None:
            result["why_stopped"] = "searching"
        best = search.best
        result["phase"] = key
        result["at_step"] = best.figures if best else None
        result["slo"] = [r.text for r in STATE.settings.slo if not r.is_ratio and r.applies_to(key)]
        out[key] = result
    return out


def verdict_exit_code(results: list[dict], strict: bool) -> int | None:
    """EXIT_SLO_FAILED when an objective failed (or, with --slo-strict, was inconclusive)."""
    states = {r["state"] for r in results}
    if slo.FAIL in states or (strict and slo.INCONCLUSIVE in states):
        return EXIT_SLO_FAILED
    return None
