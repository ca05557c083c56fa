"""Turn merged histograms and the phase timeline into report rows and a summary."""

from __future__ import annotations

from ..catalog import PhaseKey, regional
from ..quantile_ci import intervals
from ..recorder import (CAPACITY, LATENCY, MEASURED, SERVICE, START_DELAY, TARGET, TIMELINE, TIMELINE_HIGHEST_US, Recorder,
                        new_histogram, parse_key)
from ..strategies import CACHE_ERROR
from ..workload import PARTS
from .drills import drill_views
from .server import phase_key, server_views
from .stampede import stampede_views
from .staleness import staleness_views

PERCENTILES = (("p50_ms", 50.0), ("p90_ms", 90.0), ("p95_ms", 95.0), ("p99_ms", 99.0),
               ("p999_ms", 99.9))
CHART_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99)
ROW_FIELDS = ("dataset", "backend", "strategy", "step", "target_rate", "op", "outcome", "model", "count", "errors",
              "error_rate",
              "throttled",
              "capacity_units", "throughput_ops",
              "hit_ratio", *[name for name, _ in PERCENTILES], "max_ms",
              *[f"service_{name}" for name, _ in PERCENTILES], "service_max_ms",
              "measured_seconds", "generator_bound", "thin",
              "p99_ci_low_ms", "p99_ci_high_ms", "p999_ci_low_ms", "p999_ci_high_ms")
FAILED = ("error", "throttled")  # outcomes that did not complete: counted apart, never in throughput or latency
LATE_US = 1000  # an open-loop operation that starts more than 1 ms after its intended time is late
MIN_TAIL_OPS = 5  # a percentile with fewer operations beyond it is marked thin (it is close to the max)


def thin_columns(count: int) -> list[str]:
    """The percentile columns a row of `count` operations cannot support (e.g. p99.9 from 85 ops)."""
    return [name for name, p in PERCENTILES if count and count * (1 - p / 100) < MIN_TAIL_OPS]


def _ms(micros) -> float:
    return round(micros / 1000.0, 3)


def latency_stats(h) -> dict:
    """p50..p99.9 and max of a histogram, in ms with µs precision. (No mean: hdrh computes it by
    walking every bucket in Python, which was 90% of rendering a 20-phase report.)"""
    if not h.get_total_count():
        return {name: None for name, _ in PERCENTILES} | {"max_ms": None}
    out = {name: _ms(h.get_value_at_percentile(p)) for name, p in PERCENTILES}
    out["max_ms"] = _ms(h.get_max_value())
    return out


CI_PERCENTILES = (("p50_ms", 50.0), ("p99_ms", 99.0), ("p999_ms", 99.9))


def latency_ci(h) -> dict:
    """{p50_ms|p99_ms|p999_ms: [low, high]}: the 95% confidence interval of each percentile in ms, from
    the histogram's counts (quantile_ci); a side is None where too few operations bound it."""
    got = intervals(h, [p for _, p in CI_PERCENTILES])
    return {name: (None if got[p] is None else [None if v is None else _ms(v) for v in got[p]])
            for name, p in CI_PERCENTILES}


def _group(histograms: dict) -> dict:
    """{(dataset, backend, strategy, op): {kind: {outcome: histogram}}} over the measured window."""
    groups: dict = {}
    for key, h in histograms.items():
        k = parse_key(key)
        if k["window"] != MEASURED or not h.get_total_count():
            continue
        group = groups.setdefault((k["dataset"], k["backend"], k["strategy"], k["op"]), {})
        group.setdefault(k["kind"], {})[k["outcome"]] = h
    return groups


def _merged(histograms) -> object:
    merged = new_histogram()
    for h in histograms:
        merged.add(h)
    return merged


def count_above(h, micros: int) -> int:
    """Recorded values above `micros` (HDR resolution)."""
    return sum(item.count_at_value_iterated_to for item in h.get_recorded_iterator()
               if item.value_iterated_to > micros)


def capacity_units(histograms) -> float | None:
    """Capacity units summed over `capacity` histograms (values in hundredths); None if none."""
    if not histograms:
        return None
    total = sum(item.value_iterated_to * item.count_at_value_iterated_to
                for h in histograms for item in h.get_recorded_iterator())
    return round(total / 100, 2)


def build(data: dict, recorder: Recorder | None = None) -> dict:
    """Rows, summary and curves from a run's raw data (or, live, from its recorder as it stands)."""
    if recorder is None:
        recorder = Recorder.from_encoded(data.get("histograms", {}))
    run = dict(data.get("run", {}))
    warmup = float(run.get("warmup", 0))
    phases = data.get("phases", [])
    by_key = {phase_key(p): p for p in phases}
    seconds = {k: p.get("measured_seconds") or 0.0 for k, p in by_key.items()}
    order = {phase_key(p): p.get("index", i) for i, p in enumerate(phases)}
    model = run.get("model", "closed")
    groups = _group(recorder.histograms)
    rows, curves, hists = [], {}, {}
    late_ops = 0
    delays = new_histogram()
    for (dataset, backend, field, op) in sorted(groups, key=lambda g: (order.get("/".join(g[:3]), len(order)), g)):
        kinds = groups[(dataset, backend, field, op)]
        key = PhaseKey.of(dataset, backend, field)
        pkey, strategy, step = key.text, key.strategy, key.step
        # a global table's region (dynamodb@eu-west-1): its users ran in the phase of dynamodb, beside the others'
        ran = ran_as(pkey)
        phase = by_key.get(pkey) or by_key.get(ran, {})
        outcomes = kinds.get(LATENCY, {})
        service, target = kinds.get(SERVICE, {}), kinds.get(TARGET, {})
        for h in kinds.get(START_DELAY, {}).values() if step is None else ():  # steps: their own rates
            delays.add(h)
            late_ops += count_above(h, LATE_US)
        secs = seconds.get(pkey, seconds.get(ran, 0.0))
        # `all` is the operations that completed (a cache_error completed through the database);
        # failures are their own figure next to it, never in the throughput or the percentiles
        merged = _merged(h for o, h in outcomes.items() if o not in FAILED)
        hists[(pkey, op)] = merged
        hits, misses = outcomes.get("hit"), outcomes.get("miss")
        hit_ratio = None
        if op in ("read", "scan", "rmw") and (hits or misses):
            n_hit = hits.get_total_count() if hits else 0
            n_miss = misses.get_total_count() if misses else 0
            hit_ratio = round(n_hit / (n_hit + n_miss), 4)
        errors = outcomes["error"].get_total_count() if "error" in outcomes else 0
        throttled = outcomes["throttled"].get_total_count() if "throttled" in outcomes else 0
        failed = errors + throttled
        capacity = kinds.get(CAPACITY, {})
        dynamo = regional(backend)[0] == "dynamodb"
        parts = [("all", merged, _merged(h for o, h in service.items() if o not in FAILED),
                  _merged(h for o, h in target.items() if o not in FAILED), list(capacity.values()))]
        parts += [(o, h, service.get(o), target.get(o), [capacity[o]] if o in capacity else [])
                  for o, h in sorted(outcomes.items())]
        for outcome, h, svc, mine, used in parts:
            count = h.get_total_count()
            row_failed = failed if outcome == "all" else (count if outcome in FAILED else 0)
            attempted = count + failed if outcome == "all" else count
            row = {
                "dataset": dataset, "backend": backend, "strategy": strategy, "step": step,
                "target_rate": phase.get("target_rate"), "phase": pkey, "op": op, "outcome": outcome,
                "model": model, "count": count,
                "errors": errors if outcome == "all" else (count if outcome == "error" else 0),
                "error_rate": round(row_failed / attempted, 4) if attempted else None,
                "throttled": (throttled if outcome == "all" else (count if outcome == "throttled" else 0)) if dynamo else None,
                "capacity_units": capacity_units(used) if dynamo else None,  # None: nothing measured
                "throughput_ops": round(count / secs, 2) if secs and outcome not in FAILED else None,
                "hit_ratio": hit_ratio,
                **latency_stats(h), "ci95": latency_ci(h), "measured_seconds": round(secs, 3),
                "generator_bound": bool(phase.get("generator_bound")),
                "thin": thin_columns(count),
            }
            for name in ("p99_ms", "p999_ms"):  # flat, for the CSV
                low, high = row["ci95"][name] or (None, None)
                row[f"{name[:-3]}_ci_low_ms"], row[f"{name[:-3]}_ci_high_ms"] = low, high
            if model == "open":
                row.update({f"service_{k}": v for k, v in latency_stats(svc if svc is not None else new_histogram()).items()})
                # the target's share of the tail (service plus waiting for the user's previous reply)
                row["target_p99_ms"] = _ms(mine.get_value_at_percentile(99)) if mine and mine.get_total_count() else None
            rows.append(row)
        if op == "read" and step is None:
            curves[pkey] = [
                (p, _ms(merged.get_value_at_percentile(p))) for p in CHART_PERCENTILES]
    if model == "open":
        # the run's target rate is the fixed-load phases' (capacity steps have rates of their own)
        ops = sum(r["count"] for r in rows if r["outcome"] == "all" and r["step"] is None)
        total_secs = sum(v for k, v in seconds.items() if by_key[k].get("step") is None)
        run["achieved_rate"] = round(ops / total_secs, 2) if total_secs else None
        run["late_ops"] = late_ops
        run["late_threshold_ms"] = LATE_US / 1000
        run["start_delay_p99_ms"] = _ms(delays.get_value_at_percentile(99)) if delays.get_total_count() else None
        run["start_delay_max_ms"] = _ms(delays.get_max_value()) if delays.get_total_count() else None
    summary = summarize(rows)
    have = {s["phase"] for s in summary} | {s["ran"] for s in summary}
    for key, p in by_key.items():  # a phase that measured nothing still has its line, saying so
        if key not in have:
            summary.append(_empty_summary(key, p))
    summary.sort(key=lambda s: (order.get(s["ran"], len(order)), s["phase"]))
    for srow in summary:
        phase = by_key.get(srow["ran"], {})
        srow.update({k: phase.get(k) for k in ("generator_bound", "generator_bound_reason",
                                                 "generator_cpu_p50_percent", "generator_cpu_max_percent",
                                                 "loop_lag_p99_ms", "loop_blocked")})
        srow["start_state_held"], srow["start_state_note"] = _start_state(srow, rows)
    timeline = timelines(recorder.histograms)
    for srow in summary:  # how long the failures lasted (an outage's duration, beside its count)
        failing = [pt["t"] for pt in timeline.get(srow["phase"], []) if pt["failed"] and pt["t"] >= warmup]
        srow["error_seconds"] = len(failing)
        srow["throughput_ci_ops"] = throughput_interval(timeline.get(srow["phase"], []), warmup,
                                                        srow.get("throughput_ops") or 0.0)
        srow["errors_from_s"], srow["errors_to_s"] = (failing[0], failing[-1] + 1) if failing else (None, None)
    return {"run": run, "phases": phases, "rows": rows, "summary": summary, "curves": curves,
            "warmup": warmup, "hists": hists, "timeline": timeline,
            "stampede": stampede_views(phases, recorder.histograms, timeline, run),
            "drills": drill_views(phases, timeline, summary, run),
            "server": server_views(phases, recorder.histograms, run),
            "staleness": staleness_views(phases, recorder.histograms, run.get("write_policy", "invalidate"),
                                         run.get("staleness_sample"))}


def timelines(histograms: dict) -> dict:
    """{phase key: [{t, ops, failed, hit_ratio, p99_ms}]}: each second of the phase (warm-up
    included), summed over every process: completed operations, failures, read hit ratio and the
    p99 of the operations that started in that second."""
    from hdrh.histogram import HdrHistogram

    per: dict = {}
    for key, h in histograms.items():
        k = parse_key(key)
        if not k["window"].startswith(TIMELINE) or not k["window"][1:].lstrip("-").isdigit():
            continue
        slot = per.setdefault(f'{k["dataset"]}/{k["backend"]}/{k["strategy"]}', {}).setdefault(
            int(k["window"][1:]), {"hists": [], "hit": 0, "miss": 0, "failed": 0, "degraded": 0})
        n = h.get_total_count()
        if k["outcome"] in FAILED:
            slot["failed"] += n
            continue
        slot["hists"].append(h)
        if k["op"] == "read" and k["outcome"] in ("hit", "miss"):
            slot[k["outcome"]] += n
        elif k["op"] == "read" and k["outcome"] == CACHE_ERROR:  # Redis away: read from the database instead
            slot["degraded"] += n
    out = {}
    for phase, seconds in per.items():
        points = []
        for t in sorted(seconds):
            slot = seconds[t]
            merged = HdrHistogram(1, TIMELINE_HIGHEST_US, 2)
            for h in slot["hists"]:
                merged.add(h)
            ops = merged.get_total_count()
            looked = slot["hit"] + slot["miss"]
            points.append({"t": t, "ops": ops, "failed": slot["failed"], "misses": slot["miss"], "hits": slot["hit"],
                           "degraded_reads": slot["degraded"],
                           "hit_ratio": round(slot["hit"] / looked, 4) if looked else None,
                           "p99_ms": _ms(merged.get_value_at_percentile(99)) if ops else None})
        out[phase] = points
    return out


def throughput_interval(points: list[dict], warmup: float, throughput: float) -> list[float] | None:
    """95% interval of a phase's throughput from the spread of its measured seconds: ±1.96 standard
    errors of the per-second counts (the last, partial second left out), relative to their mean and
    applied to the phase's throughput; None under 3 seconds."""
    ops = [p["ops"] for p in points if p["t"] >= warmup][:-1]
    if len(ops) < 3 or not sum(ops):
        return None
    mean = sum(ops) / len(ops)
    sd = (sum((x - mean) ** 2 for x in ops) / (len(ops) - 1)) ** 0.5
    rel = 1.96 * sd / len(ops) ** 0.5 / mean
    return [round(throughput * (1 - rel), 2), round(throughput * (1 + rel), 2)]


def ran_as(phase: str) -> str:
    """The phase a row's figures ran in: a global table's region's (products/dynamodb@eu-west-1/db-only)
    ran in products/dynamodb/db-only, beside the other regions'."""
    key = PhaseKey.parse(phase)
    return PhaseKey(key.dataset, regional(key.backend)[0], key.strategy, key.step).text


def _empty_summary(key: str, p: dict) -> dict:
    return {"phase": key, "ran": key, "dataset": p["dataset"], "backend": p["backend"], "strategy": p["strategy"],
            "step": p.get("step"), "target_rate": p.get("target_rate"), "throughput_ops": 0.0, "count": 0,
            "errors": 0, "error_rate": None, "throttled": None, "rcu": None, "wcu": None, "hit_ratio": None,
            "read_p50_ms": None, "read_p99_ms": None, "read_p999_ms": None, "read_p99_ci_ms": None,
            "write_p99_ms": None, "thin": [],
            "rcu_per_read": None, "wcu_per_write": None, "rcu_saved_per_1k_reads": None,
            "speedup_throughput": None, "speedup_read_p99": None,
            "empty_note": "no operation of the measured window completed: the target fell further behind than the "
                          "phase is long (open loop: each operation belongs to the window of its intended start)"}


def _start_state(srow: dict, rows: list[dict]) -> tuple[bool, str | None]:
    """A cache-only phase starts with every key loaded and no TTL: a miss means the cache lost keys
    during the phase (restart, eviction, another client), so its figures are not a warm cache's."""
    if srow["strategy"] != "cache-only":
        return True, None
    misses = sum(r["count"] for r in rows if (r["phase"], r["op"], r["outcome"]) == (srow["phase"], "read", "miss"))
    if not misses:
        return True, None
    return False, (f"the phase started with every key loaded, yet {misses:,} reads missed (hit ratio "
                   f"{srow['hit_ratio']}): Redis lost keys during the phase (restart, eviction or another client)")


def summarize(rows: list[dict]) -> list[dict]:
    """One line per phase: total throughput, hit ratio, read tail, speed-up vs db-only."""
    phases: dict = {}
    units: dict = {}  # (phase, "rcu"|"wcu") -> capacity units (a read-modify-write's parts hold its own)
    for r in rows:
        if r["outcome"] == "all" and r["capacity_units"] is not None:
            kind = "rcu" if r["op"] in ("read", "scan", "rmw-read") else "wcu"
            units[(r["phase"], kind)] = units.get((r["phase"], kind), 0.0) + r["capacity_units"]
    for r in rows:
        if r["outcome"] != "all" or r["op"] in PARTS:  # a read-modify-write's parts: counted in the whole
            continue
        s = phases.setdefault(r["phase"],
                              {"phase": r["phase"], "ran": ran_as(r["phase"]), "dataset": r["dataset"],
                               "backend": r["backend"],
                               "strategy": r["strategy"], "step": r["step"], "target_rate": r["target_rate"],
                               "throughput_ops": 0.0, "count": 0, "errors": 0, "error_rate": None,
                               "throttled": None,
                               "rcu": None, "wcu": None, "hit_ratio": None,
                               "read_p50_ms": None, "read_p99_ms": None, "read_p999_ms": None,
                               "read_p99_ci_ms": None, "write_p99_ms": None, "ops_p99_ms": {}, "ops_count": {}, "thin": []})
        s["count"] += r["count"]
        s["errors"] += r["errors"]
        if r["throttled"] is not None:
            s["throttled"] = (s["throttled"] or 0) + r["throttled"]
            s["rcu"], s["wcu"] = (round(units[(r["phase"], k)], 2) if (r["phase"], k) in units else None
                                  for k in ("rcu", "wcu"))
        s["throughput_ops"] = round(s["throughput_ops"] + (r["throughput_ops"] or 0.0), 2)
        if r["op"] == "read":
            s.update(hit_ratio=r["hit_ratio"], read_p50_ms=r["p50_ms"], read_p99_ms=r["p99_ms"],
                     read_p999_ms=r["p999_ms"], read_p99_ci_ms=r["ci95"]["p99_ms"],
                     read_p50_ci_ms=r["ci95"]["p50_ms"])
            s["thin"] += [f"read_{c}" for c in r["thin"] if c in ("p50_ms", "p99_ms", "p999_ms")]
        elif r["op"] == "write":
            s["write_p99_ms"] = r["p99_ms"]
            s["write_p99_ci_ms"] = r["ci95"]["p99_ms"]
            s["thin"] += ["write_p99_ms"] if "p99_ms" in r["thin"] else []
        else:  # insert, scan, rmw (YCSB D-F)
            s["ops_p99_ms"][r["op"]] = r["p99_ms"]
            s["ops_count"][r["op"]] = r["count"]
    out = list(phases.values())
    reads: dict = {}
    writes: dict = {}
    for r in rows:  # the operations the capacity units were spent on (see `units`)
        if r["outcome"] == "all" and r["op"] in ("read", "rmw-read", "write", "insert", "rmw-write"):
            into = reads if r["op"] in ("read", "rmw-read") else writes
            into[r["phase"]] = into.get(r["phase"], 0) + r["count"]
    for s in out:
        s["rcu_per_read"] = round(s["rcu"] / reads[s["phase"]], 3) if s["rcu"] and reads.get(s["phase"]) else None
        s["wcu_per_write"] = round(s["wcu"] / writes[s["phase"]], 3) if s["wcu"] and writes.get(s["phase"]) else None
    for s in out:
        db = phases.get(f'{s["dataset"]}/{s["backend"]}/db-only')
        s["rcu_saved_per_1k_reads"] = (round((db["rcu_per_read"] - (s["rcu_per_read"] or 0.0)) * 1000, 1)
                                       if db and db is not s and db.get("rcu_per_read") and s["throttled"] is not None
                                       and s["strategy"] == "cache-aside" else None)
    for s in out:
        failed = s["errors"] + (s["throttled"] or 0)
        s["error_rate"] = round(failed / (s["count"] + failed), 4) if s["count"] + failed else None
        base = phases.get(f'{s["dataset"]}/{s["backend"]}/db-only')
        s["speedup_throughput"] = (round(s["throughput_ops"] / base["throughput_ops"], 2)
                                   if base and base["throughput_ops"] else None)
        s["speedup_read_p99"] = (round(base["read_p99_ms"] / s["read_p99_ms"], 2)
                                 if base and base.get("read_p99_ms") and s.get("read_p99_ms") else None)
    return out
