#!/usr/bin/env python3
"""Seed the restaurants dataset: the same code as `cacheswarm seed restaurants`, runnable on its own.

    .venv/bin/python seed/restaurants.py --restaurants 1000 --reviews-per-restaurant 20
    .venv/bin/python seed/restaurants.py --items-file seed/items.json    # the tutorial's items file shape
    .venv/bin/python seed/restaurants.py --print-items 10 > seed/items.json   # write that file (10 restaurants)

Every option of `cacheswarm seed` applies (`cacheswarm seed --help`). Restaurants 1..n and their
reviews are deterministic: the same data on every backend and every run. seed/items.json holds the
first 10 of them with 3 reviews each, one DynamoDB item per line (the restaurants source's items file).
"""

import json
import sys

from cacheswarm import restaurants
from cacheswarm.cli import main
from cacheswarm.stores.dynamodb_restaurants import restaurant_item, review_item

ITEMS_REVIEWS = 3  # reviews per restaurant in seed/items.json


def items(n: int, m: int = ITEMS_REVIEWS) -> list[dict]:
    """Restaurants 1..n with m reviews each, as the DynamoDB items `cacheswarm seed` writes."""
    out = []
    for i in range(1, n + 1):
        out.append(restaurant_item(restaurants.restaurant(i, m)))
        out += [review_item(v) for v in restaurants.reviews(i, m)]
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--print-items"]:
        for item in items(int(sys.argv[2]) if len(sys.argv) > 2 else 10):
            print(json.dumps(item, sort_keys=True))
        sys.exit(0)
    sys.exit(main(["seed", "restaurants", *sys.argv[1:]]))
