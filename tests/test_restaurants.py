"""The restaurants dataset on MySQL (real MariaDB) and DynamoDB (the emulator server), behind
the same strategies: summaries, the review transaction, seeding and --items-file loads."""

import json
import random

import pytest

from cacheswarm import restaurants, strategies
from cacheswarm.stores import dynamodb_restaurants as ddb
from cacheswarm.stores import items_file, mysql_restaurants as my

N, M = 12, 8


@pytest.fixture
def stores(namespace, target, pool, dynamodb_client):
    """Restaurants 1..N with M reviews each, seeded on both backends in this test's namespace."""
    my.seed(target, namespace, N, M)
    ddb.seed(dynamodb_client, namespace, N, M)
    yield {"mysql": my.MySQLRestaurants(pool, namespace), "dynamodb": ddb.DynamoDBRestaurants(dynamodb_client, namespace)}
    from cacheswarm.stores import dynamodb
    dynamodb.delete_table(dynamodb_client, ddb.table_name(namespace))


def star_total(doc: dict) -> int:
    return sum(doc["restaurant"][s] for s in restaurants.STARS)


def test_review_ids_sort_by_time():
    older = restaurants.ulid(1_700_000_000_000, 2**80 - 1)
    newer = restaurants.ulid(1_700_000_000_001, 0)
    assert len(older) == len(newer) == 26 and older < newer
    seeded = restaurants.reviews(3, M)
    assert [r["id"] for r in seeded] == sorted(r["id"] for r in seeded)
    assert sorted(r["created_at"] for r in seeded) == [r["created_at"] for r in seeded]
    # a review posted now is newer than every seeded one
    assert restaurants.new_review("x", random.Random(1))["id"] > seeded[-1]["id"]


@pytest.mark.parametrize("backend", ["mysql", "dynamodb"])
def test_summary_is_the_restaurant_and_its_5_newest_reviews_newest_first(stores, backend):
    doc = json.loads(stores[backend].read(5))
    expected = restaurants.restaurant(5, M)
    assert doc["restaurant"] == {f: expected[f] for f in restaurants.RESTAURANT_FIELDS}
    newest = list(reversed(restaurants.reviews(5, M)))[:5]
    assert [r["id"] for r in doc["reviews"]] == [r["id"] for r in newest]
    assert doc["reviews"][0] == {f: newest[0][f] for f in restaurants.REVIEW_FIELDS}
    assert star_total(doc) == M  # the counters match the seeded reviews
    assert stores[backend].read(N + 1) is None


def test_both_backends_cache_the_same_json(stores):
    for key in (1, 7, N):
        assert stores["mysql"].read(key) == stores["dynamodb"].read(key)


@pytest.mark.parametrize("backend", ["mysql", "dynamodb"])
def test_posting_a_review_stores_it_and_counts_its_star_in_one_transaction(stores, backend):
    store = stores[backend].for_user()
    before = json.loads(store.read(4))
    assert store.write(4) is None
    after = json.loads(store.read(4))
    new = after["reviews"][0]
    assert new["id"] not in {r["id"] for r in before["reviews"]}  # the newest review is the one just posted
    assert new["restaurant"] == before["restaurant"]["name"]
    star = restaurants.STARS[new["rating"] - 1]
    assert after["restaurant"][star] == before["restaurant"][star] + 1
    assert star_total(after) == star_total(before) + 1
    assert [r["id"] for r in after["reviews"][1:]] == [r["id"] for r in before["reviews"][:4]]



def test_a_failed_review_transaction_leaves_nothing_on_mysql(stores, namespace, target):
    """The review is INSERTed before the counter UPDATE finds no restaurant: the transaction must
    roll the INSERT back (the pool closes the connection; the server undoes it)."""
    import pymysql

    store = stores["mysql"].for_user()
    with pytest.raises(LookupError):
        store.write(N + 50)
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, password=target.password,
                           database=target.database)
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{my.table_names(namespace)[1]}` WHERE restaurant_id = %s", (N + 50,))
        assert cur.fetchone()[0] == 0
        cur.execute(f"SELECT COUNT(*) FROM `{my.table_names(namespace)[1]}`")
        assert cur.fetchone()[0] == N * M  # and no other review appeared
    assert json.loads(store.read(4))["restaurant"] == json.loads(stores["mysql"].read(4))["restaurant"]


def test_a_failed_review_transaction_leaves_nothing_on_dynamodb(stores, namespace, dynamodb_client):
    """TransactWriteItems: the review Put is cancelled with the counter Update whose restaurant is
    missing; no review item of that restaurant exists afterwards."""
    store = stores["dynamodb"].for_user()
    store.name = lambda key: "Nowhere Diner"  # a restaurant that was never seeded
    with pytest.raises(Exception) as failed:
        store.write(1)
    assert "TransactionCanceled" in repr(failed.value) or "ConditionalCheckFailed" in repr(failed.value)
    found = dynamodb_client.scan(TableName=ddb.table_name(namespace), FilterExpression="GSI1PK = :r",
                                 ExpressionAttributeValues={":r": {"S": "REST#Nowhere Diner"}}, Select="COUNT")
    assert found["Count"] == 0


@pytest.mark.parametrize("backend", ["mysql", "dynamodb"])
def test_cache_aside_invalidate_and_write_through(stores, backend, cache, raw_redis):
    store = stores[backend].for_user()
    key = store.cache_key(9)
    invalidate = strategies.make("cache-aside", store, cache, 60, "invalidate")
    assert invalidate.read(9)[0] == "miss" and invalidate.read(9)[0] == "hit"
    invalidate.write(9)
    assert raw_redis.exists(key) == 0  # invalidated
    outcome, value = invalidate.read(9)
    assert outcome == "miss" and star_total(json.loads(value)) == M + 1  # the next read shows the new review

    through = strategies.make("cache-aside", store, cache, 60, "write-through")
    outcome, value = through.write(9)
    cached = json.loads(raw_redis.get(key))
    assert cached == json.loads(value) == json.loads(store.read(9))  # the cache already holds it
    assert star_total(cached) == M + 2
    assert cached["reviews"][0]["id"] > json.loads(invalidate.read(9)[1])["reviews"][1]["id"]
    assert store.take_capacity() > 0 if backend == "dynamodb" else True


def test_mysql_seed_is_idempotent_trims_and_resets(namespace, target, pool):
    my.seed(target, namespace, 10, 6)
    store = my.MySQLRestaurants(pool, namespace)
    first = store.read(3)
    again = my.seed(target, namespace, 10, 6)
    assert again["before"] == 10 and store.seeded() == 10 and store.read(3) == first
    store.write(3)
    trimmed = my.seed(target, namespace, 7, 6)
    assert trimmed["trimmed"] == 3 and store.seeded() == 7 and store.read(8) is None
    assert store.read(3) != first  # a plain re-seed keeps what runs wrote
    my.seed(target, namespace, 7, 6, reset=True)
    assert store.read(3) == first  # --reset puts it back


def test_dynamodb_seed_is_idempotent_trims_and_reset_recreates(namespace, dynamodb_client):
    client = dynamodb_client
    table = ddb.table_name(namespace)

    def count():
        return client.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]

    ddb.seed(client, namespace, 6, 5)
    store = ddb.DynamoDBRestaurants(client, namespace)
    first = store.read(2)
    assert store.seeded() == 6
    assert count() == 6 * 6 + 2  # restaurants + reviews + the seeding record + the owner item: nothing twice
    again = ddb.seed(client, namespace, 6, 5)
    assert again["loaded"] == 0 and store.read(2) == first and count() == 6 * 6 + 2
    store.write(2)
    after_write = store.read(2)
    ddb.seed(client, namespace, 6, 5)
    assert store.read(2) == after_write  # a plain re-seed keeps what runs wrote, counters matching reviews
    trimmed = ddb.seed(client, namespace, 4, 5)
    assert trimmed["trimmed"] == 2 and store.seeded() == 4 and store.read(5) is None
    assert count() == 4 * 6 + 2 + 1  # the review a run posted to restaurant 2 stays
    ddb.seed(client, namespace, 4, 5, reset=True)
    assert store.read(2) == first and count() == 4 * 6 + 2
    from cacheswarm.stores import dynamodb
    dynamodb.delete_table(client, table)


ITEMS = [
    # low-level DynamoDB JSON, as `aws dynamodb` writes it
    {"PK": {"S": "REST#Thai Palace"}, "SK": {"S": "REST#Thai Palace"}, "GSI1PK": {"S": "REST#Thai Palace"},
     "GSI1SK": {"S": "REST#Thai Palace"}, "name": {"S": "Thai Palace"}, "cuisine": {"S": "thai"},
     "address": {"S": "1 Main St"}, "five_stars": {"N": "1"}, "four_stars": {"N": "0"}, "three_stars": {"N": "1"},
     "two_stars": {"N": "0"}, "one_stars": {"N": "0"}},
    # plain JSON
    {"PK": "REST#Bella", "SK": "REST#Bella", "GSI1PK": "REST#Bella", "GSI1SK": "REST#Bella", "name": "Bella",
     "cuisine": "italian", "address": "2 Oak Ave", "five_stars": 0, "four_stars": 1, "three_stars": 0,
     "two_stars": 0, "one_stars": 0},
    {"PK": "USER#ann", "SK": "REST#Thai Palace", "GSI1PK": "REST#Thai Palace",
     "GSI1SK": "#REVIEW#01HZ0000000000000000000001", "username": "ann", "restaurant": "Thai Palace",
     "id": "01HZ0000000000000000000001", "rating": 5, "review": "Great", "created_at": "2024-05-01T10:00:00.000Z"},
    # the original sample's REVIEW# prefix (sorts above REST#): loaded as #REVIEW#
    {"PK": "USER#bob", "SK": "REST#Thai Palace", "GSI1PK": "REST#Thai Palace",
     "GSI1SK": "REVIEW#01HZ0000000000000000000002", "username": "bob", "restaurant": "Thai Palace",
     "id": "01HZ0000000000000000000002", "rating": 3, "review": "Fine", "created_at": "2024-05-02T10:00:00.000Z"},
    {"PK": "USER#cid", "SK": "REST#Bella", "GSI1PK": "REST#Bella",
     "GSI1SK": "#REVIEW#01HZ0000000000000000000003", "username": "cid", "restaurant": "Bella",
     "id": "01HZ0000000000000000000003", "rating": 4, "review": "Nice", "created_at": "2024-05-03T10:00:00.000Z"},
]


def write_items(path):
    path.write_text("\n".join(json.dumps(i) for i in ITEMS) + "\n")
    return str(path)


def test_items_file_loads_the_same_summaries_on_both_backends(namespace, target, pool, dynamodb_client, tmp_path):
    items = items_file.read(write_items(tmp_path / "items.jsonl"))
    assert items[3]["GSI1SK"] == {"S": "#REVIEW#01HZ0000000000000000000002"}
    assert my.load_items(target, namespace, items)["rows"] == 2
    assert ddb.load_items(dynamodb_client, namespace, items)["rows"] == 2
    mysql, dyn = my.MySQLRestaurants(pool, namespace), ddb.DynamoDBRestaurants(dynamodb_client, namespace)
    assert mysql.seeded() == dyn.seeded() == 2  # restaurants are keys 1..n in file order
    thai = json.loads(mysql.read(1))
    assert thai["restaurant"]["name"] == "Thai Palace" and thai["restaurant"]["five_stars"] == 1
    assert [r["username"] for r in thai["reviews"]] == ["bob", "ann"]  # newest first
    assert json.loads(mysql.read(2))["reviews"][0]["username"] == "cid"
    assert mysql.read(1) == dyn.read(1) and mysql.read(2) == dyn.read(2)
    # loading again changes nothing (idempotent)
    my.load_items(target, namespace, items)
    ddb.load_items(dynamodb_client, namespace, items)
    assert mysql.read(1) == dyn.read(1) == json.dumps(thai, separators=(",", ":")).encode()
    dyn.write(1)  # runs work on loaded data too
    assert star_total(json.loads(dyn.read(1))) == 3
    from cacheswarm.stores import dynamodb
    dynamodb.delete_table(dynamodb_client, ddb.table_name(namespace))


def test_items_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"PK": {"S": "REST#a"}, "SK": {"S": "REST#a"}}\n{not json}\n')
    with pytest.raises(items_file.ItemsFileError, match=r"bad.jsonl:2 is not JSON"):
        items_file.read(str(bad))
    bad.write_text('{"name": "no keys"}\n')
    with pytest.raises(items_file.ItemsFileError, match="PK and SK"):
        items_file.read(str(bad))


def test_an_items_file_too_big_for_the_seeding_record_is_refused_before_writing(namespace, dynamodb_client):
    from cacheswarm.stores import dynamodb

    long_name = "R" * 200
    items = [{"PK": {"S": f"REST#{long_name}{i}"}, "SK": {"S": f"REST#{long_name}{i}"}, "name": {"S": f"{long_name}{i}"}}
             for i in range(2000)]
    with pytest.raises(dynamodb.DynamoDBError, match="--items-file"):
        ddb.load_items(dynamodb_client, namespace, items)
    assert dynamodb.table_status(dynamodb_client, ddb.table_name(namespace)) is None  # nothing written


@pytest.mark.parametrize("backend", ["mysql", "dynamodb"])
def test_changing_reviews_per_restaurant_needs_reset(backend, namespace, target, pool, dynamodb_client):
    from cacheswarm.options import BadInput
    from cacheswarm.stores import dynamodb

    if backend == "mysql":
        def seed(m, reset=False):
            return my.seed(target, namespace, 5, m, reset=reset)
        store = my.MySQLRestaurants(pool, namespace)
    else:
        def seed(m, reset=False):
            return ddb.seed(dynamodb_client, namespace, 5, m, reset=reset)
        store = ddb.DynamoDBRestaurants(dynamodb_client, namespace)
    try:
        seed(6)
        store.for_user().write(1)  # a review posted by a run does not count as seeded
        seed(6)  # the same m again: fine
        with pytest.raises(BadInput, match="seeded with 6 reviews per restaurant.*--reset"):
            seed(8)
        assert star_total(json.loads(store.read(1))) == 7  # nothing was changed
        seed(8, reset=True)
        assert star_total(json.loads(store.read(1))) == 8
    finally:
        if backend == "dynamodb":
            dynamodb.delete_table(dynamodb_client, ddb.table_name(namespace))


def test_a_users_restaurants_store_reads_from_the_replica_its_process_store_reads_from(namespace, target, pool):
    """for_user() gives each user its own random review ids and keeps the read replica the runtime
    set (--mysql-reader-url): before, a user's store read restaurants from the primary."""
    from cacheswarm.stores.mysql import Pool

    my.seed(target, namespace, 3, 2)
    replica = Pool(target, 1, 5.0)  # (the same server: which pool is used is what is held)
    try:
        store = my.MySQLRestaurants(pool, namespace)
        store.reader = replica
        mine = store.for_user()
        assert mine.reader is replica and mine.pool is pool and mine.rng is not store.rng
        assert mine.read(1) == store.read(1)
    finally:
        replica.close()
