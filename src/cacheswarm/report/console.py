"""The run's last words on the console: the headline, one line per phase in µs, the verdicts."""

from __future__ import annotations

from .. import slo
from . import answer
from .regions import run_lines


def _us(ms) -> str:
    return "–" if ms is None else f"{ms * 1000:,.0f}"


def summary(report: dict) -> str:
    lines = ["cacheswarm summary (µs, measured window; † = too few operations for that percentile, "
             "! = generator-bound):"]
    fixed = [s for s in report["summary"] if s.get("step") is None]
    width = max([40] + [len(s["phase"]) + 2 for s in fixed])  # (a global table's phases name their region)
    lines.append(f"  {'phase':{width}s} {'ops/s':>9s} {'hit':>5s} {'read p50':>9s} {'read p99':>9s} {'write p99':>9s} "
                 f"{'errors':>7s}")
    for s in fixed:
        thin = set(s.get("thin") or [])
        hit = "–" if s.get("hit_ratio") is None else f"{s['hit_ratio']:.2f}"
        flag = " !" if s.get("generator_bound") else ""
        lines.append(f"  {s['phase'] + flag:{width}s} {s['throughput_ops']:>9,.0f} {hit:>5s} "
                     f"{_us(s['read_p50_ms']):>9s} {_us(s['read_p99_ms']) + ('†' if 'read_p99_ms' in thin else ''):>9s} "
                     f"{_us(s['write_p99_ms']) + ('†' if 'write_p99_ms' in thin else ''):>9s} {s['errors']:>7,}"
                     + "".join(f"  {op} p99 {_us(v)}" for op, v in (s.get("ops_p99_ms") or {}).items()))
    for key, c in (report.get("capacity") or {}).items():
        lines.append(f"  capacity {key}: {'at least ' if c['lower_bound'] else ''}{c['capacity_ops']:,.0f} ops/s "
                     f"in {len(c['steps'])} steps ({c['why_stopped']})")
    for h in report.get("headline") or []:
        lines.append("  " + h["text"])
    lines += ["  drill " + d["text"] for d in report.get("drills") or []]
    lines += ["  partition " + line for line in answer.partition_lines(report)]
    lines += ["  " + line for line in run_lines((report.get("run") or {}).get("global_table"),
                                                          report.get("staleness"))]
    results = report.get("slo") or []
    for r in results:
        lines.append("  " + slo.describe(r))
    if results:
        lines.append(f"  SLO overall: {slo.overall(results).upper()}")
    return "\n".join(lines)
