"""comparison.json / .csv / .html writers."""

from __future__ import annotations

import csv
import json
import os
import tempfile

import jinja2

from .charts import latency_chart, throughput_chart
from .rows import ROW_FIELDS

_env = jinja2.Environment(loader=jinja2.PackageLoader("cacheswarm.report", "templates"),
                          autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _atomic(path: str, text: str) -> None:
    """Write via a temp file and rename, so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str, report: dict) -> None:
    doc = {"run": report["run"], "phases": report["phases"], "summary": report["summary"], "rows": report["rows"]}
    _atomic(path, json.dumps(doc, indent=2) + "\n")


def write_csv(path: str, report: dict) -> None:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in report["rows"]:
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    _atomic(path, buf.getvalue())


def _fmt(value, digits=3) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def write_html(path: str, report: dict) -> None:
    _env.filters["fmt"] = _fmt
    html = _env.get_template("comparison.html.j2").render(
        report=report, run=report["run"], summary=report["summary"], rows=report["rows"],
        phases=report["phases"], latency_svg=latency_chart(report["curves"]),
        throughput_svg=throughput_chart(report["summary"]))
    _atomic(path, html)
