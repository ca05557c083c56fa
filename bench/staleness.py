"""A: what the staleness audit costs. Warm cache-aside (nearly every read a hit, so nearly every
sampled read is audited) and cache-only, one Locust process, closed loop, with
--staleness-sample 0 and 0.01 run alternately, three runs each; the median ops/s per phase.

    .venv/bin/python bench/staleness.py [namespace]   (the namespace must hold seeded products)

Target: sampling 1% costs under 2% of the throughput.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROUNDS = 3


def run(sample: str) -> dict:
    ns = sys.argv[1] if len(sys.argv) > 1 else "cacheswarm"
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), "--headless",
                              "-u", "16", "-r", "16", "--strategies", "cache-only,cache-aside", "--warm-cache",
                              "--namespace", ns, "--phase-time", "10s", "--warmup", "2s", "--report-dir", tmp,
                              "--only-summary", "--staleness-sample", sample], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"locust failed ({out.returncode}): {out.stderr[-800:]}")
        (report,) = Path(tmp).iterdir()
        doc = json.loads((report / "comparison.json").read_text())
    audited = sum(v["audited_hits"] + v["misses_checked"] for v in doc["staleness"])
    return {**{s["strategy"]: s["throughput_ops"] for s in doc["summary"]}, "audited": audited}


def main() -> None:
    results: dict = {"0": [], "0.01": []}
    for _ in range(ROUNDS):
        for sample in results:
            results[sample].append(run(sample))
    for strategy in ("cache-only", "cache-aside"):
        off = statistics.median(r[strategy] for r in results["0"])
        on = statistics.median(r[strategy] for r in results["0.01"])
        print(f"A   {strategy:<12} staleness sample 0: {off:,.0f} ops/s, 0.01: {on:,.0f} ops/s = {on / off:.3f} "
              f"(cost {100 * (1 - on / off):+.1f}%; target under 2%)")
    print(f"      reads audited per run at 0.01: {statistics.median(r['audited'] for r in results['0.01']):,.0f}")


if __name__ == "__main__":
    main()
