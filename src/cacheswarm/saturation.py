"""Is the load generator itself the bottleneck? CPU and event-loop lag, sampled per phase.

Each process that runs users samples, once a second, its own CPU use (psutil, % of one
core) and, continuously, how late a 10 ms timer fires (event-loop lag). Samples go into a
Recorder keyed `<phase key>|cpu` (per-mille of a core) and `<phase key>|lag` (µs), so they
travel to the master and merge like the latency histograms.
"""

from __future__ import annotations

import time

import psutil

from .recorder import Recorder

PROBE_S = 0.010
CPU_LIMIT_PERCENT = 90.0
LAG_P99_LIMIT_MS = 20.0
BUSY_PERCENT = 50.0  # loop lag counts as saturation only on a core at least this busy
FIX = ("the generator, not the server, limited these numbers: add Locust processes "
       "(--processes N) or workers, or run fewer users per process")


class Monitor:
    def __init__(self, recorder: Recorder, current_phase):
        self.recorder = recorder
        self.current_phase = current_phase  # () -> phase key or None
        self.process = psutil.Process()

    def run_cpu(self, sleep=time.sleep) -> None:
        """Forever: one CPU sample a second, attributed to the running phase."""
        self.process.cpu_percent(None)
        while True:
            sleep(1.0)
            cpu = self.process.cpu_percent(None)
            phase = self.current_phase()
            if phase:
                self.recorder.record(f"{phase}|cpu", int(cpu * 10))

    def run_lag(self, sleep=time.sleep) -> None:
        """Forever: how much later than asked a 10 ms sleep returns."""
        while True:
            t0 = time.perf_counter()
            sleep(PROBE_S)
            lag = time.perf_counter() - t0 - PROBE_S
            phase = self.current_phase()
            if phase:
                self.recorder.record(f"{phase}|lag", max(0, int(lag * 1e6)))


# a 10 ms timer a whole period late: on two cores shared with the database, preemption alone put the p99 at
# 5-6 ms in steps that met their rate with the generator at 56-77% of a core (a search stopped at 1,000 ops/s,
# 'saturated', that reached 3,876 in the run before); a generator that cannot keep up shows its lateness in
# the steps' latencies too (capacity.client_tail)
OPEN_LOOP_LAG_MS = 10.0


def verdict(recorder: Recorder, phase_key: str, open_loop: bool = False) -> dict:
    """The generator figures of one phase and whether it was generator-bound.

    Open loop, a busy CPU alone is not saturation: users waiting for their next start spin on
    gevent's idle watcher (runtime.step_open), which fills the core by design yet yields to every
    reply and timer (at 4,000 ops/s: CPU 99%, loop lag p99 0.16 ms, latencies unchanged). There the
    CPU counts only with the loop lagging too (p99 above OPEN_LOOP_LAG_MS): real work left no idle."""
    hists = recorder.histograms
    cpu, lag = hists.get(f"{phase_key}|cpu"), hists.get(f"{phase_key}|lag")
    out = {"generator_cpu_p50_percent": None, "generator_cpu_max_percent": None, "loop_lag_p99_ms": None,
           "generator_bound": False}
    if cpu is not None and cpu.get_total_count():
        out["generator_cpu_p50_percent"] = round(cpu.get_value_at_percentile(50) / 10, 1)
        out["generator_cpu_max_percent"] = round(cpu.get_max_value() / 10, 1)
    if lag is not None and lag.get_total_count():
        out["loop_lag_p99_ms"] = round(lag.get_value_at_percentile(99) / 1000, 3)
    cpu_p50, lag_p99 = out["generator_cpu_p50_percent"] or 0, out["loop_lag_p99_ms"] or 0
    lagging = lag_p99 > LAG_P99_LIMIT_MS
    reasons = []
    if cpu_p50 > CPU_LIMIT_PERCENT and not open_loop:
        reasons.append(f"CPU p50 {cpu_p50}% of a core > {CPU_LIMIT_PERCENT:.0f}%")
    elif open_loop and cpu_p50 > BUSY_PERCENT and lag_p99 > OPEN_LOOP_LAG_MS:
        # on a machine shared with the target the generator may get less than a core and still be the
        # limit (seen: CPU p50 87% while MySQL took the rest, loop lag p99 14 ms, 6,619 of 8,000 ops/s)
        reasons.append(f"event-loop lag p99 {lag_p99} ms > {OPEN_LOOP_LAG_MS:.0f} ms at CPU p50 {cpu_p50}% of a core "
                       "(open loop)")
    if lagging and cpu_p50 > BUSY_PERCENT and not reasons:  # a late loop on a busy core: the generator is the limit
        reasons.append(f"event-loop lag p99 {lag_p99} ms > {LAG_P99_LIMIT_MS:.0f} ms at CPU p50 {cpu_p50}%")
    out["generator_bound"] = bool(reasons)
    out["generator_bound_reason"] = "; ".join(reasons) or None
    # a late loop on an idle core is not saturation: a call blocked the loop without yielding to gevent
    out["loop_blocked"] = (f"event-loop lag p99 {lag_p99} ms at CPU p50 {cpu_p50}%: something blocked the "
                           "event loop (a call that does not yield to gevent); latencies may include that wait"
                           if lagging and not reasons else None)
    if out["generator_bound"]:
        out["generator_fix"] = FIX
    return out
