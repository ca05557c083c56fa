"""The staleness audit per phase (strategy x write policy): stale-read rate and age, races."""

from __future__ import annotations

from ..recorder import MEASURED, new_histogram, parse_key
from ..staleness import AUDIT, AUDIT_ERROR, FRESH, MISS_CHECKED, RACE, STALE
from ..catalog import PhaseKey


def _ms(micros) -> float:
    return round(micros / 1000.0, 3)


def staleness_views(phases: list[dict], histograms: dict, write_policy: str, fraction: float | None) -> list[dict]:
    """One entry per cache-aside phase that audited anything (measured window only)."""
    per: dict = {}
    for key, h in histograms.items():
        k = parse_key(key)
        if k.get("kind") != AUDIT or k.get("window") != MEASURED:
            continue
        slot = per.setdefault(f'{k["dataset"]}/{k["backend"]}/{k["strategy"]}', {})
        slot.setdefault(k["outcome"], new_histogram()).add(h)
    out = []
    order = {f'{p["dataset"]}/{p["backend"]}/{p["strategy"]}': i for i, p in enumerate(phases)}
    for phase in sorted(per, key=lambda k: order.get(k, len(order))):
        slot = per[phase]
        count = {o: slot[o].get_total_count() if o in slot else 0 for o in (FRESH, STALE, RACE, MISS_CHECKED, AUDIT_ERROR)}
        audited = count[FRESH] + count[STALE]
        stale, races = slot.get(STALE), slot.get(RACE)
        key = PhaseKey.parse(phase)
        out.append({
            "phase": phase, "strategy": key.strategy, "write_policy": key.policy(write_policy),
            "sample_fraction": fraction, "audited_hits": audited, "stale_reads": count[STALE],
            "stale_rate": round(count[STALE] / audited, 5) if audited else None,
            "stale_age_p50_ms": _ms(stale.get_value_at_percentile(50)) if stale else None,
            "stale_age_p99_ms": _ms(stale.get_value_at_percentile(99)) if stale else None,
            "stale_age_max_ms": _ms(stale.get_max_value()) if stale else None,
            "misses_checked": count[MISS_CHECKED], "races": count[RACE],
            "race_rate": round(count[RACE] / count[MISS_CHECKED], 5) if count[MISS_CHECKED] else None,
            # the key's TTL left when the race was found: the old value stays at most that long (the next
            # write of the key may remove it sooner), so an upper bound, said so in the field beside it
            "race_stale_for_p50_ms": _ms(races.get_value_at_percentile(50)) if races else None,
            "race_stale_for_is_upper_bound": True,
            "audit_errors": count[AUDIT_ERROR],
        })
    return out
