"""A Locust run against an emulated DynamoDB global table (--dynamodb-regions): users in two regions,
each region's replica and Redis, phases and verdicts per region, the replication lag per pair and the
updates lost to last-writer-wins; checked against the Redis servers' own counts and the replicator's."""

from __future__ import annotations

import json

import pytest

from .conftest import run_locust
from .helpers import free_port, start_redis
from .test_cli_input import one_error_line

from cacheswarm.opt_regions import database, split_redis_url
from cacheswarm.optbase import BadInput
from cacheswarm.regions import stamped
from cacheswarm.stores.dynamodb_global import ORIGIN, WRITTEN

REGIONS = ("us-east-1", "eu-west-1")
USERS_PER_REGION = 2
MARKERS = 20  # regions.LAG_MARKERS: the end-of-run probe's markers per pair


def _series_total(histograms: dict, want) -> int:
    """Operations recorded in series whose parsed key `want` accepts, in every window but the timeline's."""
    from cacheswarm.recorder import Recorder

    return Recorder.from_encoded(histograms).count(want)


def _report_of(out) -> tuple[dict, dict]:
    """The run's comparison.json and its raw histograms."""
    (report,) = out.iterdir()
    hists = json.loads((report / "histograms.json").read_text())
    return json.loads((report / "comparison.json").read_text()), hists.get("histograms", hists)


@pytest.fixture
def two_caches(tmp_path):
    """A redis-server per region (ElastiCache is regional), each on its own loopback port."""
    servers = []
    for name in REGIONS:
        port = free_port()
        (tmp_path / name).mkdir()
        proc, client = start_redis(port, tmp_path / name)
        servers.append((name, port, proc, client))
    yield {name: (f"redis://127.0.0.1:{port}/0", client) for name, port, _, client in servers}
    for _, _, proc, _ in servers:
        proc.terminate()
        proc.wait(timeout=10)


def test_users_in_two_regions_use_their_own_replica_and_cache_and_every_write_replicates(tmp_path, two_caches):
    urls = ",".join(f"{name}={url}" for name, (url, _) in two_caches.items())
    out = tmp_path / "r"
    r = run_locust(["--headless", "-u", str(USERS_PER_REGION * len(REGIONS)), "-r", "50", "--backend", "dynamodb",
                    "--dataset", "products", "--strategies", "db-only,cache-aside", "--keyspace", "500",
                    "--dynamodb-regions", ",".join(REGIONS), "--replication-lag", "100ms", "--read-ratio", "0.8",
                    "--redis-url", urls, "--phase-time", "5s", "--warmup", "1s", "--namespace", "cswgtrun",
                    "--report-dir", str(out), "--staleness-sample", "0.2"], tmp_path, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    doc, hists = _report_of(out)
    phases = {s["phase"]: s for s in doc["summary"]}
    # a phase per strategy, its figures per region: both regions' users ran in it at once
    for region in REGIONS:
        for strategy in ("db-only", "cache-aside"):
            s = phases[f"products/dynamodb@{region}/{strategy}"]
            assert s["ran"] == f"products/dynamodb/{strategy}"
            assert s["count"] > 0 and s["throughput_ops"] > 0
    assert {h["backend"] for h in doc["headline"]} == {f"dynamodb@{r}" for r in REGIONS}
    assert all(h["text"].startswith(f"products on DynamoDB Local {h['backend'].split('@')[1]}:")
               for h in doc["headline"])
    # each region's Redis served its own users' reads (and their audits' GETs), no other region's: at most a
    # GET per user more (in flight when the phase stopped it, never recorded)
    for region, (_, client) in two_caches.items():
        gets = client.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
        ours = _series_total(hists, lambda k: k["backend"] == f"dynamodb@{region}" and k["strategy"] == "cache-aside"
                             and k["op"] == "read" and (k["kind"] == "latency" or k["outcome"] == "audit_get"))
        assert ours > 100
        assert 0 <= gets - ours <= USERS_PER_REGION, (region, gets, ours)
    gt = doc["run"]["global_table"]
    assert gt["emulated"] and gt["regions"] == list(REGIONS)
    # the lag the probe saw is the injected one or more (the replicator holds every write 100 ms)
    assert {(p["from"], p["to"]) for p in gt["pairs"]} == {REGIONS, REGIONS[::-1]}
    for p in gt["pairs"]:
        assert p["arrived"] == p["markers"] == MARKERS
        assert p["p50_ms"] >= 100.0
    # every write made in a region reached the other one, applied or lost to a newer write there: the users'
    # (every window), the warm-up's and the lag probe's (a put and a delete per marker); a user's write in
    # flight when its phase stopped it is applied but never recorded
    (table,) = gt["tables"].values()
    assert table["errors"] == 0
    for src, dst in (REGIONS, REGIONS[::-1]):
        users = _series_total(hists, lambda k: k["backend"] == f"dynamodb@{src}" and k["op"] == "write"
                              and k["kind"] == "latency" and k["outcome"] in ("ok", "hit", "miss"))
        warm = doc["run"]["emulator_warmup"][f"products@{src}"]["writes"]
        replicated = table["applied"].get(f"{src}->{dst}", 0) + table["dropped"].get(f"{src}->{dst}", 0)
        assert users > 20
        assert 0 <= replicated - (users + warm + 2 * MARKERS) <= 2 * USERS_PER_REGION, (src, replicated, users, warm)
    # after the run every replica holds every item alike, and the products' versions (each write ADDs 1) rose
    # by the writes that survived: an update is lost only where a replicated write was dropped, so the lost
    # ones are no more than the dropped ones (and no fewer than none, less the writes in flight at a phase's
    # end, which the users did not count)
    assert table["agree"] == table["items"] > 500
    lost = table["writes"] - table["counters_rose"]
    assert -2 * USERS_PER_REGION * len(REGIONS) <= lost <= sum(table["dropped"].values()), table
    console = r.stdout + r.stderr
    assert "Replication: eu-west-1 sees us-east-1's writes after" in console
    assert f"Last writer wins (cswgtrun-products): {max(0, lost):,} of the run's {table['writes']:,} writes" in console
    assert f"every replica agrees on {table['items']:,} of {table['items']:,} items" in console
    html = (next(out.iterdir()) / "comparison.html").read_text()
    assert 'id="global-table"' in html and "emulated replication holding each write 100ms" in html


def test_a_users_write_carries_its_region_and_time():
    put = stamped("PutItem", {"TableName": "t", "Item": {"id": {"N": "1"}}}, "eu-west-1", now_ns=7)
    assert put["Item"][ORIGIN] == {"S": "eu-west-1"} and put["Item"][WRITTEN] == {"N": "7"}
    upd = {"TableName": "t", "Key": {"id": {"N": "1"}}, "UpdateExpression": "SET price = :p ADD version :one",
           "ExpressionAttributeValues": {":p": {"N": "1"}, ":one": {"N": "1"}}}
    got = stamped("UpdateItem", upd, "us-east-1", now_ns=9)
    assert got["UpdateExpression"] == f"SET {WRITTEN} = :csw_w, {ORIGIN} = :csw_o, price = :p ADD version :one"
    assert got["ExpressionAttributeValues"][":csw_o"] == {"S": "us-east-1"}
    assert "csw_w" not in json.dumps(upd)  # the caller's payload is left as it was
    add_only = stamped("UpdateItem", {"UpdateExpression": "ADD stars :one"}, "us-east-1", now_ns=9)
    assert add_only["UpdateExpression"] == f"SET {WRITTEN} = :csw_w, {ORIGIN} = :csw_o ADD stars :one"
    tx = stamped("TransactWriteItems", {"TransactItems": [{"Put": {"Item": {"pk": {"S": "a"}}}},
                                                          {"Update": {"UpdateExpression": "ADD n :one"}}]}, "x", 1)
    assert tx["TransactItems"][0]["Put"]["Item"][ORIGIN] == {"S": "x"}
    assert tx["TransactItems"][1]["Update"]["UpdateExpression"].startswith(f"SET {WRITTEN}")


def test_one_redis_url_gives_each_region_a_database_of_its_own():
    class NS:
        redis_url = "us-east-1=redis://a:1/0,eu-west-1=rediss://b:2/3"
    assert split_redis_url(NS) == ("redis://a:1/0", {"us-east-1": "redis://a:1/0", "eu-west-1": "rediss://b:2/3"})
    assert database("redis://127.0.0.1:6379/0", 1) == "redis://127.0.0.1:6379/1"
    assert database("redis://:pw@h:6379", 2) == "redis://:pw@h:6379/2"
    with pytest.raises(BadInput, match="--redis-url"):
        database("redis://h:6379/15", 1)


@pytest.mark.parametrize("args, needle", [
    (["--backend", "mysql", "--dynamodb-regions", "us-east-1,eu-west-1"], "--dynamodb-regions: is where DynamoDB"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1"], "--dynamodb-regions: 'us-east-1': give two"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1,mars"], "'mars' is not a region name"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1,eu-west-1", "--home-region", "ap-south-1"],
     "--home-region: 'ap-south-1' is not one of"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1,eu-west-1", "--replication-lag", "soon"],
     "--replication-lag: 'soon' is not a lag"),
    (["--backend", "dynamodb", "--replication-lag", "40ms"], "--replication-lag: is for a global table's run"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1,eu-west-1", "--find-capacity", "all", "--slo",
      "read p99 < 5ms"], "--find-capacity: does not search a global table's regions yet"),
    (["--backend", "dynamodb", "--strategies", "cache-aside+stream"],
     "--strategies: cache-aside+stream is a remedy for a global table's regional caches: give --dynamodb-regions"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1,eu-west-1", "--redis-url",
      "us-east-1=redis://127.0.0.1:6379/0"], "--redis-url: give REGION=URL for each of us-east-1, eu-west-1"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1,eu-west-1", "--dynamodb-endpoint",
      "http://127.0.0.1:8000"], "--dynamodb-regions: runs on the embedded emulation"),
])
def test_bad_region_input_is_one_line_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "r"
    r = run_locust(["--headless", "-u", "1", "--phase-time", "2s", "--warmup", "0s", "--report-dir", str(out),
                    *args], tmp_path, timeout=60)
    one_error_line(r, needle)
    assert not out.exists()


def test_the_remedies_for_the_other_regions_caches_are_phases_of_one_run(tmp_path, two_caches):
    urls = ",".join(f"{name}={url}" for name, (url, _) in two_caches.items())
    out = tmp_path / "r"
    remedies = {"local": "cache-aside", "every-region": "cache-aside+every-region", "stream": "cache-aside+stream"}
    r = run_locust(["--headless", "-u", str(USERS_PER_REGION * len(REGIONS)), "-r", "50", "--backend", "dynamodb",
                    "--dataset", "products", "--strategies", ",".join(remedies.values()), "--keyspace", "500",
                    "--dynamodb-regions", ",".join(REGIONS), "--replication-lag", "200ms", "--read-ratio", "0.9",
                    "--redis-url", urls, "--phase-time", "7s", "--warmup", "1s", "--namespace", "cswgtrem",
                    "--report-dir", str(out), "--staleness-sample", "0.3"], tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    doc, hists = _report_of(out)
    stale = {(v["phase"].split("/")[1].split("@")[1], v["strategy"]): v for v in doc["staleness"]}
    for region in REGIONS:
        rate = {name: stale[(region, strategy)]["stale_rate"] for name, strategy in remedies.items()}
        # (a 7 s phase on a busy machine audited fewer than 200 once in CI)
        assert all(stale[(region, s)]["audited_hits"] > 100 for s in remedies.values()), stale
        # the writer's region only leaves the other's copy stale until that region writes the item itself;
        # every region at once leaves it stale only where a miss reloaded it before the write arrived there;
        # the stream consumer deletes it once the write has arrived
        assert rate["stream"] < rate["every-region"] < rate["local"], (region, rate)
    # each region's Redis got the DELs of its own writers, in every-region's phase every region's writers',
    # and in stream's its stream consumer's (one per write that arrived from the other region)
    invalidated = doc["run"]["global_table"]["stream_invalidated"]["products/dynamodb/cache-aside+stream"]

    def writes(region, strategy):
        return _series_total(hists, lambda k: k["backend"] == f"dynamodb@{region}" and k["op"] == "write"
                             and k["strategy"] == strategy and k["kind"] == "latency" and k["outcome"] == "ok")

    for region, (_, client) in two_caches.items():
        dels = client.info("commandstats").get("cmdstat_del", {}).get("calls", 0)
        expected = (writes(region, remedies["local"]) + sum(writes(r, remedies["every-region"]) for r in REGIONS)
                    + writes(region, remedies["stream"]) + invalidated[region])
        other = next(r for r in REGIONS if r != region)
        # (a write lost to last-writer-wins lands nowhere, the last ones arrive after the phase, and one in
        # flight when its user was stopped lands unrecorded)
        sent = writes(other, remedies["stream"])
        assert sent / 2 < invalidated[region] <= sent + USERS_PER_REGION, (region, invalidated, sent)
        assert 0 <= dels - expected <= len(REGIONS) * USERS_PER_REGION * len(remedies), (region, dels, expected)
    console = r.stdout + r.stderr
    assert "Regional caches, audited hits that were stale, invalidating the writer's region only:" in console


def test_a_workers_own_home_region_holds_over_the_masters_options(tmp_path):
    """Workers on EC2 in one region each: --home-region is the worker's own, though the master's options
    (sent with the run) replace the others. Both workers say eu-west-1 here, so no user runs in us-east-1,
    which taking the regions in turn would have given one of them."""
    import subprocess

    from .conftest import BIN, ROOT

    port = free_port()
    out = tmp_path / "r"
    base = [str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py")]
    run = ["--backend", "dynamodb", "--dataset", "products", "--strategies", "db-only", "--keyspace", "300",
           "--dynamodb-regions", ",".join(REGIONS), "--replication-lag", "20ms", "--phase-time", "4s", "--warmup",
           "1s", "--namespace", "cswgthome", "--report-dir", str(out)]
    master = subprocess.Popen([*base, "--master", "--headless", "--expect-workers", "2", "--master-bind-host",
                               "127.0.0.1", "--master-bind-port", str(port), "-u", "2", "-r", "10", *run],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers = [subprocess.Popen([*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                                 "--home-region", "eu-west-1"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        log = master.communicate(timeout=240)[0]
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
    assert master.returncode == 0, log[-3000:]
    (report,) = out.iterdir()
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["workers"] == 2
    assert {s["phase"] for s in doc["summary"]} == {"products/dynamodb@eu-west-1/db-only"}


def test_an_objective_on_dynamodb_covers_every_region_and_one_on_a_region_only_that_one():
    from cacheswarm.slo import parse_rule

    every, one = parse_rule("products/dynamodb: read p99 < 5ms"), parse_rule("dynamodb@eu-west-1: read p99 < 5ms")
    assert every.applies("products", "dynamodb@eu-west-1") and every.applies("products", "dynamodb@us-east-1")
    assert one.applies("products", "dynamodb@eu-west-1") and not one.applies("products", "dynamodb@us-east-1")
    assert not every.applies("products", "mysql")


def test_clean_also_removes_the_other_regions_caches_of_a_run_on_one_redis_url():
    import redis

    from .conftest import REDIS_URL, cli

    ns = "cswgtclean"
    other = redis.Redis.from_url(database(REDIS_URL, 1))
    other.set(f"{ns}:product:1", b"x")
    other.set("cswgtcleanother:product:1", b"kept")  # another namespace: not ours to remove
    try:
        r = cli("clean", "--namespace", ns, "--yes")
        assert r.returncode == 0, r.stderr
        assert "/1, /2" in r.stdout and other.get(f"{ns}:product:1") is None
        assert other.get("cswgtcleanother:product:1") == b"kept"
    finally:
        other.delete(f"{ns}:product:1", "cswgtcleanother:product:1")


def test_an_interrupted_run_writes_what_it_measured_without_the_end_of_run_probes(tmp_path):
    """Ctrl-C in a terminal reaches the whole process group, the emulators too: the run writes its phases,
    marked partial (exit 3), says the lag probe and the convergence check did not run, and leaves no
    DynamoDB Local behind."""
    import os
    import signal
    import subprocess
    import time

    import psutil

    from .conftest import BIN, ROOT

    out = tmp_path / "r"
    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), "--headless", "-u",
                             "4", "-r", "10", "--backend", "dynamodb", "--keyspace", "300", "--strategies",
                             "db-only,cache-aside", "--dynamodb-regions", ",".join(REGIONS), "--phase-time", "60s",
                             "--warmup", "1s", "--namespace", "cswgtint", "--report-dir", str(out)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    emulators = []
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "phase 1/2" in line:
            break
    emulators = [p for p in psutil.Process(proc.pid).children(recursive=True) if "java" in p.name()]
    assert len(emulators) == len(REGIONS), "".join(lines)[-2000:]
    time.sleep(4)
    os.killpg(proc.pid, signal.SIGINT)
    rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 3, rest[-3000:]
    (report,) = out.iterdir()
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["partial"] and doc["run"]["global_table"]["interrupted"]
    assert any(s["phase"] == f"products/dynamodb@{r}/db-only" and s["count"] > 0 for s in doc["summary"] for r in REGIONS)
    assert "the run was interrupted, so neither the lag probe nor the check that the replicas agree ran" in rest
    psutil.wait_procs(emulators, timeout=20)
    assert not [p for p in emulators if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
