"""C: the capacity search on cache-only, one Locust process, vs that process's closed-loop maximum.

    .venv/bin/python bench/capacity.py [namespace]   (the namespace must hold seeded products)

Closed loop measures the most one process can push (the generator's limit with Redis this
fast); the open-loop search with a loose objective must come out consistent with it: at or a
little below it, and flagged a lower bound when the generator, not Redis, stopped it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(tmp: str, *extra) -> dict:
    ns = sys.argv[1] if len(sys.argv) > 1 else "cacheswarm"
    out = subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), "--headless", "-u", "16",
                          "-r", "16", "--strategies", "cache-only", "--namespace", ns, "--phase-time", "8s", "--warmup",
                          "2s", "--report-dir", tmp, "--only-summary", *extra], capture_output=True, text=True)
    if out.returncode not in (0, 4):
        sys.exit(f"locust failed ({out.returncode}): {out.stderr[-800:]}")
    (report,) = Path(tmp).iterdir()
    return json.loads((report / "comparison.json").read_text())


def main() -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        closed = run(a)["summary"][0]["throughput_ops"]
        doc = run(b, "--find-capacity", "cache-only", "--slo", "read p99 < 10ms", "--capacity-start",
                  str(round(closed / 8)), "--capacity-refine", "2")
    c = doc["capacity"]["products/mysql/cache-only"]
    print(f"C   cache-only, one process: capacity {'>= ' if c['lower_bound'] else ''}{c['capacity_ops']:,.0f} ops/s "
          f"({c['stop_reason']}) vs closed-loop maximum {closed:,.0f} ops/s = {c['capacity_ops'] / closed:.2f} "
          f"(consistent: <= ~1.1)")
    steps = ", ".join(f"{s['rate']:,.0f}->{s['achieved']:,.0f} p99 {s['read_p99_ms']}ms{' (gen)' if s['generator_bound'] else ''}"
                      for s in c["steps"])
    print(f"      steps: {steps}")
    for p in doc["phases"]:
        print(f"      step {p['step']}: CPU p50 {p.get('generator_cpu_p50_percent')}%, loop lag p99 {p.get('loop_lag_p99_ms')} ms")


if __name__ == "__main__":
    main()
