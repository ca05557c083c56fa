"""The report's first screen as data: the answer table (one row per dataset x backend x strategy) and
the figure's panels (read p99 against achieved throughput, one panel per dataset x backend).

Pure functions of the report dict, so the HTML, a test and a reader of comparison.json see the same."""

from __future__ import annotations

from .. import orders, strategies
from ..slo import parse_rules
from ..workload import PARTS
from .headline import _main_op, backend_label


def groups(report: dict) -> list[str]:
    """'dataset/backend' in the report's order (the headline's)."""
    return [f'{h["dataset"]}/{h["backend"]}' for h in report.get("headline") or []] or \
        list(dict.fromkeys(f'{s["dataset"]}/{s["backend"]}' for s in report["summary"]))


def strategy_order(report: dict) -> list[str]:
    """Every strategy in the run's order (then any other that has a row), the order of every table and chart."""
    seen = list(report["run"].get("strategies") or [])
    for s in report["summary"]:
        if s["strategy"] not in seen:
            seen.append(s["strategy"])
    return seen


def label(group: str, run: dict) -> str:
    dataset, backend = group.split("/")
    return f"{dataset} on {backend_label(backend, run)}"


def read_objective(report: dict, group: str) -> float | None:
    """The read (or all-operations) p99 threshold in ms that applies to a dataset x backend, to draw."""
    dataset, backend = group.split("/")
    for rule in parse_rules(report["run"].get("slo") or []):
        if (rule.metric == "latency" and rule.percentile == 99 and rule.op in ("read", "all")
                and rule.applies(dataset, backend)):
            return rule.threshold
    return None


def _database_saved(report: dict, phase: str, strategy: str) -> float | None:
    """The share of operations the cache answered without a database call: read hits over every
    operation (writes and misses reach the database); 1 for a strategy that has no database."""
    cls = strategies.STRATEGIES.get(strategy) or strategies.STRATEGIES.get(strategy.split("+")[0])
    if strategy == "db-only":
        return 0.0
    if cls is not None and not getattr(cls, "uses_database", True):
        return 1.0
    ops = sum(r["count"] for r in report["rows"] if r["phase"] == phase and r["outcome"] == "all" and r["op"] not in PARTS)
    hits = sum(r["count"] for r in report["rows"] if r["phase"] == phase and r["op"] == "read" and r["outcome"] == "hit")
    return hits / ops if ops else None


def _slo_state(report: dict, scope: str) -> str:
    mine = [r["state"] for r in report.get("slo") or [] if r["scope"] == scope]
    if not mine:
        return ""
    for state in ("fail", "inconclusive"):
        if state in mine:
            return state
    return "pass"


def _knee(c: dict) -> dict | None:
    passing = [s for s in c["steps"] if s["passed"] and s["rate"] == c.get("capacity_ops")]
    return passing[-1] if passing else None


def answer_rows(report: dict) -> list[dict]:
    """[{group, label, strategy, capacity_ops, capacity_range, lower_bound, p99_ms, p99_ci, p99_at_ops,
    p99_where, hit_ratio, db_saved, slo}] grouped by dataset x backend, strategies in the run's order."""
    run, out = report["run"], []
    fixed = {f'{s["dataset"]}/{s["backend"]}/{s["strategy"]}': s for s in report["summary"] if s.get("step") is None}
    caps = report.get("capacity") or {}
    for group in groups(report):
        for strategy in strategy_order(report):
            key = f"{group}/{strategy}"
            s, c = fixed.get(key), caps.get(key)
            if s is None and c is None:
                continue
            row = {"group": group, "label": label(group, run), "strategy": strategy, "capacity_ops": None,
                   "capacity_range": None, "lower_bound": False, "p99_ms": None, "p99_ci": None, "p99_at_ops": None,
                   "p99_where": "", "op": "read", "hit_ratio": None, "db_saved": None, "slo": _slo_state(report, key),
                   "generator_bound": False}
            if c is not None:
                row.update(capacity_ops=c.get("capacity_ops"), capacity_range=c.get("range_ops"),
                           lower_bound=bool(c.get("lower_bound")))
                knee = _knee(c)
                if s is None and knee is not None:
                    row.update(p99_ms=knee.get("read_p99_ms"), p99_ci=knee.get("read_p99_ci_ms"),
                               p99_at_ops=knee.get("achieved"), p99_where="at its capacity", hit_ratio=knee.get("hit_ratio"))
                    phase = _step_phase(report, key, knee)
                    row["db_saved"] = _database_saved(report, phase, strategy) if phase else None
            if s is not None:
                op, p99 = _main_op(s)
                row.update(op=op, p99_ms=p99, p99_ci=s.get("read_p99_ci_ms") if op == "read" else None,
                           p99_at_ops=s.get("throughput_ops"),
                           p99_where="at fixed load" if run.get("model") == "open" else "closed loop",
                           hit_ratio=s.get("hit_ratio"), db_saved=_database_saved(report, s["phase"], strategy),
                           generator_bound=bool(s.get("generator_bound")))
            out.append(row)
    return out


def _step_phase(report: dict, key: str, knee: dict) -> str | None:
    """The phase key of the capacity step that found the capacity (the last step at that rate: a
    re-run's, when the rate was run twice)."""
    steps = [s for s in report["summary"] if s.get("step") is not None
             and f'{s["dataset"]}/{s["backend"]}/{s["strategy"]}' == key and s.get("target_rate") == knee["rate"]]
    return steps[-1]["phase"] if steps else None


def figure_panels(report: dict) -> list[dict]:
    """One panel per dataset x backend: each strategy's capacity steps and fixed-load phase as points
    of (achieved ops/s, read p99)."""
    run, panels = report["run"], []
    fixed = [s for s in report["summary"] if s.get("step") is None]
    caps = report.get("capacity") or {}
    for group in groups(report):
        series: dict = {}
        for strategy in strategy_order(report):
            key = f"{group}/{strategy}"
            pts = []
            c = caps.get(key)
            if c is not None:
                knee = _knee(c)
                for st in c["steps"]:
                    y = st.get("read_p99_ms") or st.get("write_p99_ms")
                    x = st.get("achieved") or st.get("rate")
                    if y and x:
                        pts.append({"x": x, "y": y, "passed": st["passed"], "search": True, "knee": st is knee,
                                    "note": f"{strategy}: capacity step at {st['rate']:,.0f} ops/s, achieved {x:,.0f}, "
                                            f"read p99 {y:.3f} ms, {'met' if st['passed'] else 'broke'} the objective"})
            for s in fixed:
                if f'{s["dataset"]}/{s["backend"]}/{s["strategy"]}' != key:
                    continue
                op, y = _main_op(s)
                ci = s.get("read_p99_ci_ms") if op == "read" else None
                if y and s.get("throughput_ops"):
                    pts.append({"x": s["throughput_ops"], "y": y, "lo": ci[0] if ci else None,
                                "hi": ci[1] if ci else None, "passed": _slo_state(report, key) != "fail",
                                "note": f"{strategy}: {s['throughput_ops']:,.0f} ops/s, {op} p99 {y:.3f} ms"
                                        + (f" (95% interval {ci[0]:.3f}–{ci[1]:.3f})" if ci and ci[0] and ci[1] else "")})
            if pts:
                series[strategy] = pts
        if series:
            panels.append({"group": group, "title": label(group, run), "objective_ms": read_objective(report, group),
                           "series": series})
    return panels


def slo_summary(results: list[dict]) -> str:
    """'all 22 met', '2 of 22 failed, 1 inconclusive'."""
    n = len(results)
    fail = sum(1 for r in results if r["state"] == "fail")
    inc = sum(1 for r in results if r["state"] == "inconclusive")
    if not fail and not inc:
        return f"all {n} met"
    bits = [f"{fail} of {n} failed"] if fail else []
    bits += [f"{inc} {'of ' + str(n) + ' ' if not fail else ''}inconclusive"] if inc else []
    return ", ".join(bits)


def server_summary(views: list[dict]) -> str:
    """'all 36 cross-checks agree' or 'N of M disagree'."""
    checks = sum(len(v.get("checks") or []) for v in views)
    bad = sum(len(v.get("mismatches") or []) for v in views)
    errors = sum(1 for v in views for part in ("redis", "mysql") if (v.get(part) or {}).get("error"))
    if not checks:
        return "no cross-checks" + (f", {errors} samples failed" if errors else "")
    text = f"all {checks} cross-checks agree" if not bad else f"{bad} of {checks} cross-checks disagree"
    return text + (f", {errors} samples failed" if errors else "")


_SUMMED = {"redis": ("total_commands_processed", "evicted_keys", "expired_keys"),
           "mysql": ("Com_select", "Com_update", "Com_insert")}


def server_rows(report: dict) -> list[dict]:
    """The server view once per phase: a capacity search's steps folded into one row (counters summed,
    memory and threads at their highest, every step's cross-checks together), with `steps` = their count."""
    out, by_search = [], {}
    for v in report.get("server") or []:
        base, _, step = v["phase"].partition("@")
        if not step:
            out.append({**v, "steps": 0})
            continue
        if base not in by_search:
            by_search[base] = {"phase": base, "steps": 0, "checks": [], "mismatches": [], "restarts": [],
                               "complete": True, "memory": None, "pattern": None, "lag": None}
            out.append(by_search[base])
        row = by_search[base]
        row["steps"] += 1
        row["checks"] += v.get("checks") or []
        row["mismatches"] += v.get("mismatches") or []
        row["restarts"] += v.get("restarts") or []
        row["complete"] = row["complete"] and v.get("complete", True)
        row["memory"] = row["memory"] or v.get("memory")
        for part, summed in _SUMMED.items():
            got = v.get(part)
            if not got:
                continue
            into = row.setdefault(part, {})
            if got.get("error"):
                into["error"] = got["error"]
                continue
            for k in summed:
                if got.get(k) is not None:
                    into[k] = (into.get(k) or 0) + got[k]
            for k in ("used_memory", "maxmemory", "Threads_running"):
                if got.get(k) is not None:
                    into[k] = max(into.get(k) or 0, got[k])
            into["maxmemory_policy"] = got.get("maxmemory_policy")
            # the worst step's: the lowest buffer pool hit ratio, the busiest Redis (a search's hit ratio
            # over steps of different rates is no one figure: left out)
            if got.get("buffer_pool_hit_ratio") is not None:
                into["buffer_pool_hit_ratio"] = min(into.get("buffer_pool_hit_ratio", 1.0), got["buffer_pool_hit_ratio"])
            if got.get("cpu_percent") is not None:
                into["cpu_percent"] = max(into.get("cpu_percent", 0.0), got["cpu_percent"])
    return out


def memory_lines(report: dict) -> list[str]:
    """What a cached value costs, once per dataset x backend (it is the same in every phase)."""
    seen, out = set(), []
    for v in report.get("server") or []:
        m = v.get("memory") or {}
        group = v["phase"].rsplit("/", 1)[0]
        if group in seen or not m.get("bytes_per_value_mean"):
            continue
        seen.add(group)
        size = f"values of {m['value_bytes_mean']:,.0f} B take " if m.get("value_bytes_mean") else ""
        out.append(f"{label(group, report['run'])}: {size}{m['bytes_per_value_mean']:,.0f} B per value in Redis; "
                   f"the {m['keyspace']:,} keys need about {m['keyspace_bytes_estimate'] / 1048576:,.1f} MiB")
    return out


def shard_lines(report: dict) -> list[str]:
    """A Redis cluster's shards per phase: each primary's share of the phase's commands, and how far
    the busiest is above an even share (a zipfian hot key makes its slot's shard the hot one)."""
    out = []
    for v in report.get("server") or []:
        shards = (v.get("redis") or {}).get("shards")
        if not shards or "@" in v["phase"]:
            continue
        shares = {name: d.get("share") or 0.0 for name, d in shards.items()}
        busiest = max(shares, key=shares.get)
        even = 1 / len(shares)
        parts = ", ".join(f"{name} {share:.0%}" for name, share in shares.items())
        out.append(f"{v['phase']}: Redis cluster of {len(shares)} shards, commands {parts}; the busiest "
                   f"({busiest}) took {shares[busiest] / even:.1f}× an even share")
    return out


def partition_lines(report: dict) -> list[str]:
    """Orders on DynamoDB: each phase's new orders against the status index's hot PENDING partition."""
    out = []
    if (report.get("run") or {}).get("orders_write", "create") != "create":
        return out  # (status updates spread over the index's partitions)
    for s in report.get("summary") or []:
        if s["dataset"] != "orders" or s["backend"] != "dynamodb" or s.get("step") is not None \
                or not getattr(strategies.STRATEGIES.get(s["strategy"]), "uses_database", False):
            continue
        row = next((r for r in report.get("rows") or [] if r["phase"] == s["phase"] and r["op"] == "write"
                    and r["outcome"] == "all" and r.get("step") is None), None)
        if row and row.get("measured_seconds"):
            out.append(orders.index_line(s["phase"], (row["count"] - row["errors"]) / row["measured_seconds"]))
    return out


def staleness_rows(report: dict) -> list[dict]:
    """The staleness audit once per phase: a capacity search's steps added up (counts summed, rates
    recomputed, the oldest stale read kept; medians only where one step had any)."""
    out, by_search = [], {}
    summed = ("audited_hits", "stale_reads", "misses_checked", "races", "audit_errors")
    for v in report.get("staleness") or []:
        base, _, step = v["phase"].partition("@")
        if not step:
            out.append({**v, "steps": 0})
            continue
        row = by_search.get(base)
        if row is None:
            row = by_search[base] = {**v, "phase": base, "steps": 0, **{k: 0 for k in summed},
                                     "stale_age_max_ms": None, "_ages": [], "_races": []}
            out.append(row)
        row["steps"] += 1
        for k in summed:
            row[k] += v.get(k) or 0
        if v.get("stale_age_max_ms") is not None:
            row["stale_age_max_ms"] = max(row["stale_age_max_ms"] or 0, v["stale_age_max_ms"])
        if v.get("stale_reads"):
            row["_ages"].append(v)
        if v.get("races"):
            row["_races"].append(v)
    for row in by_search.values():
        ages, races = row.pop("_ages"), row.pop("_races")
        row["stale_rate"] = round(row["stale_reads"] / row["audited_hits"], 4) if row["audited_hits"] else None
        row["race_rate"] = round(row["races"] / row["misses_checked"], 4) if row["misses_checked"] else None
        for k in ("stale_age_p50_ms", "stale_age_p99_ms"):
            row[k] = ages[0][k] if len(ages) == 1 else None
        row["race_stale_for_p50_ms"] = races[0]["race_stale_for_p50_ms"] if len(races) == 1 else None
    return out
