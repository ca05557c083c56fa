"""Open loop: a 300 ms server stall shows in the corrected tail, not in service times."""

import json

import pytest

from .test_end_to_end import common, only_report
from .conftest import run_locust
from .helpers import fault


def test_stall_shows_in_corrected_p99_but_not_in_service_time(seeded, tmp_path, private_redis):
    url, client = private_redis
    events = {}
    staller = fault(events, [(3, "paused", lambda: client.execute_command("CLIENT", "PAUSE", 300, "ALL") and None)],
                    when=lambda: client.dbsize() >= 1000)  # the cache-only phase loaded its keys
    args = common(seeded, tmp_path / "r", phase="8s", warmup="1s", users=10)
    out = run_locust([*args, "--redis-url", url, "--strategies", "cache-only", "--read-ratio", "1.0",
                      "--target-rate", "300"], cwd=tmp_path, timeout=120)
    staller.join(timeout=5)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "paused" in events, "the stall was never injected"
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    run = doc["run"]
    assert run["model"] == "open" and run["target_rate"] == 300
    assert run["achieved_rate"] == pytest.approx(300, rel=0.1)
    assert run["late_ops"] > 20  # ~90 operations were due during the stall
    read = next(r for r in doc["rows"] if r["op"] == "read" and r["outcome"] == "all")
    assert read["model"] == "open"
    assert read["p99_ms"] > 150, read  # corrected: the stall is in the tail
    assert read["max_ms"] > 250, read
    assert read["service_p99_ms"] < 50, read  # service time: only the few in-flight calls saw it
    # the target's time counts the wait behind a user's stalled reply: the stall is the server's, and the
    # idle generator's own lateness is next to nothing (latency = target's time + the generator late)
    assert read["target_p99_ms"] >= 0.9 * read["p99_ms"], str({k: v for k, v in read.items() if "p99" in k or "max" in k})
    assert read["service_p50_ms"] < 5 and read["p50_ms"] < 5
    print(f"corrected p99 {read['p99_ms']} ms, max {read['max_ms']} ms; service p99 {read['service_p99_ms']} ms; "
          f"target's time p99 {read['target_p99_ms']} ms; "
          f"late ops {run['late_ops']}, achieved {run['achieved_rate']} ops/s")


def _service_p50_ms(tmp_path, namespace, url, users, name):
    args = common(namespace, tmp_path / name, phase="5s", warmup="1s", users=users)
    out = run_locust([*args, "--redis-url", url, "--strategies", "cache-only", "--read-ratio", "1.0",
                      "--target-rate", "2000"], cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / name) / "comparison.json").read_text())
    read = next(r for r in doc["rows"] if r["op"] == "read" and r["outcome"] == "all")
    assert doc["run"]["achieved_rate"] == pytest.approx(2000, rel=0.05)
    return read["service_p50_ms"], doc["run"]["late_ops"] / read["count"], doc["run"]["start_delay_p99_ms"]


def test_waiting_users_do_not_distort_the_others_service_time(seeded, tmp_path, private_redis):
    """Open loop at 2,000 ops/s: with several users waiting for their next start, each user's
    service time matches one user's and a bare gevent + redis-py loop's with as many greenlets at
    the same rate (users that spun with sleep(0) kept the loop from reading the others' replies:
    p50 0.08 -> 0.48 ms), and starts stay on time. A measurement-distortion check, side by side
    in one test, with a 20% + 30 µs margin on service times. Starts: the share more than 1 ms late
    at most the bare loop's twice + 10 points (sleeping right up to the start, without the 1 ms
    timer slack: 19%, against the bare loop's ~0-2%). Not the p99, nor a fixed share: a busy 2-core
    machine preempts a spinning process now and then, which made 0.1-18% of the starts of either
    loop a few ms late (p99 0.1-22 ms; no greenlet ran over 1.5 ms meanwhile)."""
    import subprocess

    from .conftest import BIN, ROOT

    def bare():
        out = subprocess.run([str(BIN / "python"), str(ROOT / "bench" / "bare_open_loop.py"), "2000", "4", "1000",
                              seeded, url, "4"], capture_output=True, text=True, timeout=60, check=True)
        service_us, _, delay_us, late = out.stdout.split()
        return int(service_us) / 1000, int(delay_us) / 1000, float(late)

    url, client = private_redis
    one, _, _ = _service_p50_ms(tmp_path, seeded, url, 1, "one")
    _, _, late_before = bare()  # the machine's bursts of preemption last seconds: the bare loop runs on both sides
    four, late_share, delay_p99 = _service_p50_ms(tmp_path, seeded, url, 4, "four")
    bare_p50_ms, bare_delay_p99_ms, late_after = bare()
    bare_late = max(late_before, late_after)
    print(f"service p50: bare {bare_p50_ms} ms, 1 user {one} ms, 4 users {four} ms; start delay p99: "
          f"bare {bare_delay_p99_ms} ms, 4 users {delay_p99} ms; starts over 1 ms late: bare {bare_late:.2%}, "
          f"4 users {late_share:.2%}")
    assert four <= 1.2 * max(one, bare_p50_ms) + 0.03
    assert late_share < 2 * bare_late + 0.10  # starts stay on time
