"""Objectives: the grammar, verdicts on real runs (console, comparison.json, JUnit, exit code 4),
inconclusive figures, and lower-bound ratios."""

import json
import xml.etree.ElementTree as ET

import pytest

from cacheswarm import slo
from cacheswarm.options import BadInput
from cacheswarm.recorder import Recorder, series_key
from cacheswarm.report import rows, verdicts

from .conftest import run_locust
from .test_end_to_end import common, only_report


@pytest.mark.parametrize("text, metric, threshold, scope", [
    ("read p99 < 5ms", "latency", 5.0, (None, None, None)),
    ("write p99.9 < 50ms", "latency", 50.0, (None, None, None)),
    ("products/mysql/cache-aside: read p99 < 500us", "latency", 0.5, ("products", "mysql", "cache-aside")),
    ("mysql: p999 <= 2s", "latency", 2000.0, (None, "mysql", None)),
    ("error_rate < 0.1%", "error_rate", 0.001, (None, None, None)),
    ("cache-aside: hit_ratio >= 0.8", "hit_ratio", 0.8, (None, None, "cache-aside")),
    ("throughput >= 1000 ops/s", "throughput", 1000.0, (None, None, None)),
    ("restaurants: cache-aside/db-only capacity >= 3x", "ratio", 3.0, ("restaurants", None, None)),
])
def test_rules_parse_to_their_thresholds(text, metric, threshold, scope):
    rule = slo.parse_rule(text)
    assert (rule.metric, rule.threshold, rule.scope) == (metric, pytest.approx(threshold), scope)


@pytest.mark.parametrize("text, says", [
    ("read p99 < 5", "needs a unit"), ("latency is fine", "not understood"), ("cheese: p99 < 1ms", "'cheese'"),
    ("hit_ratio >= 80", "fraction"), ("db-only/db-only throughput >= 2x", "two different"),
    ("cache-aside: cache-aside/db-only capacity >= 2x", "not a strategy"), ("p100 < 1ms", "between p0 and p100"),
])
def test_malformed_rules_name_the_option_and_show_the_grammar(text, says):
    with pytest.raises(BadInput) as e:
        slo.parse_rule(text)
    assert str(e.value).startswith("--slo: ") and says in str(e.value) and "RULE is" in str(e.value)


def test_a_malformed_rule_stops_the_run_before_anything_runs(seeded, tmp_path):
    out = run_locust([*common(seeded, tmp_path / "r"), "--slo", "read p99 < lots"], tmp_path)
    assert out.returncode == 2, out.stderr[-800:]
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("cacheswarm: error: --slo: 'read p99 < lots'") and "RULE is" in line
    assert "Traceback" not in out.stderr and not (tmp_path / "r").exists()


def test_capacity_rules_need_a_capacity_search(seeded, tmp_path):
    out = run_locust([*common(seeded, tmp_path / "r"), "--slo", "cache-aside/db-only capacity >= 2x"], tmp_path)
    assert out.returncode == 2 and "--find-capacity" in out.stderr.splitlines()[-1]
    out = run_locust([*common(seeded, tmp_path / "r"), "--find-capacity", "all"], tmp_path)
    assert out.returncode == 2 and "needs an objective" in out.stderr.splitlines()[-1]


def test_verdicts_of_a_real_run_in_console_json_junit_and_exit_code(seeded, tmp_path):
    rules = ["read p99 < 10s", "db-only: read p50 < 1us", "error_rate < 1%", "cache-aside: hit_ratio >= 0.01",
             "cache-aside/db-only throughput >= 0.01x"]
    args = [*common(seeded, tmp_path / "r", phase="4s"), "--strategies", "db-only,cache-aside", "--target-rate", "200"]
    for rule in rules:
        args += ["--slo", rule]
    out = run_locust(args, tmp_path)
    assert out.returncode == 4, out.stderr[-2000:]  # the 1 µs median cannot hold
    assert "an objective failed: exit code 4" in out.stderr
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["format_version"] == 2 and doc["slo_overall"] == "fail"
    by = {(r["rule"], r["scope"]): r for r in doc["slo"]}
    summary = {s["strategy"]: s for s in doc["summary"]}
    assert by[("read p99 < 10s", "products/mysql/db-only")]["observed"] == summary["db-only"]["read_p99_ms"]
    assert by[("read p99 < 10s", "products/mysql/cache-aside")]["state"] == "pass"
    assert by[("db-only: read p50 < 1us", "products/mysql/db-only")]["state"] == "fail"
    assert ("db-only: read p50 < 1us", "products/mysql/cache-aside") not in by  # out of its scope
    assert by[("cache-aside: hit_ratio >= 0.01", "products/mysql/cache-aside")]["observed"] == summary["cache-aside"]["hit_ratio"]
    ratio = by[("cache-aside/db-only throughput >= 0.01x", "products/mysql")]
    assert ratio["observed"] == pytest.approx(summary["cache-aside"]["throughput_ops"] / summary["db-only"]["throughput_ops"], abs=0.01)
    assert len(doc["slo"]) == 7  # 2 + 1 + 2 + 1 + 1
    # one console line per result, after Locust's own summary
    assert sum(1 for line in out.stdout.splitlines() if line.strip().startswith(("SLO PASS", "SLO FAIL", "SLO INCONC"))) == 7
    assert "SLO overall: FAIL" in out.stdout
    suite = ET.parse(report / "slo.junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) == 7 and int(suite.get("failures")) == 1
    failed = [c for c in cases if c.find("failure") is not None]
    assert failed[0].get("name") == "db-only: read p50 < 1us"
    assert "Objectives: <span class=\"fail\">FAIL</span>" in (report / "comparison.html").read_text()


def _report(phase_extra=None, reads=1000, micros=500):
    """A report built from real HDR histograms: one db-only and one cache-aside phase."""
    rec = Recorder()
    for strategy, outcome in (("db-only", "ok"), ("cache-aside", "hit")):
        for i in range(reads):
            rec.record(series_key("products", "mysql", strategy, "read", outcome), micros + i % 10)
    phases = [{"index": i, "dataset": "products", "backend": "mysql", "strategy": s, "measured_seconds": 10.0,
               **((phase_extra or {}).get(s, {}))} for i, s in enumerate(("db-only", "cache-aside"))]
    return rows.build({"run": {"model": "closed", "warmup": 0}, "phases": phases, "histograms": rec.encode()})


def test_a_generator_bound_phase_is_inconclusive_not_passed():
    report = _report({"cache-aside": {"generator_bound": True, "generator_bound_reason": "CPU p50 99% of a core"}})
    report["run"]["slo"] = ["read p99 < 10ms"]
    results = {r["scope"]: r for r in verdicts(report)["slo"]}
    assert results["products/mysql/db-only"]["state"] == "pass"
    bound = results["products/mysql/cache-aside"]
    assert bound["state"] == "inconclusive" and bound["ok"] is None and "saturated" in bound["note"]
    assert bound["observed"] == pytest.approx(0.509, abs=0.002)  # the figure is still shown


def test_a_tail_from_too_few_operations_is_inconclusive():
    report = _report(reads=85)
    report["run"]["slo"] = ["read p99.9 < 10ms", "read p50 < 10ms"]
    states = {(r["rule"], r["scope"]): r["state"] for r in verdicts(report)["slo"]}
    assert states[("read p99.9 < 10ms", "products/mysql/db-only")] == "inconclusive"
    assert states[("read p50 < 10ms", "products/mysql/db-only")] == "pass"
    thin = {s["strategy"]: s["thin"] for s in report["summary"]}
    assert "read_p999_ms" in thin["db-only"] and "read_p50_ms" not in thin["db-only"]


@pytest.mark.parametrize("ratio, num_lower, den_lower, state", [
    (4.0, False, False, "pass"), (2.0, False, False, "fail"),
    (4.0, True, False, "pass"),  # the numerator can only be larger: a pass stands
    (2.0, True, False, "inconclusive"),  # ... but a fail might not
    (2.0, False, True, "fail"),  # the denominator can only be larger: a fail stands
    (4.0, False, True, "inconclusive"),
    (4.0, True, True, "inconclusive"),
])
def test_ratios_of_lower_bounds_decide_only_what_the_bounds_allow(ratio, num_lower, den_lower, state):
    rule = slo.parse_rule("cache-aside/db-only capacity >= 3x")
    assert slo._bounded(rule, "products/mysql", ratio, num_lower, den_lower)["state"] == state


def test_a_scoped_rule_names_its_scope_once_on_the_console():
    result = {"rule": "products/mysql: read p99 < 5ms", "scope": "products/mysql", "observed": 1.5, "unit": "ms",
              "state": "pass", "note": None}
    line = slo.describe(result)
    assert line.count("products/mysql") == 1 and "read p99 < 5ms" in line, line
