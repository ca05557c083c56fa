"""A generator that runs out of CPU is flagged next to its numbers; a light run is not."""

import json

from .conftest import run_locust
from .test_end_to_end import common, only_report


def summary_of(report):
    doc = json.loads((report / "comparison.json").read_text())
    return doc, doc["summary"][0]


def test_overloaded_generator_is_flagged(seeded, tmp_path):
    out = run_locust([*common(seeded, tmp_path / "r", phase="5s", warmup="1s", users=200),
                      "--strategies", "cache-only", "--read-ratio", "1.0"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    doc, s = summary_of(report)
    assert s["generator_bound"] is True, s
    assert s["generator_cpu_p50_percent"] > 90 or s["loop_lag_p99_ms"] > 20
    assert all(r["generator_bound"] for r in doc["rows"])
    assert "load generator saturated" in (report / "comparison.html").read_text()


def test_light_run_is_not_flagged(seeded, tmp_path):
    out = run_locust([*common(seeded, tmp_path / "r", phase="4s", warmup="1s", users=2),
                      "--strategies", "cache-only", "--target-rate", "20"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    doc, s = summary_of(report)
    assert s["generator_bound"] is False, s
    assert s["generator_cpu_p50_percent"] is not None and s["generator_cpu_p50_percent"] < 50
    assert s["loop_lag_p99_ms"] is not None and s["loop_lag_p99_ms"] < 20
    assert "load generator saturated" not in (report / "comparison.html").read_text()
