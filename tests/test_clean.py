"""`cacheswarm clean` removes this namespace's table and keys and nothing else."""

import subprocess

import pymysql

from cacheswarm.stores import mysql_products

from .conftest import BIN, MYSQL_URL, REDIS_URL


def test_clean_removes_only_our_namespace(seeded, target, cache, raw_redis):
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
        out = subprocess.run([str(BIN / "cacheswarm"), "clean", "--yes", "--namespace", seeded, "--mysql-url",
                              MYSQL_URL, "--redis-url", REDIS_URL], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "removed 1 table(s) and 50 key(s)" in out.stdout
        assert raw_redis.exists(*store_keys) == 0
        assert raw_redis.get(foreign_key) == b"keep" and raw_redis.get(near_key) == b"keep"
        with conn.cursor() as cur:
            cur.execute(f"SELECT v FROM `{foreign_table}`")
            assert cur.fetchall() == (("keep",),)
            cur.execute("SHOW TABLES LIKE %s", (mysql_products.table_name(seeded),))
            assert cur.fetchall() == ()
        # without a terminal and without --yes it refuses, exit 2, nothing removed
        raw_redis.set(store_keys[0], b"x")
        out = subprocess.run([str(BIN / "cacheswarm"), "clean", "--namespace", seeded], capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert out.returncode == 2 and "--yes" in out.stderr
        assert raw_redis.exists(store_keys[0]) == 1
    finally:
        raw_redis.delete(foreign_key, near_key)
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
        seed = subprocess.run([str(BIN / "cacheswarm"), "seed", "products", "--rows", "10", "--namespace", namespace],
                              capture_output=True, text=True, timeout=60)
        assert seed.returncode == 2
        assert "--allow-existing-table" in seed.stderr and "Traceback" not in seed.stderr
        run = run_locust(["--headless", "-u", "1", "--namespace", namespace, "--report-dir", str(tmp_path / "r")],
                         cwd=tmp_path, timeout=60)
        assert run.returncode == 2 and "not created by cacheswarm" in run.stderr
        clean = subprocess.run([str(BIN / "cacheswarm"), "clean", "--yes", "--namespace", namespace],
                               capture_output=True, text=True, timeout=60)
        assert clean.returncode == 0 and "removed 0 table(s)" in clean.stdout
        cur.execute(f"SELECT * FROM `{table}`")
        assert cur.fetchall() == ((1, "theirs"),)  # untouched by seed, run and clean
