"""Writing a run's report from the glue: run facts, phases with their measured windows, Locust's
own CSV/HTML beside ours. Locust-aware (runners, stats); the report itself is built by report/.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from datetime import datetime, timezone

from locust.html import get_html_report
from locust.runners import STATE_MISSING, MasterRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from .. import report
from ..report import live
from ..saturation import verdict
from ..stores import dynamodb

log = logging.getLogger("cacheswarm")
LIVE_EVERY_S = 5.0  # the live tab's figures are recomputed at most this often (it takes the loop's time)


def measured_seconds(environment, STATE) -> dict:
    """{phase key: seconds measured}: this process's own windows, or with workers the mean of
    theirs (each counts operations in its own window, so their sum / mean window is the rate)."""
    if not isinstance(environment.runner, MasterRunner):
        return STATE.clock.windows()
    per_phase: dict = {}
    for windows in STATE.windows.values():
        for key, secs in windows.items():
            per_phase.setdefault(key, []).append(secs)
    return {key: sum(v) / len(v) for key, v in per_phase.items()}


def _utc(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if t else None


def lost_workers(runner, STATE) -> list[dict]:
    """Workers the master lost during the run (heartbeats stopped): their data after their
    last report is missing from the report."""
    if not isinstance(runner, MasterRunner):
        return []
    lost = []
    for client_id, node in list(runner.clients.items()):
        if node.state == STATE_MISSING and client_id in STATE.last_report:
            lost.append({"worker": client_id, "data_missing_from_utc": _utc(STATE.last_report[client_id])})
    return lost


def _run_info(environment, STATE) -> dict:
    s, opts, runner = STATE.settings, environment.parsed_options, environment.runner
    workers = len(STATE.workers) if isinstance(runner, MasterRunner) else 1
    lost = lost_workers(runner, STATE)
    return {**s.public(), "partial": STATE.partial or bool(lost), "lost_workers": lost,
            "incomplete_reason": STATE.incomplete_reason or None,
            "model": "open" if s.target_rate else "closed", "users": int(opts.num_users or 0),
            "spawn_rate": opts.spawn_rate, "workers": workers, "keyspace_used": STATE.runtime.keyspaces,
            "started_utc": _utc(STATE.run_started), "ended_utc": _utc(time.time()),
            "locust_request_count": runner.stats.total.num_requests,
            "capacity": STATE.capacity_results(STATE.finished) if STATE.searches else {},
            "embedded_dynamodb": STATE.runtime.embedded and "dynamodb" in s.backends,
            "dynamodb_emulator": (STATE.runtime.regions.emulator if STATE.runtime.regions is not None
                                  else dynamodb.embedded_name()) if STATE.runtime.embedded and "dynamodb" in s.backends
            else None,
            "emulator_warmup": STATE.runtime.warmups or None,
            "global_table": _with_writes(STATE.global_table, STATE),
            "private_redis": ({"url": STATE.runtime.redis_url, "maxmemory": s.cache.redis_maxmemory}
                              if STATE.runtime.embedded_redis else None)}


def _with_writes(gt: dict | None, STATE) -> dict | None:
    """A global table's figures with each table's writes during the run, counted now (the master's
    refresh after the workers' last reports counts theirs): its users' in every window, and the
    warm-up's; those the counters did not rise by were lost. Not with inserts (they add items, not
    increments)."""
    if not gt or STATE.settings.workload.insert_ratio:
        return gt
    tables = {}
    for name, t in gt.get("tables", {}).items():
        d = t.get("dataset")
        users = STATE.recorder.count(lambda k: k["dataset"] == d and k["backend"].startswith("dynamodb@")
                                     and k["op"] in ("write", "rmw-write") and k["kind"] == "latency"
                                     and k["outcome"] not in ("error", "throttled"))
        warm = sum(w.get("writes", 0) for k, w in (STATE.runtime.warmups or {}).items() if k.startswith(f"{d}@"))
        tables[name] = {**t, "writes": users + warm} if d else t
    return {**gt, "tables": tables}


def write_report(environment, STATE) -> str | None:
    """Write (or refresh) this run's report directory when there is anything new to write."""
    total = STATE.recorder.total()
    if total == STATE.written_total and STATE.report_dir:
        return STATE.report_dir
    if STATE.report_dir is None:
        stamp = datetime.fromtimestamp(STATE.run_started or time.time(), timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        try:
            STATE.report_dir = report.new_directory(STATE.settings.report_dir, f"{STATE.settings.run_name}-{stamp}")
        except OSError as e:
            log.error("cacheswarm: cannot write the report: no report directory in %s: %s (fix --report-dir)",
                      STATE.settings.report_dir, e)
            STATE.report_failed = True
            return None
    windows = measured_seconds(environment, STATE)
    data = {"run": _run_info(environment, STATE),
            "phases": [phase_record(environment, STATE, p, windows) for p in STATE.plan.phases if p.started is not None],
            "histograms": STATE.recorder.encode()}
    try:
        STATE.report = report.write_all(STATE.report_dir, data)
        _write_locust_files(environment, STATE.report_dir)
    except OSError as e:
        log.error("cacheswarm: cannot write the report to %s: %s (fix --report-dir)", STATE.report_dir, e)
        STATE.report_failed = True
        return None
    STATE.report_failed = False
    STATE.written_total = total
    log.info("cacheswarm: report written to %s", STATE.report_dir)
    return STATE.report_dir


def live_report(environment, STATE):
    """(the report so far, its directory once written) for the web UI's live tab."""
    if STATE.finished or STATE.plan is None or STATE.settings is None or STATE.runtime is None:
        return STATE.report, STATE.report_dir
    now = time.monotonic()
    if STATE.live is not None and now - STATE.live[0] < LIVE_EVERY_S:
        return STATE.live[1], None
    windows = measured_seconds(environment, STATE)
    phases = [phase_record(environment, STATE, p, windows) for p in STATE.plan.phases if p.started is not None]
    run = {"slo": [r.text for r in STATE.settings.slo],
           "capacity": STATE.capacity_results(False) if STATE.searches else {}}
    STATE.live = (now, live.live_report(STATE.recorder, phases, run))
    return STATE.live[1], None


def phase_record(environment, STATE, phase, windows: dict | None = None) -> dict:
    """A phase as the report keeps it: its timeline, measured window and generator verdict."""
    if windows is None:
        windows = measured_seconds(environment, STATE)
    warmup = STATE.settings.warmup
    open_loop = bool(phase.rate or STATE.settings.target_rate)
    return {**phase.to_dict(warmup), **_window(windows, phase, warmup), **verdict(STATE.generator, phase.key, open_loop)}


def _window(windows: dict, phase, warmup: float) -> dict:
    """The phase's measured seconds: the processes' own windows (ended at --phase-time or when its
    users stopped), not the master's timeline (which ticks on a one-second grid)."""
    if phase.key not in windows:
        return {}
    return {"measured_seconds": round(windows[phase.key], 3),
            "timeline_seconds": round(phase.measured_seconds(warmup), 3)}


def _write_locust_files(environment, directory: str) -> None:
    """Locust's own CSV and HTML next to ours, whatever --csv/--html say."""
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for name, method in (("stats", writer.requests_csv), ("failures", writer.failures_csv),
                         ("exceptions", writer.exceptions_csv)):
        with open(os.path.join(directory, f"locust_{name}.csv"), "w", newline="", encoding="utf-8") as f:
            method(csv.writer(f))
    with open(os.path.join(directory, "locust_report.html"), "w", encoding="utf-8") as f:
        f.write(get_html_report(environment, show_download_link=False))
