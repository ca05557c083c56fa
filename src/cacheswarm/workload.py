"""The workload: which operation comes next and on which key.

Key choosers mirror YCSB's generators (core/src/main/java/site/ycsb/generator):
uniform, scrambled zipfian (θ 0.99, FNV-1 64 scrambling of ranks, Gray et al. SIGMOD'94),
hotspot (0.2 of the data gets 0.8 of the operations) and latest (zipfian over recency, following
the inserts as they are acknowledged). Choosers return 0-based indexes; the workload hands out
1-based ids (a scan: its first and last id).

Operations are YCSB's: read, write (YCSB's update), insert (a new record, id from a shared
counter), scan (a range of records) and read-modify-write (a read, then a write of the same
record, timed as one operation; its parts are recorded as rmw-read and rmw-write).
"""

from __future__ import annotations

import math
import random
from functools import lru_cache, partial

READ = "read"
WRITE = "write"
INSERT = "insert"
SCAN = "scan"
RMW = "rmw"
RMW_READ, RMW_WRITE = "rmw-read", "rmw-write"  # a read-modify-write's parts, recorded beside it
OPS = (READ, WRITE, INSERT, SCAN, RMW)  # the operations a phase counts (throughput, "all" objectives)
PARTS = (RMW_READ, RMW_WRITE)  # recorded, never counted twice

# YCSB ScrambledZipfianGenerator draws ranks from a zipfian over 10 billion items with a
# precomputed zeta for θ 0.99, then hashes each rank into the keyspace.
YCSB_ITEM_COUNT = 10_000_000_000
YCSB_ZETAN_099 = 26.46902820178302
YCSB_THETA = 0.99

_FNV_OFFSET_64 = 0xCBF29CE484222325
_FNV_PRIME_64 = 1099511628211
_MASK_64 = (1 << 64) - 1


def fnv1_64(value: int) -> int:
    """YCSB Utils.fnvhash64: over the 8 low bytes, lowest first, xor then multiply (the FNV-1a order,
    though YCSB calls it FNV), as Java's signed long, then abs."""
    h = _FNV_OFFSET_64
    for _ in range(8):
        h ^= value & 0xFF
        h = (h * _FNV_PRIME_64) & _MASK_64
        value >>= 8
    if h >= 1 << 63:
        h -= 1 << 64
    return abs(h)


EXACT_TERMS = 1000  # terms summed one by one; Euler–Maclaurin gives the rest


@lru_cache(maxsize=64)
def zeta(n: int, theta: float) -> float:
    """Σ_{i=1..n} 1/i^θ. Summed directly up to EXACT_TERMS; beyond, the Euler–Maclaurin formula for
    the tail (integral, end-point halves, two Bernoulli corrections), accurate to ~1e-15 relative,
    so YCSB's zeta over 10^10 items costs microseconds instead of a loop of 10^10 terms."""
    if n <= 2 * EXACT_TERMS:
        return sum(i ** -theta for i in range(1, n + 1))
    m = EXACT_TERMS
    head = _head(theta)  # 1 .. m-1

    def f(x):
        return x ** -theta

    def d1(x):
        return -theta * x ** (-theta - 1)

    def d3(x):
        return -theta * (theta + 1) * (theta + 2) * x ** (-theta - 3)

    if theta == 1.0:
        integral = math.log(n / m)
    else:
        integral = (n ** (1 - theta) - m ** (1 - theta)) / (1 - theta)
    return head + integral + (f(m) + f(n)) / 2 + (d1(n) - d1(m)) / 12 - (d3(n) - d3(m)) / 720


@lru_cache(maxsize=16)
def _head(theta: float) -> float:
    """Σ_{i=1..EXACT_TERMS-1} 1/i^θ: the part of zeta() summed one by one, the same for every n."""
    return sum(i ** -theta for i in range(1, EXACT_TERMS))


class Zipfian:
    """YCSB ZipfianGenerator over ranks 0..n-1: rank 0 is the most popular."""

    def __init__(self, n: int, theta: float, zetan: float | None = None, rng: random.Random | None = None):
        self.theta = theta
        self.alpha = 1.0 / (1.0 - theta)
        self.half_pow_theta = 1 + 0.5**theta
        self.random = (rng or random.Random()).random
        self.resize(n, zetan)

    def resize(self, n: int, zetan: float | None = None) -> None:
        """Draw over n items from now on (YCSB recomputes zeta as its item count grows)."""
        self.n = n
        self.zetan = zetan if zetan is not None else zeta(n, self.theta)
        self.eta = (1 - (2.0 / n) ** (1 - self.theta)) / (1 - zeta(2, self.theta) / self.zetan)

    def next(self) -> int:
        u = self.random()
        uz = u * self.zetan
        if uz < 1.0:
            return 0
        if uz < self.half_pow_theta:
            return 1
        return int(self.n * (self.eta * u - self.eta + 1) ** self.alpha)


class Uniform:
    def __init__(self, n: int, rng: random.Random | None = None):
        self.n = n
        self.randrange = (rng or random.Random()).randrange
        self.next = partial(self.randrange, n)  # next() -> randrange(n), without a frame of ours per draw


class ScrambledZipfian:
    """YCSB ScrambledZipfianGenerator: popular ranks are spread over the keyspace by FNV-1 64."""

    def __init__(self, n: int, theta: float = YCSB_THETA, rng: random.Random | None = None):
        self.n = n
        # as YCSB: ranks from a zipfian over 10^10 items (its precomputed zeta for θ 0.99, the same
        # sum in closed form for any other θ), hashed into the keyspace
        zetan = YCSB_ZETAN_099 if theta == YCSB_THETA else zeta(YCSB_ITEM_COUNT, theta)
        self.ranks = Zipfian(YCSB_ITEM_COUNT, theta, zetan=zetan, rng=rng)

    def next(self) -> int:
        return fnv1_64(self.ranks.next()) % self.n


class Hotspot:
    """YCSB HotspotIntegerGenerator: `ops_fraction` of draws fall in the first `data_fraction` of keys."""

    def __init__(self, n: int, data_fraction: float = 0.2, ops_fraction: float = 0.8, rng: random.Random | None = None):
        self.hot = max(1, int(n * data_fraction))
        self.cold = n - self.hot
        self.ops_fraction = ops_fraction
        rng = rng or random.Random()
        self.random, self.randrange = rng.random, rng.randrange

    def next(self) -> int:
        if self.cold <= 0 or self.random() < self.ops_fraction:
            return self.randrange(self.hot)
        return self.hot + self.randrange(self.cold)


class Latest:
    """YCSB SkewedLatestGenerator: the newest keys (highest index) are the most popular. With
    `size` (a callable: the records there are now, inserts acknowledged included), it follows
    the inserts: each draw is over the records that exist when it is made."""

    def __init__(self, n: int, theta: float = YCSB_THETA, rng: random.Random | None = None, size=None):
        self.size = size
        self.n = n
        self.ranks = Zipfian(n, theta, rng=rng)

    def next(self) -> int:
        if self.size is not None:
            n = self.size()
            if n != self.n:
                self.n = n
                self.ranks.resize(n)
        return self.n - 1 - self.ranks.next()


class UniformLength:
    """A scan's length, uniform in 1..longest (YCSB scanlengthdistribution=uniform)."""

    def __init__(self, longest: int, rng: random.Random | None = None):
        self.longest = longest
        self.randint = (rng or random.Random()).randint

    def next(self) -> int:
        return self.randint(1, self.longest)


class ZipfianLength:
    """A scan's length, zipfian over 1..longest, short scans the most frequent (YCSB's
    ZipfianGenerator(1, maxscanlength))."""

    def __init__(self, longest: int, rng: random.Random | None = None):
        self.ranks = Zipfian(longest, YCSB_THETA, rng=rng) if longest > 1 else None

    def next(self) -> int:
        return 1 + (self.ranks.next() if self.ranks is not None else 0)


SCAN_LENGTHS = {"uniform": UniformLength, "zipfian": ZipfianLength}


def make_chooser(distribution: str, n: int, theta: float = YCSB_THETA, rng: random.Random | None = None,
                 size=None):
    """A key chooser over n keys; `latest` follows `size()` (see Latest), the others keep to the n
    seeded keys (as YCSB's uniform chooser does)."""
    if n < 1:
        raise ValueError("keyspace must hold at least one key")
    if distribution == "uniform":
        return Uniform(n, rng)
    if distribution == "zipfian":
        return ScrambledZipfian(n, theta, rng)
    if distribution == "hotspot":
        return Hotspot(n, rng=rng)
    if distribution == "latest":
        return Latest(n, theta, rng, size)
    raise ValueError(f"unknown key distribution {distribution!r}")


class Workload:
    """Next operation and key (a 1-based id; a scan's (first, last) ids), from the mix and the chooser.

    `mix`: {op: proportion} of the operations besides reads (YCSB's proportions; reads are
    `read_ratio`, writes whatever the others leave). `inserts` allocates new ids (inserts.py);
    `records()` says how many records exist (a scan ends at the last of them); `lengths` draws
    scan lengths.
    """

    def __init__(self, read_ratio: float, chooser, rng: random.Random | None = None, mix: dict | None = None,
                 inserts=None, lengths=None, records=None):
        self.read_ratio = read_ratio
        self.chooser = chooser
        self.random = (rng or random.Random()).random
        self.inserts, self.lengths, self.records = inserts, lengths, records
        # cumulative thresholds past the reads, writes last: none for a read/write mix (its path as before)
        self.others = []
        edge = read_ratio
        for op in (INSERT, SCAN, RMW):
            if (mix or {}).get(op):
                edge += mix[op]
                self.others.append((edge, op))

    def next(self) -> tuple[str, object]:
        r = self.random()
        if r < self.read_ratio:
            return READ, self.chooser.next() + 1
        if self.others:
            for edge, op in self.others:
                if r < edge:
                    return self._other(op)
        return WRITE, self.chooser.next() + 1

    def _other(self, op: str) -> tuple[str, object]:
        if op == INSERT:
            return INSERT, self.inserts.allocate()
        if op == SCAN:
            first = self.chooser.next() + 1
            last = first + self.lengths.next() - 1
            if self.records is not None:
                last = min(last, self.records())
            return SCAN, (first, max(first, last))
        return RMW, self.chooser.next() + 1
