"""The web UI path: the form starts the shape, form values reach our options, the report is written."""

import json
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

from .conftest import BIN, MYSQL_URL, REDIS_URL, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, data=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=10) as r:
        return json.loads(r.read())


def test_run_started_from_the_web_ui_writes_a_report(seeded, tmp_path):
    port = free_port()
    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), "--web-host",
                             "127.0.0.1", "--web-port", str(port), "--namespace", seeded, "--mysql-url", MYSQL_URL,
                             "--redis-url", REDIS_URL, "--phase-time", "3s", "--warmup", "1s",
                             "--report-dir", str(tmp_path / "r")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                http(base + "/stats/requests")
                break
            except OSError:
                time.sleep(0.2)
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
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    reports = list((tmp_path / "r").glob("*/comparison.json"))
    assert len(reports) == 1, output[-3000:]
    doc = json.loads(reports[0].read_text())
    assert doc["run"]["read_ratio"] == 0.8 and doc["run"]["strategies"] == ["db-only", "cache-aside"]
    assert doc["run"]["partial"] is False
    assert {r["strategy"] for r in doc["rows"]} == {"db-only", "cache-aside"}
    assert "Traceback" not in output
