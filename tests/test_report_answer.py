"""The report's first screen as data (report/answer.py) and the charts' axes and colours (charts.py)."""

import math

from cacheswarm.report import answer, charts


def _is_125(v: float) -> bool:
    mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
    return any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5))


def test_log_axes_end_and_tick_on_1_2_5():
    for lo, hi in ((0.9, 23.0), (0.31, 1314.8), (2.1, 2.4), (17.0, 880.0)):
        low, high, ticks = charts.log_ticks(lo, hi)
        assert low <= lo and high >= hi and _is_125(low) and _is_125(high), (lo, hi, low, high)
        assert ticks and all(_is_125(t) for t in ticks), ticks
    # past three decades only the powers of ten are labelled
    assert all(abs(math.log10(t) - round(math.log10(t))) < 1e-9 for t in charts.log_ticks(0.3, 1314.8)[2])


def test_linear_ticks_step_by_1_2_5_and_cover_the_range():
    for hi in (2159.0, 3503.0, 37.0, 1.0, 987.0):
        ticks = charts.nice_ticks(0, hi)
        step = ticks[1] - ticks[0]
        assert ticks[0] == 0 and ticks[-1] >= hi and len(ticks) <= 6 and _is_125(step), (hi, ticks)
    assert charts.nice_ticks(0, 2159.0) == [0, 500, 1000, 1500, 2000, 2500]  # not 540 / 1,080 / 2,159


def test_one_colour_per_strategy_and_the_base_three_keep_theirs():
    colors = charts.strategy_colors(["cache-aside+lock", "db-only", "cache-aside", "cache-aside+versioned"])
    assert len(set(colors.values())) == 4
    assert colors["db-only"] == charts.FIXED["db-only"] and colors["cache-aside"] == charts.FIXED["cache-aside"]


def _report():
    run = {"datasets": ["products"], "backends": ["mysql"], "strategies": ["db-only", "cache-only", "cache-aside"],
           "model": "open", "target_rate": 300, "slo": ["read p99 < 25ms"]}
    fixed = {"dataset": "products", "backend": "mysql", "step": None, "throughput_ops": 300.0, "read_p99_ci_ms": [1.0, 3.0]}

    def rows(phase, strategy, reads, hits, writes, step=None):
        base = {"phase": phase, "dataset": "products", "backend": "mysql", "strategy": strategy, "step": step}
        return [{**base, "op": "read", "outcome": "all", "count": reads}, {**base, "op": "read", "outcome": "hit", "count": hits},
                {**base, "op": "write", "outcome": "all", "count": writes}]
    step = {"rate": 500.0, "achieved": 499.0, "passed": True, "read_p99_ms": 9.0, "read_p99_ci_ms": [8.0, 11.0],
            "hit_ratio": 0.9}
    return {"run": run, "headline": [{"dataset": "products", "backend": "mysql"}],
            "summary": [{**fixed, "phase": "products/mysql/cache-only", "strategy": "cache-only", "read_p99_ms": 2.0,
                         "hit_ratio": 1.0},
                        {**fixed, "phase": "products/mysql/cache-aside@0", "strategy": "cache-aside", "step": 0,
                         "target_rate": 500.0, "read_p99_ms": 9.0}],
            "capacity": {"products/mysql/cache-aside": {"capacity_ops": 500.0, "range_ops": [500.0, 1000.0],
                                                        "lower_bound": False, "steps": [step]}},
            "rows": rows("products/mysql/cache-only", "cache-only", 800, 800, 200)
            + rows("products/mysql/cache-aside@0", "cache-aside", 800, 720, 200, 0),
            "slo": [{"scope": "products/mysql/cache-only", "state": "pass"},
                    {"scope": "products/mysql/cache-aside", "state": "fail"}],
            "server": [{"phase": "products/mysql/cache-aside@0", "checks": [{"what": "GETs", "ok": True}], "mismatches": [],
                        "mysql": {"Com_select": 80, "Threads_running": 3, "buffer_pool_hit_ratio": 1.0}},
                       {"phase": "products/mysql/cache-aside@1", "checks": [{"what": "GETs", "ok": False}],
                        "mismatches": [{"what": "GETs", "ok": False}],
                        "mysql": {"Com_select": 20, "Threads_running": 7, "buffer_pool_hit_ratio": 0.99}}]}


def test_the_answer_table_takes_capacity_from_the_search_and_p99_from_where_it_was_measured():
    rows = {r["strategy"]: r for r in answer.answer_rows(_report())}
    assert list(rows) == ["cache-only", "cache-aside"]  # the run's order; db-only has neither a phase nor a search
    only, aside = rows["cache-only"], rows["cache-aside"]
    assert only["capacity_ops"] is None and only["p99_ms"] == 2.0 and only["p99_where"] == "at fixed load"
    assert only["db_saved"] == 1.0 and only["slo"] == "pass"  # cache-only never calls the database
    assert aside["capacity_ops"] == 500.0 and aside["p99_ms"] == 9.0 and aside["p99_where"] == "at its capacity"
    assert aside["db_saved"] == 720 / 1000 and aside["slo"] == "fail"  # hits of all operations: writes reach it


def test_a_search_is_one_row_of_the_server_table_and_its_checks_add_up():
    (row,) = answer.server_rows(_report())
    assert row["phase"] == "products/mysql/cache-aside" and row["steps"] == 2
    assert row["mysql"]["Com_select"] == 100 and row["mysql"]["Threads_running"] == 7
    assert row["mysql"]["buffer_pool_hit_ratio"] == 0.99 and len(row["checks"]) == 2 and len(row["mismatches"]) == 1
    assert answer.server_summary(_report()["server"]) == "1 of 2 cross-checks disagree"


def test_the_figure_draws_the_search_as_steps_and_the_phase_as_a_point_with_its_interval():
    (panel,) = answer.figure_panels(_report())
    assert panel["objective_ms"] == 25.0 and list(panel["series"]) == ["cache-only", "cache-aside"]
    (point,) = panel["series"]["cache-only"]
    assert (point["x"], point["y"], point["lo"], point["hi"]) == (300.0, 2.0, 1.0, 3.0) and not point.get("search")
    (knee,) = panel["series"]["cache-aside"]
    assert knee["search"] and knee["knee"] and knee["x"] == 499.0
