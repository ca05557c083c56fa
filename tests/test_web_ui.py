"""The web UI path: the form starts the shape, form values reach our options, the report is written."""

import json
import time

from .helpers import http, web_ui


def _get(url):
    """(status, body) of a GET, 4xx included."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_run_started_from_the_web_ui_writes_a_report(seeded, tmp_path):
    """... and serves it: the run's own directory only, read-only, linked from the Download Data tab."""
    # a relative --report-dir (the process's cwd is tmp_path): served from where the run wrote it
    with web_ui(seeded, tmp_path, "--phase-time", "3s", "--warmup", "1s", "--report-dir", "r") as (base, proc):
        status, body = _get(base + "/cacheswarm/report/")
        assert status == 404 and b"no report yet" in body
        assert b"/cacheswarm/report/" in _get(base + "/")[1]  # the link in the page's template args
        # what the UI form posts: users, spawn rate and our own fields
        started = http(base + "/swarm", {"user_count": "3", "spawn_rate": "3", "host": "",
                                         "read_ratio": "0.8", "strategies": "db-only,cache-aside"})
        assert started["success"], started
        deadline = time.time() + 90
        state = None
        while time.time() < deadline:
            state = http(base + "/stats/requests")["state"]
            if state == "stopped" and list((tmp_path / "r").glob("*/comparison.json")):
                break
            time.sleep(0.5)
        assert state == "stopped"
        time.sleep(1)
        page_status, page = _get(base + "/cacheswarm/report/")
        json_status, served = _get(base + "/cacheswarm/report/comparison.json")
        outside = [_get(base + "/cacheswarm/report/" + p)[0] for p in ("../r", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd")]
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    reports = list((tmp_path / "r").glob("*/comparison.json"))
    assert len(reports) == 1, output[-3000:]
    assert page_status == 200 and page == (reports[0].parent / "comparison.html").read_bytes()
    assert json_status == 200 and served == reports[0].read_bytes()
    assert all(code == 404 for code in outside), outside
    doc = json.loads(reports[0].read_text())
    assert doc["run"]["read_ratio"] == 0.8 and doc["run"]["strategies"] == ["db-only", "cache-aside"]
    assert doc["run"]["partial"] is False
    assert {r["strategy"] for r in doc["rows"]} == {"db-only", "cache-aside"}
    assert "Traceback" not in output


def test_switching_to_dynamodb_in_the_form_starts_and_seeds_the_emulator(seeded, tmp_path):
    with web_ui(seeded, tmp_path, "--phase-time", "3s", "--warmup", "1s", "--report-dir", str(tmp_path / "r")) as (
            base, proc):
        # started for MySQL only; the form asks for DynamoDB: the run starts the emulator and seeds it
        started = http(base + "/swarm", {"user_count": "2", "spawn_rate": "2", "host": "", "backend": "dynamodb",
                                         "strategies": "db-only,cache-aside", "keyspace": "50"})
        assert started["success"], started
        deadline = time.time() + 120
        while time.time() < deadline:
            if http(base + "/stats/requests")["state"] == "stopped" and list((tmp_path / "r").glob("*/comparison.json")):
                break
            time.sleep(0.5)
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    reports = list((tmp_path / "r").glob("*/comparison.json"))
    assert len(reports) == 1, output[-3000:]
    doc = json.loads(reports[0].read_text())
    assert doc["run"]["backends"] == ["dynamodb"] and doc["run"]["partial"] is False
    assert {(r["backend"], r["strategy"]) for r in doc["rows"]} == {("dynamodb", "db-only"), ("dynamodb", "cache-aside")}
    assert all(r["errors"] == 0 for r in doc["rows"])
    assert "seeding the embedded DynamoDB emulator with 50 products" in output
    assert "Traceback" not in output


def test_a_bad_form_value_is_refused_where_start_was_pressed(seeded, tmp_path):
    """The start form answers a bad value as Locust answers a bad user count: success false and our
    one line naming the option and the fix (the form shows it), nothing starts, nothing is written;
    a good form afterwards starts as usual."""
    with web_ui(seeded, tmp_path, "--phase-time", "2s", "--warmup", "1s", "--report-dir", str(tmp_path / "r")) as (
            base, proc):
        form = {"user_count": "2", "spawn_rate": "2", "host": "", "strategies": "db-only"}
        refused = http(base + "/swarm", {**form, "read_ratio": "1.5"})
        assert refused["success"] is False and refused["message"].startswith("--read-ratio: "), refused
        not_a_number = http(base + "/swarm", {**form, "read_ratio": "lots"})
        assert not_a_number["success"] is False and not_a_number["message"].startswith("--read-ratio: "), not_a_number
        unknown = http(base + "/swarm", {**form, "strategies": "db-only,cache-sideways"})
        assert unknown["success"] is False and "--strategies" in unknown["message"], unknown
        time.sleep(1)
        assert http(base + "/stats/requests")["state"] == "ready"  # nothing started
        assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
        started = http(base + "/swarm", {**form, "read_ratio": "0.5"})
        assert started["success"], started
        deadline = time.time() + 60
        while time.time() < deadline and not list((tmp_path / "r").glob("*/comparison.json")):
            time.sleep(0.5)
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    (report,) = (tmp_path / "r").glob("*/comparison.json")
    assert json.loads(report.read_text())["run"]["read_ratio"] == 0.5
    assert "Traceback" not in output
