"""PostgreSQL as a backend, on the real PostgreSQL 15 of these machines (127.0.0.1:5432, database test):
the products binding's operations and seed, the server's own counts of them, gevent cooperation,
its options' bad input, a whole run cross-checked against pg_stat_user_tables, and clean."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from cacheswarm import catalog, products
from cacheswarm.restaurants import SUMMARY_REVIEWS
from cacheswarm.optbase import BadInput
from cacheswarm.stores import ConnectError, NotSeeded, mysql_restaurants, postgres, postgres_products
from cacheswarm.stores import postgres_restaurants
from cacheswarm.stores.mysql import Pool

from .conftest import REDIS_URL, ROOT, cli, run_locust
from .helpers import PrivatePostgres, contexts_built, make_ca_and_server_cert
from .test_end_to_end import only_report

POSTGRES_URL = os.environ.get("CACHESWARM_TEST_POSTGRES_URL", postgres.DEFAULT_URL)


def _target(**kw):
    return postgres.target(SimpleNamespace(postgres_url=POSTGRES_URL, **kw))


def _drop(namespace: str) -> None:
    conn = postgres.connect(_target(), 5.0)
    try:
        for table in (postgres_products.table_name(namespace), *mysql_restaurants.table_names(namespace)):
            conn.cursor().execute(f'DROP TABLE IF EXISTS "{table}"')
    finally:
        conn.close()


@pytest.fixture
def pg_namespace():
    ns = f"cswpg{random.randrange(16**6):06x}"
    yield ns
    _drop(ns)


@pytest.fixture
def pg_pool():
    p = postgres.pool(_target(), 2, 5.0)
    yield p
    p.close()


def test_the_binding_is_registered_with_what_its_store_can_do():
    b = catalog.BINDINGS[("products", "postgres")]
    assert b.store_class() is postgres_products.PostgresProducts
    assert catalog.label("postgres") == "PostgreSQL"


def test_seeded_rows_read_as_the_same_json_as_products_row_and_writes_bump_the_version(pg_namespace, pg_pool):
    result = postgres_products.seed(_target(), pg_namespace, 300)
    assert (result["rows"], result["loaded"]) == (300, 300)
    again = postgres_products.seed(_target(), pg_namespace, 250)  # idempotent; rows above N removed
    assert (again["rows"], again["trimmed"], again["loaded"]) == (250, 50, 0)
    store = postgres_products.PostgresProducts(pg_pool, pg_namespace)
    assert store.seeded() == 250
    for i in (1, 17, 250):
        assert store.read(i) == products.encode(products.row(i)[:-1])  # the JSON every backend caches
    assert store.read(251) is None
    after = json.loads(store.write(17, want_value=True))
    assert after["version"] == 1 and after["updated_at"] != json.loads(store.read(18))["updated_at"]
    assert store.version_of(store.read(17))[0] == 1
    assert [json.loads(v)["id"] for v in store.scan(5, 9)] == [5, 6, 7, 8, 9]
    assert set(store.read_many([3, 4, 999])) == {3, 4}
    inserted = json.loads(store.insert(251))
    assert inserted["category"] == products.INSERTED and store.seeded() == 250
    assert store.remove_inserted(250, 251) == 1
    assert dict(store.iter_values(3)) == {store.cache_key(i): store.read(i) for i in (1, 2, 3)}
    reset = postgres_products.seed(_target(), pg_namespace, 250, reset=True)
    assert reset["loaded"] == 250 and json.loads(store.read(17))["version"] == 0


def test_an_unseeded_or_foreign_table_is_refused(pg_namespace, pg_pool):
    store = postgres_products.PostgresProducts(pg_pool, pg_namespace)
    with pytest.raises(NotSeeded, match="is missing"):
        store.seeded()
    conn = postgres.connect(_target(), 5.0)
    try:
        conn.cursor().execute(f'CREATE TABLE "{store.table}" (id int primary key)')
    finally:
        conn.close()
    from cacheswarm.stores import ForeignTable
    with pytest.raises(ForeignTable, match="not created by cacheswarm"):
        store.check_owned(False)
    with pytest.raises(ForeignTable):
        postgres_products.seed(_target(), pg_namespace, 10)


def test_restaurants_summaries_are_the_bytes_mysql_serves_and_a_review_posts_in_one_transaction(
        pg_namespace, namespace, target, pg_pool):
    """The same seed on MySQL and PostgreSQL: every summary byte-equal (one cache serves either);
    posting a review adds it to the summary's newest and bumps its star counter."""
    mysql_restaurants.seed(target, namespace, 30, 4)
    result = postgres_restaurants.seed(_target(), pg_namespace, 30, reviews=4)
    assert (result["rows"], result["loaded"]) == (30, 30 * 5)
    assert postgres_restaurants.seed(_target(), pg_namespace, 25, reviews=4)["trimmed"] == 5
    with pytest.raises(BadInput, match="^--reviews-per-restaurant: "):
        postgres_restaurants.seed(_target(), pg_namespace, 25, reviews=3)
    mysql = Pool(target, 1, 5.0)
    try:
        on_mysql = mysql_restaurants.MySQLRestaurants(mysql, namespace)
        store = postgres_restaurants.PostgresRestaurants(pg_pool, pg_namespace)
        assert store.seeded() == 25
        for i in (1, 7, 25):
            assert store.read(i) == on_mysql.read(i)
        assert store.read(26) is None
        before = json.loads(store.read(7))
        after = json.loads(store.for_user().write(7, want_value=True))
        assert len(after["reviews"]) == min(SUMMARY_REVIEWS, len(before["reviews"]) + 1)
        assert after["reviews"][0] not in before["reviews"] and after["reviews"][1:] == before["reviews"][:4]
        assert store.version_of(store.read(7)) != store.version_of(json.dumps(before).encode())
        with pytest.raises(LookupError):
            store.write(999)  # its transaction had inserted a review: the server must roll it back now
        other = postgres.connect(_target(), 5.0)
        try:  # the failed connection's session, its transaction and its locks are gone (not left open)
            other.cursor().execute("SET lock_timeout = '5s'")
            other.cursor().execute("BEGIN")
            other.cursor().execute(f'LOCK TABLE "{store.tables[1]}" IN ACCESS EXCLUSIVE MODE')
            cur = other.cursor()
            cur.execute(f'SELECT COUNT(*) FROM "{store.tables[1]}" WHERE restaurant_id = 999')
            assert cur.fetchone()[0] == 0
            cur.execute("ROLLBACK")
        finally:
            other.close()
        assert dict(store.iter_values(2)) == {store.cache_key(i): store.read(i) for i in (1, 2)}
    finally:
        mysql.close()


@pytest.mark.parametrize("dataset,op", [("products", "read"), ("products", "write"), ("products", "write_value"),
                                        ("products", "insert"), ("restaurants", "read"), ("restaurants", "write"),
                                        ("restaurants", "write_value")])
def test_each_operation_makes_the_server_count_what_the_cross_check_expects(pg_namespace, dataset, op):
    """PER_OP (what the report expects) against pg_stat_user_tables, flushed by the sample itself."""
    p = postgres.pool(_target(), 1, 5.0)
    try:
        if dataset == "products":
            postgres_products.seed(_target(), pg_namespace, 50)
            store = postgres_products.PostgresProducts(p, pg_namespace)
            store.value_size = store.padding()  # (an insert learns the padding once: not the operation's statement)
        else:
            postgres_restaurants.seed(_target(), pg_namespace, 30, reviews=4)
            store = postgres_restaurants.PostgresRestaurants(p, pg_namespace)
        call = {"read": lambda i: store.read(i), "write": lambda i: store.write(i),
                "write_value": lambda i: store.write(i, want_value=True), "insert": lambda i: store.insert(50 + i)}[op]
        before = postgres.sample(p, pg_namespace)
        for i in range(1, 21):
            call(i)
        after = postgres.sample(p, pg_namespace)
        seen = postgres.delta(before, after, {})
        assert {k: seen[k] for k in ("scans", "n_tup_upd", "n_tup_ins")} == {
            k: 20 * postgres.PER_OP[dataset][op].get(k, 0) for k in ("scans", "n_tup_upd", "n_tup_ins")}
    finally:
        p.close()


def test_the_server_sample_never_shares_a_connection_with_a_user(pg_namespace):
    """The sample flushes each idle pooled connection's statistics while users run (the phase's "end"
    sample): it takes each out of the pool meanwhile, so a user is never handed a connection the
    sample is in the middle of a call on (two greenlets on one socket: a garbled reply for both; CI
    once saw a phase's whole PostgreSQL cross-check vanish, its sample an error)."""
    postgres_products.seed(_target(), pg_namespace, 10)
    script = textwrap.dedent(f"""
        from gevent import monkey; monkey.patch_all()
        import gevent, json
        from types import SimpleNamespace
        from cacheswarm.stores import postgres, postgres_products
        t = postgres.target(SimpleNamespace(postgres_url={POSTGRES_URL!r}))
        p = postgres.pool(t, 6, 10.0)
        store = postgres_products.PostgresProducts(p, {pg_namespace!r})
        errors, reads, running = [], [0], [True]
        def user(i):
            while running[0]:
                try:
                    store.read(1 + i % 10)
                    reads[0] += 1
                except Exception as e:
                    errors.append(type(e).__name__)
                gevent.sleep(0.001 * (i % 3))
        users = [gevent.spawn(user, i) for i in range(4)]
        gevent.sleep(0.2)
        samples = [postgres.sample(p, {pg_namespace!r}) for _ in range(150)]
        running[0] = False
        gevent.joinall(users)
        print(json.dumps({{"errors": errors, "reads": reads[0], "failed": [s["error"] for s in samples if "error" in s]}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout)
    assert got["reads"] > 100, got
    assert got["failed"] == [] and got["errors"] == [], got


def test_a_slow_query_on_one_user_does_not_stall_the_others(pg_namespace):
    """Under Locust's monkey patching, pg8000's socket waits yield: while one greenlet waits on
    pg_sleep(1) (a duration the server keeps), another finishes 50 reads on its own connection."""
    postgres_products.seed(_target(), pg_namespace, 10)
    script = textwrap.dedent(f"""
        from gevent import monkey; monkey.patch_all()
        import gevent
        from types import SimpleNamespace
        from cacheswarm.stores import postgres, postgres_products
        t = postgres.target(SimpleNamespace(postgres_url={POSTGRES_URL!r}))
        p = postgres.pool(t, 2, 10.0)
        order = []
        def slow():
            with p.cursor() as cur:
                cur.execute("SELECT pg_sleep(1)")
            order.append("slow")
        def fast():
            store = postgres_products.PostgresProducts(p, {pg_namespace!r})
            for i in range(50):
                store.read(1 + i % 10)
            order.append("fast")
        a = gevent.spawn(slow); gevent.sleep(0.05); b = gevent.spawn(fast)
        gevent.joinall([a, b], raise_error=True)
        print(",".join(order))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "fast,slow"


@pytest.mark.parametrize("kw,match", [
    ({"postgres_url": "mysql://x@h/db"}, r"--postgres-url: .* is not a PostgreSQL URL"),
    ({"postgres_url": "postgresql://u@h:5432"}, r"--postgres-url: .* names no database"),
    ({"postgres_ssl_ca": "/nonexistent.pem"}, r"--postgres-ssl-ca: .* is not a file"),
    ({"postgres_iam_auth": True}, r"--postgres-iam-auth: needs TLS"),
])
def test_bad_postgres_options_are_refused_in_one_line_naming_the_option(kw, match):
    with pytest.raises(BadInput, match=match):
        postgres.target(SimpleNamespace(**{"postgres_url": POSTGRES_URL, **kw}))


def test_an_unreachable_server_and_an_unknown_database_say_what_to_fix():
    with pytest.raises(ConnectError, match="cannot reach PostgreSQL at .*:1/test .*start it or fix --postgres-url"):
        postgres.connect(postgres.target(SimpleNamespace(postgres_url="postgresql://postgres@127.0.0.1:1/test")), 2.0)
    with pytest.raises(ConnectError, match="has no database 'cswnosuchdb'"):
        postgres.connect(postgres.target(SimpleNamespace(
            postgres_url=POSTGRES_URL.rsplit("/", 1)[0] + "/cswnosuchdb")), 2.0)


@pytest.mark.parametrize("dataset", ["products", "restaurants"])
def test_a_run_on_postgres_is_cross_checked_with_its_own_counters_and_clean_removes_only_ours(
        tmp_path, pg_namespace, dataset):
    """`cacheswarm seed DATASET --backend postgres`, a headless run of db-only and cache-aside, the
    report's check of the clients' counts against pg_stat_user_tables of the namespace's tables
    (no other client reaches them: exact up to an operation per user cut at a phase's end), then
    `cacheswarm clean`, which drops those tables and no other."""
    size = ["--rows", "400"] if dataset == "products" else ["--restaurants", "40", "--reviews-per-restaurant", "3"]
    seeded = cli("seed", dataset, "--backend", "postgres", *size, "--namespace", pg_namespace,
                 "--postgres-url", POSTGRES_URL)
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    assert ("400 products" if dataset == "products" else "40 restaurants") in seeded.stdout
    mix = ["--insert-ratio", "0.05", "--key-distribution", "latest"] if dataset == "products" else []
    out = run_locust(["--headless", "-u", "4", "-r", "4", "--namespace", pg_namespace, "--backend", "postgres",
                      "--dataset", dataset, "--postgres-url", POSTGRES_URL, "--redis-url", REDIS_URL,
                      "--strategies", "db-only,cache-aside", "--phase-time", "3s", "--warmup", "1s",
                      "--read-ratio", "0.8", *mix, "--report-dir", str(tmp_path / "r"), "--only-summary"],
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"{dataset} on PostgreSQL:" in out.stdout
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    views = {v["phase"]: v for v in doc["server"]}
    assert set(views) == {f"{dataset}/postgres/{s}" for s in ("db-only", "cache-aside")}
    for key, view in views.items():
        checks = {c["counter"]: c for c in view["checks"] if c["server"] == "postgres"}
        assert set(checks) == {"scans", "n_tup_upd", "n_tup_ins"}, (key, view.get("postgres"), view.get("restarts"))
        assert checks["scans"]["client"] > 100 and checks["n_tup_upd"]["client"] > 10, key
        assert checks["n_tup_ins"]["client"] > 0, key  # products: inserts; restaurants: reviews posted
        for c in checks.values():
            assert abs(c["server_value"] - c["client"]) <= 4 and c["ok"], (key, c)
    assert doc["run"]["postgres_url"] == _target().redacted()
    other = f"{pg_namespace}x"  # a table of another namespace that shares the prefix: clean leaves it
    postgres_products.seed(_target(), other, 5)
    ours = [f"{pg_namespace}_products"] if dataset == "products" else list(mysql_restaurants.table_names(pg_namespace))
    try:
        cleaned = cli("clean", "--yes", "--namespace", pg_namespace, "--postgres-url", POSTGRES_URL)
        assert cleaned.returncode == 0, cleaned.stderr[-2000:]
        assert f"PostgreSQL tables {sorted(ours)}" in cleaned.stdout
        p = postgres.pool(_target(), 1, 5.0)
        try:
            cls = postgres_products.PostgresProducts if dataset == "products" else postgres_restaurants.PostgresRestaurants
            with pytest.raises(NotSeeded, match="is missing"):
                cls(p, pg_namespace).seeded()
            assert postgres_products.PostgresProducts(p, other).seeded() == 5
        finally:
            p.close()
    finally:
        _drop(other)


def test_a_password_given_for_postgres_is_in_no_output_file(tmp_path, pg_namespace):
    """A password in --postgres-url (trust auth lets the run go on) is in no file the run writes, nor in
    its output; the report's run settings show the URL redacted."""
    secret = "cswPgSecret8472"
    postgres_products.seed(_target(), pg_namespace, 50)
    url = POSTGRES_URL.replace("://postgres@", f"://postgres:{secret}@")
    out = run_locust(["--headless", "-u", "2", "-r", "2", "--namespace", pg_namespace, "--backend", "postgres",
                      "--postgres-url", url, "--redis-url", REDIS_URL, "--strategies", "db-only", "--phase-time",
                      "2s", "--warmup", "0s", "--report-dir", str(tmp_path / "r"), "--csv", str(tmp_path / "c"),
                      "--html", str(tmp_path / "h.html"), "--only-summary"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 5
    assert not [p for p in written if secret in p.read_text(errors="replace")]
    assert secret not in out.stdout + out.stderr
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert doc["run"]["postgres_url"].startswith("postgresql://postgres:***@")


def test_postgres_over_verified_tls_and_a_wrong_ca_refused_in_one_line(tmp_path, pg_namespace):
    """A private PostgreSQL that takes TLS only (hostssl), with a throwaway CA: a run with
    --postgres-ssl-ca goes over verified TLS (the server's pg_stat_ssl says so); another CA is refused
    before the run in one line, exit 2, naming --postgres-ssl-ca; without a CA, TLS unverified."""
    d = make_ca_and_server_cert(tmp_path / "tls")
    other = make_ca_and_server_cert(tmp_path / "other")
    server = PrivatePostgres("ssl = on", "ssl_cert_file = 'server.pem'", "ssl_key_file = 'server.key'",
                             hba=("hostssl all all 127.0.0.1/32 trust", "hostnossl all all 127.0.0.1/32 reject"),
                             files=(d / "server.pem", d / "server.key"))
    try:
        url = f"postgresql://postgres@127.0.0.1:{server.port}/test"
        ca = str(d / "ca.pem")
        t = postgres.target(SimpleNamespace(postgres_url=url, postgres_ssl_ca=ca))
        postgres_products.seed(t, pg_namespace, 100)
        conn = postgres.connect(t, 5.0)
        cur = conn.cursor()
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone()[0] is True
        conn.close()
        out = run_locust(["--headless", "-u", "2", "-r", "2", "--namespace", pg_namespace, "--backend", "postgres",
                          "--postgres-url", url, "--postgres-ssl-ca", ca, "--redis-url", REDIS_URL, "--strategies",
                          "db-only", "--phase-time", "2s", "--warmup", "0s", "--report-dir", str(tmp_path / "r"),
                          "--only-summary"], cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
        assert sum(r["count"] for r in doc["rows"]) > 0 and not any(r["outcome"] == "error" for r in doc["rows"])
        bad = run_locust(["--headless", "-u", "1", "--namespace", pg_namespace, "--backend", "postgres",
                          "--postgres-url", url, f"--postgres-ssl-ca={other / 'ca.pem'}", "--redis-url", REDIS_URL,
                          "--report-dir", str(tmp_path / "r2")], cwd=tmp_path, timeout=60)
        assert bad.returncode == 2, bad.stderr[-2000:]
        lines = [x for x in bad.stderr.splitlines() if x.startswith("cacheswarm: error:")]
        assert len(lines) == 1 and "TLS with PostgreSQL" in lines[0] and "--postgres-ssl-ca" in lines[0], bad.stderr
        assert "Traceback" not in bad.stderr and not (tmp_path / "r2").exists()
        # without a CA: TLS as the server offers it, unverified ('prefer'), one context for every connection
        assert_one_context_per_server(postgres.target(SimpleNamespace(postgres_url=url)), encrypted=True)
    finally:
        server.stop()
    plain = PrivatePostgres()  # a server without TLS: a CA given is refused, none given connects in the clear
    try:
        url = f"postgresql://postgres@127.0.0.1:{plain.port}/test"
        with pytest.raises(ConnectError, match="offers no TLS: .* drop --postgres-ssl-ca"):
            postgres.connect(postgres.target(SimpleNamespace(postgres_url=url, postgres_ssl_ca=str(d / "ca.pem"))), 5)
        assert_one_context_per_server(postgres.target(SimpleNamespace(postgres_url=url)), encrypted=False)
    finally:
        plain.stop()


def assert_one_context_per_server(t, encrypted: bool) -> None:
    """20 connections to `t` build at most one TLS context (pg8000 alone builds one per connection),
    and each is encrypted exactly when the server offers TLS (the server's pg_stat_ssl says)."""
    postgres._TLS.pop((t.host, t.port, t.ssl_ca), None)
    built, conns = contexts_built(lambda: postgres.connect(t, 10))
    assert len(built) <= 1, built
    for conn in conns:
        cur = conn.cursor()
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone()[0] is encrypted
        conn.close()


def test_iam_auth_makes_a_signed_token_offline(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    t = postgres.target(SimpleNamespace(postgres_url="postgresql://app@db.example.internal:5432/shop",
                                        postgres_ssl_ca=__file__, postgres_iam_auth=True), "eu-west-1")
    assert t.iam_region == "eu-west-1"
    token = postgres._iam_token(t)
    assert token.startswith("db.example.internal:5432/?Action=connect")
    assert "DBUser=app" in token and "X-Amz-Signature=" in token and "eu-west-1" in token


def test_a_pooled_connection_prepares_each_statement_once(pg_namespace):
    """The stores' statements are prepared once per connection, then only bound and run (pg8000's DB-API
    cursor had the server parse each anew: 3.3x fewer reads/s from one generator): the server's
    pg_prepared_statements of that connection lists the read once after 50 reads, and the reads agree."""
    postgres_products.seed(_target(), pg_namespace, 20)
    p = postgres.pool(_target(), 1, 5.0)
    try:
        store = postgres_products.PostgresProducts(p, pg_namespace)
        values = {store.read(1 + i % 20) for i in range(50)}
        assert len(values) == 20 and store.read(99) is None
        with p.connection() as conn:
            cur = conn.cursor()
            cur.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
            prepared = [r[0] for r in cur.fetchall()]
        assert prepared.count(store._select.replace("%s", "$1")) == 1, prepared
    finally:
        p.close()
