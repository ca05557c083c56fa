"""TLS to Redis for real: a throwaway CA, a private `redis-server --tls-port`, rediss:// URLs."""

import json
import shutil
import subprocess
import time

import pytest
import redis

from .conftest import run_locust
from .helpers import free_port
from .test_end_to_end import common, only_report


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_redis(tmp_path):
    """(rediss URL, CA path, plain client over TLS) for a private TLS-only redis-server."""
    d = tmp_path / "tls"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=cacheswarm test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "san.ext", "-out", "server.pem", cwd=d)
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", "0", "--tls-port", str(port), "--bind",
                             "127.0.0.1", "--tls-cert-file", str(d / "server.pem"), "--tls-key-file",
                             str(d / "server.key"), "--tls-ca-cert-file", str(d / "ca.pem"),
                             "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(d / "ca.pem"))
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
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
