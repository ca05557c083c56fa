#!/usr/bin/env python3
"""Seed the products dataset: the same code as `cacheswarm seed products`, runnable on its own.

    .venv/bin/python seed/products.py --rows 100000                      # MySQL at 127.0.0.1:3306
    .venv/bin/python seed/products.py --rows 100000 --backend postgres   # or dynamodb --dynamodb-endpoint URL

Every option of `cacheswarm seed` applies (`cacheswarm seed --help`): --namespace, --mysql-url,
--value-size, --reset, ... Ids 1..rows, deterministic: the same rows on every backend and every run.
"""

import sys

from cacheswarm.cli import main

if __name__ == "__main__":
    sys.exit(main(["seed", "products", *sys.argv[1:]]))
