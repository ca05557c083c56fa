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
