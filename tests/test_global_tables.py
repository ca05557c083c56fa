"""Emulated DynamoDB global tables (stores/dynamodb_global.py): two DynamoDB Local servers as two
regions, the replicator between them. Held to what each test injects: the lag the replicator is
given (against a lag-0 reference measured in the same test), updates lost by construction, and no
write sent back to the region it came from."""

from __future__ import annotations

import statistics
import time

import pytest

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
        client = dynamodb.make_client(emu.endpoint, name, 0, 10, 10.0)
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
