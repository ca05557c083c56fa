"""Distribution-free confidence intervals for a percentile, from a histogram's counts.

Of n independent operations, the number K that fall at or below the true q-quantile follows
Binomial(n, q) whatever the latency distribution. So the order statistics of ranks l and u with
P(l <= K < u) >= 95% bound the quantile at 95%: no resampling, no assumption about the shape
(the textbook interval for quantiles; e.g. Hahn & Meeker, Statistical Intervals, ch. 5). The
value at a rank is read from the HDR histogram (3 significant digits), so a bound is as exact as
the histogram. Exact binomial sums where the tail is small, the normal approximation (with its
continuity correction) where n·q·(1-q) is large enough for it to be within a rank.

Plain Python, no imports of ours.
"""

from __future__ import annotations

import math
from statistics import NormalDist

LEVEL = 0.95
EXACT_BELOW = 400.0  # n·s·(1-s) under this: sum the binomial exactly (at most a few thousand terms)


def _binom_ppf(p: float, n: int, s: float) -> int:
    """The smallest k with P(Binomial(n, s) <= k) >= p, for s <= 0.5."""
    if s <= 0:
        return 0
    var = n * s * (1 - s)
    if var >= EXACT_BELOW:
        z = NormalDist().inv_cdf(p)
        return max(0, min(n, math.ceil(n * s + z * math.sqrt(var) - 0.5)))
    log_s, log_1s = math.log(s), math.log1p(-s)
    cdf, k = 0.0, 0
    lg_n = math.lgamma(n + 1)
    while k <= n:
        cdf += math.exp(lg_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_s + (n - k) * log_1s)
        if cdf >= p - 1e-12:
            return k
        k += 1
    return n


def rank_bounds(n: int, percentile: float, level: float = LEVEL) -> tuple[int, int]:
    """1-based ranks (lo, hi) of the order statistics that bound the `percentile` at `level`.
    lo = 0 or hi = n + 1 when too few operations were measured for that side to have a bound
    (e.g. the p99 of 200 operations: the true p99 may lie beyond the slowest of them)."""
    if n <= 0:
        return 0, 1
    q = min(max(percentile / 100.0, 0.0), 1.0)
    alpha = (1 - level) / 2
    if q <= 0.5:
        lo = _binom_ppf(alpha, n, q)
        hi = _binom_ppf(1 - alpha, n, q) + 1
    else:  # by symmetry, on the count above: n - K ~ Binomial(n, 1 - q)
        lo = n - _binom_ppf(1 - alpha, n, 1 - q)
        hi = n - _binom_ppf(alpha, n, 1 - q) + 1
    return max(0, min(n, lo)), max(1, min(n + 1, hi))


def intervals(h, percentiles, level: float = LEVEL) -> dict:
    """{percentile: (low, high)} in µs for several percentiles of an HDR histogram, in one walk of
    it; a side is None where the sample is too small to bound it (see rank_bounds); an empty
    histogram gives None for the pair."""
    n = h.get_total_count()
    if not n:
        return {p: None for p in percentiles}
    wanted = {p: rank_bounds(n, p, level) for p in percentiles}
    ranks = sorted({r for pair in wanted.values() for r in pair if 1 <= r <= n})
    at, seen, i = {}, 0, 0
    for item in h.get_recorded_iterator():
        seen += item.count_at_value_iterated_to
        while i < len(ranks) and seen >= ranks[i]:
            at[ranks[i]] = h.get_highest_equivalent_value(item.value_iterated_to)
            i += 1
        if i == len(ranks):
            break
    return {p: (at.get(lo), at.get(hi)) for p, (lo, hi) in wanted.items()}


def interval(h, percentile: float, level: float = LEVEL) -> tuple[int | None, int | None] | None:
    """(low, high) µs bounding the `percentile` of `h` at `level` (see intervals)."""
    return intervals(h, [percentile], level)[percentile]
