"""TLS to Redis for real: a throwaway CA, a private `redis-server --tls-port`, rediss:// URLs."""

import json

import pytest

from .conftest import run_locust
from .helpers import PrivateMariaDB, contexts_built, free_port, make_ca_and_server_cert, start_redis
from .test_end_to_end import common, only_report


@pytest.fixture
def tls_redis(tmp_path):
    """(rediss URL, CA path, plain client over TLS) for a private TLS-only redis-server."""
    d = make_ca_and_server_cert(tmp_path / "tls")
    port = free_port()
    proc, client = start_redis(port, d, "--tls-port", str(port), "--tls-cert-file", str(d / "server.pem"),
                               "--tls-key-file", str(d / "server.key"), "--tls-ca-cert-file", str(d / "ca.pem"),
                               "--tls-auth-clients", "no")
    yield f"rediss://127.0.0.1:{port}/0", str(d / "ca.pem"), client
    proc.terminate()
    proc.wait(timeout=10)


def test_run_over_tls_with_our_ca(seeded, tmp_path, tls_redis):
    url, ca, client = tls_redis
    out = run_locust([*common(seeded, tmp_path / "r", phase="3s", warmup="1s", users=3),
                      "--strategies", "cache-only,cache-aside", "--redis-url", url, "--redis-ca-cert", ca],
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    hits = [r for r in doc["rows"] if r["outcome"] == "hit"]
    assert hits and all(r["count"] > 0 for r in hits)
    assert client.dbsize() > 0  # the keys went to the TLS server


def test_unverifiable_certificate_is_refused_in_one_line(seeded, tmp_path, tls_redis):
    url, _ca, _client = tls_redis
    out = run_locust(["--headless", "-u", "1", "--namespace", seeded, "--redis-url", url,
                      "--report-dir", str(tmp_path / "r")], cwd=tmp_path, timeout=60)
    assert out.returncode == 2
    line = [x for x in out.stderr.splitlines() if x.startswith("cacheswarm: error:")]
    assert len(line) == 1 and "--redis-ca-cert" in line[0], out.stderr
    assert not (tmp_path / "r").exists()


def test_mysql_over_tls_with_our_ca(namespace, tmp_path):
    from cacheswarm.options import MySQLTarget
    from cacheswarm.stores import mysql_products

    d = make_ca_and_server_cert(tmp_path / "tls")
    other = make_ca_and_server_cert(tmp_path / "other")
    db = PrivateMariaDB(tmp_path, f"--ssl-ca={d / 'ca.pem'}", f"--ssl-cert={d / 'server.pem'}",
                        f"--ssl-key={d / 'server.key'}")
    try:
        for host in ("localhost", "127.0.0.1", "%"):  # a user that may only log in over TLS
            db.sql(f"CREATE USER 'tlsuser'@'{host}' REQUIRE SSL")
            db.sql(f"GRANT ALL ON test.* TO 'tlsuser'@'{host}'")
        url = f"mysql://tlsuser@127.0.0.1:{db.port}/test"
        mysql_products.seed(MySQLTarget("127.0.0.1", db.port, "root", "", "test", str(d / "ca.pem")), namespace, 500)
        out = run_locust([*common(namespace, tmp_path / "r", phase="3s", warmup="1s", users=3),
                          "--mysql-url", url, "--mysql-ssl-ca", str(d / "ca.pem"), "--strategies", "db-only"],
                         cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
        assert doc["rows"][0]["count"] > 0
        # a CA that did not sign the server's certificate: one line, exit 2
        bad = run_locust(["--headless", "-u", "1", "--namespace", namespace, "--mysql-url", url,
                          "--mysql-ssl-ca", str(other / "ca.pem"), "--report-dir", str(tmp_path / "r2")],
                         cwd=tmp_path, timeout=60)
        assert bad.returncode == 2
        line = [x for x in bad.stderr.splitlines() if x.startswith("cacheswarm: error:")]
        assert len(line) == 1 and "TLS" in line[0] and "--mysql-ssl-ca" in line[0], bad.stderr[-2000:]
        # without a CA, PyMySQL's 'preferred' TLS: every connection encrypted, one TLS context for all
        assert_one_context_per_server(MySQLTarget("127.0.0.1", db.port, "tlsuser", "", "test"), encrypted=True)
    finally:
        db.stop()


def assert_one_context_per_server(target, encrypted: bool) -> None:
    """20 connections to `target` build at most one TLS context (PyMySQL built one per connection: 22 ms of
    CPU each here, blocking every user), and each is encrypted exactly when the server offers TLS."""
    from cacheswarm.stores import mysql

    mysql._TLS.pop((target.host, target.port, target.ssl_ca), None)
    built, conns = contexts_built(lambda: mysql.connect(target, 10))
    assert len(built) <= 1, built
    for conn in conns:
        with conn.cursor() as cur:
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            assert bool(cur.fetchone()[1]) == encrypted
        conn.close()


def test_shared_mysql_connections_build_one_context_at_most():
    import pymysql

    from cacheswarm.options import MySQLTarget

    with pymysql.connect(host="127.0.0.1", user="root", database="test", ssl_disabled=True) as conn, \
            conn.cursor() as cur:
        cur.execute("SHOW VARIABLES LIKE 'have_ssl'")
        offers = cur.fetchone()[1] == "YES"  # here DISABLED: the plain path (the private server above: TLS)
    assert_one_context_per_server(MySQLTarget("127.0.0.1", 3306, "root", "", "test"), encrypted=offers)


def test_iam_auth_makes_a_signed_token_offline(monkeypatch):
    from cacheswarm.options import MySQLTarget
    from cacheswarm.stores.mysql import iam_token

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    target = MySQLTarget("db.example.internal", 3306, "app", "", "shop", "/ca.pem", "eu-west-1")
    token = iam_token(target)
    assert token.startswith("db.example.internal:3306/?Action=connect")
    assert "DBUser=app" in token and "X-Amz-Signature=" in token and "eu-west-1" in token


def test_iam_auth_needs_tls_and_a_region(seeded, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    out = run_locust(["--headless", "-u", "1", "--namespace", seeded, "--mysql-iam-auth",
                      "--report-dir", str(tmp_path / "r")], cwd=tmp_path, timeout=60)
    assert out.returncode == 2 and "--mysql-iam-auth" in out.stderr and "--mysql-ssl-ca" in out.stderr
    ca = tmp_path / "ca.pem"
    ca.write_text("not used before the region check")
    out = run_locust(["--headless", "-u", "1", "--namespace", seeded, "--mysql-iam-auth", "--mysql-ssl-ca", str(ca),
                      "--report-dir", str(tmp_path / "r")], cwd=tmp_path, timeout=60)
    assert out.returncode == 2 and "--aws-region" in out.stderr
    assert not (tmp_path / "r").exists()
