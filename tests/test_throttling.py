"""Throttling is its own outcome. The emulator cannot throttle, so botocore's Stubber stands in
for DynamoDB's throttling answers (the only stubbed path in the suite)."""

from botocore.stub import Stubber

from cacheswarm.options import settings_from
from cacheswarm.phases import PhaseClock
from cacheswarm.recorder import Recorder, series_key
from cacheswarm.runtime import Runtime
from cacheswarm.stores import dynamodb, dynamodb_products, dynamodb_restaurants

from .test_end_to_end import locust_like_options


def stubbed_runtime(namespace, dataset):
    settings = settings_from(locust_like_options(namespace, backend="dynamodb", dataset=dataset,
                                                 strategies="db-only", dynamodb_endpoint="http://127.0.0.1:9",
                                                 read_ratio=0.5, warmup="0"))
    rt = Runtime(settings)  # no request is sent until the stubbed calls below
    rt.keyspaces = {dataset: 10}
    return rt


def test_throttling_errors_are_counted_as_throttled_not_errors(namespace):
    rt = stubbed_runtime(namespace, "products")
    stub = Stubber(rt.client)
    for _ in range(5):
        stub.add_client_error("get_item", service_error_code="ProvisionedThroughputExceededException")
    for _ in range(5):
        stub.add_client_error("update_item", service_error_code="ThrottlingException")
    stub.add_client_error("get_item", service_error_code="ResourceNotFoundException")
    with stub:
        loop = rt.loop("products/dynamodb/db-only", PhaseClock(0).measure_from("x"), lambda *a: None, Recorder())
        loop.workload.read_ratio = 1.0
        reads = [loop.timed()[:2] for _ in range(5)]
        loop.workload.read_ratio = 0.0
        writes = [loop.timed()[:2] for _ in range(5)]
        loop.workload.read_ratio = 1.0
        other = loop.timed()[:2]
    assert reads == [("read", "throttled")] * 5
    assert writes == [("write", "throttled")] * 5
    assert other == ("read", "error")  # anything else stays a plain error


def test_a_transaction_cancelled_by_throttling_is_throttled(namespace):
    rt = stubbed_runtime(namespace, "restaurants")
    stub = Stubber(rt.client)
    stub.add_client_error("transact_write_items", service_error_code="TransactionCanceledException",
                          modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}]})
    stub.add_client_error("transact_write_items", service_error_code="TransactionCanceledException",
                          modeled_fields={"CancellationReasons": [{"Code": "ConditionalCheckFailed"}]})
    store = dynamodb_restaurants.DynamoDBRestaurants(rt.client, namespace)
    with stub:
        for expected in (True, False):
            try:
                store.write(1)
            except Exception as e:
                assert dynamodb.is_throttle(e) is expected
            else:
                raise AssertionError("the stubbed transaction did not fail")


def test_throttled_operations_are_recorded_in_their_own_series(namespace):
    rt = stubbed_runtime(namespace, "products")
    stub = Stubber(rt.client)
    stub.add_client_error("get_item", service_error_code="RequestLimitExceeded")
    stub.add_response("get_item", {"Item": dynamodb_products.to_item(
        ("1", "n", "d", "1.00", "1", "c", "2024-01-01 00:00:00", "2024-01-01 00:00:00", "0")),
        "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}})
    recorder = Recorder()
    with stub:
        loop = rt.loop("products/dynamodb/db-only", PhaseClock(0).measure_from("y"), lambda *a: None, recorder)
        loop.workload.read_ratio = 1.0
        loop.step()
        loop.step()
    h = recorder.histograms
    assert h[series_key("products", "dynamodb", "db-only", "read", "throttled")].get_total_count() == 1
    assert h[series_key("products", "dynamodb", "db-only", "read", "ok")].get_total_count() == 1
    capacity = h[series_key("products", "dynamodb", "db-only", "read", "ok", kind="capacity")]
    assert capacity.get_total_count() == 1 and capacity.get_max_value() == 50  # 0.5 RCU, in hundredths
