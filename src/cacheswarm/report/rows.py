"""Turn merged histograms and the phase timeline into report rows and a summary."""

from __future__ import annotations

from ..recorder import MEASURED, Recorder, new_histogram, parse_key

PERCENTILES = (("p50_ms", 50.0), ("p90_ms", 90.0), ("p95_ms", 95.0), ("p99_ms", 99.0),
               ("p999_ms", 99.9))
CHART_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99)
ROW_FIELDS = ("dataset", "backend", "strategy", "op", "outcome", "count", "errors", "throughput_ops",
              "hit_ratio", "mean_ms", *[name for name, _ in PERCENTILES], "max_ms", "measured_seconds")


def _ms(micros) -> float:
    return round(micros / 1000.0, 3)


def latency_stats(h) -> dict:
    """p50..p99.9, max and mean of a histogram, in ms with µs precision."""
    if not h.get_total_count():
        return {name: None for name, _ in PERCENTILES} | {"max_ms": None, "mean_ms": None}
    out = {name: _ms(h.get_value_at_percentile(p)) for name, p in PERCENTILES}
    out["max_ms"] = _ms(h.get_max_value())
    out["mean_ms"] = _ms(h.get_mean_value())
    return out


def _group(histograms: dict) -> dict:
    """{(dataset, backend, strategy, op): {outcome: histogram}} over the measured window."""
    groups: dict = {}
    for key, h in histograms.items():
        k = parse_key(key)
        if k["window"] != MEASURED or not h.get_total_count():
            continue
        groups.setdefault((k["dataset"], k["backend"], k["strategy"], k["op"]), {})[k["outcome"]] = h
    return groups


def build(data: dict) -> dict:
    recorder = Recorder.from_encoded(data.get("histograms", {}))
    warmup = float(data.get("run", {}).get("warmup", 0))
    seconds = {(p["dataset"], p["backend"], p["strategy"]): p.get("measured_seconds") or 0.0
               for p in data.get("phases", [])}
    order = {(p["dataset"], p["backend"], p["strategy"]): p.get("index", i)
             for i, p in enumerate(data.get("phases", []))}
    groups = _group(recorder.histograms)
    rows, curves = [], {}
    for (dataset, backend, strategy, op) in sorted(groups, key=lambda g: (order.get(g[:3], len(order)), g)):
        outcomes = groups[(dataset, backend, strategy, op)]
        secs = seconds.get((dataset, backend, strategy), 0.0)
        merged = new_histogram()
        for h in outcomes.values():
            merged.add(h)
        hits, misses = outcomes.get("hit"), outcomes.get("miss")
        hit_ratio = None
        if op == "read" and (hits or misses):
            n_hit = hits.get_total_count() if hits else 0
            n_miss = misses.get_total_count() if misses else 0
            hit_ratio = round(n_hit / (n_hit + n_miss), 4)
        errors = outcomes["error"].get_total_count() if "error" in outcomes else 0
        parts = [("all", merged)] + (sorted(outcomes.items()) if op == "read" else [])
        for outcome, h in parts:
            count = h.get_total_count()
            rows.append({
                "dataset": dataset, "backend": backend, "strategy": strategy, "op": op, "outcome": outcome,
                "count": count, "errors": errors if outcome == "all" else (count if outcome == "error" else 0),
                "throughput_ops": round(count / secs, 2) if secs else None, "hit_ratio": hit_ratio,
                **latency_stats(h), "measured_seconds": round(secs, 3),
            })
        if op == "read":
            curves[f"{dataset}/{backend}/{strategy}"] = [
                (p, _ms(merged.get_value_at_percentile(p))) for p in CHART_PERCENTILES]
    return {"run": data.get("run", {}), "phases": data.get("phases", []), "rows": rows,
            "summary": summarize(rows), "curves": curves, "warmup": warmup}


def summarize(rows: list[dict]) -> list[dict]:
    """One line per phase: total throughput, hit ratio, read tail, speed-up vs db-only."""
    phases: dict = {}
    for r in rows:
        if r["outcome"] != "all":
            continue
        s = phases.setdefault((r["dataset"], r["backend"], r["strategy"]),
                              {"dataset": r["dataset"], "backend": r["backend"], "strategy": r["strategy"],
                               "throughput_ops": 0.0, "count": 0, "errors": 0, "hit_ratio": None,
                               "read_p50_ms": None, "read_p99_ms": None, "read_p999_ms": None,
                               "write_p99_ms": None})
        s["count"] += r["count"]
        s["errors"] += r["errors"]
        s["throughput_ops"] = round(s["throughput_ops"] + (r["throughput_ops"] or 0.0), 2)
        if r["op"] == "read":
            s.update(hit_ratio=r["hit_ratio"], read_p50_ms=r["p50_ms"], read_p99_ms=r["p99_ms"],
                     read_p999_ms=r["p999_ms"])
        else:
            s["write_p99_ms"] = r["p99_ms"]
    out = list(phases.values())
    for s in out:
        base = phases.get((s["dataset"], s["backend"], "db-only"))
        s["speedup_throughput"] = (round(s["throughput_ops"] / base["throughput_ops"], 2)
                                   if base and base["throughput_ops"] else None)
        s["speedup_read_p99"] = (round(base["read_p99_ms"] / s["read_p99_ms"], 2)
                                 if base and base.get("read_p99_ms") and s.get("read_p99_ms") else None)
    return out
