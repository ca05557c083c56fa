"""Confidence intervals of percentiles from a histogram's counts (quantile_ci), and the SLO verdicts
that rest on them: pass only when the interval meets the objective, fail only when it breaks it."""

import math
import random

import pytest

from cacheswarm import slo
from cacheswarm.quantile_ci import intervals, rank_bounds
from cacheswarm.recorder import new_histogram

ALPHA = 0.025


def cdf(k: int, n: int, q: float) -> float:
    """P(Binomial(n, q) <= k), summed exactly."""
    return sum(math.comb(n, i) * q ** i * (1 - q) ** (n - i) for i in range(0, k + 1)) if k >= 0 else 0.0


@pytest.mark.parametrize("n,pct", [(20, 50), (100, 90), (300, 99), (250, 95), (1000, 99), (57, 10)])
def test_ranks_are_the_tightest_that_cover_95_percent(n, pct):
    """K, the count of operations at or below the true quantile, is Binomial(n, q): the ranks must
    leave at most 2.5% on each side, and one rank tighter must not."""
    q = pct / 100
    lo, hi = rank_bounds(n, pct)
    below = cdf(lo - 1, n, q)  # P(K < lo): the lo-th value is above the quantile
    above = 1 - cdf(hi - 1, n, q)  # P(K >= hi): the hi-th value is at or below it
    assert below <= ALPHA + 1e-9 and above <= ALPHA + 1e-9
    assert cdf(lo, n, q) > ALPHA or lo == n  # lo + 1 would leave more than 2.5% below
    assert hi == 1 or 1 - cdf(hi - 2, n, q) > ALPHA  # hi - 1 would leave more than 2.5% above


def test_too_few_operations_leave_a_side_open():
    lo, hi = rank_bounds(200, 99)  # 0.99^200 = 13% that every operation is below the true p99
    assert hi == 201
    h = new_histogram()
    for v in range(1, 201):
        h.record_value(v * 10)
    assert intervals(h, [99])[99][1] is None


def test_the_normal_approximation_where_counts_are_large():
    n, q = 2_000_000, 0.999
    lo, hi = rank_bounds(n, 99.9)
    mean, sd = n * q, math.sqrt(n * q * (1 - q))
    assert abs((mean - lo) / sd - 1.96) < 0.05 and abs((hi - mean) / sd - 1.96) < 0.05


def test_values_are_read_at_the_ranks():
    h = new_histogram()
    for v in range(1, 1001):
        h.record_value(v)
    lo, hi = rank_bounds(1000, 99)
    assert intervals(h, [99])[99] == (lo, hi) == (983, 997)
    assert intervals(h, [50, 99.9]) == {50: rank_bounds(1000, 50), 99.9: (997, None)}


def test_intervals_cover_the_true_percentile_of_a_skewed_distribution():
    """Lognormal latencies (a long tail), 500 operations a trial, fixed seed: the p99's interval holds
    the distribution's true p99 in at least 94% of 400 trials (95% nominal; HDR buckets round up)."""
    rng = random.Random(7)
    true_p99 = math.exp(7.0 + 0.8 * 2.3263)  # µs
    hits = 0
    for _ in range(400):
        h = new_histogram()
        for _ in range(500):
            h.record_value(int(rng.lognormvariate(7.0, 0.8)))
        low, high = intervals(h, [99])[99]
        hits += low <= true_p99 <= high
    assert hits >= 376, hits


def test_slo_verdicts_rest_on_the_interval():
    rule = slo.parse_rule("read p99 < 5ms")
    assert slo.judge(rule, 4.2, (3.9, 4.6)) == (slo.PASS, None)
    assert slo.judge(rule, 6.1, (5.4, 7.0)) == (slo.FAIL, None)
    state, note = slo.judge(rule, 4.8, (4.5, 5.3))
    assert state == slo.INCONCLUSIVE and "straddles 5 ms" in note
    state, note = slo.judge(rule, 4.0, (3.5, None))  # the upper side is open: cannot pass
    assert state == slo.INCONCLUSIVE and "beyond the slowest" in note
    assert slo.judge(slo.parse_rule("throughput >= 100"), 120.0, None) == (slo.PASS, None)
