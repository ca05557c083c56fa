"""Inline SVG charts (no JavaScript, no CDN: the report opens offline)."""

from __future__ import annotations

import math
from html import escape

COLORS = {"db-only": "#c0392b", "cache-only": "#27ae60", "cache-aside": "#2980b9"}
EXTRA = ("#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#f39c12")


def _color(name: str, i: int) -> str:
    return COLORS.get(name.rsplit("/", 1)[-1], EXTRA[i % len(EXTRA)])


def _legend(x: float, top: float, i: int, color: str, name: str) -> str:
    """The i-th legend entry right of a plot area ending at x."""
    ly = top + 16 + 18 * i
    return (f'<rect x="{x + 12}" y="{ly - 9}" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 30}" y="{ly + 1}" font-size="12">{escape(name)}</text>')


def _decades(values) -> tuple[float, float]:
    values = [v for v in values if v and v > 0]
    lo = 10 ** math.floor(math.log10(min(values))) if values else 0.01
    hi = 10 ** math.ceil(math.log10(max(values))) if values else 1
    return lo, (hi if hi > lo else lo * 10)


def latency_panels(curves: dict, labels: dict) -> str:
    """Small multiples: one read-latency-by-percentile panel per dataset x backend, its strategies
    in it, every panel on the same axes (so panels compare at a glance)."""
    if not curves:
        return "<p>No reads were measured.</p>"
    lo, hi = _decades(v for pts in curves.values() for _, v in pts)
    groups: dict = {}
    for name, pts in curves.items():
        groups.setdefault(name.rsplit("/", 1)[0], {})[name.rsplit("/", 1)[1]] = pts
    return "".join(f'<figure class="panel"><figcaption>{escape(labels.get(g, g))}</figcaption>'
                   f'{latency_chart(c, 430, 260, (lo, hi), 130)}</figure>' for g, c in groups.items())


def latency_chart(curves: dict, width=860, height=340, axis=None, legend=300) -> str:
    """Read latency by percentile: x = log10(1/(1-p)) (HDR 'percentile spectrum'), y = log ms."""
    if not curves:
        return "<p>No reads were measured.</p>"
    left, right, top, bottom = 60, legend, 20, 50
    pw, ph = width - left - right, height - top - bottom
    lo, hi = axis or _decades(v for pts in curves.values() for _, v in pts)
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
        out.append(_legend(left + pw, top, i, color, name))
    out.append("</svg>")
    return "".join(out)


def throughput_chart(summary: list[dict], width=720, bar=26, emulator: bool = False) -> str:
    """Horizontal bars: total ops/s per phase (DynamoDB marked as the emulator's when it was)."""
    if not summary:
        return "<p>No operations were measured.</p>"
    left, right = 270, 110
    top = 10
    height = top + len(summary) * (bar + 10) + 10
    peak = max((s["throughput_ops"] or 0) for s in summary) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           'aria-label="throughput per strategy">']
    for i, s in enumerate(summary):
        backend = s["backend"] + (" (emulator)" if emulator and s["backend"] == "dynamodb" else "")
        name = f'{s["dataset"]}/{backend}/{s["strategy"]}'
        y = top + i * (bar + 10)
        w = (width - left - right) * (s["throughput_ops"] or 0) / peak
        out.append(f'<text x="{left - 8}" y="{y + bar * 0.65:.1f}" text-anchor="end" font-size="12">{escape(name)}</text>'
                   f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{_color(name, i)}"/>'
                   f'<text x="{left + w + 6:.1f}" y="{y + bar * 0.65:.1f}" font-size="12">'
                   f'{s["throughput_ops"]:,.0f} ops/s</text>')
    out.append("</svg>")
    return "".join(out)


def capacity_chart(caps: dict, objective_ms: float | None, width=430, height=260) -> str:
    """Latency vs throughput per strategy (the hockey stick): x = achieved ops/s, y = read p99 (log),
    the objective as a dashed line, failed steps hollow."""
    fig = "read_p99_ms" if any(s.get("read_p99_ms") for c in caps.values() for s in c["steps"]) else "write_p99_ms"
    label = fig.split("_")[0]
    pts = {name: [{**s, "read_p99_ms": s[fig]} for s in c["steps"] if s.get(fig)] for name, c in caps.items()}
    values = [s["read_p99_ms"] for ss in pts.values() for s in ss] + ([objective_ms] if objective_ms else [])
    if not any(pts.values()):
        return "<p>No step completed a read.</p>"
    left, right, top, bottom = 60, 110, 20, 46
    pw, ph = width - left - right, height - top - bottom
    lo, hi = _decades(values)
    xmax = max((s["achieved"] or s["rate"]) for ss in pts.values() for s in ss) * 1.08 or 1
    x_of = lambda x: left + pw * x / xmax  # noqa: E731
    y_of = lambda v: top + ph * (1 - (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           'aria-label="read p99 by achieved throughput">']
    decade = lo
    while decade <= hi * 1.0001:
        out.append(f'<line x1="{left}" y1="{y_of(decade):.1f}" x2="{left + pw}" y2="{y_of(decade):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y_of(decade) + 4:.1f}" text-anchor="end" font-size="11">{decade:g} ms</text>')
        decade *= 10
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        x = xmax * frac
        out.append(f'<text x="{x_of(x):.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">{x:,.0f}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle" font-size="12">achieved ops/s '
               f'({label} p99 per step)</text>')
    if objective_ms:
        y = y_of(objective_ms)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#555" stroke-dasharray="5,4"/>'
                   f'<text x="{left + pw}" y="{y - 4:.1f}" text-anchor="end" font-size="11">objective {objective_ms:g} ms</text>')
    for i, (name, steps) in enumerate(pts.items()):
        color = _color(name, i)
        line = " ".join(f"{x_of(s['achieved'] or s['rate']):.1f},{y_of(s['read_p99_ms']):.1f}"
                        for s in sorted(steps, key=lambda s: s["achieved"] or s["rate"]))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{line}"/>')
        for s in steps:
            fill = color if s["passed"] else "#fff"
            out.append(f'<circle cx="{x_of(s["achieved"] or s["rate"]):.1f}" cy="{y_of(s["read_p99_ms"]):.1f}" r="4" '
                       f'fill="{fill}" stroke="{color}" stroke-width="2"><title>{escape(name)}: target '
                       f'{s["rate"]:,.0f}, achieved {s["achieved"]:,.0f} ops/s, {label} p99 {s["read_p99_ms"]:.3f} ms, '
                       f'{"met" if s["passed"] else "broke"} the objective</title></circle>')
        out.append(_legend(left + pw, top, i, color, name))
    out.append("</svg>")
    return "".join(out)


def timeline_chart(points: list[dict], warmup: float, width=430, height=150) -> str:
    """One phase over time: ops/s per second (grey bars, left axis), read+write p99 (red line,
    right axis, ms) and the read hit ratio (blue, 0..1, on the bars' axis scaled); warm-up shaded."""
    if not points:
        return "<p>–</p>"
    left, right, top, bottom = 46, 52, 10, 26
    pw, ph = width - left - right, height - top - bottom
    t0, t1 = min(p["t"] for p in points), max(p["t"] for p in points) + 1
    peak = max(p["ops"] + p["failed"] for p in points) or 1
    p99s = [p["p99_ms"] for p in points if p["p99_ms"]]
    p99max = max(p99s) * 1.1 if p99s else 1
    x_of = lambda t: left + pw * (t - t0) / max(t1 - t0, 1)  # noqa: E731
    bw = max(pw / max(t1 - t0, 1) - 1, 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           'aria-label="ops/s, p99 and hit ratio per second">']
    if warmup > 0 and t0 < warmup:
        out.append(f'<rect x="{x_of(t0):.1f}" y="{top}" width="{x_of(min(warmup, t1)) - x_of(t0):.1f}" height="{ph}" '
                   'fill="#f4f4f4"><title>warm-up (left out of the figures above)</title></rect>')
    for p in points:
        h = ph * p["ops"] / peak
        out.append(f'<rect x="{x_of(p["t"]):.1f}" y="{top + ph - h:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="#bbb">'
                   f'<title>second {p["t"]}: {p["ops"]:,} ops, {p["failed"]:,} failed, p99 '
                   f'{p["p99_ms"] if p["p99_ms"] is not None else "–"} ms, hit ratio '
                   f'{p["hit_ratio"] if p["hit_ratio"] is not None else "–"}</title></rect>')
        if p["failed"]:
            hf = ph * p["failed"] / peak
            out.append(f'<rect x="{x_of(p["t"]):.1f}" y="{top + ph - h - hf:.1f}" width="{bw:.1f}" height="{hf:.1f}" fill="#c0392b"/>')
    mid = lambda p: x_of(p["t"]) + bw / 2  # noqa: E731
    line = " ".join(f'{mid(p):.1f},{top + ph * (1 - p["p99_ms"] / p99max):.1f}' for p in points if p["p99_ms"])
    if line:
        out.append(f'<polyline fill="none" stroke="#c0392b" stroke-width="1.5" points="{line}"/>')
    hits = " ".join(f'{mid(p):.1f},{top + ph * (1 - p["hit_ratio"]):.1f}' for p in points if p["hit_ratio"] is not None)
    if hits:
        out.append(f'<polyline fill="none" stroke="#2980b9" stroke-width="1.5" points="{hits}"/>')
    out.append(f'<text x="{left - 4}" y="{top + 9}" text-anchor="end" font-size="10">{peak:,}</text>'
               f'<text x="{left - 4}" y="{top + ph}" text-anchor="end" font-size="10">0</text>'
               f'<text x="{left - 4}" y="{top + ph / 2}" text-anchor="end" font-size="10">ops/s</text>'
               f'<text x="{left + pw + 4}" y="{top + 9}" font-size="10" fill="#c0392b">{p99max:.3g} ms</text>'
               f'<text x="{left + pw + 4}" y="{top + ph / 2}" font-size="10" fill="#c0392b">p99</text>'
               f'<text x="{left}" y="{height - 8}" font-size="10">{t0} s</text>'
               f'<text x="{left + pw}" y="{height - 8}" text-anchor="end" font-size="10">{t1} s</text>')
    out.append("</svg>")
    return "".join(out)
