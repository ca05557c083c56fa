"""Reports from merged histograms: comparison.csv / .json / .html and the raw histograms.

`histograms.json` holds everything needed to render again (`cacheswarm report DIR`):
{"run": {...}, "phases": [...], "histograms": {series key: encoded HDR histogram}}.
"""

from __future__ import annotations

import json
import os

from .. import slo
from ..optbase import BadInput
from . import headline
from .rows import build
from .writers import write_csv, write_html, write_json, write_junit

RAW_FILE = "histograms.json"


def new_directory(root: str, name: str) -> str:
    """Create and return <root>/<name>, or <name>-2, -3 ... if taken: a report directory is never
    reused (two runs started in the same second wrote into one and overwrote each other)."""
    os.makedirs(root, exist_ok=True)
    for n in range(1, 10_000):
        path = os.path.join(root, name if n == 1 else f"{name}-{n}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free report directory name like {name} in {root}")


def write_all(directory: str, data: dict) -> dict:
    """Write the raw histograms and every comparison file into `directory`; return the report."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, RAW_FILE), "w", encoding="utf-8") as f:
        json.dump(data, f)
    return render(directory, data)


class BadRawFile(Exception):
    """histograms.json is not what a run writes: str() says what is wrong."""


def load_raw(path: str) -> dict:
    """Read and check a histograms.json; BadRawFile if it is corrupt or of another shape."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadRawFile(f"not readable JSON ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(data, dict):
        raise BadRawFile("not a JSON object with run, phases and histograms")
    shapes = (("run", dict), ("phases", list), ("histograms", dict))
    for name, kind in shapes:
        if not isinstance(data.get(name), kind):
            raise BadRawFile(f"'{name}' is missing or not a JSON {'object' if kind is dict else 'list'}")
    for key, blob in data["histograms"].items():
        if not isinstance(blob, str) or len(key.split("|")) not in (2, 7):
            raise BadRawFile(f"histogram {key[:60]!r} is not a cacheswarm series")
    for p in data["phases"]:
        if not isinstance(p, dict) or not all(isinstance(p.get(k), str) for k in ("dataset", "backend", "strategy")):
            raise BadRawFile("a phase lacks dataset, backend or strategy")
    return data


def render(directory: str, data: dict | None = None) -> dict:
    if data is None:
        data = load_raw(os.path.join(directory, RAW_FILE))
        try:  # build() decodes the histograms once; a damaged blob or field fails here
            report = build(data)
        except Exception as e:  # hdrh raises assorted errors (zlib, struct, base64); fields Type/Value/KeyError
            raise BadRawFile(f"a histogram or field does not decode ({type(e).__name__}: {str(e)[:80]})") from None
    else:
        report = build(data)
    verdicts(report)
    write_json(os.path.join(directory, "comparison.json"), report)
    write_csv(os.path.join(directory, "comparison.csv"), report)
    write_html(os.path.join(directory, "comparison.html"), report)
    if report["slo"]:
        write_junit(os.path.join(directory, "slo.junit.xml"), report)
    return report


def untrusted_phases(report: dict) -> dict:
    """{phase key: why} of the phases whose servers' counters disagree with the clients (another
    client's traffic on a shared server, or a defect) or restarted: their figures cannot decide."""
    out = {}
    for v in report.get("server") or []:
        if v.get("restarts"):
            out[v["phase"]] = v["restarts"][0]
        elif v.get("mismatches"):
            c = v["mismatches"][0]
            out[v["phase"]] = (f"the servers saw other traffic: {c['server']} {c['what']} {c['server_value']:,} "
                               f"against {c['client']:,} the clients sent")
    return out


def distrust(results: list[dict], untrusted: dict) -> list[dict]:
    """A result that rests on an untrusted phase (its own, a capacity search's steps, or either side of
    a ratio in its dataset/backend) is inconclusive, and its note says why first (an inconclusive one
    keeps its own reason after it)."""
    for r in results:
        if not untrusted:
            break
        scope = r["scope"]
        hit = next((k for k in untrusted if k == scope or k.startswith(scope + "/") or k.startswith(scope + "@")),
                   None)
        if hit is not None:
            r.update(state=slo.INCONCLUSIVE, ok=None,
                     note=f"not decided: in {hit} {untrusted[hit]}" + (f"; {r['note']}" if r.get("note") else ""))
    return results


def verdicts(report: dict) -> dict:
    """The run's objectives evaluated on its merged histograms, and the headline sentences."""
    run = report["run"]
    report["capacity"] = run.get("capacity") or {}
    try:
        rules = slo.parse_rules(run.get("slo") or [])
    except BadInput as e:
        raise BadRawFile(f"an objective in run.slo does not parse ({e})") from None
    report["slo"] = distrust(slo.evaluate(rules, report), untrusted_phases(report))
    report["slo_overall"] = slo.overall(report["slo"])
    report["headline"] = headline.sentences(report)
    return report
