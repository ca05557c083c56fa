"""YCSB's core workloads D, E and F: their operation mixes and key choosers against YCSB's
definitions, inserts that really land (ids shared by processes, `latest` following them), scans
that return the right rows (through the cache too), read-modify-writes whose parts reach the
servers; and runs of the scenarios on MariaDB, Redis and the DynamoDB emulator."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import redis

from cacheswarm import products, strategies
from cacheswarm.inserts import InsertIds
from cacheswarm.stores import mysql_products
from cacheswarm.workload import (INSERT, READ, RMW, SCAN, WRITE, Latest, UniformLength, Workload, ZipfianLength,
                                 make_chooser, zeta)

from .conftest import REDIS_URL, ROOT, run_locust
from .test_end_to_end import common, only_report

N = 1000


def _ids(namespace, base=N, client=None):
    return InsertIds(client or redis.Redis.from_url(REDIS_URL), namespace, "products", "mysql", base)


# ---- the mix and the choosers (YCSB's CoreWorkload) -------------------------------------------

@pytest.mark.parametrize("mix, read_ratio, want", [
    ({"insert": 0.05}, 0.95, {READ: 0.95, INSERT: 0.05}),                     # D
    ({"scan": 0.95, "insert": 0.05}, 0.0, {SCAN: 0.95, INSERT: 0.05}),       # E
    ({"rmw": 0.5}, 0.5, {READ: 0.5, RMW: 0.5}),                              # F
    ({"insert": 0.1, "scan": 0.1, "rmw": 0.1}, 0.3, {READ: 0.3, INSERT: 0.1, SCAN: 0.1, RMW: 0.1, WRITE: 0.4}),
])
def test_operation_mix_matches_the_proportions(namespace, mix, read_ratio, want):
    ids = _ids(namespace)
    ids.reset()
    rng = random.Random(7)
    w = Workload(read_ratio, make_chooser("zipfian", N, rng=rng), rng, mix, ids, UniformLength(100, rng), ids.size)
    draws = 20_000
    ops = Counter(w.next()[0] for _ in range(draws))
    assert set(ops) == set(want)
    for op, share in want.items():
        assert abs(ops[op] / draws - share) < 0.015, (op, ops[op] / draws)


def test_scan_ranges_and_lengths_follow_ycsb():
    rng = random.Random(3)
    w = Workload(0.0, make_chooser("uniform", N, rng=rng), rng, {"scan": 1.0}, None, UniformLength(100, rng),
                 lambda: N)
    lengths = Counter()
    for _ in range(20_000):
        op, (first, last) = w.next()
        assert op == SCAN and 1 <= first <= last <= N
        if first + 99 <= N:  # away from the end, the length is the drawn one
            lengths[last - first + 1] += 1
    assert min(lengths) == 1 and max(lengths) == 100  # uniform over 1..maxscanlength
    assert abs(sum(k * v for k, v in lengths.items()) / sum(lengths.values()) - 50.5) < 1.5
    z = ZipfianLength(100, random.Random(5))
    short = Counter(z.next() for _ in range(20_000))
    assert max(short) <= 100 and short[1] > short[2] > short[10]  # YCSB's zipfian lengths: short ones most
    assert abs(short[1] / 20_000 - 1 / zeta(100, 0.99)) < 0.02


def test_latest_favours_the_newest_and_follows_growth():
    size = [N]
    chooser = Latest(N, rng=random.Random(11), size=lambda: size[0])
    draws = Counter(chooser.next() for _ in range(50_000))
    assert draws.most_common(1)[0][0] == N - 1  # the newest record is the most popular
    assert abs(draws[N - 1] / 50_000 - 1 / zeta(N, 0.99)) < 0.01  # YCSB: p(newest) = 1/zeta(n)
    size[0] = N + 500  # 500 inserts acknowledged
    after = Counter(chooser.next() for _ in range(50_000))
    assert after.most_common(1)[0][0] == N + 499 and max(after) == N + 499
    assert abs(after[N + 499] / 50_000 - 1 / zeta(N + 500, 0.99)) < 0.01


# ---- ids shared across processes (Redis) --------------------------------------------------------

def test_inserted_ids_are_unique_and_latest_follows_other_processes(namespace):
    a, b = _ids(namespace), _ids(namespace, client=redis.Redis.from_url(REDIS_URL))  # two processes
    a.reset()
    got = [a.allocate() if i % 2 else b.allocate() for i in range(40)]
    assert sorted(got) == list(range(N + 1, N + 41))  # no collisions, no gaps
    for i in got[:30]:
        (a if i % 3 else b).acknowledge(i)
    b.acknowledge(got[30])
    # b learns of a's inserts with its own acknowledgement: the acknowledged prefix, not beyond
    acked = sorted(got[:31])
    prefix = next((k for k, i in enumerate(acked) if i != N + 1 + k), len(acked))
    assert b.size() == N + prefix and N < b.size() <= N + 31
    chooser = Latest(N, rng=random.Random(1), size=b.size)
    assert max(chooser.next() for _ in range(5000)) == b.size() - 1  # drawn up to the newest acknowledged id
    assert a.allocated() == N + 40
    assert a.reset() == N + 40 and a.size() == N and a.allocate() == N + 1  # the next phase starts again


def test_a_failed_insert_does_not_freeze_latest(namespace):
    """As YCSB, an insert that failed is acknowledged too: the prefix moves past it."""
    ids = _ids(namespace)
    ids.reset()
    first, second = ids.allocate(), ids.allocate()
    ids.acknowledge(second)
    assert ids.size() == N  # first not acknowledged yet
    ids.acknowledge(first)  # (failed or not)
    assert ids.size() == N + 2


# ---- the store and the strategies on MariaDB and Redis -------------------------------------------

@pytest.fixture
def store(seeded, pool):
    s = mysql_products.MySQLProducts(pool, seeded)
    s.seeded()
    return s


def test_inserts_land_and_read_back_as_cached(store, pool, cache):
    user = cache.for_user()
    aside = strategies.CacheAside(store, user, 60, "write-through")
    outcome, value = aside.insert(N + 1)
    assert outcome == strategies.OK and store.read(N + 1) == value  # the JSON cached is the row's
    assert user.get(store.cache_key(N + 1)) == value
    assert json.loads(value)["category"] == products.INSERTED
    with pytest.raises(Exception):
        store.insert(N + 1)  # an id is inserted once
    assert store.seeded() == N  # inserted products never count as seeded
    assert store.remove_inserted(N, N + 1) == 1 and store.read(N + 1) is None
    user.close()


def test_scans_return_the_right_rows_through_the_cache(store, cache):
    first, last = 101, 160
    truth = [products.encode(products.row(i)) for i in range(first, last + 1)]
    assert store.scan(first, last) == truth  # the seeded rows, in id order
    assert strategies.DbOnly(store).scan((first, last)) == (strategies.OK, truth)
    user = cache.for_user()
    aside = strategies.CacheAside(store, user, 60)
    assert aside.read(120)[0] == strategies.MISS  # one record cached by a read
    assert aside.scan((first, last)) == (strategies.MISS, truth)  # the 59 others loaded in one query
    assert user.get(store.cache_key(last)) == truth[-1]  # and cached one by one
    assert aside.scan((first, last)) == (strategies.HIT, truth)
    aside.write(130)  # invalidates record 130 wherever scans meet it
    outcome, after = aside.scan((first, last))
    assert outcome == strategies.MISS and after == store.scan(first, last) and after[29] != truth[29]
    assert aside.scan((N - 5, N + 20)) == (strategies.MISS, store.scan(N - 5, N))  # past the end: what exists
    only = strategies.CacheOnly(store, user)
    assert only.scan((first, last)) == (strategies.HIT, after)
    user.close()


# ---- the scenarios, headless ----------------------------------------------------------------------

def _run(namespace, tmp_path, scenario, *extra, users=4):
    out = run_locust(["--config", str(ROOT / "scenarios" / scenario), *common(namespace, tmp_path / "r", phase="4s",
                                                                                 users=users), *extra], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())


def _rows(doc):
    return {(r["strategy"], r["op"], r["outcome"]): r for r in doc["rows"]}


def _share_ok(k: int, n: int, p: float, z: float = 4.5) -> bool:
    """k of n operations drawn with probability p: within z binomial standard deviations (a fixed
    tolerance is too tight for a short run's few hundred operations and too loose for many)."""
    return n > 0 and abs(k / n - p) < z * (p * (1 - p) / n) ** 0.5


def _no_mismatch(doc):
    for view in doc["server"]:
        assert view["checks"] and not view["mismatches"], view


def test_workload_d_inserts_across_processes_and_the_servers_agree(seeded, target, tmp_path):
    doc = _run(seeded, tmp_path, "ycsb-d.conf", "--processes", "2", users=6)
    rows = _rows(doc)
    for s in ("db-only", "cache-only", "cache-aside"):
        reads, inserts = rows[(s, "read", "all")]["count"], rows[(s, "insert", "all")]["count"]
        assert _share_ok(inserts, reads + inserts, 0.05), (s, inserts, reads)
        assert rows[(s, "insert", "all")]["errors"] == 0  # no two inserts took one id
    _no_mismatch(doc)  # Com_insert (and Redis's DELs) = the inserts counted
    from cacheswarm.stores.mysql import connect

    conn = connect(target, 10)
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*), MIN(id), MAX(id) FROM `{mysql_products.table_name(seeded)}` "
                    f"WHERE category = %s", (products.INSERTED,))
        count, low, high = cur.fetchone()
    # the last phase's inserts (earlier phases' were removed before each phase), after the seeded rows: every id
    # the counter handed out, but those of inserts a user was stopped in (at most one per user, at the end)
    allocated = int(redis.Redis.from_url(REDIS_URL).get(f"{seeded}:{{ids:products:mysql}}:next"))
    assert count > 0 and low == N + 1 and high <= allocated and count >= allocated - N - 6


def test_workload_d_inserts_into_dynamodb(seeded, tmp_path):
    """On the embedded emulator: inserts put new items (never over an existing one), reads follow them."""
    doc = _run(seeded, tmp_path, "ycsb-d.conf", "--backend", "dynamodb", "--strategies", "db-only,cache-aside",
               "--keyspace", "500")
    rows = _rows(doc)
    for s in ("db-only", "cache-aside"):
        assert rows[(s, "insert", "all")]["count"] > 0 and rows[(s, "insert", "all")]["errors"] == 0
        assert rows[(s, "read", "all")]["errors"] == 0
    assert next(x for x in doc["summary"] if x["strategy"] == "db-only")["wcu"] > 0  # the PutItems' capacity


def test_workload_e_scans_through_the_cache(seeded, tmp_path):
    doc = _run(seeded, tmp_path, "ycsb-e.conf", "--strategies", "db-only,cache-aside", "--warmup", "0")  # cold start seen
    rows = _rows(doc)
    for s in ("db-only", "cache-aside"):
        scans, inserts = rows[(s, "scan", "all")]["count"], rows[(s, "insert", "all")]["count"]
        assert _share_ok(inserts, scans + inserts, 0.05) and (s, "read", "all") not in rows
    assert 0 < rows[("cache-aside", "scan", "all")]["hit_ratio"] < 1
    assert doc["summary"][0]["ops_p99_ms"]["scan"] > 0
    sets = next(c for v in doc["server"] if v["phase"].endswith("/cache-aside") for c in v["checks"]
                if c["counter"] == "cmd_set")
    assert sets["client"] > 0 and sets["ok"], sets  # the records the scans loaded, each SET, counted exactly
    said = " ".join(h["text"] for h in doc["headline"])
    assert "scan p99" in said and "insert p99" not in said, said  # judged by its 95% of scans
    _no_mismatch(doc)  # one range SELECT per db-only scan and per cache-aside scan that missed


@pytest.mark.parametrize("backend", ["mysql", "dynamodb"])
def test_workload_f_times_the_whole_and_records_its_parts(seeded, tmp_path, backend):
    doc = _run(seeded, tmp_path, "ycsb-f.conf", "--backend", backend, "--strategies", "db-only,cache-aside")
    rows = _rows(doc)
    for s in ("db-only", "cache-aside"):
        whole, part_r, part_w = (rows[(s, op, "all")] for op in ("rmw", "rmw-read", "rmw-write"))
        assert whole["count"] == part_r["count"] == part_w["count"] > 0
        reads = rows[(s, "read", "all")]["count"]
        assert _share_ok(whole["count"], reads + whole["count"], 0.5), (whole["count"], reads)
        assert whole["p50_ms"] > part_r["p50_ms"] and whole["p50_ms"] > part_w["p50_ms"]
        summary = next(x for x in doc["summary"] if x["strategy"] == s)
        assert summary["count"] == reads + whole["count"]  # the parts are not counted twice
    if backend == "mysql":
        _no_mismatch(doc)  # the parts' SELECTs, UPDATEs, GETs, SETs and DELs all reached the servers
    else:
        db = next(x for x in doc["summary"] if x["strategy"] == "db-only")
        assert db["rcu"] > 0 and db["wcu"] > 0  # each part's capacity, read and write apart
