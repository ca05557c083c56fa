"""`cacheswarm global-tables`' report: the answer first (one sentence each for the lag, the lost updates
and the regional caches), then global-tables.json, .csv and a self-contained .html beside it."""

from __future__ import annotations

import csv
import io
import json
import os
import statistics

from .regions import answer
from .writers import _atomic, _env

CSV_FIELDS = ("kind", "from", "to", "remedy", "markers", "arrived", "p50_ms", "p50_ci_low_ms", "p50_ci_high_ms",
              "max_ms", "emulation_overhead_p50_ms", "items", "reads", "stale_reads", "recached_stale",
              "stale_p50_s", "stale_max_s", "never_fresh")


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
