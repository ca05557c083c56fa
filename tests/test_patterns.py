"""The Redis-native patterns of the database lab (session store, rate limiter, leaderboard) on the
real Redis: each operation does what the lab's does, the mixes are as documented, the rate
limiter's lab version over-admits under concurrency while the atomic one never does, and runs
agree with Redis's own command counters."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from cacheswarm import catalog, patterns, strategies
from cacheswarm.workload import make_chooser

from .conftest import run_locust
from .test_end_to_end import common, only_report


def _settings(keyspace=0, **workload):
    return SimpleNamespace(keyspace=keyspace, workload=SimpleNamespace(**{"rate_limit": 10, "rate_window": 1, **workload}))


def test_pattern_mixes_are_as_documented():
    for cls in (catalog.BINDINGS[(d, "redis")].store_class() for d in catalog.patterns()):
        assert abs(sum(share for _, share in cls.MIX) - 1) < 1e-9 and [op for op, _ in cls.MIX] == list(cls.OPS)
        rng = random.Random(1)
        w = patterns.PatternWorkload(cls.MIX, make_chooser("uniform", 100, rng=rng), rng)
        ops = Counter(w.next()[0] for _ in range(20_000))
        for op, share in cls.MIX:
            assert abs(ops[op] / 20_000 - share) < 0.015, (cls.dataset, op)


def test_sessions_create_read_extend_delete(namespace, cache, raw_redis):
    s = patterns.Sessions(None, namespace)
    s.configure(_settings(keyspace=50))
    assert s.seeded() == 50 and "50 sessions" in s.prepare(cache.client, 50)
    assert 3590 < raw_redis.ttl(s.cache_key(7)) <= 3600
    user = cache.for_user()
    ops, after = s.ops(user, "cache-only")
    assert after is None
    outcome, value = ops["read"](7)
    assert outcome == strategies.HIT and json.loads(value)["session"] == 7
    raw_redis.expire(s.cache_key(7), 100)
    assert ops["extend"](7)[0] == strategies.OK and raw_redis.ttl(s.cache_key(7)) > 3500  # EXPIRE back to 1 h
    assert ops["delete"](7)[0] == strategies.OK
    assert ops["extend"](7)[0] == strategies.MISS  # nothing to extend once logged out
    assert ops["read"](7) == (strategies.MISS, None)  # logged out: the request logs in again
    assert ops["read"](7)[0] == strategies.HIT and raw_redis.ttl(s.cache_key(7)) > 3590
    assert ops["create"](7)[0] == strategies.OK and ops["read"](7)[0] == strategies.HIT
    user.close()


def test_leaderboard_scores_ranks_and_top10(namespace, cache, raw_redis):
    board = patterns.Leaderboard(None, namespace)
    board.configure(_settings(keyspace=300))
    board.prepare(cache.client, 300)
    assert raw_redis.zcard(board.board) == 300
    user = cache.for_user()
    ops, _ = board.ops(user, "cache-only")
    before = raw_redis.zscore(board.board, board.member(5))
    new = float(ops["score"](5)[1])
    assert 1 <= new - before <= 100 and raw_redis.zscore(board.board, board.member(5)) == new
    top = json.loads(ops["top10"](1)[1])
    scores = [s for _, s in top]
    assert len(top) == 10 and scores == sorted(scores, reverse=True)
    assert top[0][1] == raw_redis.zrevrange(board.board, 0, 0, withscores=True)[0][1]
    assert ops["rank"](5)[0] == strategies.HIT and ops["rank"](999)[0] == strategies.MISS  # not a player
    user.close()


def test_rate_limiter_versions_admit_up_to_the_limit_one_at_a_time(namespace, cache):
    limiter = patterns.RateLimiter(None, namespace)
    limiter.configure(_settings(rate_limit=5, rate_window=60))  # one window for the whole test
    for version in ("lab", "atomic"):
        cache.clear(namespace)
        user = cache.for_user()
        ops, after = limiter.ops(user, version)
        outcomes = []
        for _ in range(8):
            outcome, _ = ops["check"](3)
            after(outcome, None)
            outcomes.append(outcome)
        assert outcomes == [strategies.OK] * 5 + [patterns.DENIED] * 3, version  # sequential: exact
        verdict = limiter.verdict(cache.client)
        assert verdict["admitted"] == 5 and verdict["over_admitted"] == 0 and verdict["windows"] in (1, 2)
        user.close()


def test_atomic_limiter_counts_a_request_that_reaches_redis_after_its_window(namespace, cache, raw_redis,
                                                                             monkeypatch):
    """A client reads the clock in window w, and its request reaches Redis after w has ended: it must
    still find w's count (and be denied at the limit), not INCR a fresh key to 1. The client's clock is
    held in w; Redis's own expiry decides whether the count is still there."""
    limiter = patterns.RateLimiter(None, namespace)
    limiter.configure(_settings(rate_limit=3, rate_window=1))
    frozen = time.time()
    monkeypatch.setattr(patterns, "time", SimpleNamespace(time=lambda: frozen))
    user = cache.for_user()
    ops, _ = limiter.ops(user, "atomic")
    started = time.monotonic()
    assert [ops["check"](1)[0] for _ in range(3)] == [strategies.OK] * 3
    while time.monotonic() - started < 1.05:  # one window and a little: a key kept one window is gone
        time.sleep(0.05)
    assert raw_redis.pttl(limiter.key(1, int(frozen))) > 0  # kept past its window
    assert ops["check"](1)[0] == patterns.DENIED
    user.close()


def _run(namespace, tmp_path, *extra, users=8):
    out = run_locust([*common(namespace, tmp_path / "r", phase="4s", users=users), *extra], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads((only_report(tmp_path / "r") / "comparison.json").read_text()), out


def test_rate_limiter_run_counts_the_labs_over_admissions(namespace, tmp_path):
    # three clients, eight users: every window of every client is contended
    doc, out = _run(namespace, tmp_path, "--dataset", "ratelimit", "--keyspace", "3", "--rate-limit", "10",
                    "--processes", "2")  # two processes: the audit counts every process's admissions
    assert [p["strategy"] for p in doc["phases"]] == ["lab", "atomic"]  # the versions, from the defaults
    verdicts = {v["phase"].rsplit("/", 1)[1]: v for v in doc["server"]}
    lab, atomic = verdicts["lab"]["pattern"], verdicts["atomic"]["pattern"]
    assert lab["over_admitted"] > 0 and lab["windows_over_limit"] > 0  # GET, then INCR: concurrent requests slip in
    assert atomic["over_admitted"] == 0  # never beyond the limit
    # and the limit in every window but the phase's first and last of each of the 3 clients, which its
    # start and stop may cut short
    assert 10 * (atomic["windows"] - 2 * 3) <= atomic["admitted"] <= 10 * atomic["windows"], atomic
    for v in verdicts.values():
        assert v["checks"] and not v["mismatches"], v  # GETs (lab) and Lua scripts (atomic) = the checks counted
    rows = {(r["strategy"], r["op"], r["outcome"]): r for r in doc["rows"]}
    assert rows[("atomic", "check", "denied")]["count"] > rows[("atomic", "check", "ok")]["count"] > 0
    assert "lab admitted" in out.stdout and "atomic never admitted more than 10" in out.stdout


@pytest.mark.parametrize("dataset, ops", [("sessions", {"read", "extend", "create", "delete"}),
                                          ("leaderboard", {"score", "add", "rank", "top10"})])
def test_session_and_leaderboard_runs_agree_with_redis(namespace, tmp_path, dataset, ops):
    doc, _ = _run(namespace, tmp_path, "--dataset", dataset, "--keyspace", "200")
    assert [(p["backend"], p["strategy"]) for p in doc["phases"]] == [("redis", "cache-only")]
    assert {r["op"] for r in doc["rows"]} == ops
    view = doc["server"][0]
    assert len(view["checks"]) == len(ops) and not view["mismatches"], view  # each op's command, as Redis counted
    if dataset == "sessions":
        assert 0.9 < doc["summary"][0]["hit_ratio"] < 1  # a logout's next read misses (and logs in again)
