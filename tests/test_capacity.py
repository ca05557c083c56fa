"""The capacity search: its steps on a synthetic target, then against real targets of known
capacity (MySQL through a pool of one connection; Redis, where the generator is the limit)."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from cacheswarm.capacity import STOP_GENERATOR, STOP_SLO, Search, Step
from cacheswarm.stores import mysql_restaurants

from .conftest import run_locust
from .test_end_to_end import common, only_report


def drive(search: Search, capacity: float, generator_limit: float = float("inf")) -> dict:
    """Run a search against a target that meets the objective up to `capacity` ops/s."""
    rate = search.first_rate()
    while rate is not None:
        achieved = min(rate, generator_limit)
        rate = search.record(Step(rate, rate <= capacity, achieved, rate > generator_limit))
    return search.result()


@pytest.mark.parametrize("capacity", [37.0, 900.0, 1234.0, 5000.0])
def test_search_brackets_a_known_capacity(capacity):
    result = drive(Search(100.0, 2.0, refine=3, max_steps=20), capacity)
    assert result["stop_reason"] in (STOP_SLO,) and not result["lower_bound"]
    found, first_fail = result["capacity_ops"], result["first_failed_rate"]
    assert found <= capacity < first_fail  # the truth lies between the last pass and the first fail
    assert (first_fail - found) / first_fail <= 0.13  # three bisections after a doubling: within 1/8


def test_a_saturated_generator_gives_a_lower_bound_and_says_how_to_raise_it():
    result = drive(Search(100.0, 2.0), capacity=10_000, generator_limit=1000)
    assert result["stop_reason"] == STOP_GENERATOR and result["lower_bound"]
    # bisected below the saturated fail up to what the client could do: 1,000 ops/s, "at least"
    assert result["capacity_ops"] == 1000.0 and "--processes" in result["why_stopped"]


def test_a_step_that_fell_short_of_its_rate_did_not_sustain_it():
    search = Search(100.0, 2.0)
    search.record(Step(100.0, True, 60.0, False))  # latency fine, but only 60 of 100 ops/s happened
    assert not search.steps[0].passed and "achieved 60 of 100" in search.steps[0].reasons[0]


def _search(namespace, tmp_path, shape, *search, name="cap") -> dict:
    """A capacity run with these options; its comparison.json."""
    out = run_locust([*common(namespace, tmp_path / name, phase="4s"), *shape, *search], tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / name) / "comparison.json").read_text())
    doc["stdout"] = out.stdout
    return doc


def _replayed(doc, key: str, start: float, steps: int = 10, refine: int = 2) -> list:
    """The rates the run tried, in the order it tried them (its step phases), checked against a
    replay of the search on the steps' own verdicts: each rate is the one the search asked for
    after the steps before it (a runner that ran other rates, or steps recorded out of order or
    with the wrong verdict, fails here; `result()` sorting its steps cannot hide that)."""
    from cacheswarm.capacity import Search, Step

    ran = [p["target_rate"] for p in sorted((p for p in doc["phases"] if p["step"] is not None
                                              and f'{p["dataset"]}/{p["backend"]}/{p["strategy"]}' == key),
                                             key=lambda p: p["step"])]
    verdicts = list(doc["capacity"][key]["steps"])  # sorted by rate; equal rates in the order they ran
    search, want = Search(start, max_steps=steps, refine=refine), start
    for rate in ran:
        assert rate == pytest.approx(want), (ran, want)
        s = verdicts.pop(next(i for i, v in enumerate(verdicts) if v["rate"] == rate))
        # the report's verdict is after the search's own checks (a shortfall turns a pass into a fail)
        want = search.record(Step(rate, s["passed"], s["achieved"], s["generator_bound"], undecided=s["undecided"]))
    assert want is None and not verdicts, (ran, want, verdicts)  # it stopped where the search did
    return ran


def _closed_loop_rate(namespace, tmp_path, *extra, name="closed") -> float:
    out = run_locust([*common(namespace, tmp_path / name, phase="6s"), *extra], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads((only_report(tmp_path / name) / "comparison.json").read_text())
    return doc["summary"][0]["throughput_ops"]


RULE = "write p90 < 25ms"


def test_capacity_through_one_mysql_connection_matches_its_closed_loop_throughput(namespace, tmp_path):
    """One pooled connection serves one transaction at a time: the rate it sustains closed loop is
    the target's capacity. The open-loop search must find it (within the search's resolution and
    the run-to-run noise of a shared 2-core machine). Posting reviews (BEGIN, INSERT, UPDATE,
    COMMIT) keeps the target, not the generator, the limit.
    The target is as steady as this machine allows: a private mariadbd on tmpfs that does not
    flush its log per commit, on a core of its own, with the generator on the other (an open-loop
    generator spins on one core while it waits, and the shared server's fsync stalls gave write
    p99s of 60-460 ms at half its closed-loop rate, twice in a row, so no re-run helped: capacities
    of 0.3x-1x). The objective is on p90: the knee of the hockey stick, not a stall's tail. The
    closed-loop rate is measured before and after the search (it drifted by up to 2x here)."""
    from cacheswarm.options import parse_mysql_url

    from .helpers import PrivateMariaDB

    shm = Path(tempfile.mkdtemp(prefix="cacheswarm-cap-", dir="/dev/shm"))
    cpus = os.sched_getaffinity(0)
    generator_cpu, target_cpu = sorted(cpus)[:2] if len(cpus) >= 2 else (None, None)
    db = PrivateMariaDB(shm, "--innodb-flush-log-at-trx-commit=0",
                        wrap=("taskset", "-c", str(target_cpu)) if target_cpu is not None else ())
    if generator_cpu is not None:
        os.sched_setaffinity(0, {generator_cpu})  # the generator (Locust, started from here) keeps to its core
    try:
        mysql_restaurants.seed(parse_mysql_url(db.url), namespace, 200, 10)
        shape = ["--dataset", "restaurants", "--strategies", "db-only", "--mysql-pool-size", "1", "-u", "8", "-r", "8",
                 "--read-ratio", "0", "--mysql-url", db.url]
        for attempt in range(2):  # a second measurement, whole, only when the first disagrees
            before = _closed_loop_rate(namespace, tmp_path, *shape, name=f"before{attempt}")
            doc = _search(namespace, tmp_path, shape, "--find-capacity", "all", "--slo", RULE,
                          "--capacity-start", str(round(before / 8)), "--capacity-refine", "3", name=f"cap{attempt}")
            after = _closed_loop_rate(namespace, tmp_path, *shape, name=f"after{attempt}")  # the target's drift
            c = doc["capacity"]["restaurants/mysql/db-only"]
            print(f"closed loop {before} then {after} ops/s; capacity {c['capacity_ops']} ops/s; steps "
                  f"{[(s['rate'], s['passed'], s['observed'][RULE], s['write_p99_ms']) for s in c['steps']]}")
            if 0.45 * min(before, after) <= c["capacity_ops"] <= 1.5 * max(before, after):
                break
    finally:
        os.sched_setaffinity(0, cpus)
        db.stop()
        shutil.rmtree(shm, ignore_errors=True)
    assert c["stop_reason"] == "slo" and not c["lower_bound"], c
    # found here: 0.88x on a quiet machine; on a busy one 0.55-1.0x of the lower closed-loop rate, and
    # once 1.44x the higher: its speed swung by up to 2x within minutes (closed loop 480, a step
    # sustaining 960, closed loop 665), and steps are minutes apart; and once in CI 0.30x (every step
    # from 400 ops/s on at p90 > 160 ms, closed loop 1,420 before and 1,203 after): so a measurement that
    # disagrees is taken once more, whole, and a search that is wrong disagrees both times
    assert 0.45 * min(before, after) <= c["capacity_ops"] <= 1.5 * max(before, after), (c["capacity_ops"], before, after)
    steps = c["steps"]
    _replayed(doc, "restaurants/mysql/db-only", round(before / 8), refine=3)
    # the hockey stick: past the capacity the tail is far beyond the objective
    assert max(s["observed"][RULE] for s in steps if not s["passed"]) > 25
    assert all(s["observed"][RULE] < 25 for s in steps if s["passed"])
    # each step has its own phase and rows in the report, and the headline names the capacity
    step_phases = [p for p in doc["phases"] if p["step"] is not None]
    assert len(step_phases) == len(steps) and {p["target_rate"] for p in step_phases} == {s["rate"] for s in steps}
    assert f"db-only {c['capacity_ops']:,.0f} ops/s" in doc["headline"][0]["text"]
    assert "capacity restaurants/mysql/db-only" in doc["stdout"]


def test_capacity_of_cache_only_on_redis_with_two_processes(namespace, target, tmp_path):
    """Redis answers faster than one generator process can ask: the search stops at the
    generator (a lower bound, said so) or at the objective, never above what the generator can do
    closed loop. Two processes: steps are split across workers and decided on merged histograms."""
    from cacheswarm.stores import mysql_products

    mysql_products.seed(target, namespace, 2000)
    shape = ["--strategies", "cache-only", "-u", "8", "-r", "8", "--processes", "2"]
    closed = _closed_loop_rate(namespace, tmp_path, *shape)
    doc = _search(namespace, tmp_path, shape, "--find-capacity", "cache-only", "--slo", "read p99 < 20ms",
                  "--capacity-start", str(round(closed / 4)), "--capacity-steps", "5")
    assert doc["run"]["workers"] == 2
    c = doc["capacity"]["products/mysql/cache-only"]
    assert c["capacity_ops"] >= closed / 4 * 0.99 and c["capacity_ops"] <= 1.15 * closed, (c, closed)
    assert c["lower_bound"] == (c["stop_reason"] != "slo")
    _replayed(doc, "products/mysql/cache-only", round(closed / 4), 5)
    # both workers' operations are in each step's figures: what the clients achieved is what Redis
    # itself counted (its GETs and SETs in the step, against the clients' reads and writes)
    views = {v["phase"]: v for v in doc["server"]}
    for p in (p for p in doc["phases"] if p["step"] is not None):
        view = views[f'products/mysql/cache-only@{p["step"]}']
        assert view["checks"] and not view["mismatches"], view["checks"]


def test_a_saturated_pass_while_refining_still_counts():
    """Between a pass and a real (unsaturated) fail, a step that passed with the generator busy is
    a pass: a saturated client can only overstate latency."""
    search = Search(1000.0, 2.0, refine=2)
    assert search.record(Step(1000.0, True, 1000.0, False)) == 2000.0
    assert search.record(Step(2000.0, False, 1950.0, False)) == 2000.0  # the target broke the SLO: once more
    assert search.record(Step(2000.0, False, 1950.0, False)) == 1500.0  # confirmed
    assert search.record(Step(1500.0, True, 1500.0, True)) == 1750.0  # busy generator, still a pass
    assert search.record(Step(1750.0, False, 1700.0, True)) is None  # ... and a busy fail above a real one
    result = search.result()
    assert result["capacity_ops"] == 1500.0 and result["stop_reason"] == STOP_SLO and not result["lower_bound"]


def test_a_first_fail_is_run_again_and_a_passing_re_run_makes_it_noise():
    """One window is one sample: a stall once breaks a p99 at a rate the target sustains (seen
    here: a search stopped at 1,319 ops/s of a 21,109 ops/s target after its first step failed)."""
    search = Search(1000.0, 2.0, refine=1)
    assert search.record(Step(1000.0, True, 1000.0, False)) == 2000.0
    assert search.record(Step(2000.0, False, 2000.0, False)) == 2000.0  # a stall: run the rate again
    assert search.steps[-1].reasons == ["re-run to confirm"]
    assert search.record(Step(2000.0, True, 2000.0, False)) == 4000.0  # it passed: go on rising
    assert search.steps[1].reasons[-1] == "not confirmed: the re-run at this rate passed"
    assert search.record(Step(4000.0, False, 3900.0, False)) == 4000.0  # a new first fail above the best
    assert search.record(Step(4000.0, False, 3900.0, False)) == 3000.0  # confirmed: bisect
    assert search.record(Step(3000.0, True, 3000.0, False)) is None
    result = search.result()
    assert result["capacity_ops"] == 3000.0 and result["first_failed_rate"] == 4000.0
    assert result["stop_reason"] == STOP_SLO and len(result["steps"]) == 6


def test_only_the_first_fail_is_confirmed_and_never_past_the_last_step():
    search = Search(1000.0, 2.0, refine=2)
    search.record(Step(1000.0, True, 1000.0, False))
    search.record(Step(2000.0, False, 2000.0, False))
    assert search.record(Step(2000.0, False, 2000.0, False)) == 1500.0
    assert search.record(Step(1500.0, False, 1500.0, False)) == 1250.0  # a bisection's fail: not re-run
    saturated = Search(1000.0, 2.0)
    assert saturated.record(Step(1000.0, False, 700.0, True)) == 500.0  # the generator's fail: not re-run
    last = Search(1000.0, 2.0, max_steps=2)
    last.record(Step(1000.0, True, 1000.0, False))
    assert last.record(Step(2000.0, False, 2000.0, False)) is None and last.stop_reason == STOP_SLO
    first = Search(1000.0, 2.0)
    assert first.record(Step(1000.0, False, 1000.0, False)) == 1000.0  # the very first step too
    assert first.record(Step(1000.0, False, 1000.0, False)) == 500.0


def test_an_undecided_step_runs_again_until_decided_or_marked_noisy():
    """A step whose objective's interval straddles the threshold is neither pass nor fail: it runs
    again at its rate (the glue judges the re-run on every run there together); still undecided
    after capacity.REPEATS re-runs, it is marked noisy and counted as a fail."""
    from cacheswarm.capacity import REPEATS

    search = Search(1000.0, 2.0, refine=1)
    assert search.record(Step(1000.0, True, 1000.0, False)) == 2000.0
    assert search.record(Step(2000.0, False, 2000.0, False, undecided=True)) == 2000.0
    assert search.steps[-1].reasons == ["undecided: re-run at this rate"]
    assert search.record(Step(2000.0, True, 2000.0, False)) == 4000.0  # decided by the re-run: a pass
    assert search.best.rate == 2000.0
    noisy = Search(1000.0, 2.0, refine=1)
    noisy.record(Step(1000.0, True, 1000.0, False))
    for _ in range(REPEATS):
        assert noisy.record(Step(2000.0, False, 2000.0, False, undecided=True)) == 2000.0
    nxt = noisy.record(Step(2000.0, False, 2000.0, False, undecided=True))
    last = noisy.steps[-1]
    assert last.noisy and not last.passed and "noisy: undecided after 3 runs" in last.reasons[-1]
    assert nxt == 1500.0  # run three times already: no confirmation run, the search bisects below it
    result = noisy.result()
    assert [s["noisy"] for s in result["steps"]].count(True) == 1


def test_a_generator_bound_search_says_what_one_process_drove():
    result = drive(Search(100.0, 2.0), capacity=10_000, generator_limit=1000)
    assert result["generator_peak_ops"] == 1000.0
    assert "saturated at about 1,000 ops/s" in result["why_stopped"] and "µs of generator CPU per operation" in result["why_stopped"]
    assert result["range_ops"] == [1000.0, None]  # the true capacity is above the bound, by how much unknown


def test_cpu_per_operation_comes_from_the_cpu_the_generator_used():
    """On a machine it shares with the target the generator may saturate below a core: its CPU per
    operation is what it used over what it drove, and a core adds that many operations a second."""
    search = Search(1000.0, 2.0)
    search.record(Step(1000.0, True, 1000.0, False))
    search.record(Step(2000.0, True, 2000.0, True, figures={"generator_cpu_percent": 50.0}))
    why = search.result()["why_stopped"]
    assert search.stop_reason == "generator"
    assert "about 250 µs of generator CPU per operation at 50% of a core" in why and "adds about 4,000 ops/s" in why


def test_a_broken_step_names_which_side_its_tail_came_from():
    """Open loop, a read's latency is the target's time (its service time plus the wait for its user's
    previous reply) plus the generator's lateness. When the target's time meets the objective the latency broke, the
    generator made the tail (it sent late). A user held by its previous slow reply waits for the
    target, not for the generator: a demo called db-only's 875 ops/s step 'generator saturated'
    (service p99 48 ms < 50, read p99 72 ms) with the generator at 50% of a core and loop lag 2.6 ms."""
    from cacheswarm import slo
    from cacheswarm.capacity import client_tail as _client_tail

    rules = [slo.parse_rule("read p99 < 10ms")]
    client = _client_tail(rules, {"read_p99_ms": 34.4, "target_read_p99_ms": 6.0, "service_read_p99_ms": 5.5,
                                  "generator_cpu_p50_percent": 95.0, "loop_lag_p99_ms": 2.8})
    assert client.startswith("the tail came from the client") and "target's time" in client and "p99 6 ms" in client
    # the service time met it but the wait behind the user's previous reply did not: the target's
    assert _client_tail(rules, {"read_p99_ms": 34.4, "target_read_p99_ms": 30.0, "service_read_p99_ms": 5.5}) is None
    assert _client_tail(rules, {"read_p99_ms": 34.4, "service_read_p99_ms": 30.1}) is None  # the target's
    assert _client_tail(rules, {"read_p99_ms": 8.0, "service_read_p99_ms": 7.0}) is None  # nothing broke


def test_a_client_stall_while_not_busy_runs_again_before_it_bounds_the_search():
    """A step broken by the client's start delays while the generator was not busy (a shared
    machine's stall: seen in a demo, read p99 57 ms at 500 ops/s with the generator at 29% of a core)
    is run again: passing, the search goes on rising; stalling again, the client is the limit there."""
    search = Search(500.0, 2.0, refine=1)
    assert search.record(Step(500.0, False, 500.0, False, stall=True)) == 500.0
    assert search.steps[-1].reasons[-1] == "re-run: the client stalled while not busy"
    assert search.record(Step(500.0, True, 500.0, False)) == 1000.0  # the re-run passed: rising
    assert search.best.rate == 500.0 and not search.steps[0].generator_bound
    again = Search(500.0, 2.0, refine=1)
    again.record(Step(500.0, False, 500.0, False, stall=True))
    assert again.record(Step(500.0, False, 500.0, False, stall=True)) == 250.0  # the client's limit: below it
    assert all(s.generator_bound for s in again.steps)
    assert again.record(Step(250.0, True, 250.0, False)) == 375.0  # bisecting below the client's limit
    assert again.record(Step(375.0, True, 375.0, False)) is None
    result = again.result()
    assert result["lower_bound"] and result["stop_reason"] == "generator", result


def test_an_undecided_run_takes_the_verdict_of_the_run_that_decided_it():
    """Undecided at a rate, then decided there as a fail of the saturated generator (the runs are
    judged together): the rate bounds the search only softly, as the generator's (a demo had called
    938 ops/s the target's capacity from such a pair, with 2,000 ops/s sustained in the run before)."""
    search = Search(500.0, 2.0, refine=2)
    search.record(Step(500.0, True, 500.0, False))
    assert search.record(Step(1000.0, False, 1000.0, False, undecided=True)) == 1000.0
    assert search.record(Step(1000.0, False, 1000.0, True)) == 750.0
    assert all(s.generator_bound for s in search.steps if s.rate == 1000.0)
    search.record(Step(750.0, True, 750.0, False))
    assert search.record(Step(875.0, True, 875.0, False)) is None
    result = search.result()
    assert result["lower_bound"] and result["stop_reason"] == "generator" and result["capacity_ops"] == 875.0, result
