"""Key choosers reproduce YCSB's shapes within tolerances."""

import random
from collections import Counter

import pytest

from cacheswarm.workload import (READ, YCSB_ZETAN_099, Hotspot, Latest, ScrambledZipfian, Uniform, Workload,
                                 fnv1_64, make_chooser, zeta)

N = 10_000
DRAWS = 200_000


def draws(chooser, n=DRAWS):
    return Counter(chooser.next() for _ in range(n))


def test_fnv1_64_matches_ycsb_reference_values():
    # FNV-1 64 of the 8 little-endian bytes of 0, as Java's signed long, abs().
    h = 0xCBF29CE484222325
    for _ in range(8):
        h = (h * 1099511628211) & (2**64 - 1)
    expected = abs(h - 2**64 if h >= 2**63 else h)
    assert fnv1_64(0) == expected
    assert fnv1_64(1) != fnv1_64(2)


def test_zipfian_top_key_and_top_percent_match_ycsb_share():
    counts = draws(ScrambledZipfian(N, rng=random.Random(1)))
    assert all(0 <= k < N for k in counts)
    top = counts.most_common()
    # rank 0 of YCSB's zipfian over 10^10 items draws 1/zetan of all operations (~3.78%)
    assert top[0][1] / DRAWS == pytest.approx(1 / YCSB_ZETAN_099, rel=0.1)
    # top 1% of keys: the first 100 ranks' mass plus their share of the scattered tail
    head = sum(i ** -0.99 for i in range(1, 101)) / YCSB_ZETAN_099
    expected = head + 0.01 * (1 - head)
    share = sum(c for _, c in top[: N // 100]) / DRAWS
    assert share == pytest.approx(expected, rel=0.12)
    # and it is skewed far beyond uniform
    assert share > 10 * 0.01


def test_uniform_is_flat():
    counts = draws(Uniform(100, random.Random(2)), 100_000)
    assert len(counts) == 100
    assert max(counts.values()) / min(counts.values()) < 1.4


def test_hotspot_puts_80_percent_of_ops_on_20_percent_of_keys():
    counts = draws(Hotspot(N, rng=random.Random(3)))
    hot = sum(c for k, c in counts.items() if k < N * 0.2)
    assert hot / DRAWS == pytest.approx(0.8, abs=0.01)


def test_latest_prefers_the_newest_keys():
    counts = draws(Latest(N, rng=random.Random(4)))
    assert counts.most_common(1)[0][0] == N - 1
    assert counts[N - 1] / DRAWS == pytest.approx(1 / zeta(N, 0.99), rel=0.1)
    newest_tenth = sum(c for k, c in counts.items() if k >= N * 0.9)
    assert newest_tenth / DRAWS > 0.6


def test_other_theta_changes_skew():
    flat = draws(make_chooser("zipfian", N, 0.5, random.Random(5))).most_common(1)[0][1]
    steep = draws(make_chooser("zipfian", N, 0.99, random.Random(5))).most_common(1)[0][1]
    assert steep > 5 * flat


def test_read_ratio_is_respected():
    w = Workload(0.95, Uniform(10, random.Random(6)), random.Random(7))
    reads = sum(1 for _ in range(50_000) if w.next()[0] == READ)
    assert reads / 50_000 == pytest.approx(0.95, abs=0.005)
    assert all(Workload(1.0, Uniform(10)).next()[0] == READ for _ in range(1000))
