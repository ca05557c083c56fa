"""The web UI's live table: per phase (and capacity step) ops/s, hit ratio, µs-precision
percentiles and the objectives' state so far, from the same report the run will write."""

from __future__ import annotations

from .. import slo
from ..catalog import PhaseKey
from ..recorder import LATENCY
from .rows import FAILED, _group, _merged, _ms, phase_key


def live_report(recorder, phases: list[dict], run: dict) -> dict:
    """The figures the live table shows, computed cheaply: the full report's build takes ~0.4 s for
    a few phases (every percentile of every row), and in a local run that time is taken from the
    users' event loop. Here: per phase one merge per op and three percentiles."""
    by_key = {phase_key(p): p for p in phases}
    summary: dict = {}
    hists = {}
    for (dataset, backend, field, op), kinds in _group(recorder.histograms).items():
        key = PhaseKey.of(dataset, backend, field)
        pkey, strategy, step = key.text, key.strategy, key.step
        outcomes = kinds.get(LATENCY, {})
        done = _merged(h for o, h in outcomes.items() if o not in FAILED)
        hists[(pkey, op)] = done
        p = by_key.get(pkey, {})
        s = summary.setdefault(pkey, {"phase": pkey, "dataset": dataset, "backend": backend, "strategy": strategy,
                                      "step": step, "target_rate": p.get("target_rate"), "count": 0, "failed": 0,
                                      "hit_ratio": None, "read_p50_ms": None, "read_p99_ms": None,
                                      "write_p99_ms": None, "generator_bound": bool(p.get("generator_bound")),
                                      "seconds": p.get("measured_seconds") or 0.0})
        n = done.get_total_count()
        s["count"] += n
        s["failed"] += sum(h.get_total_count() for o, h in outcomes.items() if o in FAILED)
        if op == "read" and n:
            hits = outcomes["hit"].get_total_count() if "hit" in outcomes else 0
            misses = outcomes["miss"].get_total_count() if "miss" in outcomes else 0
            s["hit_ratio"] = round(hits / (hits + misses), 4) if hits + misses else None
            s["read_p50_ms"], s["read_p99_ms"] = (_ms(done.get_value_at_percentile(50)),
                                                  _ms(done.get_value_at_percentile(99)))
        elif n:
            s["write_p99_ms"] = _ms(done.get_value_at_percentile(99))
    for s in summary.values():
        s["throughput_ops"] = round(s["count"] / s["seconds"], 2) if s["seconds"] else 0.0
        attempted = s["count"] + s["failed"]
        s["error_rate"] = round(s["failed"] / attempted, 4) if attempted else None
    report = {"summary": list(summary.values()), "hists": hists, "capacity": run.get("capacity") or {}}
    report["slo"] = slo.evaluate(slo.parse_rules(run.get("slo") or []), report)
    return report

LIVE_COLUMNS = (("phase", "Phase (measured window so far)"), ("count", "ops done"), ("ops_s", "ops/s"),
                ("hit_ratio", "hit ratio"), ("read_p50_ms", "read p50 ms"), ("read_p99_ms", "read p99 ms"),
                ("write_p99_ms", "write p99 ms"), ("slo", "SLO"))


def live_rows(report: dict | None, report_dir: str | None = None) -> list[dict]:
    if report is None:
        return []
    states: dict = {}
    for r in report.get("slo") or []:
        states.setdefault(r["scope"], []).append(r["state"])
    rows = []
    for s in report["summary"]:
        mine = states.get(s["phase"], [])
        slo = ("fail" if "fail" in mine else "inconclusive" if "inconclusive" in mine else "pass") if mine else ""
        rows.append({"phase": s["phase"] + (f' ({s["target_rate"]:,.0f} ops/s target)' if s.get("step") is not None else ""),
                     "count": s["count"], "ops_s": round(s["throughput_ops"], 1),
                     "hit_ratio": None if s["hit_ratio"] is None else f'{s["hit_ratio"]:.2f}',  # as the report shows it
                     "read_p50_ms": s["read_p50_ms"], "read_p99_ms": s["read_p99_ms"],
                     "write_p99_ms": s["write_p99_ms"], "slo": slo + (" (generator-bound)" if s.get("generator_bound") else "")})
    for key, c in (report.get("capacity") or {}).items():
        rows.append({"phase": f"capacity {key}", "ops_s": c["capacity_ops"],
                     "slo": ("at least " if c["lower_bound"] else "") + f'{c["capacity_ops"]:,.0f} ops/s: {c["why_stopped"]}'})
    if report_dir:
        rows.append({"phase": f"report: {report_dir}/comparison.html (served at /cacheswarm/report/: the Download "
                              "Data tab links it)"})
    return rows
