"""Service-level objectives as data: parse `--slo` rules and evaluate them on a built report.

Plain Python. A rule is a threshold on one phase's figure, optionally scoped:

    read p99 < 5ms                     every phase's reads
    products/mysql/cache-aside: write p99.9 < 50ms
    error_rate < 0.1%                  hit_ratio >= 0.8           throughput >= 1000
    cache-aside/db-only capacity >= 3x  (a ratio between two strategies of a dataset x backend)

Each result is pass, fail or inconclusive: a figure from a generator-bound phase, or a tail
percentile from too few operations, is inconclusive, never passed. A latency rule is judged on the
percentile's 95% confidence interval (quantile_ci: ranks from the binomial distribution of the
count below it): it passes only when the whole interval meets the objective, fails only when the
whole interval breaks it, and is inconclusive, saying so, when the interval straddles the threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import catalog
from .catalog import ALL_STRATEGIES as STRATEGIES
from .optbase import BadInput
from .quantile_ci import interval
from .recorder import new_histogram
from .workload import OPS as OPERATIONS

GRAMMAR = (f"RULE is  [SCOPE:] [{'|'.join(OPERATIONS)}|all] pNN OP TIME  |  [SCOPE:] error_rate|hit_ratio|throughput OP NUMBER  |  "
           "[SCOPE:] STRATEGY/STRATEGY capacity|throughput OP Nx;  OP is < <= > >=;  TIME like 5ms, 500us, 1s;  "
           "rates like 0.1% or 0.001;  SCOPE names a dataset, backend and/or strategy joined by '/' "
           "(products/mysql/cache-aside, mysql, cache-aside); e.g. --slo 'read p99 < 5ms'")
OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
UNITS_MS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
MIN_TAIL_OPS = 5  # a percentile with fewer operations beyond it than this is "thin" (close to the max)
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"

_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_OP = r"(<=|>=|<|>)"
_LATENCY = re.compile(rf"^(?:({'|'.join(OPERATIONS)}|all)\s+)?p(\d+(?:\.\d+)?)\s*{_OP}\s*{_NUM}\s*(us|µs|ms|s)?$")
_FIGURE = re.compile(rf"^(error_rate|hit_ratio|throughput)\s*{_OP}\s*{_NUM}\s*(%|ops/s)?$")
_RATIO = re.compile(rf"^([a-z+-]+)\s*/\s*([a-z+-]+)\s+(capacity|throughput)\s*{_OP}\s*{_NUM}\s*[x×]?$")


@dataclass(frozen=True)
class Rule:
    text: str
    scope: tuple  # (dataset|None, backend|None, strategy|None)
    metric: str  # latency | error_rate | hit_ratio | throughput | ratio
    cmp: str
    threshold: float  # ms for latency, a fraction for rates, ops/s, or the ratio
    op: str = "all"  # latency: read | write | all
    percentile: float = 0.0
    num: str = ""  # ratio: strategy over strategy
    den: str = ""
    basis: str = ""  # ratio: capacity | throughput

    def applies(self, dataset: str, backend: str, strategy: str | None = None) -> bool:
        d, b, s = self.scope
        # dynamodb covers a global table's regions (dynamodb@eu-west-1); dynamodb@eu-west-1 only that one
        return ((d in (None, dataset)) and (b in (None, backend, catalog.regional(backend)[0]))
                and (s is None or strategy is None or s == strategy))

    def applies_to(self, key: str | catalog.PhaseKey) -> bool:
        """applies() to a phase key (as a string where one arrives: a capacity search's, a report's)."""
        k = key if isinstance(key, catalog.PhaseKey) else catalog.PhaseKey.parse(key)
        return self.applies(k.dataset, k.backend, k.strategy)

    @property
    def scope_text(self) -> str:
        return "/".join(p for p in self.scope if p) or "every phase"

    @property
    def is_ratio(self) -> bool:
        return self.metric == "ratio"

    def holds(self, observed: float) -> bool:
        return OPS[self.cmp](observed, self.threshold)


def _bad(rule: str, why: str) -> BadInput:
    return BadInput("--slo", f"{rule!r}: {why}. {GRAMMAR}")


def scope_of(text: str, option: str) -> tuple:
    """A scope like products/mysql for another option (--find-capacity)."""
    try:
        return _scope(text, text)
    except BadInput as e:
        raise BadInput(option, str(e).split(": ", 1)[1].split(". RULE")[0]) from None


def _scope(text: str, rule: str) -> tuple:
    found = {"dataset": None, "backend": None, "strategy": None}
    for part in (p.strip() for p in text.split("/")):
        kind = ("dataset" if part in catalog.datasets() else "backend" if catalog.regional(part)[0] in catalog.backends() else
                "strategy" if part in STRATEGIES else None)
        if part == "*":
            continue
        if kind is None:
            raise _bad(rule, f"scope part {part!r} is not a dataset ({', '.join(catalog.datasets())}), backend "
                             f"({', '.join(catalog.backends())}) or strategy ({', '.join(STRATEGIES)})")
        if found[kind] is not None:
            raise _bad(rule, f"scope names two {kind}s")
        found[kind] = part
    return found["dataset"], found["backend"], found["strategy"]


def parse_rule(text: str) -> Rule:
    rule = " ".join(str(text).split())
    if not rule:
        raise _bad(rule, "is empty")
    scope = (None, None, None)
    body = rule
    if ":" in rule:
        head, body = (p.strip() for p in rule.split(":", 1))
        scope = _scope(head, rule)
    body = body.lower()
    m = _LATENCY.match(body)
    if m:
        op, pct, cmp, value, unit = m.groups()
        p = float(pct)
        if pct == "999":  # p999 is read as p99.9, as in the report's columns
            p = 99.9
        if not 0 < p < 100:
            raise _bad(rule, "a percentile is between p0 and p100, e.g. p99 or p99.9")
        if unit is None:
            raise _bad(rule, "a latency needs a unit: ms, us or s (e.g. 5ms)")
        return Rule(rule, scope, "latency", cmp, float(value) * UNITS_MS[unit], op or "all", p)
    m = _FIGURE.match(body)
    if m:
        metric, cmp, value, unit = m.groups()
        v = float(value)
        if unit == "%":
            v /= 100
        if unit == "ops/s" and metric != "throughput" or unit == "%" and metric == "throughput":
            raise _bad(rule, f"{unit} does not fit {metric}")
        if metric != "throughput" and v > 1:
            raise _bad(rule, f"{metric} is a fraction: write 0.8 or 80%")
        return Rule(rule, scope, metric, cmp, v)
    m = _RATIO.match(body)
    if m:
        num, den, basis, cmp, value = m.groups()
        for name in (num, den):
            if name not in STRATEGIES:
                raise _bad(rule, f"{name!r} is not a strategy ({', '.join(STRATEGIES)})")
        if num == den:
            raise _bad(rule, "compare two different strategies")
        if scope[2] is not None:
            raise _bad(rule, "a ratio's scope names a dataset and/or backend, not a strategy")
        return Rule(rule, scope, "ratio", cmp, float(value), num=num, den=den, basis=basis)
    raise _bad(rule, "not understood")


def parse_rules(values) -> tuple[Rule, ...]:
    """--slo given once or more, or a config list ('[a, b]' / 'a; b' / one per line)."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    texts = []
    for v in values:
        v = str(v).strip()
        if v in ("None", "[]"):  # an empty web form field as Locust sends it back
            continue
        if v.startswith("[") and v.endswith("]"):  # a config file's list
            v = v[1:-1]
            texts += [t for t in (t.strip().strip("'\"").strip() for t in v.split(",")) if t]
            continue
        texts += [t for t in (t.strip().strip("'\"").strip() for t in re.split(r"[;\n]", v)) if t]
    return tuple(parse_rule(t) for t in texts)


# ---- evaluation -------------------------------------------------------------------------------

def thin(count: int, percentile: float) -> bool:
    """Too few operations beyond this percentile for it to mean more than 'about the max'."""
    return count * (1 - percentile / 100) < MIN_TAIL_OPS


def figure(rule: Rule, srow: dict, hists: dict) -> tuple[float | None, str | None, tuple | None]:
    """(observed value, why inconclusive or None, (low, high) 95% interval of a latency percentile or
    None) of a non-ratio rule on one phase's summary row."""
    if rule.metric == "latency":
        ops = OPERATIONS if rule.op == "all" else (rule.op,)  # all: every operation the phase counts
        h = new_histogram()
        for op in ops:
            part = hists.get((srow["phase"], op))
            if part is not None:
                h.add(part)
        n = h.get_total_count()
        if not n:
            return None, f"no {rule.op if rule.op != 'all' else ''} operation completed".replace("  ", " "), None
        value = round(h.get_value_at_percentile(rule.percentile) / 1000.0, 3)
        bounds = tuple(None if v is None else round(v / 1000.0, 3) for v in interval(h, rule.percentile))
        if thin(n, rule.percentile):
            return value, f"p{rule.percentile:g} from {n:,} operations (fewer than {MIN_TAIL_OPS} beyond it)", bounds
        return value, None, bounds
    if rule.metric == "error_rate":
        return srow.get("error_rate") or 0.0, None, None
    if rule.metric == "hit_ratio":
        return srow.get("hit_ratio"), None, None
    return srow.get("throughput_ops"), None, None


def judge(rule: Rule, observed: float, bounds: tuple | None) -> tuple[str, str | None]:
    """(state, note) of a figure against its rule: on the interval when there is one."""
    if bounds is None:
        return (PASS if rule.holds(observed) else FAIL), None
    low, high = bounds
    upward = rule.cmp in (">", ">=")
    meets = low if upward else high  # the side that must meet the objective for a pass
    breaks = high if upward else low  # the side that must break it for a fail
    if meets is not None and rule.holds(meets):
        return PASS, None
    if breaks is not None and not rule.holds(breaks):
        return FAIL, None
    shown = f"{'–' if low is None else f'{low:g}'}–{'beyond the slowest' if high is None else f'{high:g} ms'}"
    return INCONCLUSIVE, (f"its 95% interval {shown} straddles {rule.threshold:g} ms: more operations (a longer "
                          "--phase-time or more load) would decide")


def _result(rule: Rule, scope: str, observed, why: str | None, state: str | None = None,
            bounds: tuple | None = None) -> dict:
    if state is None:
        if why or observed is None:
            state = INCONCLUSIVE
        else:
            state, why = judge(rule, observed, bounds)
    return {"rule": rule.text, "scope": scope, "observed": observed, "threshold": rule.threshold,
            "unit": unit_of(rule), "ok": {PASS: True, FAIL: False}.get(state), "state": state, "note": why,
            "interval": list(bounds) if bounds else None}


def unit_of(rule: Rule) -> str:
    return {"latency": "ms", "throughput": "ops/s", "ratio": "x"}.get(rule.metric, "")


def evaluate(rules, report: dict) -> list[dict]:
    """Every rule on every phase (or dataset x backend, for ratios) it applies to."""
    out = []
    capacities = report.get("capacity") or {}
    summary = [s for s in report["summary"] if s.get("step") is None]
    for rule in rules:
        if rule.is_ratio:
            out += _ratios(rule, report, capacities)
            continue
        if capacities:  # a capacity run: the rule decided each search; its result is the search's
            out += [_capacity_result(rule, c) for key, c in capacities.items() if rule.applies_to(key)]
        for s in summary:
            if not rule.applies(s["dataset"], s["backend"], s["strategy"]):
                continue
            observed, why, bounds = figure(rule, s, report["hists"])
            if rule.metric == "hit_ratio" and observed is None and not s.get("empty_note"):
                continue  # db-only: no cache, no hit ratio
            if s.get("empty_note"):
                observed, why = None, s["empty_note"]
            if why is None and s.get("generator_bound"):
                why = "the load generator was saturated in this phase: " + (s.get("generator_bound_reason") or "")
            out.append(_result(rule, s["phase"], observed, why, bounds=bounds))
    return out


def _capacity_result(rule: Rule, c: dict) -> dict:
    step = c.get("at_step") or {}
    observed = (step.get("observed") or {}).get(rule.text)
    if c["capacity_ops"]:
        note = f"held up to {c['capacity_ops']:,.0f} ops/s" + (" (a lower bound)" if c["lower_bound"] else "")
        return _result(rule, c["phase"], observed, note, PASS)
    return _result(rule, c["phase"], observed, f"failed at every rate tried ({c['stop_reason']})", FAIL)


def _ratios(rule: Rule, report: dict, capacities: dict) -> list[dict]:
    out = []
    pairs = {}
    for s in report["summary"]:
        if s.get("step") is None and rule.applies(s["dataset"], s["backend"]):
            pairs.setdefault((s["dataset"], s["backend"]), {})[s["strategy"]] = s
    for c in capacities.values():
        k = catalog.PhaseKey.parse(c["phase"])
        d, b, st = k.dataset, k.backend, k.strategy
        if rule.applies(d, b):
            pairs.setdefault((d, b), {}).setdefault(st, {})
    for (d, b), by_strategy in pairs.items():
        scope = f"{d}/{b}"
        if rule.basis == "capacity":
            a, z = capacities.get(f"{scope}/{rule.num}"), capacities.get(f"{scope}/{rule.den}")
            if a is None or z is None:
                if a is not None or z is not None:
                    out.append(_result(rule, scope, None, f"capacity of {rule.num} and {rule.den} both needed "
                                                         "(--find-capacity for both)", INCONCLUSIVE))
                continue
            va, vz, la, lz = a["capacity_ops"], z["capacity_ops"], a["lower_bound"], z["lower_bound"]
        else:
            a, z = by_strategy.get(rule.num), by_strategy.get(rule.den)
            if not a or not z or "throughput_ops" not in a or "throughput_ops" not in z:
                continue
            va, vz = a["throughput_ops"], z["throughput_ops"]
            # a generator-bound closed-loop phase's throughput is what the client managed: a lower bound
            la, lz = bool(a.get("generator_bound")), bool(z.get("generator_bound"))
        if not vz:
            out.append(_result(rule, scope, None, f"{rule.den} {rule.basis} is 0", INCONCLUSIVE))
            continue
        ratio = round(va / vz, 2)
        out.append(_bounded(rule, scope, ratio, la, lz))
    return out


def _bounded(rule: Rule, scope: str, ratio: float, num_lower: bool, den_lower: bool) -> dict:
    """A ratio of figures that may be lower bounds: decide only what the bounds allow.
    A lower-bound numerator can only raise the true ratio, a lower-bound denominator only lower it."""
    holds = rule.holds(ratio)
    upward = rule.cmp in (">", ">=")  # the rule asks for a large ratio
    if not num_lower and not den_lower:
        return _result(rule, scope, ratio, None)
    if num_lower and den_lower:
        return _result(rule, scope, ratio, "both figures are lower bounds (generator-limited)", INCONCLUSIVE)
    grows = num_lower  # the true ratio can only be >= the observed one
    if holds and grows == upward or not holds and grows != upward:
        state = PASS if holds else FAIL
        return _result(rule, scope, ratio, f"{rule.num if num_lower else rule.den} is a lower bound, which "
                                           "cannot change this verdict", state)
    return _result(rule, scope, ratio, f"{rule.num if num_lower else rule.den} is a lower bound "
                                       "(generator-limited): the true ratio may differ", INCONCLUSIVE)


def passes(rules, figures: dict) -> tuple[str, list[str]]:
    """For a capacity step: (pass | fail | inconclusive, reasons) of all rules on this step.
    figures: {rule text: (observed, why, bounds)}. Fails when a rule's interval breaks its objective;
    inconclusive when none does but one straddles it."""
    failed, undecided = [], []
    for rule in rules:
        observed, _why, bounds = figures[rule.text]
        if observed is None:
            continue
        state, note = judge(rule, observed, bounds)
        if state == FAIL:
            failed.append(f"{rule.text} (observed {observed:g}{unit_of(rule)})")
        elif state == INCONCLUSIVE:
            undecided.append(f"{rule.text}: observed {observed:g}{unit_of(rule)}, {note.split(':')[0]}")
    if failed:
        return FAIL, failed
    return (INCONCLUSIVE, undecided) if undecided else (PASS, [])


def describe(result: dict) -> str:
    """One console line per result."""
    obs = result["observed"]
    shown = "–" if obs is None else (f"{obs:,.3f} {result['unit']}".strip() if isinstance(obs, float)
                                     else f"{obs} {result['unit']}".strip())
    note = f" ({result['note']})" if result.get("note") else ""
    rule = result["rule"]
    if rule.startswith(result["scope"] + ":"):  # a scoped rule names its scope itself: not twice
        rule = rule[len(result["scope"]) + 1:].lstrip()
    return f"SLO {result['state'].upper():12s} {result['scope']}: {rule}  observed {shown}{note}"


def overall(results: list[dict]) -> str:
    states = {r["state"] for r in results}
    return FAIL if FAIL in states else INCONCLUSIVE if INCONCLUSIVE in states else PASS if results else "none"
