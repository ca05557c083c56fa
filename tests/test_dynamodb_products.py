"""The products store on DynamoDB (the emulator server over HTTP): same JSON as MySQL, strategies unchanged."""

import json

import boto3
import pytest

from cacheswarm import products, strategies
from cacheswarm.emulator import DynamoDBEmulator
from cacheswarm.stores import dynamodb_products as ddb


@pytest.fixture(scope="module")
def client():
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with DynamoDBEmulator() as emu:
        yield boto3.client("dynamodb", endpoint_url=emu.endpoint, region_name="us-east-1")
    mp.undo()


def test_seed_is_deterministic_idempotent_and_trims(client):
    ns = "cswtestddbseed"
    first = ddb.seed(client, ns, 120)
    assert first["rows"] == 120
    store = ddb.DynamoDBProducts(client, ns)
    assert store.count() == (120, 120)
    # the same JSON the MySQL store caches for the same row
    assert store.read(77) == products.encode(products.row(77))
    ddb.seed(client, ns, 120)
    assert store.count() == (120, 120)
    trimmed = ddb.seed(client, ns, 50)
    assert trimmed["trimmed"] == 70 and store.count() == (50, 50)
    assert store.read(51) is None


def test_strategies_run_unchanged_on_dynamodb(client, cache, raw_redis):
    ns = "cswtestddbstrat"
    ddb.seed(client, ns, 30)
    store = ddb.DynamoDBProducts(client, ns)
    try:
        aside = strategies.make("cache-aside", store, cache, 60, "write-through")
        assert aside.read(5)[0] == "miss"
        assert aside.read(5)[0] == "hit"
        outcome, value = aside.write(5)
        assert json.loads(value)["version"] == 1
        assert raw_redis.get(store.cache_key(5)) == value
        invalidate = strategies.make("cache-aside", store, cache, 60, "invalidate")
        invalidate.write(5)
        assert raw_redis.exists(store.cache_key(5)) == 0
        assert json.loads(invalidate.read(5)[1])["version"] == 2
        assert store.consumed > 0  # ReturnConsumedCapacity=TOTAL is summed
        loaded = dict(store.iter_values(30, batch=7))
        assert len(loaded) == 30 and loaded[store.cache_key(5)] == store.read(5)
    finally:
        cache.clear(ns)
