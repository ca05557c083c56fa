"""The products store on DynamoDB (the emulator server over HTTP): same JSON as MySQL, strategies unchanged."""

import json

import pytest

from cacheswarm import products, strategies
from cacheswarm.stores import dynamodb_products as ddb


@pytest.fixture
def client(dynamodb_client):
    return dynamodb_client


@pytest.fixture
def ns(namespace, dynamodb_client):
    """The test's own namespace; its DynamoDB tables are removed afterwards, pass or fail."""
    from cacheswarm.stores import dynamodb, dynamodb_restaurants

    yield namespace
    for table in (ddb.table_name(namespace), dynamodb_restaurants.table_name(namespace)):
        if dynamodb.table_status(dynamodb_client, table) is not None:
            dynamodb.delete_table(dynamodb_client, table)


def test_seed_is_deterministic_idempotent_and_trims(client, ns):
    first = ddb.seed(client, ns, 120)
    assert first["rows"] == 120
    store = ddb.DynamoDBProducts(client, ns)
    assert store.count() == (120, 120) and store.seeded() == 120
    # the same JSON the MySQL store caches for the same row
    assert store.read(77) == products.encode(products.row(77))
    ddb.seed(client, ns, 120)
    assert store.count() == (120, 120)
    trimmed = ddb.seed(client, ns, 50)
    assert trimmed["trimmed"] == 70 and store.count() == (50, 50) and store.seeded() == 50
    assert store.read(51) is None
    store.write(7)
    assert store.read(7) != products.encode(products.row(7))
    ddb.seed(client, ns, 50, reset=True)  # the table is recreated: the write is gone
    assert store.read(7) == products.encode(products.row(7)) and store.count() == (50, 50)


def test_strategies_run_unchanged_on_dynamodb(client, ns, cache, raw_redis):
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


def test_a_table_cacheswarm_did_not_create_is_refused(client, ns):
    from cacheswarm.stores import ForeignTable, dynamodb

    table = ddb.table_name(ns)
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                        BillingMode="PAY_PER_REQUEST")
    client.put_item(TableName=table, Item={"id": {"N": "1"}, "theirs": {"S": "keep me"}})
    try:
        with pytest.raises(ForeignTable, match="not created by cacheswarm"):
            ddb.seed(client, ns, 10)
        with pytest.raises(ForeignTable):
            ddb.DynamoDBProducts(client, ns).check_owned(False)
        assert client.get_item(TableName=table, Key={"id": {"N": "1"}})["Item"]["theirs"]["S"] == "keep me"
        ddb.DynamoDBProducts(client, ns).check_owned(True)  # --allow-existing-table
    finally:
        dynamodb.delete_table(client, table)
