"""`cacheswarm compare`: two real runs' histograms side by side, regressions past a threshold
exit 4; `cacheswarm options` lists every option."""

import json
import shutil

import pytest

from cacheswarm import options

from .conftest import cli, run_locust
from .test_end_to_end import common, only_report


@pytest.fixture(scope="module")
def run_dir(seeded_module, tmp_path_factory):
    """One real run for the module's comparisons (each test copies what it changes)."""
    # open loop below the generator's limit: a closed-loop phase here is generator-bound, and a
    # worse figure on a generator-bound phase is "unsure", not a regression
    tmp_path = tmp_path_factory.mktemp("compare")
    out = run_locust([*common(seeded_module, tmp_path / "r", phase="3s"), "--strategies", "db-only,cache-aside",
                      "--target-rate", "300"], tmp_path)
    assert out.returncode == 0, out.stderr[-1500:]
    return only_report(tmp_path / "r")


def test_a_run_against_itself_has_no_regression(run_dir, tmp_path):
    out = cli("compare", str(run_dir), str(run_dir), "--out", str(tmp_path / "cmp"))
    assert out.returncode == 0, out.stderr
    assert "0 regressions past 10%" in out.stdout
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert doc["format_version"] == 1 and doc["regressions"] == 0
    assert {r["row"] for r in doc["rows"]} == {"products/mysql/db-only", "products/mysql/cache-aside"}
    assert all(r["change"] == 0 for r in doc["rows"])
    assert (tmp_path / "cmp" / "compare.html").read_text().startswith("<!doctype html>")


def test_halved_throughput_is_a_regression_and_exits_4(run_dir, tmp_path):
    slower = tmp_path / "slower"
    shutil.copytree(run_dir, slower)
    raw = json.loads((slower / "histograms.json").read_text())
    for p in raw["phases"]:  # the same operations over twice the time: half the throughput
        if p["strategy"] == "db-only":
            p["measured_seconds"] *= 2
    (slower / "histograms.json").write_text(json.dumps(raw))
    out = cli("compare", str(run_dir), str(slower))
    assert out.returncode == 4, out.stdout + out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("products/mysql/db-only") and "ops/s" in ln)
    assert "-50.0%" in line and "REGRESSION" in line
    assert "1 regression past 10%" in out.stdout
    assert (slower / f"compare-vs-{run_dir.name}" / "compare.html").exists()
    # a looser threshold lets it pass
    assert cli("compare", str(run_dir), str(slower), "--max-regression", "60%").returncode == 0


@pytest.mark.parametrize("args, says", [
    (["compare", "/nonexistent", "/nonexistent"], "BASE_DIR"),
    (["compare", ".", ".", "--max-regression", "lots"], "--max-regression"),
])
def test_bad_compare_input_is_one_line_exit_2(args, says, tmp_path):
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr


def test_options_lists_every_run_option_with_its_default():
    out = cli("options")
    assert out.returncode == 0
    for o in options.ALL_OPTIONS:
        line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith(o.flag + " "))
        assert o.env_var in line
        if o.kind is not bool and o.default not in (None, ""):
            assert f"default {o.default}" in line


def _phase(p99_interval, p99, tput=1000.0, tput_interval=None):
    return {"phase": "products/mysql/db-only", "step": None, "throughput_ops": tput, "read_p50_ms": 0.5,
            "read_p99_ms": p99, "write_p99_ms": None, "thin": [], "generator_bound": False,
            "read_p99_ci_ms": p99_interval, "read_p50_ci_ms": [0.49, 0.51], "throughput_ci_ops": tput_interval}


def _report(*summary):
    return {"run": {"run_name": "x"}, "summary": list(summary), "capacity": {}}


def test_a_worse_figure_is_a_regression_only_when_the_intervals_say_so():
    """Two short runs of the same thing differ by more than 10% at p99 by chance (today's demo runs:
    +11.7% on a 6 s phase); with overlapping intervals that is noise, not a regression."""
    from cacheswarm.report.compare import compare

    base = _report(_phase([4.1, 5.6], 4.6, 1000.0, [980.0, 1020.0]))
    noisy = _report(_phase([4.3, 6.0], 5.2, 880.0, [700.0, 1060.0]))  # +13% p99, -12% ops/s: overlapping
    result = compare(base, noisy, 0.10)
    assert result["regressions"] == 0 and result["within_noise"] == 2
    real = _report(_phase([6.2, 7.4], 6.8, 700.0, [690.0, 710.0]))  # +48% p99, -30% ops/s: apart
    result = compare(base, real, 0.10)
    assert result["regressions"] == 2 and result["within_noise"] == 0
    # an open side (too few operations to bound the p99) cannot prove noise: flagged as before
    open_side = _report(_phase([6.0, None], 6.5, 1000.0, [980.0, 1020.0]))
    assert compare(base, open_side, 0.10)["regressions"] == 1


def test_repeated_runs_are_judged_by_their_spread():
    """Given several runs a side (benchstat's way), a worse median is a regression only when every
    new run is worse than every base run; overlapping spreads are noise, whatever each run's own
    sampling interval says (two runs of the same demo differ by more than that here)."""
    from cacheswarm.report.compare import compare

    narrow = lambda v: [v * 0.98, v * 1.02]  # noqa: E731  (tight sampling intervals that never overlap)
    base = [_report(_phase(narrow(v), v, 1000.0, None)) for v in (4.6, 5.3, 4.2)]
    same = [_report(_phase(narrow(v), v, 1000.0, None)) for v in (5.2, 4.4, 5.9)]  # median +13%, spreads overlap
    result = compare(base, same, 0.10)
    row = next(r for r in result["rows"] if r["figure"] == "read p99 ms")
    assert row["within_noise"] and not row["regression"] and row["new_runs"] == [5.2, 4.4, 5.9]
    assert result["regressions"] == 0 and result["base"]["runs"] == 3
    slower = [_report(_phase(narrow(v), v, 1000.0, None)) for v in (6.0, 6.3, 6.8)]  # every run worse
    assert next(r for r in compare(base, slower, 0.10)["rows"] if r["figure"] == "read p99 ms")["regression"]


def test_the_cli_takes_repeated_runs_as_comma_lists(run_dir, tmp_path):
    out = cli("compare", f"{run_dir},{run_dir}", f"{run_dir},{run_dir}", "--out", str(tmp_path / "cmp"))
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert doc["base"]["runs"] == doc["new"]["runs"] == 2 and doc["regressions"] == 0
    assert all(r["base_runs"] == r["new_runs"] for r in doc["rows"])
    bad = cli("compare", f"{run_dir},/nonexistent", str(run_dir))
    assert bad.returncode == 2 and "BASE_DIR" in bad.stderr and "Traceback" not in bad.stderr
