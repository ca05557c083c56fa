"""A DynamoDB global table's figures as sentences: the replication lag per region pair, the updates
lost to last-writer-wins and the regional caches' staleness (`cacheswarm global-tables`' answer), and
what a run with --dynamodb-regions adds beside its phases (`run_lines`)."""

from __future__ import annotations

import statistics

from ..catalog import PhaseKey, regional, remedy_of

REFUSED = "ReplicatedWriteConflictException"  # (stores/dynamodb_global.py counts them)


def _ms(v) -> str:
    return f"{v:,.0f} ms" if v >= 10 else f"{v:,.1f} ms"


def answer(result: dict) -> list[str]:
    """The sentences a reader acts on, in the order measured."""
    out = []
    pairs = [p for p in result.get("pairs") or [] if p.get("arrived")]
    if pairs:
        bits = []
        for p in pairs:
            lo, hi = p.get("p50_ci_ms") or (None, None)
            span = f", {_ms(lo)}–{_ms(hi)}" if lo is not None and hi is not None else ""
            bits.append(f"{p['to']} sees {p['from']}'s writes after {_ms(p['p50_ms'])} (p50{span}; max "
                        f"{_ms(p['max_ms'])})")
        how = (f" (emulated replication holding each write {result.get('replication_lag')}: not AWS's lag)"
               if result.get("emulated") else "")
        out.append("Replication: " + "; ".join(bits) + how + ".")
    c = result.get("conflicts")
    if c:
        refused = (f"; {c['refused']} were refused with {REFUSED} (multi-region strong consistency: the writer "
                   "was told)" if c.get("refused") else "")
        out.append(f"Concurrent updates: of {c['items']} items updated in {len(result['regions'])} regions at once, "
                   f"{c['lost']} of {c['writes']} updates were lost without an error (last writer wins){refused}"
                   + ("." if c.get("converged_s") is not None else
                      f"; only {c['agree']} items agree in every region after 30 s."))
    stale = {s["remedy"]: s for s in result.get("stale") or []}
    if stale:
        def window(s):
            fresh = [x for x in s["stale_s"] if x is not None]
            return f"{statistics.median(fresh):.2f} s" if fresh else "past the TTL + 1 s"
        ttl = next(iter(stale.values()))["ttl_s"]
        parts = []
        if "local" in stale:
            parts.append(f"invalidating only the writer's region leaves the others stale for {window(stale['local'])}")
        if "every-region" in stale:
            s = stale["every-region"]
            why = (f" ({s['recached_stale']} reads reloaded the old value from a replica the write had not reached)"
                   if s["recached_stale"] else "")
            parts.append(f"invalidating every region at once, {window(s)}{why}")
        if "stream" in stale:
            parts.append(f"invalidating from each region's stream, {window(stale['stream'])}")
        out.append(f"Regional caches (TTL {ttl:g} s, p50 after a write elsewhere): " + "; ".join(parts) + ".")
    return out


REMEDY_WORDS = {"local": "the writer's region only", "every-region": "every region at once",
                "stream": "each region's stream consumer"}


def run_lines(gt: dict | None, staleness: list | None = None) -> list[str]:
    """A run's global table (regions.RunRegions.summary()): the lag sentence, the updates its writes
    lost to last-writer-wins per region pair (emulated replication only: AWS does not count them), and
    with the staleness audit, the stale hits per remedy for the other regions' caches, per region."""
    if not gt:
        return []
    out = answer(gt)
    out += _remedy_line(staleness or [])
    if gt.get("probe_error"):
        out.append(f"Replication: the lag probe failed ({gt['probe_error']}).")
    elif gt.get("interrupted"):
        out.append("Replication: the run was interrupted, so neither the lag probe nor the check that the replicas "
                   "agree ran.")
    elif gt.get("pairs") and not any(p.get("arrived") for p in gt["pairs"]):
        out.append("Replication: no marker arrived in another region within 10 s.")
    for name, t in sorted((gt.get("tables") or {}).items()):
        dropped = sum(t["dropped"].values())
        where = ", ".join(f"{p.replace('->', ' → ')} {n:,}" for p, n in sorted(t["dropped"].items()) if n)
        replicated = f"{dropped:,} of {dropped + sum(t['applied'].values()):,} replicated writes arrived older than " \
                     f"the replica's copy and were dropped{' (' + where + ')' if where else ''}"
        if t.get("writes") is not None and t.get("counters_rose") is not None:
            lost = max(0, t["writes"] - t["counters_rose"])
            head = (f"Last writer wins ({name}): {lost:,} of the run's {t['writes']:,} writes are in no replica once "
                    f"replication settled (updates lost without an error); {replicated}")
        else:
            head = f"Last writer wins ({name}): {replicated}"
        agree = (f"; every replica agrees on {t['agree']:,} of {t['items']:,} items" if t.get("items") is not None
                 and t["agree"] == t["items"] else
                 f"; the replicas differ on {t['items'] - t['agree']:,} of {t['items']:,} items" if t.get("items")
                 else "")
        out.append(head + agree + (f"; {t['errors']:,} replicated writes failed" if t.get("errors") else "") + ".")
    return out


def _remedy_line(staleness: list) -> list[str]:
    """'Regional caches: ...' from the staleness audit of a global table's cache-aside phases, per remedy
    for the other regions' caches (a hit is stale when the region's replica already had a newer version)."""
    per: dict = {}  # remedy -> [(region, stale rate)]
    for v in staleness:
        key = PhaseKey.parse(v["phase"])
        region = regional(key.backend)[1]
        if region and v.get("audited_hits") and key.step is None:
            per.setdefault(remedy_of(key.strategy), []).append((region, v["stale_rate"]))
    if not per:
        return []
    parts = [f"{REMEDY_WORDS[r]}: " + ", ".join(f"{rate:.1%} in {region}" for region, rate in sorted(rows))
             for r, rows in per.items()]
    return ["Regional caches, audited hits that were stale, invalidating " + "; ".join(parts) + "."]
