"""Fixtures on the real MariaDB and Redis (127.0.0.1:3306 / 6379), in a private namespace."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest
import redis

from cacheswarm.cache import RedisCache
from cacheswarm.options import parse_mysql_url
from cacheswarm.stores import mysql, mysql_orders, mysql_products, mysql_restaurants
from cacheswarm.stores.mysql import Pool

ROOT = Path(__file__).resolve().parent.parent
MYSQL_URL = os.environ.get("CACHESWARM_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("CACHESWARM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BIN = Path(sys.executable).parent


def drop_namespace(namespace: str) -> None:
    target = parse_mysql_url(MYSQL_URL)
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, password=target.password,
                           database=target.database, autocommit=True)
    with conn, conn.cursor() as cur:
        for table in (mysql_products.table_name(namespace), *mysql_restaurants.table_names(namespace),
                      mysql_orders.table_name(namespace), mysql.probe_table(namespace)):
            cur.execute(f"DROP TABLE IF EXISTS `{table}`")
    RedisCache(REDIS_URL).clear(namespace)


@pytest.fixture
def namespace():
    """A namespace of this test's own, removed afterwards (tables and keys)."""
    ns = f"cswtest{random.randrange(16**6):06x}"
    yield ns
    drop_namespace(ns)


@pytest.fixture(scope="module")
def seeded_module(target):
    """1,000 seeded products in a namespace shared by one module's tests (that do not change them)."""
    ns = f"cswmod{random.randrange(16**6):06x}"
    mysql_products.seed(target, ns, 1000)
    yield ns
    drop_namespace(ns)


@pytest.fixture(scope="session")
def target():
    return parse_mysql_url(MYSQL_URL)


@pytest.fixture
def pool(target):
    p = Pool(target, 4, 5.0)
    yield p
    p.close()


@pytest.fixture
def cache():
    c = RedisCache(REDIS_URL, pool_size=8)
    yield c
    c.close()


@pytest.fixture
def raw_redis():
    return redis.Redis.from_url(REDIS_URL)


@pytest.fixture
def seeded(namespace, target):
    """1,000 seeded products in this test's namespace."""
    mysql_products.seed(target, namespace, 1000)
    return namespace


def run_locust(args, cwd, timeout=180, env=None):
    """Run Locust as a user would; returns CompletedProcess with text output. In `env`, None
    removes a variable."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    return subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)


def cli(*args, timeout=120, env=None, **kwargs):
    """Run `cacheswarm ARGS` as a user would; CompletedProcess with text output. `env` adds variables."""
    return subprocess.run([str(BIN / "cacheswarm"), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **kwargs)


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own on a spare loopback port."""
    from .helpers import free_port, start_redis

    port = free_port()
    proc, client = start_redis(port, tmp_path)
    yield f"redis://127.0.0.1:{port}/0", client
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def dynamodb_client():
    """A boto3 client on an emulator server process of this test session (loopback)."""
    from cacheswarm.emulator import embedded
    from cacheswarm.stores import dynamodb

    with embedded() as emu:
        yield dynamodb.make_client(emu.endpoint, "us-east-1", 0, 10, 10.0)
