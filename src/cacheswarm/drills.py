"""Drills: something that goes wrong in production, done on purpose in the middle of each phase that
uses the cache, and what the users saw then (report/drills.py reads the phase's per-second series).

- `cache-flush@T`: T seconds into the phase, every key of the run's namespace is removed (SCAN +
  UNLINK, the namespace only: a cache node replaced, a FLUSHALL by someone else, a cold restart).
  What cache-aside fears most: every read misses at once and goes to the database.

The master (or the one local process) acts: right before, it samples the servers ("drill" moment),
so the report can set the database's own counters after the drill beside the misses the users
counted. Capacity search steps are left alone (a step is a rate's steady state). Plain Python: the
glue runs `act` in a greenlet.
"""

from __future__ import annotations

import re
import time

from . import strategies
from .optbase import BadInput, Opt

DRILLS = ("cache-flush",)
DRILL_OPTIONS = (
    Opt("--drill", "", "do something that goes wrong in production mid-phase, in each phase that uses the cache, "
        "and report what users saw: cache-flush@T (T seconds into the phase, remove every key of the namespace: "
        "a cold cache under load); default: none"),
)
_SPEC = re.compile(r"([a-z-]+)@([0-9]+(?:\.[0-9]+)?)(s|ms)?")


def parse(value, phase_time: float, warmup: float, strategies_: tuple) -> tuple[str, float] | None:
    """'cache-flush@20s' -> ('cache-flush', 20.0), or None for no drill; BadInput naming --drill."""
    text = str(value or "").strip()
    if not text or text == "none":
        return None
    m = _SPEC.fullmatch(text)
    if m is None:
        raise BadInput("--drill", f"{text!r} is not KIND@TIME; write e.g. cache-flush@20s")
    kind, offset = m.group(1), float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    if kind not in DRILLS:
        raise BadInput("--drill", f"{kind!r} is not a drill; use one of {', '.join(DRILLS)} (e.g. cache-flush@20s)")
    if not warmup + 1 <= offset <= phase_time - 2:
        raise BadInput("--drill", f"{text!r} must act at least 1 s after the warm-up ({warmup:g}s, to measure the "
                                  f"steady state before) and 2 s before the phase ends ({phase_time:g}s, to see the "
                                  "recovery); choose a time in between or a longer --phase-time")
    if not any(strategies.STRATEGIES[s].uses_cache for s in strategies_):
        raise BadInput("--drill", "no phase uses the cache (--strategies); add cache-aside or cache-only")
    return kind, offset


def applies(drill, phase) -> bool:
    return drill is not None and phase.step is None and strategies.STRATEGIES[phase.strategy].uses_cache


def act(drill, phase, runtime, sample, sleep=time.sleep, clock=time.time) -> None:
    """Wait until the drill's time in `phase` (begun at phase.started, plan clock), then do it and
    note what was done in phase.drill. A phase that ended first is left alone."""
    kind, offset = drill
    wait = phase.started + offset - clock()
    if wait > 0:
        sleep(wait)
    if phase.ended is not None:
        return
    phase.server["drill"] = sample(phase, "drill")
    at = clock()
    t0 = time.perf_counter()
    try:
        removed = runtime.clear_cache()
    except Exception as e:  # (Redis away: the drill says so; the run goes on)
        phase.drill = {"kind": kind, "offset_s": offset, "at": round(at, 3), "error": f"{type(e).__name__}: {e}"}
        return
    phase.drill = {"kind": kind, "offset_s": offset, "at": round(at, 3), "keys_removed": removed,
                   "took_s": round(time.perf_counter() - t0, 3)}
