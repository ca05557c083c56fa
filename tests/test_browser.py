"""A person's path through the web UI in headless Chromium: start a run, read the µs tab."""

import re
import shutil
import signal
import subprocess
import time

import pytest

from .conftest import BIN, MYSQL_URL, REDIS_URL, ROOT
from .test_web_ui import free_port, http

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium (.ci/run installs it)")


def test_start_from_the_form_and_see_microseconds(seeded, tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), "--web-host",
                             "127.0.0.1", "--web-port", str(port), "--namespace", seeded, "--mysql-url", MYSQL_URL,
                             "--redis-url", REDIS_URL, "--phase-time", "20s", "--warmup", "1s",
                             "--strategies", "cache-only", "--report-dir", str(tmp_path / "r")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                http(base + "/stats/requests")
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base)
            page.get_by_label("Number of users").fill("2")
            page.get_by_label("Ramp up").fill("2")
            page.get_by_role("button", name="Start").click()
            page.get_by_role("tab", name="cacheswarm (µs)").click()
            cell = page.get_by_role("cell", name=re.compile(r"cache-only read:hit"))
            cell.wait_for(timeout=20_000)
            row = page.get_by_role("row").filter(has=cell)
            text = row.inner_text()
            page.screenshot(path=str(tmp_path / "ui.png"))
            browser.close()
        p50 = float(text.split()[3])  # name, op:outcome, count, p50
        assert 0 < p50 < 5, text  # a sub-millisecond-ish value with decimals, not Locust's rounded 0
        assert re.search(r"\d\.\d{3}", text), text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
