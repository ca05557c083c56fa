"""Two runs on one namespace: the second is refused naming the first; report folders never shared."""

import json
import random
import subprocess
import time

import pytest

from cacheswarm.lease import TTL_S, lease_key

from .conftest import BIN, MYSQL_URL, REDIS_URL, ROOT, cli, run_locust
from .test_end_to_end import common, only_report


def start(args, cwd):
    return subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lease(raw_redis, namespace, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if raw_redis.get(lease_key(namespace)):
            return
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    raise AssertionError("the first run never took its lease")


def test_a_second_run_on_the_same_namespace_is_refused(seeded, tmp_path, raw_redis):
    first = start([*common(seeded, tmp_path / "a", phase="4s", warmup="0s"), "--strategies", "cache-only"], tmp_path)
    wait_for_lease(raw_redis, seeded, first)
    second = run_locust([*common(seeded, tmp_path / "b", phase="4s", warmup="0s"), "--strategies", "cache-only"],
                        cwd=tmp_path, timeout=60)
    assert second.returncode == 2, second.stderr[-2000:]
    line = [x for x in second.stderr.splitlines() if x.startswith("cacheswarm: error:")]
    assert len(line) == 1 and f"namespace '{seeded}' is in use by run 'compare'" in line[0]
    assert f"pid {first.pid}" in line[0] and "--namespace" in line[0]
    assert not (tmp_path / "b").exists()
    # cleaning a namespace in use is refused too
    clean = cli("clean", "--yes", "--namespace", seeded, "--mysql-url",
                            MYSQL_URL, "--redis-url", REDIS_URL, timeout=60)
    assert clean.returncode == 2 and "is in use by" in clean.stderr
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-3000:]
    doc = json.loads((only_report(tmp_path / "a") / "comparison.json").read_text())
    assert doc["summary"][0]["hit_ratio"] == 1.0  # nobody cleared or reloaded its keys
    assert raw_redis.get(lease_key(seeded)) is None  # released at the end
    again = run_locust([*common(seeded, tmp_path / "c", phase="2s", warmup="0s"), "--strategies", "cache-only"],
                       cwd=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr[-2000:]


def test_the_lease_of_a_killed_run_expires(seeded, tmp_path, raw_redis):
    first = start([*common(seeded, tmp_path / "a", phase="20s", warmup="0s"), "--strategies", "cache-aside"],
                  tmp_path)
    wait_for_lease(raw_redis, seeded, first)
    first.kill()
    first.communicate(timeout=30)
    ttl = raw_redis.ttl(lease_key(seeded))
    assert 0 < ttl <= TTL_S  # it goes by itself
    second = run_locust([*common(seeded, tmp_path / "b", phase="2s", warmup="0s"), "--strategies", "cache-aside"],
                        cwd=tmp_path, timeout=60)
    assert second.returncode == 2 and "lease expires within" in second.stderr
    raw_redis.delete(lease_key(seeded))


def test_db_only_runs_take_no_lease_and_runs_in_one_second_get_their_own_folders(seeded, tmp_path, raw_redis):
    """db-only never touches Redis (so it takes no lease); two such runs started together with the
    same --report-dir and --run-name write two folders, neither overwriting the other."""
    args = [*common(seeded, tmp_path / "r", phase="2s", warmup="0s"), "--strategies", "db-only"]
    procs = [start(args, tmp_path) for _ in range(2)]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    folders = sorted(d.name for d in (tmp_path / "r").iterdir())
    assert len(folders) == 2, folders
    for d in (tmp_path / "r").iterdir():
        assert json.loads((d / "comparison.json").read_text())["summary"][0]["count"] > 0


def test_a_report_directory_is_never_reused(tmp_path):
    from cacheswarm.report import new_directory

    made = [new_directory(str(tmp_path), "compare-20261123T000000Z") for _ in range(3)]
    assert [p.rsplit("/", 1)[1] for p in made] == ["compare-20261123T000000Z", "compare-20261123T000000Z-2",
                                                   "compare-20261123T000000Z-3"]


def test_a_db_only_run_that_inserts_holds_the_namespace(seeded, tmp_path, raw_redis):
    """Inserts draw their ids from a counter in Redis, so a db-only YCSB D run holds the lease too:
    a second one on the namespace would reset the counter and remove the first's rows mid-run."""
    d = ["--strategies", "db-only", "--read-ratio", "0.9", "--insert-ratio", "0.1", "--key-distribution", "latest"]
    first = start([*common(seeded, tmp_path / "a", phase="4s", warmup="0s"), *d], tmp_path)
    wait_for_lease(raw_redis, seeded, first)
    second = run_locust([*common(seeded, tmp_path / "b", phase="2s", warmup="0s"), *d], cwd=tmp_path, timeout=60)
    assert second.returncode == 2, second.stderr[-2000:]
    assert f"namespace '{seeded}' is in use by run 'compare'" in second.stderr
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-3000:]
    doc = json.loads((only_report(tmp_path / "a") / "comparison.json").read_text())
    assert "insert ids live in Redis" in doc["phases"][0]["cache_state"], doc["phases"][0]
    assert raw_redis.get(lease_key(seeded)) is None


def test_a_lease_that_expired_and_was_taken_is_neither_renewed_nor_released_by_its_first_holder(raw_redis):
    from cacheswarm.lease import NamespaceBusy, NamespaceLease, lease_key

    ns = f"cswlease{random.randrange(16**6):06x}"
    first = NamespaceLease(raw_redis, ns, "run one", ttl=30)
    first.acquire()
    try:
        with pytest.raises(NamespaceBusy, match=f"namespace '{ns}' is in use by run one"):
            NamespaceLease(raw_redis, ns, "run two").acquire()
        assert first.renew() and 25 < raw_redis.ttl(lease_key(ns)) <= 30
        raw_redis.delete(lease_key(ns))  # as if it expired while its run was stalled
        second = NamespaceLease(raw_redis, ns, "run two", ttl=30)
        second.acquire()
        assert not first.renew() and not first.held
        first.release()
        assert raw_redis.get(lease_key(ns)) == b"run two"  # the first run removed nothing of the second's
        second.release()
        assert raw_redis.get(lease_key(ns)) is None
    finally:
        raw_redis.delete(lease_key(ns))
