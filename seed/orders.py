#!/usr/bin/env python3
"""Seed the orders dataset (seed 002's Lab 4): the same code as `cacheswarm seed orders`, runnable on its own.

    .venv/bin/python seed/orders.py --customers 1000 --orders-per-customer 5
    .venv/bin/python seed/orders.py --backend dynamodb --dynamodb-endpoint http://127.0.0.1:8000

Every option of `cacheswarm seed` applies (`cacheswarm seed --help`). Customers 1..n and their
orders are deterministic: the same data on every backend and every run. MySQL gets `<ns>_orders`
with primary key (customer_id, order_date) and `status_index`; DynamoDB `<ns>-orders` with the same
keys and the GSI `status-index`. It ends with what the status index holds (its hot partition).
"""

import sys

from cacheswarm.cli import main

if __name__ == "__main__":
    sys.exit(main(["seed", "orders", *sys.argv[1:]]))
