"""M: what merging workers' histograms costs the master. Each of W simulated workers sends, every
report interval (Locust's 3 s), the encoded histograms a worker holds: by default every series of
a 12-phase open-loop run (2 datasets x 2 backends x 3 strategies; reads and writes; hit, miss, ok;
latency, service time and start delay; plus 3 per-second series per series), realistic values.
The master decodes and adds them all (Recorder.merge, what the worker_report listener runs).

    .venv/bin/python bench/master_merge.py [--workers 100] [--intervals 3]

Prints the master's CPU per interval as a share of a core (goal < 25% at 100 workers), and checks
the merge is exact (counts and percentiles equal to one histogram that recorded every value).
"""

from __future__ import annotations

import argparse
import random
import time

from cacheswarm.recorder import LATENCY, MEASURED, SERVICE, START_DELAY, Recorder, new_histogram, series_key, timeline_key

INTERVAL_S = 3.0


def payload(seed: int, ops_per_series: int = 300) -> tuple[dict, list]:
    """One worker's report: (encoded histograms, the read-hit latencies it recorded)."""
    rng = random.Random(seed)
    rec, values = Recorder(), []
    for d in ("products", "restaurants"):
        for b in ("mysql", "dynamodb"):
            for s in ("db-only", "cache-only", "cache-aside"):
                for op, outcomes in (("read", ("hit", "miss") if s != "db-only" else ("ok",)), ("write", ("ok",))):
                    for out in outcomes:
                        for kind in (LATENCY, SERVICE, START_DELAY):
                            key = series_key(d, b, s, op, out, MEASURED, kind)
                            for _ in range(ops_per_series):
                                v = int(rng.lognormvariate(6.5 if out != "hit" else 5, 0.6))
                                rec.record(key, v)
                                if (d, b, s, op, out, kind) == ("products", "mysql", "cache-aside", "read", "hit",
                                                                LATENCY):
                                    values.append(v)
                        for second in range(3):
                            for _ in range(ops_per_series // 3):
                                rec.record(timeline_key(d, b, s, op, out, second), int(rng.lognormvariate(6, 0.6)))
    return rec.drain(), values


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--intervals", type=int, default=3)
    args = ap.parse_args()
    payloads = [payload(i) for i in range(args.workers)]
    series = len(payloads[0][0])
    size = sum(len(b) for b in payloads[0][0].values())
    master = Recorder()
    spent = []
    for _ in range(args.intervals):
        started = time.process_time()
        for encoded, _values in payloads:
            master.merge(encoded)
        spent.append(time.process_time() - started)
    # exact: the merged read-hit histogram equals one that recorded every worker's values
    truth = new_histogram()
    for _encoded, values in payloads:
        for v in values:
            truth.record_value(v)
    merged = master.histograms[series_key("products", "mysql", "cache-aside", "read", "hit", MEASURED, LATENCY)]
    exact = (merged.get_total_count() == truth.get_total_count() * args.intervals
             and all(merged.get_value_at_percentile(p) == truth.get_value_at_percentile(p) for p in (50, 99, 99.9)))
    per = max(spent)
    print(f"M   master merge, {args.workers} workers x {series} series ({size / 1024:.0f} KiB encoded each) every "
          f"{INTERVAL_S:.0f} s: {per:.2f} s CPU per interval = {100 * per / INTERVAL_S:.0f}% of a core "
          f"(goal < 25%); exact: {exact}")
    print(f"      one worker's report: {1000 * per / args.workers:.1f} ms; a core's limit at this payload: "
          f"~{int(args.workers * INTERVAL_S / per)} workers (25%: ~{int(args.workers * INTERVAL_S * 0.25 / per)})")


if __name__ == "__main__":
    main()
