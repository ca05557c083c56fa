"""Stampedes per cache-aside phase: duplicate loads, waits for another loader, early refreshes,
and the database load's peak second against its mean (a hot key expiring shows as a spike)."""

from __future__ import annotations

from ..recorder import EVENT, MEASURED, parse_key
from ..stampede import DUPLICATE_LOAD, EARLY_REFRESH, EVENTS, LOCK_TIMEOUT, WAITED
from ..catalog import protection_of


def stampede_views(phases: list[dict], histograms: dict, timeline: dict, run: dict) -> list[dict]:
    events: dict = {}
    for key, h in histograms.items():
        k = parse_key(key)
        if k.get("kind") == EVENT and k.get("window") == MEASURED and k.get("outcome") in EVENTS:
            slot = events.setdefault(f'{k["dataset"]}/{k["backend"]}/{k["strategy"]}', dict.fromkeys(EVENTS, 0))
            slot[k["outcome"]] += h.get_total_count()
    warmup = float(run.get("warmup") or 0)
    out = []
    for p in phases:
        if not p["strategy"].startswith("cache-aside") or p.get("step") is not None:
            continue
        key = f'{p["dataset"]}/{p["backend"]}/{p["strategy"]}'
        seconds = [pt for pt in timeline.get(key, []) if pt["t"] >= warmup]
        misses = [pt.get("misses", 0) for pt in seconds]
        n = events.get(key, dict.fromkeys(EVENTS, 0))
        total = sum(misses)
        mean = total / len(misses) if misses else None
        out.append({
            "phase": key, "protection": protection_of(p["strategy"], run.get("stampede_protection", "none")),
            "ttl_s": run.get("cache_ttl"), "ttl_jitter": run.get("ttl_jitter", 0.0),
            "misses": total, "duplicate_loads": n[DUPLICATE_LOAD], "waited": n[WAITED],
            "lock_timeouts": n[LOCK_TIMEOUT], "early_refreshes": n[EARLY_REFRESH],
            "database_loads": total - n[WAITED],
            "misses_per_s_peak": max(misses) if misses else None,
            "misses_per_s_mean": round(mean, 1) if mean is not None else None,
            "peak_over_mean": round(max(misses) / mean, 2) if mean else None,
        })
    return out
