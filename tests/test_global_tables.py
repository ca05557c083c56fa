"""Emulated DynamoDB global tables (stores/dynamodb_global.py): two DynamoDB Local servers as two
regions, the replicator between them. Held to what each test injects: the lag the replicator is
given (against a lag-0 reference measured in the same test), updates lost by construction, and no
write sent back to the region it came from."""

from __future__ import annotations

import csv
import json
import statistics
import time

import pytest

from .conftest import cli
from .test_cli_input import one_error_line

from cacheswarm.emulator import DynamoDBLocal, find_dynamodb_local
from cacheswarm.optbase import BadInput
from cacheswarm.stores import dynamodb
from cacheswarm.stores.dynamodb_global import ORIGIN, WRITTEN, Region, Replicator, parse_lag, probe_lag, stamp

TABLE = "cacheswarm_globaltest"
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def servers():
    found = find_dynamodb_local()
    assert not isinstance(found, str), found  # `make install` fetches DynamoDB Local: it must be there
    emus = [DynamoDBLocal(*found).start() for _ in REGIONS]
    yield emus
    for emu in emus:
        emu.stop()


@pytest.fixture
def regions(servers):
    """The table, new and empty, with its stream, in each region."""
    out = []
    for name, emu in zip(REGIONS, servers):
        client = dynamodb.make_client(emu.endpoint, name, 0, 40, 10.0)
        streams = dynamodb.make_client(emu.endpoint, name, 0, 10, 10.0, service="dynamodbstreams")
        try:
            client.delete_table(TableName=TABLE)
        except client.exceptions.ResourceNotFoundException:
            pass
        client.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST",
                            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        out.append(Region(name, client, streams))
    return out


def _get(region, key):
    return region.client.get_item(TableName=TABLE, Key={"id": {"S": key}}, ConsistentRead=True).get("Item")


def _settle(rep, timeout=15.0):
    """Wait until the replicator holds nothing and a stream read brings nothing new."""
    end = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < end and quiet < 5:
        before = (sum(rep.applied.values()), sum(rep.superseded.values()), rep.pending)
        time.sleep(0.1)
        quiet = quiet + 1 if (sum(rep.applied.values()), sum(rep.superseded.values()), rep.pending) == before \
            and not rep.pending else 0
    assert quiet >= 5, "replication did not settle"


def test_the_lag_seen_in_the_other_region_is_the_injected_one(regions):
    east, west = regions
    medians = {}
    # the first round warms the emulators (its overhead was twice a warm one's: 28 against 13 ms); the
    # reference at lag 0 is measured after the 150 ms round, both warm
    for lag_s in (0.0, 0.15, 0.0):
        with Replicator(regions, TABLE, parse_lag(f"{lag_s * 1000:g}ms")) as rep:
            lags = probe_lag(east, west, TABLE, "id", count=15)
            assert None not in lags, lags
            medians[lag_s] = statistics.median(lags)
            assert not rep.errors, rep.errors[:3]
            assert rep.applied.get(("us-east-1", "eu-west-1"), 0) >= 15  # each marker, then its delete
    # the injected 150 ms, above the replicator's own overhead measured side by side at lag 0
    # (stream polling, the apply, the probe's polls): within one poll cycle and scheduling noise
    added = medians[0.15] - medians[0.0]
    assert 0.15 - 0.01 <= added <= 0.15 + 0.05, medians
    assert medians[0.15] >= 0.15


def test_concurrent_writes_converge_and_the_losers_are_counted(regions):
    east, west = regions
    n = 10
    with Replicator(regions, TABLE, parse_lag("300ms")) as rep:
        base = time.time_ns()
        for i in range(n):  # each item written in both regions within the lag: one of the two is lost
            east.client.put_item(TableName=TABLE, Item=stamp({"id": {"S": f"k{i}"}, "v": {"S": "east"}}, east.name,
                                                             base + 2 * i))
            west.client.put_item(TableName=TABLE, Item=stamp({"id": {"S": f"k{i}"}, "v": {"S": "west"}}, west.name,
                                                             base + 2 * i + (1 if i % 2 else -1)))
        # an item written only in the east, then updated there: no conflict, both writes arrive in order
        east.client.put_item(TableName=TABLE, Item=stamp({"id": {"S": "solo"}, "v": {"S": "1"}}, east.name))
        east.client.put_item(TableName=TABLE, Item=stamp({"id": {"S": "solo"}, "v": {"S": "2"}}, east.name))
        _settle(rep)
        assert not rep.errors, rep.errors[:3]
    for i in range(n):
        winner = "west" if i % 2 else "east"  # the later timestamp wins in both regions
        assert _get(east, f"k{i}")["v"]["S"] == winner and _get(west, f"k{i}")["v"]["S"] == winner, i
    assert _get(west, "solo")["v"]["S"] == "2"
    # every conflict lost exactly one update: in the region whose own write was the later one, the
    # replicated earlier write was refused
    assert sum(rep.superseded.values()) == n, rep.superseded
    assert rep.superseded.get(("us-east-1", "eu-west-1"), 0) == n // 2
    assert rep.applied.get(("us-east-1", "eu-west-1"), 0) == n - n // 2 + 2


def test_a_replicated_write_is_not_sent_back(regions):
    east, west = regions
    with Replicator(regions, TABLE, parse_lag("0ms")) as rep:
        for i in range(5):
            east.client.put_item(TableName=TABLE, Item=stamp({"id": {"S": f"r{i}"}}, east.name))
        _settle(rep)
        east.client.delete_item(TableName=TABLE, Key={"id": {"S": "r0"}})
        _settle(rep)
    assert rep.applied == {("us-east-1", "eu-west-1"): 6}, rep.applied  # 5 puts and a delete, one way only
    assert not rep.superseded
    assert _get(west, "r0") is None and _get(west, "r1")[ORIGIN]["S"] == "us-east-1" and WRITTEN in _get(west, "r1")


def test_a_lag_is_a_time_or_a_range():
    assert parse_lag("40ms")() == pytest.approx(0.04)
    draws = [parse_lag("20ms..150ms")() for _ in range(200)]
    assert 0.02 <= min(draws) < 0.05 and 0.12 < max(draws) <= 0.15
    for bad in ("40", "fast", "150ms..20ms", "1ms..2ms..3ms"):
        with pytest.raises(BadInput, match="--replication-lag"):
            parse_lag(bad)


def test_with_a_drawn_lag_an_items_writes_still_arrive_in_order(regions):
    east, west = regions
    with Replicator(regions, TABLE, parse_lag("0ms..200ms")) as rep:
        for v in range(30):  # one item updated faster than the lag varies: any reordering would lose updates
            east.client.put_item(TableName=TABLE, Item=stamp({"id": {"S": "seq"}, "v": {"N": str(v)}}, east.name))
        _settle(rep)
    assert _get(west, "seq")["v"]["N"] == "29"
    assert not rep.superseded and rep.applied == {("us-east-1", "eu-west-1"): 30}, (rep.applied, rep.superseded)


def test_the_command_prints_the_lag_per_pair_and_the_lost_updates(tmp_path):
    out = cli("global-tables", "--regions", "us-east-1,eu-west-1", "--replication-lag", "100ms", "--markers", "10",
              "--conflicts", "4", "--stale-items", "2", "--cache-ttl", "600ms", "--namespace", "csw_reptest",
              "--redis-url", "us-east-1=redis://127.0.0.1:6379/0,eu-west-1=redis://127.0.0.1:6379/0",
              "--out", str(tmp_path / "r"), timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads((tmp_path / "r" / "global-tables.json").read_text())
    assert report["emulated"] and report["emulator"].startswith("DynamoDB Local") and not report["partial"]
    assert [(p["from"], p["to"]) for p in report["pairs"]] == [("us-east-1", "eu-west-1"), ("eu-west-1", "us-east-1")]
    for pair in report["pairs"]:
        assert pair["arrived"] == pair["markers"] == 10
        # the injected 100 ms above the emulation's own delay, measured at lag 0 in the same run (two medians of
        # 10 markers each: 82 ms was seen once on a busy CI machine, with an overhead of 58 ms)
        assert 0.07 <= (pair["p50_ms"] - pair["emulation_overhead_p50_ms"]) / 1000 <= 0.15, pair
        assert pair["p50_ci_ms"][0] <= pair["p50_ms"] <= pair["p50_ci_ms"][1]
    c = report["conflicts"]
    assert (c["items"], c["writes"], c["acknowledged"], c["refused"], c["agree"], c["lost"]) == (4, 8, 8, 0, 4, 4)
    assert c["converged_s"] is not None
    assert sum(report["replicator"]["superseded"].values()) == 4  # the replicas refused exactly the lost ones
    assert "us-east-1 -> eu-west-1: lag p50 " in out.stdout and "4 of 8 updates lost to last-writer-wins" in out.stdout
    stale = {r["remedy"]: r for r in report["stale"]}
    assert list(stale) == ["local", "every-region", "stream"]
    assert max(stale["stream"]["stale_s"]) < min(stale["local"]["stale_s"])  # the consumer beats the TTL
    assert "stream (each region's stream consumer invalidates its cache when the write arrives): stale for" in out.stdout
    # the answer, first in the HTML and last on the console; the same figures in the CSV
    assert report["answer"][0].startswith("Replication: eu-west-1 sees us-east-1's writes after ")
    assert "4 of 8 updates were lost without an error" in report["answer"][1]
    assert "invalidating from each region's stream" in report["answer"][2]
    assert all(line in out.stdout for line in report["answer"])
    import html as markup

    html = markup.unescape((tmp_path / "r" / "global-tables.html").read_text())
    assert html.index(report["answer"][0]) < html.index(report["answer"][2]) < html.index("Replication lag per region")
    assert "http" not in html.replace("http-equiv", "")  # self-contained
    rows = list(csv.DictReader((tmp_path / "r" / "global-tables.csv").open()))
    assert [(r["kind"], r["from"] or r["remedy"]) for r in rows] == [
        ("lag", "us-east-1"), ("lag", "eu-west-1"), ("stale", "local"), ("stale", "every-region"), ("stale", "stream")]
    assert float(rows[0]["p50_ms"]) == report["pairs"][0]["p50_ms"]


@pytest.mark.parametrize("args,needle", [
    (["--regions", "us-east-1"], "--regions"),
    (["--regions", "us-east-1,moon-base-1"], "--regions"),
    (["--regions", "us-east-1,us-east-1"], "--regions"),
    (["--regions", "us-east-1,eu-west-1", "--replication-lag", "fast"], "--replication-lag"),
    (["--regions", "us-east-1,eu-west-1", "--markers", "0"], "--markers"),
    (["--regions", "us-east-1,eu-west-1", "--conflicts", "-1"], "--conflicts"),
    (["--regions", "us-east-1,eu-west-1", "--dynamodb-endpoint", "aws"], "--table"),
    (["--regions", "us-east-1,eu-west-1", "--dynamodb-endpoint", "aws", "--table", "t", "--replication-lag", "5ms"],
     "--replication-lag"),
    (["--regions", "us-east-1,eu-west-1", "--table", "t"], "--table"),
    (["--regions", "us-east-1,eu-west-1", "--dynamodb-endpoint", "http://127.0.0.1:8000"], "--dynamodb-endpoint"),
    (["--regions", "us-east-1,eu-west-1", "--namespace", "Bad-Name"], "--namespace"),
    (["--regions", "us-east-1,eu-west-1", "--cache-ttl", "5"], "--cache-ttl"),
    (["--regions", "us-east-1,eu-west-1", "--cache-ttl", "20m"], "--cache-ttl"),
    (["--regions", "us-east-1,eu-west-1", "--stale-items", "-1"], "--stale-items"),
    (["--regions", "us-east-1,eu-west-1", "--redis-url", "http://x"], "--redis-url"),
    (["--regions", "us-east-1,eu-west-1", "--redis-url", "redis://127.0.0.1:1/0"], "--redis-url"),
    (["--regions", "us-east-1,eu-west-1", "--redis-url", "us-east-1=redis://127.0.0.1:6379/0"], "--redis-url"),
    (["--regions", "us-east-1,eu-west-1", "--redis-url", "redis://127.0.0.1:6379/0,redis://127.0.0.1:6379/1"],
     "--redis-url"),
    (["--regions", "us-east-1,eu-west-1", "--dynamodb-endpoint", "aws", "--table", "t"], "--redis-url"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, needle):
    out = cli("global-tables", *args, "--out", str(tmp_path / "r"))
    one_error_line(out, needle)
    assert not (tmp_path / "r").exists()


def _emulators() -> set[int]:
    import subprocess
    found = subprocess.run(["pgrep", "-f", "DynamoDBLocal"], capture_output=True, text=True).stdout.split()
    return {int(p) for p in found}


def test_an_interrupted_probe_keeps_what_it_measured_and_leaves_no_emulator(tmp_path):
    import signal
    import subprocess

    from .conftest import BIN

    before = _emulators()
    proc = subprocess.Popen([str(BIN / "cacheswarm"), "global-tables", "--regions", "us-east-1,eu-west-1", "--markers",
                             "2000", "--namespace", "csw_reptest", "--out", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # the first pair's markers are being written (its lag-0 calibration is done)
        if "probing us-east-1 -> eu-west-1" in line:
            break
    time.sleep(2)  # a marker takes ~0.1 s here (0.3 s on a slow machine): some are measured, most are not
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err[-2000:]
    assert "interrupted; what was measured is above" in err and "Traceback" not in err + out
    report = json.loads((tmp_path / "r" / "global-tables.json").read_text())
    pair = report["pairs"][0]
    assert report["partial"] and 1 <= pair["arrived"] <= pair["markers"] < 2000 and pair["p50_ms"] > 0, report
    assert "Partial: the probe was interrupted" in (tmp_path / "r" / "global-tables.html").read_text()
    time.sleep(1)
    assert _emulators() <= before  # both regions' servers stopped with the command


def test_the_probes_take_any_key_schema(servers):
    """A table keyed by a number and a sort key, as a user's global table may be: the probes' markers
    fit it (negative numbers, `csw-` strings), found with key_schema, and are gone afterwards."""
    from cacheswarm.stores.dynamodb_global import key_schema, probe_conflicts, probe_lag_keys

    table, out = "cacheswarm_globalnum", []
    for name, emu in zip(REGIONS, servers):
        client = dynamodb.make_client(emu.endpoint, name, 0, 10, 10.0)
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                        {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST",
                            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        out.append(Region(name, client, dynamodb.make_client(emu.endpoint, name, 0, 10, 10.0,
                                                             service="dynamodbstreams")))
    schema = key_schema(out[0].client, table)
    assert schema == [("pk", "N"), ("sk", "S")]
    import redis

    from cacheswarm.stores.dynamodb_global import probe_stale

    caches = {r.name: redis.Redis(host="127.0.0.1", port=6379) for r in out}
    with Replicator(out, table, parse_lag("20ms")) as rep:
        lags = probe_lag_keys(out[0], out[1], table, schema, 5)
        conflicts = probe_conflicts(out, table, schema, 3)
        stale = probe_stale(out, caches, table, "stream", items=1, ttl_s=2.0, prefix="csw_reptest:replication",
                            schema=tuple(schema))
        _settle(rep)
    assert stale["stale_s"][0] is not None and stale["stale_s"][0] < 1.0, stale  # the consumer, not the TTL
    assert None not in lags and min(lags) >= 0.02
    assert (conflicts["agree"], conflicts["lost"]) == (3, 3) and sum(rep.superseded.values()) == 3
    for r in out:
        assert r.client.scan(TableName=table, ConsistentRead=True)["Count"] == 0  # markers and conflict items gone
        r.client.delete_table(TableName=table)


def test_regional_caches_stay_stale_until_the_ttl_unless_the_write_arrival_invalidates_them(regions):
    """Users in eu-west-1 read through their own cache after a write in us-east-1 (replication lag
    100 ms, cache TTL 0.8 s). Invalidating only the writer's cache leaves the other region's copy until its
    TTL; invalidating every region at once does too, as the next miss reloads the old value from a replica
    the write has not reached; a stream consumer in each region invalidates when the write lands there, so
    its stale window is the replication lag (measured side by side with the lag probe)."""
    import redis

    from cacheswarm.stores.dynamodb_global import probe_stale

    caches = {r.name: redis.Redis(host="127.0.0.1", port=6379) for r in regions}
    prefix = "csw_reptest:replication"
    with Replicator(regions, TABLE, parse_lag("100ms")):
        lag = statistics.median(probe_lag(regions[0], regions[1], TABLE, "id", count=8))
        got = {remedy: probe_stale(regions, caches, TABLE, remedy, items=2, ttl_s=0.8, prefix=prefix)
               for remedy in ("local", "every-region", "stream")}
    for remedy in ("local", "every-region"):
        assert all(s is not None and 0.6 <= s <= 1.0 for s in got[remedy]["stale_s"]), got[remedy]
    assert got["local"]["recached_stale"] == 0
    assert got["every-region"]["recached_stale"] >= 2  # each item's first miss loaded the old value back
    stream = got["stream"]
    assert all(s is not None and 0.1 <= s <= lag + 0.1 for s in stream["stale_s"]), (stream, lag)
    assert stream["recached_stale"] == 0 and stream["invalidated_by_streams"] >= 2
    assert not caches["us-east-1"].keys(prefix + ":*")  # the probe's cache keys are gone


def test_a_probe_far_from_the_other_region_does_not_add_its_distance(regions, servers):
    """The probe reads eu-west-1 through a proxy that adds 60 ms each way (a 120 ms round trip, as from
    another continent): the lag it reports stays the replication's (measured side by side without the
    proxy), not the lag plus the round trip: each request counts from its middle, and a read starts every
    2 ms without waiting for the one before (sequential reads would make a round trip its resolution)."""
    from .helpers import DelayProxy

    east, west = regions
    proxy = DelayProxy(servers[1].port, 0.06)
    try:
        far = Region(west.name, dynamodb.make_client(f"http://127.0.0.1:{proxy.port}", west.name, 0, 40, 10.0), None)
        with Replicator(regions, TABLE, parse_lag("50ms")):
            probe_lag(east, west, TABLE, "id", count=5)  # warm
            near = statistics.median(probe_lag(east, west, TABLE, "id", count=10))
            away = statistics.median(probe_lag(east, far, TABLE, "id", count=10, poll_s=0.002))
            t0 = time.monotonic()
            far.client.get_item(TableName=TABLE, Key={"id": {"S": "none"}}, ConsistentRead=True)
            rtt = time.monotonic() - t0
    finally:
        proxy.stop()
    assert rtt >= 0.12  # the proxy's round trip is there
    # measured here: +5 ms; timed from the write's return to the found read's, one read at a time: +52 ms
    assert abs(away - near) <= 0.03, (near, away, rtt)
