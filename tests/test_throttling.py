"""Throttling is its own outcome, and the hot path signs requests as botocore does.

The emulator cannot throttle: a small HTTP server on loopback answers the way DynamoDB does
when it throttles (HTTP 400, `__type` ...#ProvisionedThroughputExceededException), so the
real client path (HTTP, error parsing, retries, classification) is exercised end to end."""

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cacheswarm.options import settings_from
from cacheswarm.phases import PhaseClock
from cacheswarm.recorder import Recorder, series_key
from cacheswarm.runtime import Runtime
from cacheswarm.stores import dynamodb, dynamodb_http, dynamodb_restaurants

from .test_end_to_end import locust_like_options

ERR = "com.amazonaws.dynamodb.v20120810#"
ITEM = {"id": {"N": "1"}, "name": {"S": "n"}, "description": {"S": "d"}, "price": {"N": "1.00"},
        "quantity": {"N": "1"}, "category": {"S": "c"}, "created_at": {"S": "2024-01-01 00:00:00"},
        "updated_at": {"S": "2024-01-01 00:00:00"}, "version": {"N": "0"}}


class FakeDynamoDB(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.targets.append(self.headers["X-Amz-Target"].split(".")[-1])
        status, doc = self.server.answers.pop(0) if self.server.answers else (500, {})
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeDynamoDB)
    srv.answers, srv.targets = [], []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def throttle(code="ProvisionedThroughputExceededException"):
    return 400, {"__type": ERR + code, "message": "Rate of requests exceeds the allowed throughput."}


def runtime(namespace, server, dataset="products", retries=0):
    settings = settings_from(locust_like_options(
        namespace, backend="dynamodb", dataset=dataset, strategies="db-only", read_ratio=1.0, warmup="0",
        dynamodb_endpoint=f"http://127.0.0.1:{server.server_address[1]}", dynamodb_retries=retries))
    rt = Runtime(settings)
    rt.keyspaces = {dataset: 10}
    return rt


def test_throttling_errors_are_counted_as_throttled_not_errors(namespace, server):
    server.answers += [throttle()] * 3 + [throttle("ThrottlingException"), throttle("RequestLimitExceeded")]
    server.answers += [(400, {"__type": ERR + "ResourceNotFoundException", "message": "no table"})]
    recorder = Recorder()
    loop = runtime(namespace, server).loop("products/dynamodb/db-only", PhaseClock(0).measure_from("x"),
                                           lambda *a: None, recorder)
    outcomes = [loop.operate(None) for _ in range(5)]  # closed loop
    loop.workload.read_ratio = 0.0  # a write: anything that is not throttling stays a plain error
    assert outcomes == ["throttled"] * 5
    outcome = loop.operate(None)
    assert outcome == "error"
    assert server.targets == ["GetItem"] * 5 + ["UpdateItem"]


def test_retries_absorb_throttling_when_asked(namespace, server):
    server.answers += [throttle(), throttle(), (200, {"Item": ITEM, "ConsumedCapacity": {"CapacityUnits": 0.5}})]
    recorder = Recorder()
    loop = runtime(namespace, server, retries=2).loop("products/dynamodb/db-only", PhaseClock(0).measure_from("y"),
                                                      lambda *a: None, recorder)
    loop.step()
    assert server.targets == ["GetItem"] * 3
    h = recorder.histograms
    assert h[series_key("products", "dynamodb", "db-only", "read", "ok")].get_total_count() == 1
    capacity = h[series_key("products", "dynamodb", "db-only", "read", "ok", kind="capacity")]
    assert capacity.get_total_count() == 1 and capacity.get_max_value() == 50  # 0.5 RCU, in hundredths


def test_a_transaction_cancelled_by_throttling_is_throttled(namespace, server):
    rt = runtime(namespace, server, "restaurants")
    cancelled = {"__type": ERR + "TransactionCanceledException", "message": "cancelled"}
    server.answers += [(400, {**cancelled, "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}]}),
                       (400, {**cancelled, "CancellationReasons": [{"Code": "ConditionalCheckFailed"}]})]
    store = dynamodb_restaurants.DynamoDBRestaurants(rt.client, namespace)
    for expected in (True, False):
        with pytest.raises(Exception) as caught:
            store.write(1)
        assert dynamodb.is_throttle(caught.value) is expected
    assert server.targets == ["TransactWriteItems"] * 2


@pytest.mark.parametrize("token", [None, "session-token"])
def test_hot_path_signs_exactly_as_botocore(namespace, server, monkeypatch, token):
    """The emulator does not check signatures; AWS does. Same request, same time: same Authorization."""
    rt = runtime(namespace, server)
    path = dynamodb_http.for_client(rt.client)
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    path.credentials = creds
    now = datetime(2026, 11, 22, 15, 4, 5, tzinfo=timezone.utc)
    body = b'{"TableName":"t","Key":{"id":{"N":"1"}}}'
    ours = path.headers("GetItem", body, now)
    request = AWSRequest(method="POST", url=rt.client.meta.endpoint_url + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.0",
                                  "X-Amz-Target": "DynamoDB_20120810.GetItem"})
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    botocore.auth.SigV4Auth(creds, "dynamodb", rt.client.meta.region_name).add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours.get("X-Amz-Security-Token") == token


def test_the_aws_hot_path_is_https_with_certificate_checks():
    client = dynamodb.make_client("aws", "eu-west-1", 0, 10, 5.0)  # nothing is sent
    path = dynamodb_http.for_client(client)
    assert client.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"
    assert path.host == "dynamodb.eu-west-1.amazonaws.com"  # the signed Host header: no default port
    assert path.pool.scheme == "https" and path.pool.cert_reqs == "CERT_REQUIRED" and path.pool.ca_certs
