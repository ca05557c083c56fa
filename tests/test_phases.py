"""The phase plan drains between phases, prepares each phase once, and knows when it is done."""

import pytest

from cacheswarm.phases import DRAIN, RUN, Phase, PhasePlan


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_phases_run_in_turn_with_a_drain_between():
    clock, prepared = Clock(), []
    phases = [Phase(i, "products", "mysql", s) for i, s in enumerate(["db-only", "cache-aside"])]
    plan = PhasePlan(phases, 10, lambda p: prepared.append(p.strategy) or f"state {p.strategy}", clock)
    assert plan.tick(0) == (RUN, phases[0])
    clock.t += 5
    assert plan.tick(20) == (RUN, phases[0])
    clock.t += 5
    assert plan.tick(20) == (DRAIN, None)  # phase over, users still running
    assert plan.tick(3) == (DRAIN, None)
    assert prepared == ["db-only"]  # the next phase is not prepared while users remain
    clock.t += 2
    assert plan.tick(0) == (RUN, phases[1])
    assert prepared == ["db-only", "cache-aside"]
    assert phases[0].ended == 1010.0 and phases[1].started == 1012.0
    assert phases[1].cache_state == "state cache-aside"
    clock.t += 10
    assert plan.tick(20) == (DRAIN, None)
    assert plan.tick(0) is None and plan.done
    assert phases[0].measured_seconds(2) == 8.0


def test_interrupt_closes_the_running_phase():
    clock = Clock()
    phases = [Phase(0, "products", "mysql", "db-only")]
    plan = PhasePlan(phases, 30, lambda p: "", clock)
    plan.tick(0)
    clock.t += 7
    plan.interrupt()
    assert not plan.done and phases[0].ended == 1007.0
    assert phases[0].measured_seconds(5) == 2.0


def test_a_phase_runs_until_the_process_that_began_last_has_had_its_whole_window():
    from cacheswarm.phases import HOLD_LIMIT_S

    clock, slept = Clock(), []

    def sleep(s):
        slept.append(s)
        clock.t += s

    opened = {}
    phases = [Phase(i, "products", "mysql", s) for i, s in enumerate(["db-only", "cache-aside"])]
    plan = PhasePlan(phases, 10, lambda p: "", clock, sleep=sleep, opened=lambda p: opened.get(p.key))
    assert plan.tick(0) == (RUN, phases[0])
    opened[phases[0].key] = 1000.3  # a worker's first user started 0.3 s after the phase began
    clock.t += 9.5
    assert plan.tick(20) == (DRAIN, None)
    assert phases[0].ended == 1010.3 and sum(slept) == pytest.approx(0.8)  # not 1010.0: that worker measured 9.7 s
    assert phases[0].to_dict(0)["last_process_began_s"] == 0.3
    plan.tick(0)
    assert phases[1].started == 1010.3
    opened[phases[1].key] = 1010.3 + 60  # a process that began very late is not waited for past the limit
    clock.t += 10
    assert plan.tick(20) == (RUN, phases[1])
    clock.t += 1.5
    assert plan.tick(20) == (DRAIN, None)
    assert phases[1].ended == 1010.3 + 10 + HOLD_LIMIT_S


def test_a_phase_key_is_parsed_once_and_written_back_the_same():
    from cacheswarm.catalog import PhaseKey

    for text in ("products/mysql/db-only", "restaurants/postgres/cache-aside+versioned+lock@3",
                 "sessions/redis/cache-only"):
        key = PhaseKey.parse(text)
        assert key.text == str(key) == text and PhaseKey.parse(key.text) == key
    key = PhaseKey.parse("restaurants/postgres/cache-aside+versioned+lock@3")
    assert (key.dataset, key.backend, key.strategy, key.step) == ("restaurants", "postgres",
                                                                  "cache-aside+versioned+lock", 3)
    assert key.base == "cache-aside" and key.field == "cache-aside+versioned+lock@3"
    assert key.base_text == "restaurants/postgres/cache-aside+versioned+lock"
    assert key.policy("invalidate") == "versioned" and key.protection("none") == "lock"
    plain = PhaseKey.parse("products/mysql/cache-aside")
    assert plain.policy("double-delete") == "double-delete" and plain.protection("none") == "none"
    assert plain.step is None and Phase(0, "products", "mysql", "cache-aside", step=2).phase_key == PhaseKey(
        "products", "mysql", "cache-aside", 2)


def test_searches_on_one_dataset_and_backend_alternate_their_steps():
    """Two capacity searches compared with each other take turns, step by step, so a machine whose
    speed drifts over minutes moves both; a fixed-load phase keeps its place, and a search left alone
    runs its steps in a row."""
    clock = Clock()
    phases = [Phase(0, "products", "mysql", "db-only", step=0, rate=500.0),
              Phase(1, "products", "mysql", "cache-only"),
              Phase(2, "products", "mysql", "cache-aside", step=0, rate=500.0),
              Phase(3, "restaurants", "mysql", "db-only")]
    steps = {"products/mysql/db-only": 3, "products/mysql/cache-aside": 1}  # follow-ups each search asks for

    def after(p):
        if p.step is None or steps[p.base_key] == 0:
            return []
        steps[p.base_key] -= 1
        return [Phase(0, p.dataset, p.backend, p.strategy, step=p.step + 1, rate=p.rate * 2)]

    plan = PhasePlan(phases, 10, lambda p: "", clock, after=after)
    ran = []
    while (t := plan.tick(0)) is not None:
        if t[0] == RUN and t[1].key not in ran:
            ran.append(t[1].key)
        clock.t += 10
    assert ran == ["products/mysql/db-only@0", "products/mysql/cache-only", "products/mysql/cache-aside@0",
                   "products/mysql/db-only@1", "products/mysql/cache-aside@1", "products/mysql/db-only@2",
                   "products/mysql/db-only@3", "restaurants/mysql/db-only"]
