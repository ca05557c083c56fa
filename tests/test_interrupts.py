"""Cut-short runs: exit code 3 (incomplete), no traceback, the partial report kept, nothing left behind."""

import glob
import json
import os
import signal
import subprocess
import tempfile
import time

import psutil
import pytest

from .conftest import BIN, ROOT, run_locust
from .test_end_to_end import common, only_report

INCOMPLETE = 3


def start_locust(args, cwd):
    log = open(cwd / "locust.log", "w+")
    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), *args],
                            cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc, cwd / "locust.log"


def wait_for_text(path, text, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in path.read_text():
            return
        assert proc.poll() is None, path.read_text()[-3000:]
        time.sleep(0.01)
    raise AssertionError(f"{text!r} never appeared: {path.read_text()[-3000:]}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_between_phases_keeps_the_report_without_traceback(seeded, tmp_path, sig):
    """The cache-only phase's preparation (loading the keyspace) is 'between phases'; Python's
    default Ctrl-C handler raised KeyboardInterrupt in whichever user greenlet ran (tracebacks,
    sometimes exit 2)."""
    proc, log = start_locust([*common(seeded, tmp_path / "r", phase="2s", warmup="0s", users=8)], tmp_path)
    wait_for_text(log, "loading 1000 keys into Redis", proc)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    output = log.read_text()
    assert proc.returncode == INCOMPLETE, output[-3000:]
    assert "Traceback" not in output
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert doc["run"]["partial"] is True
    assert doc["run"]["incomplete_reason"] == f"stopped by {sig.name}"
    assert doc["phases"][0]["strategy"] == "db-only" and doc["summary"][0]["count"] > 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_while_stopping_does_not_lose_the_report(seeded, tmp_path, sig):
    proc, log = start_locust([*common(seeded, tmp_path / "r", phase="20s", warmup="0s", users=30)], tmp_path)
    wait_for_text(log, "cacheswarm: phase 1/", proc)  # (Locust's spawn lines are filtered)
    time.sleep(1.5)
    proc.send_signal(sig)
    for _ in range(5):  # impatient: again and again while it stops and writes
        time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(sig)
    proc.wait(timeout=60)
    output = log.read_text()
    assert proc.returncode == INCOMPLETE, output[-3000:]
    assert "Traceback" not in output
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["partial"] is True and doc["summary"][0]["count"] > 0
    assert (report / "comparison.html").stat().st_size > 0


def _emulators():
    """The embedded DynamoDBs running (DynamoDB Local's launcher, or moto's server)."""
    return {p.pid for p in psutil.process_iter(["cmdline"])
            if any(m in " ".join(p.info["cmdline"] or []) for m in ("cacheswarm._emulator_server", "LoopbackDynamoDBLocal"))}


def _emulator_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "cacheswarm-dynamodb-*")))


@pytest.mark.parametrize("moment", ["starting", "seeding"])
def test_sigterm_while_the_emulator_starts_or_seeds_leaves_nothing_behind(seeded, tmp_path, moment):
    before_procs, before_dirs = _emulators(), _emulator_dirs()
    proc, log = start_locust([*common(seeded, tmp_path / "r", phase="5s", warmup="0s"), "--backend", "dynamodb",
                              "--keyspace", "1000"], tmp_path)
    if moment == "starting":
        deadline = time.time() + 60
        while time.time() < deadline and not (_emulators() - before_procs):
            time.sleep(0.01)
        assert _emulators() - before_procs, log.read_text()
    else:
        wait_for_text(log, "seeding the embedded DynamoDB emulator", proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    output = log.read_text()
    assert proc.returncode == INCOMPLETE, output[-3000:]
    assert "Traceback" not in output
    time.sleep(0.5)
    assert not (_emulators() - before_procs), "an emulator was left running"
    assert not (_emulator_dirs() - before_dirs), "the emulator's directory was left behind"
    assert not (tmp_path / "r").exists()


def test_killed_outright_the_emulator_goes_too(seeded, tmp_path):
    before_procs, before_dirs = _emulators(), _emulator_dirs()
    proc, log = start_locust([*common(seeded, tmp_path / "r", phase="5s", warmup="0s"), "--backend", "dynamodb",
                              "--keyspace", "1000"], tmp_path)
    wait_for_text(log, "seeding the embedded DynamoDB emulator", proc)
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.time() + 15
    while time.time() < deadline and ((_emulators() - before_procs) or (_emulator_dirs() - before_dirs)):
        time.sleep(0.1)
    assert not (_emulators() - before_procs) and not (_emulator_dirs() - before_dirs)


def test_failed_preparation_of_a_phase_exits_incomplete(seeded, tmp_path, private_redis):
    """Loading the keyspace for cache-only fails (Redis out of memory, no eviction): the run stops,
    keeps the db-only phase, and does not exit 0."""
    redis_url, client = private_redis
    client.set("filler", b"x" * 2_000_000)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "2mb")  # below what is used: every SET is refused
    args = [*common(seeded, tmp_path / "r", phase="2s", warmup="0s"), "--redis-url", redis_url]
    out = run_locust(args, cwd=tmp_path, timeout=120)
    assert out.returncode == INCOMPLETE, out.stderr[-3000:]
    assert "preparing the next phase failed" in out.stderr
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert doc["run"]["partial"] is True
    assert doc["run"]["incomplete_reason"].startswith("preparing products/mysql/cache-only failed")
    assert [p["strategy"] for p in doc["phases"]] == ["db-only"] and doc["summary"][0]["count"] > 0


def test_a_report_that_cannot_be_written_exits_incomplete(seeded, tmp_path):
    """The report folder is taken away mid-run (replaced by a file): the run cannot write its report
    and must not exit 0."""
    reports = tmp_path / "r"
    proc, log = start_locust([*common(seeded, reports, phase="3s", warmup="0s"), "--strategies", "db-only"],
                             tmp_path)
    wait_for_text(log, "cacheswarm: phase 1/", proc)  # (Locust's spawn lines are filtered)
    reports.mkdir(exist_ok=True)
    os.rmdir(reports) if not any(reports.iterdir()) else None
    reports.write_text("not a folder any more\n")
    proc.wait(timeout=60)
    output = log.read_text()
    assert proc.returncode == INCOMPLETE, output[-3000:]
    assert "cannot write the report" in output
