"""Passwords and AWS secret keys never reach reports, Locust's CSV/HTML, logs or the console."""

import json
import random
import time

import pymysql
import pytest

from .conftest import run_locust
from .test_end_to_end import only_report


@pytest.fixture
def mysql_user(target, seeded):
    """A MySQL user of this test's own with a distinctive password, dropped afterwards."""
    name = f"cswsecret{random.randrange(16**6):06x}"
    password = f"Pw-{random.randrange(16**12):012x}-zz"
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user, password=target.password,
                           autocommit=True)
    hosts = ("localhost", "127.0.0.1", "%")
    with conn.cursor() as cur:
        for host in hosts:
            cur.execute(f"CREATE USER '{name}'@'{host.replace('%', '%%')}' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT SELECT, UPDATE ON `{target.database}`.* TO '{name}'@'{host}'")
    yield name, password
    with conn.cursor() as cur:
        for host in hosts:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'{host}'")
    conn.close()


def test_passwords_appear_nowhere(seeded, tmp_path, mysql_user, private_redis):
    user, mysql_password = mysql_user
    redis_url, client = private_redis
    redis_password = f"Rp-{random.randrange(16**12):012x}-qq"
    client.config_set("requirepass", redis_password)
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    reports = tmp_path / "r"
    aws_secret = f"Aws-{random.randrange(16**12):012x}-kk"
    out = run_locust(["--headless", "-u", "3", "-r", "3", "--namespace", seeded, "--phase-time", "3s",
                      "--backend", "mysql,dynamodb", "--strategies", "db-only,cache-aside",
                      "--warmup", "1s", "--report-dir", str(reports), "--csv", str(tmp_path / "csv" / "run"),
                      "--html", str(tmp_path / "run.html"), "--logfile", str(tmp_path / "locust.log"),
                      "--mysql-url", f"mysql://{user}@127.0.0.1:3306/test",
                      "--redis-url", f"redis://:{redis_password}@127.0.0.1:{port}/0"],
                     cwd=tmp_path, env={"CACHESWARM_MYSQL_PASSWORD": mysql_password,
                                        "AWS_ACCESS_KEY_ID": "AKIDCSWTEST", "AWS_SECRET_ACCESS_KEY": aws_secret})
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(reports)
    assert (report / "comparison.json").exists()
    assert client.dbsize() > 0  # the run really used the password-protected Redis
    texts = {"stdout": out.stdout, "stderr": out.stderr}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    assert {(p["backend"], p["strategy"]) for p in json.loads((report / "comparison.json").read_text())["phases"]} == {
        (b, s) for b in ("mysql", "dynamodb") for s in ("db-only", "cache-aside")}
    for secret in (mysql_password, redis_password, aws_secret):
        leaks = [where for where, text in texts.items() if secret in text]
        assert not leaks, f"password found in {leaks}"
    assert "redis://:***@127.0.0.1" in (report / "comparison.json").read_text()


def test_wrong_redis_password_is_one_line(seeded, tmp_path, private_redis):
    redis_url, client = private_redis
    client.config_set("requirepass", "right-one")
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    out = run_locust(["--headless", "-u", "1", "--namespace", seeded, "--report-dir", str(tmp_path / "r"),
                      "--redis-url", f"redis://:wrong-one@127.0.0.1:{port}/0"], cwd=tmp_path, timeout=60)
    assert out.returncode == 2
    line = [x for x in out.stderr.splitlines() if x.startswith("cacheswarm: error:")]
    assert len(line) == 1 and "password" in line[0] and "--redis-url" in line[0]
    assert "wrong-one" not in out.stderr + out.stdout
    assert not (tmp_path / "r").exists()


def _template_args(page: str) -> dict:
    start = page.index("templateArgs = ") + len("templateArgs = ")
    return json.JSONDecoder().raw_decode(page[start:])[0]


def test_web_ui_page_shows_no_password_and_the_redacted_form_still_logs_in(seeded, tmp_path, mysql_user,
                                                                           private_redis):
    """Locust serialises every web-UI option's value into the start page: our URLs show *** there,
    secret fields are empty, and the form sent back as shown keeps the real passwords."""
    import urllib.request

    from .helpers import http, web_ui

    user, mysql_password = mysql_user
    redis_url, client = private_redis
    redis_password = f"Rw/{random.randrange(16**12):012x}@:q"  # '/', '@' and ':' percent-encoded below
    client.config_set("requirepass", redis_password)
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    from urllib.parse import quote

    mysql_url = f"mysql://{user}:{quote(mysql_password, safe='')}@127.0.0.1:3306/test"
    reports = tmp_path / "r"
    # web_ui() passes the test's own URLs first; these later flags override them
    with web_ui(seeded, tmp_path, "--phase-time", "2s", "--warmup", "0s", "--report-dir", str(reports),
                "--strategies", "db-only,cache-aside", "--mysql-url", mysql_url,
                "--redis-url", f"redis://:{quote(redis_password, safe='')}@127.0.0.1:{port}/0",
                "--redis-password", "") as (base, proc):
        page = urllib.request.urlopen(base + "/", timeout=10).read().decode()
        for secret in (mysql_password, quote(mysql_password, safe=""), redis_password,
                       quote(redis_password, safe="")):
            assert secret not in page
        extra = _template_args(page)["extra_options"]
        assert extra["mysql_url"]["default_value"] == f"mysql://{user}:***@127.0.0.1:3306/test"
        assert extra["redis_url"]["default_value"] == f"redis://:***@127.0.0.1:{port}/0"
        form = {k: ("true" if v["default_value"] is True else "false" if v["default_value"] is False
                    else str(v["default_value"])) for k, v in extra.items()}
        started = http(base + "/swarm", {**form, "user_count": "2", "spawn_rate": "2", "host": ""})
        assert started["success"], started
        deadline = time.time() + 60
        while time.time() < deadline and not list(reports.glob("*/comparison.json")):
            time.sleep(0.5)
        time.sleep(1)
        for path in ("/stats/requests", "/stats/report", "/"):
            body = urllib.request.urlopen(base + path, timeout=10).read().decode(errors="replace")
            assert mysql_password not in body and redis_password not in body, path
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    doc = json.loads(next(reports.glob("*/comparison.json")).read_text())
    assert {r["strategy"] for r in doc["rows"]} == {"db-only", "cache-aside"}
    assert all(r["errors"] == 0 for r in doc["rows"]), doc["rows"]  # the real passwords were used
    assert client.dbsize() > 0
    assert mysql_password not in output and redis_password not in output
