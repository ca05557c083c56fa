"""`cacheswarm global-tables`' report: the answer first (one sentence each for the lag, the lost updates
and the regional caches), then global-tables.json, .csv and a self-contained .html beside it."""

from __future__ import annotations

import csv
import io
import json
import os
import statistics

from .writers import _atomic, _env

REFUSED = "ReplicatedWriteConflictException"  # (stores/dynamodb_global.py counts them)

CSV_FIELDS = ("kind", "from", "to", "remedy", "markers", "arrived", "p50_ms", "p50_ci_low_ms", "p50_ci_high_ms",
              "max_ms", "emulation_overhead_p50_ms", "items", "reads", "stale_reads", "recached_stale",
              "stale_p50_s", "stale_max_s", "never_fresh")


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


def _csv(result: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for p in result.get("pairs") or []:
        lo, hi = p.get("p50_ci_ms") or (None, None)
        w.writerow({"kind": "lag", **p, "p50_ci_low_ms": lo, "p50_ci_high_ms": hi})
    for s in result.get("stale") or []:
        fresh = sorted(x for x in s["stale_s"] if x is not None)
        w.writerow({"kind": "stale", **s, "stale_p50_s": statistics.median(fresh) if fresh else None,
                    "stale_max_s": fresh[-1] if fresh else None, "never_fresh": len(s["stale_s"]) - len(fresh)})
    return buf.getvalue()


def write(directory: str, result: dict) -> str:
    """global-tables.json, .csv and .html in `directory` (made if missing); -> the HTML's path."""
    os.makedirs(directory, exist_ok=True)
    result = {**result, "answer": answer(result)}
    _atomic(os.path.join(directory, "global-tables.json"), json.dumps(result, indent=2))
    _atomic(os.path.join(directory, "global-tables.csv"), _csv(result))
    page = os.path.join(directory, "global-tables.html")
    _atomic(page, _env.get_template("global-tables.html.j2").render(r=result, csv_fields=CSV_FIELDS))
    return page
