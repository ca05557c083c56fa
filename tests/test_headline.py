"""The headline's fixed-load ratios carry their range, from each p99's 95% interval."""

from cacheswarm.report import headline


def _report(db_p99, db_ci, cache_p99, cache_ci):
    row = {"dataset": "products", "backend": "mysql", "step": None, "hit_ratio": None, "throughput_ops": 300.0}
    return {"run": {"datasets": ["products"], "backends": ["mysql"], "model": "open", "target_rate": 300},
            "summary": [{**row, "strategy": "db-only", "read_p99_ms": db_p99, "read_p99_ci_ms": db_ci},
                        {**row, "strategy": "cache-only", "read_p99_ms": cache_p99, "read_p99_ci_ms": cache_ci}]}


def test_a_p99_ratio_is_given_with_the_range_its_intervals_allow():
    text = headline.sentences(_report(20.0, [16.0, 30.0], 2.0, [1.5, 2.5]))[0]["text"]
    # 20/2 = 10x; lowest 16/2.5 = 6.4x, highest 30/1.5 = 20x
    assert "vs 20.00 ms db-only (10.0× lower, 6.4–20.0×)" in text
    assert "no clear difference" not in text


def test_overlapping_intervals_say_there_is_no_clear_difference():
    lower = headline.sentences(_report(6.0, [4.0, 9.0], 5.0, [4.5, 6.0]))[0]["text"]
    assert "(1.2× lower, 0.7–2.0×; the intervals overlap: no clear difference)" in lower
    higher = headline.sentences(_report(5.0, [4.5, 6.0], 6.0, [4.0, 9.0]))[0]["text"]
    assert "(1.2× higher, 0.7–2.0×; the intervals overlap: no clear difference)" in higher


def test_without_intervals_the_ratio_stands_alone():
    text = headline.sentences(_report(20.0, None, 2.0, None))[0]["text"]
    assert "vs 20.00 ms db-only (10.0× lower)" in text


def test_a_phase_that_fell_behind_its_target_rate_is_called_past_its_capacity():
    report = _report(900.0, [880.0, 950.0], 2.0, [1.5, 2.5])
    report["summary"][0]["throughput_ops"] = 292.4  # db-only completed 292 of the 300 ops/s scheduled
    text = headline.sentences(report)[0]["text"]
    assert ("at 300 ops/s, db-only fell behind (292 ops/s done): 300 ops/s is past its capacity here and its "
            "latency is a growing queue's, so the ratios compare with a queue; cache-only read p99") in text
    # a phase that kept up says nothing of the kind, and neither does one within the schedule's rounding
    report["summary"][0]["throughput_ops"] = 296.0
    assert "fell behind" not in headline.sentences(report)[0]["text"]
    report["summary"][1]["throughput_ops"] = 200.0
    assert "(cache-only fell behind (200 ops/s done)" in headline.sentences(report)[0]["text"]
