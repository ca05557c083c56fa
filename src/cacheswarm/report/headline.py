"""The report's first lines: one sentence per dataset x backend that answers "how much does
the cache buy me" with the numbers (capacity or throughput ratio, hit ratio, p99, SLO state)."""

from __future__ import annotations

import re

from .. import catalog


def emulator_of(backend: str, run: dict) -> str | None:
    """The emulator that served `backend` in this run ("DynamoDB Local 3.3.0", "moto 5.1.4"), or None."""
    if catalog.regional(backend)[0] != "dynamodb" or not run.get("embedded_dynamodb",
                                                                 run.get("dynamodb_endpoint") == "embedded"):
        return None
    return (run.get("dynamodb_emulator") or (run.get("global_table") or {}).get("emulator")
            or "moto")  # reports from before DynamoDB Local name no emulator


def emulator_note(name: str) -> str:
    """What the figures of an emulated DynamoDB are, and are not."""
    if name.startswith("DynamoDB Local"):
        return (f"DynamoDB figures here are {name}'s (Amazon's emulator, on this machine, backed by SQLite): "
                "its operations, capacity units and errors are DynamoDB's, its latencies and limits are not")
    return (f"DynamoDB figures here are the {name} emulator's (one request at a time, a GSI Query scans the "
            "table): not DynamoDB's latencies")


def backend_label(backend: str, run: dict) -> str:
    name, region = emulator_of(backend, run), catalog.regional(backend)[1]
    if name is not None:
        local = "DynamoDB Local" if name.startswith("DynamoDB Local") else "DynamoDB emulator (moto)"
        return f"{local} {region}" if region else local
    return catalog.label(backend)


def _ms(v) -> str:
    return "–" if v is None else (f"{v * 1000:,.0f} µs" if v < 1 else f"{v:,.2f} ms")


def _slo_state(results: list[dict], scope_prefix: str) -> str:
    mine = [r for r in results if r["scope"] == scope_prefix or r["scope"].startswith(scope_prefix + "/")]
    if not mine:
        return ""
    states = [r["state"] for r in mine]
    n_fail, n_inc = states.count("fail"), states.count("inconclusive")
    if n_fail:
        return f"SLO: {n_fail} of {len(mine)} failed"
    if n_inc:
        return f"SLO: {n_inc} of {len(mine)} inconclusive, the rest met"
    return f"SLO: all {len(mine)} met"


def sentences(report: dict) -> list[dict]:
    """[{dataset, backend, text, emulator}] in the plan's order."""
    run, out, seen = report["run"], [], []
    summary = [s for s in report["summary"] if s.get("step") is None]
    capacity = report.get("capacity") or {}
    for key in [*(f'{s["dataset"]}/{s["backend"]}' for s in summary), *(k.rsplit("/", 1)[0] for k in capacity)]:
        if key not in seen:
            seen.append(key)
    datasets, backends = list(run.get("datasets") or []), list(run.get("backends") or [])
    rank = lambda v, order: order.index(v) if v in order else len(order)  # noqa: E731
    seen.sort(key=lambda pair: (rank(pair.split("/")[0], datasets), rank(pair.split("/")[1], backends)))
    for pair in seen:
        dataset, backend = pair.split("/")
        where = f"{dataset} on {backend_label(backend, run)}"
        rows = {s["strategy"]: s for s in summary if (s["dataset"], s["backend"]) == (dataset, backend)}
        caps = {k.rsplit("/", 1)[1]: c for k, c in capacity.items() if k.startswith(pair + "/")}
        parts = []
        if caps:
            parts.append(_capacity_sentence(caps))
        if rows:
            parts.append(_load_sentence(rows, run))
        verdicts = {v["phase"].rsplit("/", 1)[1]: v["pattern"] for v in report.get("server") or []
                    if v.get("pattern") and v["phase"].startswith(pair + "/")}
        if verdicts:
            parts.append(_limiter_sentence(verdicts))
        state = _slo_state(report.get("slo") or [], pair)
        doubt = next((r["note"] for r in report.get("slo") or [] if r["state"] == "inconclusive"
                      and (r["scope"] == pair or r["scope"].startswith(pair + "/"))
                      and (r.get("note") or "").startswith("not decided: in ")), None)
        if doubt:
            state = f"{state} ({doubt})" if state else doubt
        text = f"{where}: " + "; ".join(p for p in parts if p) + (f". {state}." if state else ".")
        out.append({"dataset": dataset, "backend": backend, "text": text,
                    "emulator": emulator_of(backend, run)})
    return out


def _capacity_sentence(caps: dict) -> str:
    """The answer first ("cache-aside sustains 2.9× (2.7–3.3×) the db-only rate"), then the objective
    and the capacities it comes from."""
    base = caps.get("db-only")
    # a rule's own scope ("mysql: read p99 < 25ms") is the sentence's already
    objective = " and ".join(re.sub(r"^[\w/+-]+:\s*", "", r) for r in next(iter(caps.values())).get("slo") or []) \
        or "the SLO"
    rates = ", ".join(f"{name} {'at least ' if c['lower_bound'] else ''}{c['capacity_ops']:,.0f}"
                      for name, c in caps.items()) + " ops/s"
    claims = []
    for name, c in caps.items():
        if name == "db-only" or not base or not base["capacity_ops"] or not c["capacity_ops"]:
            continue
        ratio = c["capacity_ops"] / base["capacity_ops"]
        hedge = {(False, False): "", (True, False): "at least ", (False, True): "at most ",
                 (True, True): "(both are lower bounds) "}[(bool(c["lower_bound"]), bool(base["lower_bound"]))]
        claims.append(f"{name} sustains {hedge}{ratio:.1f}×{_ratio_range(c, base)} the db-only rate")
    if claims:
        return " and ".join(claims) + f" at {objective} ({rates})"
    return f"capacity at {objective}: {rates}"


def ratio_range(c: dict, base: dict) -> tuple[float | None, float | None]:
    """Where the capacity ratio lies, from each search's bracket (best pass .. first fail): the lowest
    over the highest and the reverse; None for a side a lower-bound search leaves open."""
    return _quotient_range(c.get("range_ops") or [None, None], base.get("range_ops") or [None, None])


def _quotient_range(num, den) -> tuple[float | None, float | None]:
    """Where num / den lies given an interval for each: (num low / den high, num high / den low);
    None for a side an open end leaves unknown."""
    (n_lo, n_hi), (d_lo, d_hi) = num, den
    return (n_lo / d_hi if n_lo and d_hi else None), (n_hi / d_lo if n_hi and d_lo else None)


def _ratio_range(c: dict, base: dict) -> str:
    low, high = ratio_range(c, base)
    if low is None and high is None:
        return ""
    return f" ({f'{low:.1f}' if low else '?'}–{f'{high:.1f}×' if high else 'more'})"


def _load_sentence(rows: dict, run: dict) -> str:
    base = rows.get("db-only")
    open_loop = run.get("model") == "open"
    load = f"at {run.get('target_rate') or 0:,.0f} ops/s" if open_loop else "closed loop"
    bits = []
    behind = {name: _behind(s, run) for name, s in rows.items()}
    for name, s in rows.items():
        if name == "db-only":
            continue
        op, p99 = _main_op(s)
        ci = s.get("read_p99_ci_ms") if op == "read" else None
        piece = f"{name} {op} p99 {_ms(p99)}" + (f" ({_ms(ci[0])}–{_ms(ci[1])})" if ci and ci[0] and ci[1] else "")
        base_p99 = _main_op(base, op)[1] if base else None
        if base_p99 and p99:
            r = base_p99 / p99
            low, high = p99_ratio_range(s, base) if op == "read" else (None, None)
            span = ""
            if low and high:
                span = f", {low:.1f}–{high:.1f}×" if r >= 1 else f", {1 / high:.1f}–{1 / low:.1f}×"
                span += "; the intervals overlap: no clear difference" if low < 1 < high else ""
            piece += (f" vs {_ms(base_p99)} db-only ({r:.1f}× lower{span})" if r >= 1 else
                      f" vs {_ms(base_p99)} db-only ({1 / r:.1f}× higher{span})")
        if not base and s.get("throughput_ops") and not open_loop:
            piece += f", {s['throughput_ops']:,.0f} ops/s"
        if not open_loop and base and base.get("throughput_ops") and s.get("throughput_ops"):
            piece += f", {s['throughput_ops'] / base['throughput_ops']:.1f}× the db-only throughput"
        if s.get("hit_ratio") is not None and name != "cache-only":
            piece += f", hit ratio {s['hit_ratio']:.2f}"
        if s.get("generator_bound"):
            piece += " (generator-bound)"
        elif behind[name]:
            piece += f" ({name} {behind[name]})"
        if s.get("empty_note"):
            piece = f"{name}: nothing completed in the measured window (the target fell behind)"
        bits.append(piece)
    if base and base.get("empty_note"):
        bits.insert(0, "db-only: nothing completed in the measured window (the target fell behind)")
    elif base and behind["db-only"] and not base.get("generator_bound"):
        bits.insert(0, f"db-only {behind['db-only']}, so the ratios compare with a queue")
    elif not bits and base:
        bits.append(f"db-only read p99 {_ms(base.get('read_p99_ms'))}, {base['throughput_ops']:,.0f} ops/s")
    return f"{load}, " + "; ".join(bits) if bits else ""


BEHIND = 0.98  # an open-loop phase that completed less than this share of its target rate fell behind it


def _behind(s: dict, run: dict) -> str:
    """Why a fixed-load phase's latency is a queue's, not its service's: it completed less than its
    target rate (open loop: the schedule ran ahead of what the target answered), so the rate is past
    its capacity here and its tail grows with the phase's length; '' when it kept up."""
    target, done = run.get("target_rate"), s.get("throughput_ops")
    if run.get("model") != "open" or not target or done is None or s.get("empty_note") or done >= BEHIND * target:
        return ""
    return (f"fell behind ({done:,.0f} ops/s done): {target:,.0f} ops/s is past its capacity here and its "
            f"latency is a growing queue's")


def p99_ratio_range(s: dict, base: dict) -> tuple[float | None, float | None]:
    """Where db-only's read p99 over `s`'s lies, from each p99's 95% interval (order statistics of
    the histogram's counts): the lowest of db-only's over the highest of `s`'s, and the reverse."""
    ci, base_ci = s.get("read_p99_ci_ms"), base.get("read_p99_ci_ms")
    if not ci or not base_ci or not all((*ci, *base_ci)):
        return None, None
    return _quotient_range(base_ci, ci)


def _main_op(s: dict, op: str | None = None) -> tuple[str, float | None]:
    """(op, p99) a phase is judged by: its reads, else its most frequent other operation (YCSB E's
    scans, not its 5% of inserts; a Redis-native pattern's)."""
    others = s.get("ops_p99_ms") or {}
    if op is not None:
        return op, s.get("read_p99_ms") if op == "read" else others.get(op)
    if s.get("read_p99_ms") is not None or not others:
        return "read", s.get("read_p99_ms")
    counts = s.get("ops_count") or {}
    op = max(others, key=lambda o: counts.get(o, 0))
    return op, others[op]


def _limiter_sentence(verdicts: dict) -> str:
    """The rate limiter's correctness: what each version admitted beyond the limit."""
    bits = []
    for name, v in verdicts.items():
        if v.get("over_admitted"):
            bits.append(f"{name} admitted {v['over_admitted']:,} requests over the limit of {v['limit']} per "
                        f"{v['window_seconds']}s, in {v['windows_over_limit']:,} of {v['windows']:,} windows")
        else:
            bits.append(f"{name} never admitted more than {v['limit']} per {v['window_seconds']}s "
                        f"({v['windows']:,} windows)")
    return "; ".join(bits)
