"""`cacheswarm compare BASE NEW`: two runs' figures side by side from their histograms, and the
regressions past a threshold (throughput or capacity down, p50/p99 up).

Plain Python: both runs are re-read from histograms.json and rebuilt, so a later cacheswarm
reads an earlier run's raw data the same way it reads its own.
"""

from __future__ import annotations

import json
import os

from . import RAW_FILE, build, load_raw, verdicts
from .writers import _atomic, _env, _fmt

FORMAT_VERSION = 1
# (figure, label, better when higher)
FIGURES = (("throughput_ops", "ops/s", True), ("read_p50_ms", "read p50 ms", False),
           ("read_p99_ms", "read p99 ms", False), ("write_p99_ms", "write p99 ms", False))


def load(directory: str) -> dict:
    report = build(load_raw(os.path.join(directory, RAW_FILE)))
    return verdicts(report)


INTERVALS = {"throughput_ops": "throughput_ci_ops", "read_p50_ms": "read_p50_ci_ms", "read_p99_ms": "read_p99_ci_ms",
             "write_p99_ms": "write_p99_ci_ms"}


def _figures(report: dict) -> dict:
    """{row name: {figure: (value, thin, 95% interval or None)}} for fixed-load phases and capacity searches."""
    out = {}
    for s in report["summary"]:
        if s.get("step") is not None:
            continue
        out[s["phase"]] = {f: (s.get(f), f in (s.get("thin") or []), s.get(INTERVALS.get(f, ""))) for f, _, _ in FIGURES}
        out[s["phase"]]["generator_bound"] = bool(s.get("generator_bound"))
    for key, c in (report.get("capacity") or {}).items():
        out[f"{key} capacity"] = {"capacity_ops": (c["capacity_ops"], False, None), "generator_bound": c["lower_bound"]}
    return out


def _separated(ia, ib, higher_better: bool) -> bool | None:
    """Do the two 95% intervals say the new figure is worse (they do not overlap that way)? None when
    either is missing or open on the side that matters."""
    if not ia or not ib:
        return None
    if higher_better:  # worse: new's top below base's bottom
        return None if ib[1] is None or ia[0] is None else ib[1] < ia[0]
    return None if ib[0] is None or ia[1] is None else ib[0] > ia[1]


def _median(values: list) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def compare(base, new, max_regression: float) -> dict:
    """Rows present in both sides with each figure's change; each side is one run's report or a list
    of repeated runs' reports. A figure that got worse by more than max_regression (a fraction) is a
    regression only when the noise allows: with one run a side, when the two 95% intervals do not
    overlap (a percentile's from its histogram, a throughput's from its per-second counts); with
    repeated runs, when every new run is worse than every base run (their spreads do not overlap;
    the change is between medians). Otherwise it is within noise. Either side too thin or
    generator-bound to say: 'unsure'."""
    bases, news = (base if isinstance(base, list) else [base]), (new if isinstance(new, list) else [new])
    a_all, b_all = [_figures(r) for r in bases], [_figures(r) for r in news]
    repeated = len(bases) > 1 or len(news) > 1
    a, b = a_all[0], b_all[0]
    common = [n for n in b if all(n in f for f in a_all + b_all)]
    rows = []
    for name in common:
        for fig, label, higher_better in (*FIGURES, ("capacity_ops", "capacity ops/s", True)):
            if any(fig not in f[name] for f in a_all + b_all):
                continue
            va_runs, vb_runs = [f[name][fig][0] for f in a_all], [f[name][fig][0] for f in b_all]
            if None in va_runs or None in vb_runs:
                continue
            va, vb = _median(va_runs), _median(vb_runs)
            change = (vb - va) / va if va else None
            worse = change is not None and ((-change if higher_better else change) > max_regression)
            unsure = any(f[name][fig][1] or f[name]["generator_bound"] for f in a_all + b_all)
            if repeated:
                separated = max(vb_runs) < min(va_runs) if higher_better else min(vb_runs) > max(va_runs)
            else:
                separated = _separated(a[name][fig][2], b[name][fig][2], higher_better)
            noise = bool(worse and not unsure and separated is False)
            row = {"row": name, "figure": label, "base": va, "new": vb,
                   "change": None if change is None else round(change, 4),
                   "base_interval": a[name][fig][2], "new_interval": b[name][fig][2],
                   "regression": bool(worse and not unsure and not noise), "unsure": bool(worse and unsure),
                   "within_noise": noise}
            if repeated:
                row.update(base_runs=va_runs, new_runs=vb_runs)
            rows.append(row)
    return {"format_version": FORMAT_VERSION, "max_regression": max_regression,
            "base": {"run_name": bases[0]["run"].get("run_name"), "started_utc": bases[0]["run"].get("started_utc"),
                     "runs": len(bases)},
            "new": {"run_name": news[0]["run"].get("run_name"), "started_utc": news[0]["run"].get("started_utc"),
                    "runs": len(news)},
            "only_in_base": sorted(set(a) - set(b)), "only_in_new": sorted(set(b) - set(a)),
            "rows": rows, "regressions": sum(r["regression"] for r in rows),
            "within_noise": sum(r["within_noise"] for r in rows)}


def lines(result: dict) -> list[str]:
    out = [f"{'row':46s} {'figure':15s} {'base':>12s} {'new':>12s} {'change':>8s}"]
    for r in result["rows"]:
        change = "–" if r["change"] is None else f"{r['change'] * 100:+.1f}%"
        flag = ("  REGRESSION" if r["regression"] else "  worse, unsure (thin or generator-bound)" if r["unsure"]
                else ("  worse, within noise (the runs' spreads overlap)" if "base_runs" in r else
                      "  worse, within noise (the 95% intervals overlap)") if r.get("within_noise") else "")
        out.append(f"{r['row']:46s} {r['figure']:15s} {r['base']:>12,.3f} {r['new']:>12,.3f} {change:>8s}{flag}")
    for side in ("only_in_base", "only_in_new"):
        if result[side]:
            out.append(f"{side.replace('_', ' ')}: {', '.join(result[side])}")
    n = result["regressions"]
    if result["base"].get("runs", 1) == 1 and result["new"].get("runs", 1) == 1:
        out.append("one run a side: the intervals are each run's sampling noise; two runs of the same thing on a "
                   "shared machine can differ by more. Give repeated runs as comma lists (BASE1,BASE2,BASE3 "
                   "NEW1,NEW2,NEW3) to judge by their spread")
    noise = result.get("within_noise") or 0
    out.append(f"{n} regression{'s' if n != 1 else ''} past {result['max_regression'] * 100:g}%"
               + (f" ({noise} worse figure{'s' if noise != 1 else ''} within noise)" if noise else ""))
    return out


def write(directory: str, result: dict) -> str:
    os.makedirs(directory, exist_ok=True)
    _atomic(os.path.join(directory, "compare.json"), json.dumps(result, indent=2) + "\n")
    _env.filters["fmt"] = _fmt
    _atomic(os.path.join(directory, "compare.html"), _env.get_template("compare.html.j2").render(r=result))
    return os.path.join(directory, "compare.html")
