"""DynamoDB figures for bench/run.py (P3, P4), against the embedded emulator.

P3  products seeding (cacheswarm's parallel BatchWriteItem, items generated on the fly) vs the
    emulator's ceiling: a bare loop of the same BatchWriteItem calls with every request built
    beforehand, same thread count. Goal >= 0.9.
P4  client CPU per GetItem: cacheswarm's read (hot path + the cached JSON) vs the default
    boto3 usage (`boto3.client("dynamodb").get_item`). Goal <= 0.6.
"""

from __future__ import annotations

import os
import time

ITEMS = 20_000
THREADS = 8


def _ceiling(client, table: str, n: int) -> float:
    from cacheswarm import products
    from cacheswarm.stores import dynamodb, dynamodb_products

    requests = [{"PutRequest": {"Item": dynamodb_products.to_item(products.row(i))}} for i in range(1, n + 1)]
    started = time.perf_counter()
    dynamodb.batch_write(client, table, requests, THREADS)
    return n / (time.perf_counter() - started)


def p3_seeding(endpoint: str, n: int = ITEMS) -> tuple[float, float]:
    from cacheswarm.stores import dynamodb, dynamodb_products

    client = dynamodb.make_client(endpoint, "us-east-1", 5, 32, 60)
    dynamodb_products.create_table(client, "benchceiling")
    rates = []
    for _ in range(2):  # interleaved, so both see the same emulator state
        ceiling = _ceiling(client, "benchceiling-products", n)
        started = time.perf_counter()
        dynamodb_products.seed(client, "benchseed", n, parallel=THREADS)
        rates.append((n / (time.perf_counter() - started), ceiling))
    return max(r[0] for r in rates), max(r[1] for r in rates)


def p4_cpu(endpoint: str, calls: int = 2000) -> tuple[float, float]:
    import boto3

    from cacheswarm.stores import dynamodb, dynamodb_products

    tuned = dynamodb.make_client(endpoint, "us-east-1", 0, 10, 30)
    dynamodb_products.seed(tuned, "benchcpu", 100)
    store = dynamodb_products.DynamoDBProducts(tuned, "benchcpu")
    default = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
    key = {"id": {"N": "7"}}

    def per_call(fn) -> float:
        for _ in range(100):
            fn()
        t = time.process_time()  # this process only: the emulator's CPU is another process's
        for _ in range(calls):
            fn()
        return (time.process_time() - t) / calls * 1e6

    ours, theirs = [], []
    for _ in range(3):
        theirs.append(per_call(lambda: default.get_item(TableName="benchcpu-products", Key=key)))
        ours.append(per_call(lambda: store.read(7)))
    return min(ours), min(theirs)


def main() -> None:
    from cacheswarm.emulator import embedded

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    with embedded() as emu:
        ours, ceiling = p3_seeding(emu.endpoint)
        print(f"P3  DynamoDB seeding of {ITEMS:,} products into the embedded emulator: {ours:,.0f} items/s vs the "
              f"emulator's ceiling (prebuilt BatchWriteItem, {THREADS} threads) {ceiling:,.0f} items/s = "
              f"{ours / ceiling:.2f} (goal >= 0.9)")
        ours, theirs = p4_cpu(emu.endpoint)
        print(f"P4  client CPU per GetItem: cacheswarm {ours:,.0f} µs vs default boto3 {theirs:,.0f} µs = "
              f"{ours / theirs:.2f} (goal <= 0.6)")


if __name__ == "__main__":
    main()
