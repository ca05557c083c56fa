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
        page.get_by_role("tab", name="cacheswarm live").click()
        cell = page.get_by_role("cell", name="products/mysql/cache-only", exact=True)
        cell.wait_for(timeout=20_000)
        row = page.get_by_role("row").filter(has=cell)
        page.wait_for_function("() => /cache-only\\t[1-9]/.test(document.body.innerText)", timeout=20_000)
        text = row.inner_text()
        page.screenshot(path=str(tmp_path / "ui.png"))
        browser.close()
    cells = text.split()  # phase, ops done, ops/s, hit ratio, read p50 ms, ...
    assert cells[3] == "1.00", text  # cache-only: every read hits; two decimals, as the report shows hit ratios
    p50 = float(cells[4])
    assert 0 < p50 < 5, text  # a sub-millisecond-ish value with decimals, not Locust's rounded 0
    assert p50 != round(p50), text  # µs precision (0.12 is 120 µs), never whole milliseconds


def test_the_form_puts_the_run_shape_first_offers_drop_downs_and_the_live_tab_shows_verdicts(seeded, tmp_path):
    from playwright.sync_api import sync_playwright

    # open loop below the generator's limit (a closed-loop phase here is generator-bound: inconclusive)
    with web_ui(seeded, tmp_path, "--phase-time", "4s", "--warmup", "1s", "--strategies", "db-only",
                "--target-rate", "200", "--report-dir", str(tmp_path / "r")) as (base, _proc), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(base)
        page.get_by_text("Custom parameters").click()
        form = page.locator("form").first.inner_text()
        # the run's shape and objectives come before the connection details
        assert form.index("Strategies (") < form.index("Slo (") < form.index("Mysql Url ("), form[:3000]
        # a choice field is a drop-down with its choices
        select = page.get_by_label(re.compile(r"^Write Policy \("))  # a native <select>
        assert select.locator("option").all_inner_texts() == ["invalidate", "write-through", "versioned", "double-delete"]
        select.select_option("write-through")
        page.get_by_label("Number of users").fill("2")
        page.get_by_label("Ramp up").fill("2")
        page.get_by_label(re.compile(r"^Slo \(")).fill("read p99 < 10s; db-only: read p50 < 1us")
        page.get_by_role("button", name="Start").click()
        page.get_by_role("tab", name="cacheswarm live").click()
        # while it runs, the tab's first row says where the run is and about how long is left
        page.get_by_text(re.compile(r"^phase 1/1 products/mysql/db-only .*left")).wait_for(timeout=20_000)
        page.get_by_text(re.compile(r"report: .*comparison\.html")).wait_for(timeout=40_000)
        text = page.locator("body").inner_text()
        page.screenshot(path=str(tmp_path / "ui-end.png"))
        browser.close()
    row = next(ln for ln in text.splitlines() if ln.startswith("products/mysql/db-only"))
    assert "fail" in row, row  # the 1 µs median fails; the tab says so
    (report,) = (tmp_path / "r").iterdir()
    import json
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["write_policy"] == "write-through" and doc["run"]["slo"] == ["read p99 < 10s",
                                                                                  "db-only: read p50 < 1us"]
    assert doc["slo_overall"] == "fail"


def test_a_bad_value_in_the_form_is_shown_where_start_was_pressed(seeded, tmp_path):
    from playwright.sync_api import sync_playwright

    with web_ui(seeded, tmp_path, "--phase-time", "2s", "--warmup", "1s", "--strategies", "db-only",
                "--report-dir", str(tmp_path / "r")) as (base, _proc), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base)
        page.get_by_text("Custom parameters").click()
        page.get_by_label("Number of users").fill("2")
        page.get_by_label("Ramp up").fill("2")
        page.get_by_label(re.compile(r"^Read Ratio \(")).fill("1.5")
        page.get_by_role("button", name="Start").click()
        error = page.get_by_text(re.compile(r"^--read-ratio: "))
        error.wait_for(timeout=10_000)
        assert error.is_visible() and page.get_by_role("button", name="Start").is_visible()  # still the form
        browser.close()
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())

