"""`cacheswarm clean` removes this namespace's table and keys and nothing else."""

import subprocess

import pymysql

from cacheswarm.stores import mysql_products

from .conftest import MYSQL_URL, REDIS_URL, cli


def test_seed_run_and_clean_touch_only_our_namespace(seeded, target, cache, raw_redis, tmp_path):
    from .conftest import run_locust

    store_keys = [f"{seeded}:product:{i}" for i in range(1, 51)]
    for k in store_keys:
        raw_redis.set(k, b"x")
    foreign_key, foreign_table = f"{seeded}x:product:1", f"{seeded}_foreign"
    near_key = f"{seeded}_other:product:1"  # shares the prefix text, not the namespace
    raw_redis.set(foreign_key, b"keep")
    raw_redis.set(near_key, b"keep")
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, database=target.database,
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE `{foreign_table}` (id INT PRIMARY KEY, v VARCHAR(10))")
            cur.execute(f"INSERT INTO `{foreign_table}` VALUES (1, 'keep')")
            cur.execute(f"CHECKSUM TABLE `{foreign_table}`")
            checksum = cur.fetchall()
        raw_redis.set(f"{seeded}x:product:2", b"\x00binary\xff", ex=3600)
        before = {k: raw_redis.dump(k) for k in (foreign_key, near_key, f"{seeded}x:product:2")}
        seed = cli("seed", "products", "--rows", "1000", "--namespace", seeded, timeout=60)
        assert seed.returncode == 0, seed.stderr
        run = run_locust(["--headless", "-u", "3", "-r", "3", "--namespace", seeded, "--phase-time", "3s",
                          "--warmup", "1s", "--report-dir", str(tmp_path / "r"), "--warm-cache"], cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
        for k in store_keys:
            raw_redis.set(k, b"x")
        out = cli("clean", "--yes", "--namespace", seeded, "--mysql-url",
                              MYSQL_URL, "--redis-url", REDIS_URL, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "removed 1 table(s) and" in out.stdout
        assert raw_redis.exists(*store_keys) == 0
        assert raw_redis.scan(match=f"{seeded}:*", count=10000)[1] == []
        assert {k: raw_redis.dump(k) for k in before} == before  # byte-identical, TTL kept
        with conn.cursor() as cur:
            cur.execute(f"CHECKSUM TABLE `{foreign_table}`")
            assert cur.fetchall() == checksum
            cur.execute("SHOW TABLES LIKE %s", (mysql_products.table_name(seeded),))
            assert cur.fetchall() == ()
        # without a terminal and without --yes it refuses, exit 2, nothing removed
        raw_redis.set(store_keys[0], b"x")
        out = cli("clean", "--namespace", seeded, timeout=60, stdin=subprocess.DEVNULL)
        assert out.returncode == 2 and "--yes" in out.stderr
        assert raw_redis.exists(store_keys[0]) == 1
    finally:
        raw_redis.delete(foreign_key, near_key, f"{seeded}x:product:2")
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{foreign_table}`")
        conn.close()


def test_a_table_we_did_not_create_is_never_written(namespace, target, tmp_path):
    from .conftest import run_locust

    table = mysql_products.table_name(namespace)
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, database=target.database,
                           autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{table}` (id INT UNSIGNED PRIMARY KEY, note VARCHAR(20))")
        cur.execute(f"INSERT INTO `{table}` VALUES (1, 'theirs')")
        seed = cli("seed", "products", "--rows", "10", "--namespace", namespace, timeout=60)
        assert seed.returncode == 2
        assert "--allow-existing-table" in seed.stderr and "Traceback" not in seed.stderr
        run = run_locust(["--headless", "-u", "1", "--namespace", namespace, "--report-dir", str(tmp_path / "r")],
                         cwd=tmp_path, timeout=60)
        assert run.returncode == 2 and "not created by cacheswarm" in run.stderr
        clean = cli("clean", "--yes", "--namespace", namespace, timeout=60)
        assert clean.returncode == 0 and "removed 0 table(s)" in clean.stdout
        cur.execute(f"SELECT * FROM `{table}`")
        assert cur.fetchall() == ((1, "theirs"),)  # untouched by seed, run and clean


def test_a_foreign_dynamodb_table_is_byte_identical_after_seed_run_and_clean(namespace, dynamodb_client, tmp_path):
    from cacheswarm.stores import dynamodb, dynamodb_products

    from .conftest import run_locust

    endpoint = dynamodb_client.meta.endpoint_url
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    foreign = f"{namespace}-theirs"  # same endpoint, same prefix text, not ours
    dynamodb_client.create_table(TableName=foreign, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                                 BillingMode="PAY_PER_REQUEST")
    for i in range(1, 6):
        dynamodb_client.put_item(TableName=foreign, Item={"id": {"N": str(i)}, "v": {"B": bytes([i, 0, 255])}})

    def snapshot():
        return sorted(map(str, dynamodb_client.scan(TableName=foreign, ConsistentRead=True)["Items"]))

    before = snapshot()
    try:
        seed = cli("seed", "products", "--rows", "300", "--backend", "dynamodb",
                               "--dynamodb-endpoint", endpoint, "--namespace", namespace, timeout=120, env=env)
        assert seed.returncode == 0, seed.stderr
        run = run_locust(["--headless", "-u", "2", "-r", "2", "--namespace", namespace, "--phase-time", "3s",
                          "--warmup", "1s", "--report-dir", str(tmp_path / "r"), "--backend", "dynamodb",
                          "--dynamodb-endpoint", endpoint, "--strategies", "db-only,cache-aside"],
                         cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        clean = cli("clean", "--yes", "--namespace", namespace,
                                "--dynamodb-endpoint", endpoint, timeout=120,
                               env=env)
        assert clean.returncode == 0, clean.stderr
        assert f"{namespace}-products" in clean.stdout and foreign not in clean.stdout
        assert dynamodb.table_status(dynamodb_client, dynamodb_products.table_name(namespace)) is None
        assert snapshot() == before  # byte-identical
    finally:
        dynamodb.delete_table(dynamodb_client, foreign)


def test_clean_removes_the_lag_probe_table(namespace, pool, target):
    """A run with --mysql-reader-url creates <namespace>_lagprobe; clean removes it with the rest."""
    from cacheswarm.stores import mysql

    mysql.probe_create(pool, namespace)
    out = cli("clean", "--yes", "--namespace", namespace, "--mysql-url", MYSQL_URL, "--redis-url", REDIS_URL)
    assert out.returncode == 0, out.stderr
    assert mysql.probe_table(namespace) in out.stdout
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, password=target.password,
                           database=target.database)
    with conn, conn.cursor() as cur:
        assert mysql_products.table_owner(cur, mysql.probe_table(namespace)) is None


def test_clean_leaves_a_namespace_that_begins_with_this_ones_name(namespace, target):
    """Namespace csw's tables are csw_<word>: csw_x_products is namespace csw_x's, though it begins
    with csw_ and cacheswarm made it. Cleaning csw leaves it."""
    from .conftest import drop_namespace

    other = f"{namespace}_x"
    mysql_products.seed(target, namespace, 5)
    mysql_products.seed(target, other, 5)
    try:
        out = cli("clean", "--yes", "--namespace", namespace, "--mysql-url", MYSQL_URL, "--redis-url", REDIS_URL)
        assert out.returncode == 0, out.stderr
        assert f"'{namespace}_products'" in out.stdout and f"{other}_products" not in out.stdout
        conn = pymysql.connect(host=target.host, port=target.port, user=target.user, password=target.password,
                               database=target.database)
        with conn, conn.cursor() as cur:
            assert mysql_products.table_owner(cur, mysql_products.table_name(namespace)) is None
            assert mysql_products.table_owner(cur, mysql_products.table_name(other)) == mysql_products.OWNER_COMMENT
    finally:
        drop_namespace(other)
