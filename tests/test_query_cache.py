"""Query-result caching (the ElastiCache database-caching demo) on MariaDB and Redis: each query's
SQL, its rows, its key (a hash of the SQL text), the TTL its cached result gets, and a run whose
report gives the bytes of a cached result and agrees with the servers' counters."""

from __future__ import annotations

import hashlib
import json

import pytest

from cacheswarm import restaurants, strategies
from cacheswarm.stores import mysql_queries, mysql_restaurants

from .conftest import run_locust
from .test_end_to_end import common, only_report

RESTAURANTS, REVIEWS = 40, 3


@pytest.fixture
def store(namespace, target, pool):
    mysql_restaurants.seed(target, namespace, RESTAURANTS, REVIEWS)
    s = mysql_queries.MySQLQueries(pool, namespace, queries=200, max_rows=75)
    assert s.seeded() == 200
    return s


def test_each_query_returns_its_rows_under_a_hash_of_its_sql(store, namespace):
    limits = set()
    for q in (1, 2, 3, 50, 199, 200):
        sql = store.sql(q)
        first = mysql_queries.restaurant_of(q, RESTAURANTS)
        k = mysql_queries.limit_of(q, 75)
        limits.add(k)
        assert f"BETWEEN {first} AND {first + 9}" in sql and sql.endswith(f"LIMIT {k}")
        assert store.cache_key(q) == f"{namespace}:query:{hashlib.sha1(sql.encode()).hexdigest()}"
        rows = json.loads(store.read(q))
        seeded = [(i, r["id"]) for i in range(first, first + 10) for r in sorted(restaurants.reviews(i, REVIEWS),
                                                                                   key=lambda r: r["id"])]
        assert [(r["restaurant_id"], r["id"]) for r in rows] == seeded[:k]  # the rows that SQL selects, in order
    assert len({store.cache_key(q) for q in range(1, 201)}) == 200  # distinct queries, distinct keys
    assert all(1 <= mysql_queries.limit_of(q, 75) <= 75 for q in range(1, 2000))
    assert len({mysql_queries.limit_of(q, 75) for q in range(1, 2000)}) == 75  # every k of 1..75 occurs


def test_cache_aside_caches_a_result_for_the_ttl_and_a_write_deletes_its_query(store, cache):
    user = cache.for_user()
    aside = strategies.CacheAside(store.for_user(), user, 5)
    q = 7
    assert aside.read(q) == (strategies.MISS, store.read(q))
    assert 0 < cache.client.pttl(store.cache_key(q)) <= 5000  # PSETEX 5 s, as the demo
    assert aside.read(q)[0] == strategies.HIT
    before = json.loads(store.read(q))
    aside.write(q)  # a review posted to the query's first restaurant; its key deleted
    assert cache.client.exists(store.cache_key(q)) == 0
    outcome, value = aside.read(q)
    assert outcome == strategies.MISS and value == store.read(q)
    assert len(json.loads(value)) == min(len(before) + 1, mysql_queries.limit_of(q, 75))
    user.close()


def test_a_query_cache_run_reports_bytes_per_result(store, namespace, tmp_path):
    out = run_locust([*common(namespace, tmp_path / "r", phase="4s"), "--dataset", "queries",
                      "--strategies", "db-only,cache-aside", "--queries", "200", "--cache-ttl", "5",
                      "--processes", "2"], cwd=tmp_path)  # workers build the same SQL texts and keys
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    rows = {(r["strategy"], r["op"], r["outcome"]): r for r in doc["rows"]}
    assert 0 < rows[("cache-aside", "read", "all")]["hit_ratio"] < 1
    for view in doc["server"]:
        assert view["checks"] and not view["mismatches"], view
    memory = next(v for v in doc["server"] if v["phase"].endswith("cache-aside"))["memory"]
    # bytes of a cached result: what the queries return now (the run posted reviews: results grew), give
    # or take the results cached before the last writes
    now = sum(len(store.read(q)) for q in range(1, 201)) / 200
    assert 0.5 * now < memory["value_bytes_mean"] <= 1.1 * now and memory["keyspace"] == 200
    html = (only_report(tmp_path / "r") / "comparison.html").read_text()
    assert "queries/mysql/cache-aside" in html
