"""Reports from merged histograms: comparison.csv / .json / .html and the raw histograms.

`histograms.json` holds everything needed to render again (`cacheswarm report DIR`):
{"run": {...}, "phases": [...], "histograms": {series key: encoded HDR histogram}}.
"""

from __future__ import annotations

import json
import os

from .rows import build
from .writers import write_csv, write_html, write_json

RAW_FILE = "histograms.json"


def write_all(directory: str, data: dict) -> dict:
    """Write the raw histograms and every comparison file into `directory`; return the report."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, RAW_FILE), "w", encoding="utf-8") as f:
        json.dump(data, f)
    return render(directory, data)


def render(directory: str, data: dict | None = None) -> dict:
    if data is None:
        with open(os.path.join(directory, RAW_FILE), encoding="utf-8") as f:
            data = json.load(f)
    report = build(data)
    write_json(os.path.join(directory, "comparison.json"), report)
    write_csv(os.path.join(directory, "comparison.csv"), report)
    write_html(os.path.join(directory, "comparison.html"), report)
    return report
