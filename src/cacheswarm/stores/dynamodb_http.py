"""The DynamoDB hot path: one JSON POST per operation, signed with SigV4, over urllib3.

A botocore call spends ~1 ms of client CPU on a GetItem here (event hooks, building the
User-Agent twice, endpoint rules, shape-driven serialising and parsing); this path spends
~0.45 ms for the same request (`make bench`, P4). Reads and writes during a run go through
it; everything else (tables, seeding, Scan, BatchGetItem) uses the boto3 client, which also
supplies this path's endpoint, region, credentials (refreshed as botocore refreshes them),
pool size, timeout and retry count. Error answers become botocore ClientErrors with the same
`response` shape, so callers (and throttling classification) see what boto3 would raise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import weakref
from datetime import datetime, timezone

import urllib3
from botocore.exceptions import ClientError

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "DynamoDB_20120810."
RETRYABLE = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                       "InternalServerError", "ServiceUnavailable"})
_paths: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def for_client(client) -> "DynamoDBHTTP":
    """The hot path of a boto3 DynamoDB client (one per client, shared by its users)."""
    path = _paths.get(client)
    if path is None:
        path = _paths[client] = DynamoDBHTTP(client)
    return path


def close(client) -> None:
    """Close the hot path's connections of a client (if it has one)."""
    path = _paths.pop(client, None)
    if path is not None:
        path.pool.close()


class DynamoDBHTTP:
    def __init__(self, client):
        config = client.meta.config
        self.region = client.meta.region_name
        self.credentials = client._get_credentials()  # botocore's own (refreshable) credentials object
        url = urllib3.util.parse_url(client.meta.endpoint_url)
        default_port = 443 if url.scheme == "https" else 80
        self.host = url.host if url.port in (None, default_port) else f"{url.host}:{url.port}"
        timeout = urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout)
        kwargs = dict(maxsize=config.max_pool_connections, timeout=timeout, retries=False, block=False)
        if url.scheme == "https":  # verified against the CA bundle botocore itself uses
            from botocore.httpsession import get_cert_path

            self.pool = urllib3.HTTPSConnectionPool(url.host, url.port or default_port, cert_reqs="CERT_REQUIRED",
                                                    ca_certs=get_cert_path(True), **kwargs)
        else:
            self.pool = urllib3.HTTPConnectionPool(url.host, url.port or default_port, **kwargs)
        self.retries = max(0, int((config.retries or {}).get("total_max_attempts", 1)) - 1)
        self._key_scope = (None, None)  # (day, access key) the cached signing key is for
        self._key = b""

    def _signing_key(self, day: str, secret: str, access_key: str) -> bytes:
        if self._key_scope != (day, access_key):
            k = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, "dynamodb", "aws4_request"):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            self._key_scope, self._key = (day, access_key), k
        return self._key

    def headers(self, target: str, body: bytes, now: datetime | None = None) -> dict:
        """The request's headers, signed (AWS Signature Version 4)."""
        creds = self.credentials.get_frozen_credentials()
        amz_date = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        headers = {"Content-Type": CONTENT_TYPE, "Host": self.host, "X-Amz-Date": amz_date,
                   "X-Amz-Target": TARGET_PREFIX + target}
        if creds.token:
            headers["X-Amz-Security-Token"] = creds.token
        names = sorted(headers, key=str.lower)
        signed = ";".join(n.lower() for n in names)
        canonical = "\n".join(["POST", "/", "", *(f"{n.lower()}:{headers[n]}" for n in names), "", signed,
                               hashlib.sha256(body).hexdigest()])
        scope = f"{day}/{self.region}/dynamodb/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(day, creds.secret_key, creds.access_key), to_sign.encode(),
                             hashlib.sha256).hexdigest()
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}")
        return headers

    def call(self, target: str, payload: dict) -> dict:
        """POST one operation (e.g. "GetItem"); its JSON answer, or a botocore ClientError."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        attempt = 0
        while True:
            r = self.pool.urlopen("POST", "/", body=body, headers=self.headers(target, body), retries=False)
            if r.status == 200:
                return json.loads(r.data)
            error = _client_error(target, r.status, r.data)
            code = error.response["Error"]["Code"]
            if attempt >= self.retries or not (code in RETRYABLE or r.status >= 500):
                raise error
            attempt += 1
            time.sleep(random.random() * min(20.0, 0.025 * 2 ** attempt))  # full jitter, like botocore


def _client_error(target: str, status: int, data: bytes) -> ClientError:
    try:
        doc = json.loads(data)
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    code = str(doc.get("__type", "")).rsplit("#", 1)[-1] or str(status)
    message = doc.get("message") or doc.get("Message") or data[:200].decode("utf-8", "replace")
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    if "CancellationReasons" in doc:
        response["CancellationReasons"] = doc["CancellationReasons"]
    return ClientError(response, target)
