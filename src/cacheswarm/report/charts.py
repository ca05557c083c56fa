"""Inline SVG charts (no JavaScript, no CDN: the report opens offline)."""

from __future__ import annotations

import math
from html import escape

COLORS = {"db-only": "#c0392b", "cache-only": "#27ae60", "cache-aside": "#2980b9"}
EXTRA = ("#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#f39c12")


def _color(name: str, i: int) -> str:
    return COLORS.get(name.rsplit("/", 1)[-1], EXTRA[i % len(EXTRA)])


def latency_chart(curves: dict, width=860, height=340) -> str:
    """Read latency by percentile: x = log10(1/(1-p)) (HDR 'percentile spectrum'), y = log ms."""
    if not curves:
        return "<p>No reads were measured.</p>"
    left, right, top, bottom = 70, 300, 20, 50
    pw, ph = width - left - right, height - top - bottom
    values = [v for pts in curves.values() for _, v in pts if v and v > 0]
    lo = 10 ** math.floor(math.log10(min(values))) if values else 0.01
    hi = 10 ** math.ceil(math.log10(max(values))) if values else 1
    if hi <= lo:
        hi = lo * 10
    pcts = [p for p, _ in next(iter(curves.values()))]
    xs = [math.log10(100 / (100 - p)) for p in pcts]
    x_of = lambda x: left + pw * (x - xs[0]) / (xs[-1] - xs[0])  # noqa: E731
    y_of = lambda v: top + ph * (1 - (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           'aria-label="read latency by percentile">']
    decade = lo
    while decade <= hi * 1.0001:
        y = y_of(decade)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{decade:g} ms</text>')
        decade *= 10
    for p, x in zip(pcts, xs):
        out.append(f'<line x1="{x_of(x):.1f}" y1="{top}" x2="{x_of(x):.1f}" y2="{top + ph}" stroke="#eee"/>'
                   f'<text x="{x_of(x):.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">p{p:g}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle" font-size="12">percentile '
               '(log scale of 1/(1-p))</text>')
    for i, (name, pts) in enumerate(curves.items()):
        color = _color(name, i)
        path = " ".join(f"{x_of(x):.1f},{y_of(v):.1f}" for x, (_, v) in zip(xs, pts))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for x, (p, v) in zip(xs, pts):
            out.append(f'<circle cx="{x_of(x):.1f}" cy="{y_of(v):.1f}" r="3" fill="{color}">'
                       f'<title>{escape(name)} p{p:g}: {v:.3f} ms</title></circle>')
        ly = top + 16 + 18 * i
        out.append(f'<rect x="{left + pw + 12}" y="{ly - 9}" width="12" height="12" fill="{color}"/>'
                   f'<text x="{left + pw + 30}" y="{ly + 1}" font-size="12">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def throughput_chart(summary: list[dict], width=720, bar=26) -> str:
    """Horizontal bars: total ops/s per phase."""
    if not summary:
        return "<p>No operations were measured.</p>"
    left, right = 230, 110
    top = 10
    height = top + len(summary) * (bar + 10) + 10
    peak = max((s["throughput_ops"] or 0) for s in summary) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           'aria-label="throughput per strategy">']
    for i, s in enumerate(summary):
        name = f'{s["dataset"]}/{s["backend"]}/{s["strategy"]}'
        y = top + i * (bar + 10)
        w = (width - left - right) * (s["throughput_ops"] or 0) / peak
        out.append(f'<text x="{left - 8}" y="{y + bar * 0.65:.1f}" text-anchor="end" font-size="12">{escape(name)}</text>'
                   f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{_color(name, i)}"/>'
                   f'<text x="{left + w + 6:.1f}" y="{y + bar * 0.65:.1f}" font-size="12">'
                   f'{s["throughput_ops"]:,.0f} ops/s</text>')
    out.append("</svg>")
    return "".join(out)
