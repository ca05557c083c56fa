"""Capacity at the SLO: for one dataset x backend x strategy, open-loop steps at rising target
rates until the objective breaks, then a refinement between the last pass and the first fail.

Plain Python. The phase plan runs each step as its own phase (its own measured window and
histograms); after a step the glue tells the search how it went and the search names the next
rate, or None when it is done. The first step to break the objective is run once more at its
rate: if the re-run passes, the first was noise and the search goes on rising. The result is the
highest rate that met the SLO and why the search stopped: the target broke the SLO (an exact
figure, within the refinement) or the load generator saturated (a lower bound: more processes or
workers would find more).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SHORTFALL = 0.9  # a step that achieved less than this share of its target rate did not sustain it
REPEATS = 2  # an undecided step (an interval straddling the objective) runs again at most this often
# a broken step whose tail came from the client while its CPU (p50 of 1-second samples) was below this
# was stalled, not saturated by its load: it runs once more before it counts as the generator's limit
STALL_CPU_PERCENT = 50.0
STOP_SLO = "slo"
STOP_GENERATOR = "generator"
STOP_MAX_RATE = "max-rate"
STOP_MAX_STEPS = "max-steps"
STOP_FLOOR = "floor"
STOP_INTERRUPTED = "interrupted"
HOW_TO_RAISE = "add Locust processes (--processes N) or workers, or raise -u, to push past the generator's limit"


@dataclass
class Step:
    rate: float
    passed: bool
    achieved: float
    generator_bound: bool
    reasons: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)  # read/write p50/p99 ms, observed per rule
    undecided: bool = False  # the objective's interval straddled its threshold (slo.passes: inconclusive)
    index: int = -1  # the step's number in its search (its phase key's @N)
    noisy: bool = False  # still undecided after REPEATS re-runs: counted as a fail, marked
    stall: bool = False  # broken by the client's start delays while it was not busy (STALL_CPU_PERCENT)


@dataclass
class Search:
    start: float
    factor: float = 2.0
    max_rate: float = 0.0  # 0: no ceiling
    max_steps: int = 12
    refine: int = 2  # bisection steps between the last pass and the first fail
    floor: float = 1.0
    confirm: bool = True  # the first step to break the objective runs once more before it bounds the search
    steps: list = field(default_factory=list)
    stop_reason: str | None = None
    bisections: int = 0

    @property
    def best(self) -> Step | None:
        passed = [s for s in self.steps if s.passed]
        return max(passed, key=lambda s: s.rate) if passed else None

    def _lowest_fail(self, saturated: bool) -> Step | None:
        """The lowest failed step above the best pass whose generator was (not) saturated."""
        best = self.best
        failed = [s for s in self.steps if not s.passed and s.generator_bound == saturated
                  and (best is None or s.rate > best.rate)]
        return min(failed, key=lambda s: s.rate) if failed else None

    def _first_fail(self) -> Step | None:
        """The lowest rate above the best pass where the target, not the client, failed."""
        return self._lowest_fail(False)

    def first_rate(self) -> float:
        return self.start

    def record(self, step: Step) -> float | None:
        """Take a finished step; return the next rate to try, or None (stop_reason says why).

        A saturated client overstates latency, so its pass still counts; its fail may be the
        client's, so it bounds the search from above only softly: the search bisects below it,
        and if no unsaturated fail brackets the capacity, the result is a lower bound."""
        if step.passed and step.achieved < SHORTFALL * step.rate:
            step.passed = False
            step.reasons.append(f"achieved {step.achieved:,.0f} of {step.rate:,.0f} ops/s")
        bounded = self._first_fail() is not None or self._lowest_fail(True) is not None
        tried = [s for s in self.steps if s.rate == step.rate]
        self.steps.append(step)
        if step.undecided:
            step.passed = False
            if sum(1 for s in tried if s.undecided) < REPEATS and len(self.steps) < self.max_steps:
                # the window held too few operations to tell: more of them, at the same rate, decide
                # (the glue judges a re-run on every run at this rate together)
                step.reasons.append("undecided: re-run at this rate")
                return step.rate
            step.noisy = True
            step.reasons.append(f"noisy: undecided after {len(tried) + 1} runs at this rate, counted as a fail")
        for s in tried:  # the runs this one was judged with (merged): whose limit a fail at this rate is
            if s.undecided:
                s.generator_bound = step.generator_bound
        if step.stall and not step.passed:
            if not any(s.stall for s in tried) and len(self.steps) < self.max_steps:
                # a stall of the client once (a shared machine's hiccup, seen at the start of a phase: read
                # p99 57 ms at 500 ops/s with the generator at 29% of a core, the same rate then passed)
                step.reasons.append("re-run: the client stalled while not busy")
                return step.rate
            for s in (*tried, step):  # stalled again at this rate: the client is the limit here
                s.generator_bound = s.generator_bound or s.stall
        if (self.confirm and not bounded and not tried and not step.passed and not step.generator_bound
                and len(self.steps) < self.max_steps):
            # one window is one sample: a stall of the shared machine (an fsync, a preempted server)
            # can break a p99 once; a rate that first breaks the objective is tried again before the
            # search turns back on it
            step.reasons.append("re-run to confirm")
            return step.rate
        if step.passed:
            for earlier in tried:
                if not earlier.passed:
                    earlier.reasons.append("not confirmed: the re-run at this rate passed")
        best, real, soft = self.best, self._first_fail(), self._lowest_fail(True)
        uppers = [s.rate for s in (real, soft) if s is not None]
        upper = min(uppers) if uppers else None
        limit = STOP_SLO if real is not None else STOP_GENERATOR
        if step.generator_bound and step.passed and upper is None:
            self.stop_reason = STOP_GENERATOR  # still rising, and the client is at its limit
            return None
        if len(self.steps) >= self.max_steps:
            self.stop_reason = STOP_MAX_STEPS if upper is None else limit
            return None
        if upper is None:  # still rising
            if self.max_rate and step.rate >= self.max_rate:
                self.stop_reason = STOP_MAX_RATE
                return None
            nxt = step.rate * self.factor
            return min(nxt, self.max_rate) if self.max_rate else nxt
        if best is None:  # even the first rates fail: go down
            nxt = upper / self.factor
            if nxt < self.floor:
                self.stop_reason = STOP_FLOOR if real is not None else STOP_GENERATOR
                return None
            return nxt
        if self.bisections >= self.refine or upper - best.rate <= 0.05 * upper:
            self.stop_reason = limit
            return None
        self.bisections += 1
        return round((best.rate + upper) / 2, 2)

    def interrupt(self) -> None:
        if self.stop_reason is None:
            self.stop_reason = STOP_INTERRUPTED

    def result(self) -> dict:
        best = self.best
        lower = self.stop_reason in (STOP_GENERATOR, STOP_MAX_RATE, STOP_MAX_STEPS, STOP_INTERRUPTED)
        why = {
            STOP_SLO: "the next rate broke the SLO",
            STOP_GENERATOR: "the load generator saturated: " + HOW_TO_RAISE,
            STOP_MAX_RATE: "the search reached --capacity-max-rate with the SLO still met",
            STOP_MAX_STEPS: "the search used every step (--capacity-steps) with the SLO still met",
            STOP_FLOOR: f"even {self.floor:g} ops/s broke the SLO",
            STOP_INTERRUPTED: "the run was stopped during the search",
        }.get(self.stop_reason or "", "")
        saturated = [s for s in self.steps if s.generator_bound and s.achieved]
        top = max(saturated, key=lambda s: s.achieved) if saturated else None
        peak = top.achieved if top else None
        if peak and self.stop_reason == STOP_GENERATOR:
            # CPU per operation from the CPU the generator used there (on a machine it shares with the
            # target it may get less than a core): what one more core or process adds
            cpu = top.figures.get("generator_cpu_percent") or 100.0
            per_op = cpu / 100 * 1e6 / peak
            why = (f"the load generator saturated at about {peak:,.0f} ops/s (about {per_op:,.0f} µs of generator "
                   f"CPU per operation at {cpu:g}% of a core): {HOW_TO_RAISE}; each core a process has adds about "
                   f"{1e6 / per_op:,.0f} ops/s")
        upper = self._first_fail()
        return {"capacity_ops": best.rate if best else 0.0,
                "generator_peak_ops": peak,
                # where the true capacity lies: from the best rate that met the objective to the first the
                # target broke (None: not found, the result is a lower bound)
                "range_ops": [best.rate if best else 0.0, upper.rate if upper else None],
                "achieved_ops": best.achieved if best else 0.0,
                "lower_bound": bool(best) and lower,
                "stop_reason": self.stop_reason, "why_stopped": why,
                "first_failed_rate": upper.rate if upper else None,
                "steps": [{"rate": s.rate, "achieved": s.achieved, "passed": s.passed,
                           "generator_bound": s.generator_bound, "reasons": s.reasons, "noisy": s.noisy,
                           "undecided": s.undecided, **s.figures}
                          for s in sorted(self.steps, key=lambda s: s.rate)]}


def client_tail(rules, srow: dict) -> str | None:
    """Why a broken step's read tail came from the client, or None when it came from the target.
    Open loop, a read's latency from its intended start is the target's time (its service time plus
    how long past its intended start it waited for its user's previous reply) plus the generator's
    own lateness once the user was free (CPU, event-loop lag). A user held by its previous
    operation's slow reply queues behind the target, as a request waits for a pooled connection: that wait is the
    target's. When the target's time alone meets a read rule the latency broke, the generator's
    lateness made the tail."""
    total = srow.get("read_p99_ms")
    target = srow.get("target_read_p99_ms")
    if target is None:
        target = srow.get("service_read_p99_ms")
    if target is None or not total:
        return None
    for rule in rules:
        if rule.metric == "latency" and rule.op in ("read", "all") and rule.percentile == 99 and not rule.holds(total):
            if rule.holds(target):
                return (f"the tail came from the client: read p99 {total:g} ms, of which the target's time (service "
                        f"plus the wait for the user's previous reply) p99 {target:g} ms meets the objective (service "
                        f"time after the send p99 {srow.get('service_read_p99_ms') or '–'} ms); the rest is the "
                        f"generator late to send (CPU {srow.get('generator_cpu_p50_percent') or '–'}%, loop lag p99 "
                        f"{srow.get('loop_lag_p99_ms') or '–'} ms)")
    return None
