"""comparison.json / .csv / .html writers."""

from __future__ import annotations

import csv
import json
import os
import tempfile

import jinja2
from markupsafe import Markup, escape

from ..catalog import PhaseKey
from ..slo import parse_rules
from . import answer
from .charts import (answer_figure, capacity_chart, latency_panels, legend_html, strategy_colors, throughput_chart,
                     timeline_chart)
from .headline import backend_label, emulator_note, emulator_of
from .regions import run_lines
from .rows import ROW_FIELDS

_env = jinja2.Environment(loader=jinja2.PackageLoader("cacheswarm.report", "templates"),
                          autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _atomic(path: str, text: str) -> None:
    """Write via a temp file and rename, so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    # mkstemp makes the file 0600; a report is read by others like the files beside it (umask applies)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


FORMAT_VERSION = 2  # comparison.json: 2 adds slo, capacity, headline, step/target_rate/thin per row


def write_json(path: str, report: dict) -> None:
    doc = {"format_version": FORMAT_VERSION, "run": report["run"], "headline": report.get("headline", []),
           "slo": report.get("slo", []), "slo_overall": report.get("slo_overall"),
           "capacity": report.get("capacity", {}), "phases": report["phases"], "summary": report["summary"],
           "rows": report["rows"], "timeline": report.get("timeline", {}),
           "server": report.get("server", []), "staleness": report.get("staleness", []),
           "stampede": report.get("stampede", []), "drills": report.get("drills", [])}
    _atomic(path, json.dumps(doc, indent=2) + "\n")


def write_csv(path: str, report: dict) -> None:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in report["rows"]:
        w.writerow({k: ("" if v is None else " ".join(v) if isinstance(v, list) else v) for k, v in row.items()})
    _atomic(path, buf.getvalue())


def _fmt(value, digits=3) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _read_p99_objective(run: dict, capacity: dict) -> float | None:
    """The read-p99-like threshold (ms) a search held to, to draw on its chart."""
    for rule in parse_rules(capacity.get("slo") or []):
        if rule.metric == "latency" and rule.percentile == 99:
            return rule.threshold
    return None


def write_junit(path: str, report: dict) -> None:
    """slo.junit.xml: one testcase per objective and scope; failed ones fail, inconclusive ones are
    skipped (CI systems render them as such)."""
    from xml.sax.saxutils import quoteattr

    results = report["slo"]
    failures = sum(1 for r in results if r["state"] == "fail")
    skipped = sum(1 for r in results if r["state"] == "inconclusive")
    name = report["run"].get("run_name", "cacheswarm")
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="cacheswarm SLO" tests="{len(results)}" failures="{failures}" skipped="{skipped}">',
           f'<testsuite name={quoteattr(name)} tests="{len(results)}" failures="{failures}" skipped="{skipped}">']
    for r in results:
        observed = "–" if r["observed"] is None else f'{r["observed"]}{r["unit"]}'
        message = quoteattr(f'observed {observed}' + (f' ({r["note"]})' if r.get("note") else ""))
        out.append(f'<testcase classname={quoteattr("slo." + r["scope"])} name={quoteattr(r["rule"])}>')
        if r["state"] == "fail":
            out.append(f"<failure message={message}/>")
        elif r["state"] == "inconclusive":
            out.append(f"<skipped message={message}/>")
        out.append(f"<system-out>{escape_xml(observed)}</system-out></testcase>")
    out += ["</testsuite>", "</testsuites>"]
    _atomic(path, "\n".join(out) + "\n")


def escape_xml(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(str(text))


def write_html(path: str, report: dict) -> None:
    _env.filters["fmt"] = _fmt
    _env.filters["wbr"] = lambda text: Markup("/<wbr>".join(escape(part) for part in str(text).split("/")))
    run = report["run"]
    labels = {f"{d}/{b}": f"{d} on {backend_label(b, run)}" for d in run.get("datasets") or []
              for b in run.get("backends") or []}
    caps: dict = {}
    for key, c in (report.get("capacity") or {}).items():
        caps.setdefault(key.rsplit("/", 1)[0], {})[key.rsplit("/", 1)[1]] = c
    objective = {g: _read_p99_objective(run, next(iter(c.values()))) for g, c in caps.items()}
    order = answer.strategy_order(report)
    colors = strategy_colors(order)
    fixed = [s for s in report["summary"] if s.get("step") is None]
    rows = [r for r in report["rows"] if r.get("step") is None]
    audited = sum(v.get("audited_hits") or 0 for v in report.get("staleness") or [])
    stale = sum(v.get("stale_reads") or 0 for v in report.get("staleness") or [])
    html = _env.get_template("comparison.html.j2").render(
        report=report, run=run, summary=fixed, rows=rows, step_rows=len(report["rows"]) - len(rows),
        phases=[p for p in report["phases"] if p.get("step") is None], labels=labels,
        answer=answer.answer_rows(report), slo_summary=answer.slo_summary(report.get("slo") or []),
        legend=legend_html(colors, [s for s in order if any(x["strategy"] == s for x in report["summary"])]),
        figure_svg=answer_figure(answer.figure_panels(report), colors),
        latency_svg=latency_panels(report["curves"], labels, colors), backend_label=lambda b: backend_label(b, run),
        capacity_svgs={g: capacity_chart(c, objective[g], colors) for g, c in caps.items()}, capacities=caps,
        throughput_svg=throughput_chart(fixed, colors, emulator=emulator_of("dynamodb", run) is not None),
        server=answer.server_rows(report), server_summary=answer.server_summary(report.get("server") or []),
        memory=answer.memory_lines(report), shards=answer.shard_lines(report) + answer.partition_lines(report), staleness=answer.staleness_rows(report),
        stale_summary=(f"{stale:,} stale of {audited:,} audited hits ({stale / audited:.2%})" if audited
                       else "no hits audited"),
        emulator_note=emulator_note, global_table=run_lines(run.get("global_table"), report.get("staleness")),
        timeline_svgs={k.replace("/dynamodb", "/dynamodb (emulator)", 1) if emulator_of(PhaseKey.parse(k).backend, run)
                       else k: timeline_chart(pts, float(run.get("warmup") or 0))
                       for k, pts in report.get("timeline", {}).items() if PhaseKey.parse(k).step is None})
    _atomic(path, html)
