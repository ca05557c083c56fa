"""A person's path through the web UI in headless Chromium: start a run, read the µs tab."""

import re
import shutil

import pytest

from .helpers import web_ui

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium (.ci/run installs it)")


def test_start_from_the_form_and_see_microseconds(seeded, tmp_path):
    from playwright.sync_api import sync_playwright

    with web_ui(seeded, tmp_path, "--phase-time", "20s", "--warmup", "1s", "--strategies", "cache-only",
                "--report-dir", str(tmp_path / "r")) as (base, _proc), sync_playwright() as p:
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
