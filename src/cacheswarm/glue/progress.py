"""Where a run is: the running phase, n of N, and about how long is left (the log and the live tab)."""

from __future__ import annotations

import time


def line(STATE, phase, now: float | None = None) -> str:
    """'phase n/N <key> (what, length, warm-up; about T left)': the log line at a phase's start and,
    with `now`, the live tab's first row (the time left counted from then)."""
    plan_, s = STATE.plan, STATE.settings
    what = f"capacity step {phase.step + 1} at {phase.rate:,.0f} ops/s" if phase.step is not None else (
        f"{s.target_rate:,.0f} ops/s" if s.target_rate else "closed loop")
    searching = any(x.stop_reason is None for x in STATE.searches.values())
    this = s.phase_time + 1 if now is None or phase.started is None else max(0.0, phase.started + s.phase_time - now)
    left = this + (len(plan_.phases) - phase.index - 1) * (s.phase_time + 1)  # a phase, its drain and preparation
    return (f"phase {phase.index + 1}/{len(plan_.phases)}{'+' if searching else ''} {phase.base_key} ({what}, "
            f"{s.phase_time}s, first {s.warmup}s not measured; about {_duration(left)} left"
            f"{' plus the capacity steps still to come' if searching else ''})")


def running(STATE) -> str | None:
    """The live tab's progress row: the running phase's line, or None between runs and phases."""
    phase = STATE.plan.running if STATE.plan is not None and not STATE.finished else None
    return line(STATE, phase, time.time()) if phase is not None else None


def _duration(seconds: float) -> str:
    m, sec = divmod(int(seconds), 60)
    return f"{m}m{sec:02d}s" if m else f"{sec}s"
