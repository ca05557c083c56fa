"""The web UI path: the form starts the shape, form values reach our options, the report is written."""

import json
import time

from .helpers import http, web_ui


def test_run_started_from_the_web_ui_writes_a_report(seeded, tmp_path):
    with web_ui(seeded, tmp_path, "--phase-time", "3s", "--warmup", "1s", "--report-dir", str(tmp_path / "r")) as (
            base, proc):
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
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    reports = list((tmp_path / "r").glob("*/comparison.json"))
    assert len(reports) == 1, output[-3000:]
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
