"""The HTML report as a reader sees it, in headless Chromium at 1280x900 (issue 23): the first screen
holds the verdicts and the figure, nothing is wider than the window, no SVG label is cut at its edge.
On the demo's own scenario (shortened: capacity searches, fixed-load phases, MySQL and DynamoDB Local)
and on a two-phase closed-loop run."""

import json
import shutil

import pytest
from cacheswarm.stores import mysql_restaurants

from .conftest import MYSQL_URL, REDIS_URL, ROOT, run_locust
from .report_layout import CHROMIUM, VIEWPORT, look
from .test_end_to_end import common, only_report

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium (.ci/run installs it)")


def _assert_readable(report, tmp_path):
    seen = look(str(report / "comparison.html"), screenshot=str(tmp_path / "first-screen.png"))
    first = seen["first"]
    # the verdicts and the whole figure are on the first screen, before any scrolling
    assert first["verdicts"] and first["figure"], first
    assert first["verdicts"][0] < first["figure"][0] and first["figure"][1] <= VIEWPORT["height"], first
    assert first["figure_svgs"] >= 1 and first["closed"] >= 3, first  # the detail waits behind its headings
    # every section opened: no horizontal scroll, no element past the window, no label past its SVG
    assert seen["scroll_width"] <= seen["width"], seen["wide"][:10]
    assert seen["wide"] == [], seen["wide"][:10]
    assert seen["svg_texts"] > 20 and seen["clipped"] == [], seen["clipped"][:10]
    printed = seen["printed"]  # on A4 too
    assert printed["wide"] == [] and printed["clipped"] == [], (printed["wide"][:10], printed["clipped"][:10])
    return seen


def test_the_demo_scenario_reads_on_one_screen(seeded, target, tmp_path):
    mysql_restaurants.seed(target, seeded, 40, 6)
    out = run_locust(["--config", str(ROOT / "scenarios" / "quick.conf"), *common(seeded, tmp_path / "r", users=8),
                      "--capacity-start", "250", "--capacity-max-rate", "1000", "--capacity-refine", "0",
                      "--target-rate", "150"], cwd=tmp_path, timeout=400)
    assert out.returncode in (0, 4), out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["capacity"] and {p["backend"] for p in doc["phases"]} == {"mysql", "dynamodb"}
    _assert_readable(report, tmp_path)
    html = (report / "comparison.html").read_text()
    # one figure panel per dataset x backend, and the answer table has a row per strategy of each
    assert html.count('aria-label="read p99 against throughput: ') == 4
    table = html[html.index('id="answer-table"'):html.index("</table>", html.index('id="answer-table"'))]
    assert table.count("<tr><td") == 12, table
    # a capacity step's rows are folded: the server and staleness tables name each search once
    servers = html[html.index('id="servers"'):]
    assert "products/<wbr>mysql/<wbr>db-only@" not in servers and "capacity steps, summed" in servers


def test_a_two_phase_closed_loop_report_reads_on_one_screen(seeded, tmp_path):
    out = run_locust([*common(seeded, tmp_path / "r", phase="3s"), "--mysql-url", MYSQL_URL, "--redis-url", REDIS_URL,
                      "--strategies", "db-only,cache-aside", "--slo", "read p99 < 1s"], cwd=tmp_path)
    assert out.returncode in (0, 4), out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["run"]["model"] == "closed" and len(doc["phases"]) == 2
    _assert_readable(report, tmp_path)
    html = (report / "comparison.html").read_text()
    assert html.count('aria-label="read p99 against throughput: ') == 1
    assert 'id="throughput"' in html  # closed loop: throughputs differ, so their bars are shown
