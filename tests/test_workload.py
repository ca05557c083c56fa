"""Key choosers reproduce YCSB's shapes within tolerances."""

import random
from collections import Counter

import pytest

from cacheswarm.workload import (READ, YCSB_ITEM_COUNT, YCSB_ZETAN_099, Hotspot, Latest, ScrambledZipfian, Uniform, Workload,
                                 fnv1_64, make_chooser, zeta)

N = 10_000
DRAWS = 200_000


def draws(chooser, n=DRAWS):
    return Counter(chooser.next() for _ in range(n))


def _fnv1_64_bytes(data: bytes) -> int:
    """Textbook FNV-1a 64 (xor, then multiply: the order of YCSB's Utils.fnvhash64, which YCSB calls
    FNV), checked below against the published test vectors."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 1099511628211) & (2**64 - 1)
    return h


def test_reference_fnv1a_64_matches_the_published_vectors():
    # Landon Curt Noll's test_fnv.c: FNV-1a 64 of "", "a", "foobar"
    assert _fnv1_64_bytes(b"") == 0xCBF29CE484222325
    assert _fnv1_64_bytes(b"a") == 0xAF63DC4C8601EC8C
    assert _fnv1_64_bytes(b"foobar") == 0x85944171F73967E8


@pytest.mark.parametrize("value", [0, 1, 2, 255, 256, 12345, 2**31 - 1, 10**10 - 1, 2**40 + 7])
def test_fnv1_64_is_ycsbs_fnvhash64(value):
    """YCSB Utils.fnvhash64(long): per byte of the 8 low bytes, lowest first, xor then multiply (FNV-1a
    order), as a signed long, abs()."""
    h = _fnv1_64_bytes((value & (2**64 - 1)).to_bytes(8, "little"))
    assert fnv1_64(value) == abs(h - 2**64 if h >= 2**63 else h)


def test_zeta_over_ten_billion_items_is_ycsbs_constant():
    """YCSB ScrambledZipfianGenerator.ZETAN = 26.46902820178302: zeta(10^10, 0.99), summed by YCSB;
    ours is the closed form (Euler-Maclaurin), which must agree to ~1e-11."""
    assert zeta(YCSB_ITEM_COUNT, 0.99) == pytest.approx(YCSB_ZETAN_099, rel=1e-11)
    assert zeta(5000, 0.9) == pytest.approx(sum(i ** -0.9 for i in range(1, 5001)), rel=1e-12)
    assert zeta(50_000, 0.5) == pytest.approx(sum(i ** -0.5 for i in range(1, 50_001)), rel=1e-12)


def _ycsb_top_share(n: int, theta: float, top_fraction: float, exact_ranks: int = 200_000) -> float:
    """YCSB's scrambled zipfian, computed rather than sampled: rank r (over 10^10 items) has
    probability (r+1)^-θ / zeta; it lands on key fnvhash64(r) % n. The first `exact_ranks` ranks are
    placed exactly, the remaining mass (spread over 10^10 ranks) is uniform over the keys."""
    k = 1_000_000  # zeta(10^10, θ): 10^6 terms plus the integral of the rest, independent of ours
    total = sum(i ** -theta for i in range(1, k + 1)) + (1e10 ** (1 - theta) - k ** (1 - theta)) / (1 - theta)
    mass = [0.0] * n
    placed = 0.0
    for r in range(exact_ranks):
        p = (r + 1) ** -theta / total
        h = _fnv1_64_bytes(r.to_bytes(8, "little"))
        mass[abs(h - 2**64 if h >= 2**63 else h) % n] += p
        placed += p
    rest = (1 - placed) / n
    mass = sorted((m + rest for m in mass), reverse=True)
    return sum(mass[: int(n * top_fraction)])


@pytest.mark.parametrize("theta", [0.99, 0.9, 0.7, 0.5])
def test_every_theta_follows_ycsb(theta):
    """Ranks are drawn over YCSB's 10^10 items for every θ (before: over the keyspace, so 28% of keys
    could never be chosen and θ 0.9 was *more* skewed than 0.99)."""
    n = 2_000
    counts = draws(make_chooser("zipfian", n, theta, random.Random(11)))
    assert len(counts) > 0.99 * n  # every key can be drawn
    share = sum(c for _, c in counts.most_common(n // 10)) / DRAWS
    assert share == pytest.approx(_ycsb_top_share(n, theta, 0.10), abs=0.02)


def test_lower_theta_is_less_skewed():
    shares = []
    for theta in (0.99, 0.9, 0.7, 0.5):
        counts = draws(make_chooser("zipfian", N, theta, random.Random(12)), 100_000)
        shares.append(sum(c for _, c in counts.most_common(N // 10)) / 100_000)
    assert shares == sorted(shares, reverse=True), shares


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
