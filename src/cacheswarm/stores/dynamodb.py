"""DynamoDB plumbing shared by its stores: the client, the embedded emulator, tables we own,
parallel BatchWriteItem, and what counts as throttling.

One client per process, shared by every user (botocore clients are thread- and
greenlet-safe): `max_pool_connections` at least the user count so no user waits for a
connection, retries as --dynamodb-retries says (default 0, so throttling is seen, not hidden
behind backoff), and parameter validation off (client-side work on the hot path).
"""

from __future__ import annotations

import time

from ..emulator import EmulatorError, embedded
from . import FOREIGN_HINT, ForeignTable
from .dynamodb_http import for_client
from .parallel import in_threads

OWNER_TAG = {"Key": "created-by", "Value": "cacheswarm"}
OWNER_ATTR = "created_by"  # on the owner item every table we create holds
BATCH = 25  # BatchWriteItem's limit
THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                            "RequestLimitExceeded", "ThrottlingError"})
LOCAL_CREDENTIALS = {"aws_access_key_id": "cacheswarm", "aws_secret_access_key": "cacheswarm"}
_embedded = None  # this process's emulator (started by the master / local process only)


class DynamoDBError(Exception):
    """DynamoDB cannot be used; str() says why and what to do."""


def is_throttle(exc: BaseException) -> bool:
    """True for DynamoDB's throttling errors, including a transaction cancelled by throttling."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    error = response.get("Error") or {}
    if error.get("Code") in THROTTLE_CODES:
        return True
    reasons = response.get("CancellationReasons") or []
    return any((r or {}).get("Code") in THROTTLE_CODES for r in reasons)


def embedded_endpoint(startup_timeout: float = 60.0) -> str:
    """Start this process's embedded DynamoDB once (stopped at exit); its http:// endpoint."""
    global _embedded
    if _embedded is None or _embedded.proc is None or _embedded.proc.poll() is not None:
        try:
            _embedded = embedded(startup_timeout=startup_timeout)
        except EmulatorError as e:
            raise DynamoDBError(f"--dynamodb-endpoint embedded: {e}") from None
    return _embedded.endpoint


def embedded_name() -> str | None:
    """Which emulator serves this process's embedded DynamoDB ("DynamoDB Local 3.3.0", "moto 5.1.4")."""
    return _embedded.name if _embedded is not None else None


def embedded_kind() -> str | None:
    """"dynamodb-local" or "moto" (emulator.Emulator.kind), None without an embedded DynamoDB."""
    return _embedded.kind if _embedded is not None else None


def describe(endpoint: str) -> str:
    return "AWS DynamoDB" if endpoint == "aws" else f"DynamoDB at {endpoint}"


def make_client(endpoint: str, region: str, retries: int = 0, pool: int = 10, timeout: float = 5.0,
                service: str = "dynamodb"):
    """A low-level client for an http(s) endpoint (emulator, DynamoDB Local) or `aws`; `service`
    "dynamodbstreams" for the table's stream on the same endpoint."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    config = Config(max_pool_connections=max(10, pool), connect_timeout=timeout, read_timeout=timeout,
                    retries={"total_max_attempts": 1 + retries, "mode": "standard"},
                    parameter_validation=False, tcp_keepalive=True)
    try:
        session = boto3.session.Session()
        if endpoint == "aws":
            return session.client(service, region_name=region, config=config)
        # local endpoints accept any credentials: use the configured ones if any, else placeholders
        creds = {} if session.get_credentials() is not None else LOCAL_CREDENTIALS
        return session.client(service, endpoint_url=endpoint, region_name=region or "us-east-1",
                              config=config, **creds)
    except ProfileNotFound as e:
        raise DynamoDBError(f"{e}: fix AWS_PROFILE or ~/.aws/config") from None
    except BotoCoreError as e:
        raise DynamoDBError(f"cannot make a DynamoDB client for {describe(endpoint)}: {e}") from None


def check_reachable(client, endpoint: str) -> None:
    """One cheap call that proves the endpoint answers and the credentials work."""
    from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError,
                                     NoRegionError)

    try:
        client.list_tables(Limit=1)
    except NoCredentialsError:
        raise DynamoDBError("--dynamodb-endpoint aws found no AWS credentials: configure them (AWS_PROFILE, "
                            "~/.aws/credentials, an instance role) or use --dynamodb-endpoint embedded") from None
    except NoRegionError:
        raise DynamoDBError("--aws-region: DynamoDB needs a region: pass --aws-region or set AWS_REGION") from None
    except EndpointConnectionError:
        raise DynamoDBError(f"cannot reach {describe(endpoint)}: start it or fix --dynamodb-endpoint") from None
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        raise DynamoDBError(f"{describe(endpoint)} refused the request ({code}): check the credentials and "
                            "their permissions, or fix --dynamodb-endpoint") from None
    except (BotoCoreError, OSError) as e:
        raise DynamoDBError(f"cannot reach {describe(endpoint)} ({e}): start it or fix --dynamodb-endpoint") from None


def table_status(client, table: str) -> dict | None:
    """DescribeTable's Table, or None when the table does not exist."""
    try:
        return client.describe_table(TableName=table)["Table"]
    except client.exceptions.ResourceNotFoundException:
        return None


def owned(client, table: str, owner_key: dict) -> bool:
    """Ours if it holds the owner item create_table() put there (a tag would do, but DynamoDB
    Local has no tagging and AWS reads tags eventually consistently)."""
    got = client.get_item(TableName=table, Key=owner_key, ConsistentRead=True).get("Item")
    return bool(got) and got.get(OWNER_ATTR) == {"S": "cacheswarm"}


def refuse_foreign_table(client, table: str, allow_existing: bool, owner_key: dict) -> dict | None:
    desc = table_status(client, table)
    if desc is not None and not allow_existing and not owned(client, table, owner_key):
        raise ForeignTable(f"table {table} exists but was not created by cacheswarm; {FOREIGN_HINT}")
    return desc


def create_table(client, table: str, key_schema: list, attributes: list, owner_key: dict,
                 gsis: list | None = None) -> None:
    """Create an on-demand table (if missing), wait until it is active, mark it as ours."""
    kwargs = dict(TableName=table, KeySchema=key_schema, AttributeDefinitions=attributes,
                  BillingMode="PAY_PER_REQUEST")
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    try:
        desc = client.create_table(**kwargs)["TableDescription"]
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    client.put_item(TableName=table, Item={**owner_key, OWNER_ATTR: {"S": "cacheswarm"}})
    try:  # for cost allocation on AWS; DynamoDB Local has no tagging
        client.tag_resource(ResourceArn=desc["TableArn"], Tags=[OWNER_TAG])
    except Exception:
        pass


def delete_table(client, table: str) -> bool:
    """Delete a table we created; False if it was not there."""
    try:
        client.delete_table(TableName=table)
    except client.exceptions.ResourceNotFoundException:
        return False
    client.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return True


def batch_write(client, table: str, requests: list, parallel: int = 8, progress=None, build=None) -> None:
    """BatchWriteItem in chunks of 25 from `parallel` threads (over the hot path: botocore's
    per-call CPU would make the client, not the server, the limit), retrying UnprocessedItems
    with exponential backoff; progress(n) counts the requests written. With `build`, `requests`
    holds arguments of build(), which makes each chunk's requests in the worker thread (so
    generating items overlaps with other threads' waits)."""
    call = for_client(client).call
    chunks = [requests[k:k + BATCH] for k in range(0, len(requests), BATCH)]

    def work(take, done, _k: int) -> None:
        while (chunk := take()) is not None:
            if build is not None:
                chunk = [build(arg) for arg in chunk]
            pending, delay = {table: chunk}, 0.05
            while pending:
                r = call("BatchWriteItem", {"RequestItems": pending})
                pending = r.get("UnprocessedItems") or {}
                if pending:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
            done(len(chunk))

    in_threads(chunks, parallel, work, progress)


def capacity(response: dict) -> float:
    """Capacity units of a response made with ReturnConsumedCapacity=TOTAL (a list for transactions)."""
    used = response.get("ConsumedCapacity")
    if not used:
        return 0.0
    if isinstance(used, list):
        return sum(u.get("CapacityUnits", 0.0) for u in used)
    return used.get("CapacityUnits", 0.0)
