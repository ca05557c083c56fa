"""Inline SVG charts (no JavaScript, no CDN: the report opens offline).

One colour and one marker per strategy everywhere (Okabe and Ito's colour-blind-safe palette, in the
run's strategy order), axes on round 1-2-5 ticks with units, and every label placed inside its SVG
(widths estimated from the font size, so nothing is clipped at any length of name)."""

from __future__ import annotations

import math
from html import escape

from .. import catalog

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency
FIXED = {"db-only": "#D55E00", "cache-only": "#009E73", "cache-aside": "#0072B2"}
EXTRA = ("#E69F00", "#CC79A7", "#56B4E9", "#000000", "#8C6D31")
MARKERS = ("circle", "square", "triangle", "diamond")
FONT = "font-family=\"system-ui, sans-serif\""


def strategy_colors(strategies) -> dict:
    """strategy -> colour: the three base strategies keep theirs; the others take the rest in order."""
    out, extra = {}, iter(EXTRA * 4)
    for s in strategies:
        if s not in out:
            out[s] = FIXED.get(s) or next(extra)
    return out


def _color(colors: dict, name: str) -> str:
    strategy = name.rsplit("/", 1)[-1]
    if strategy not in colors:
        colors[strategy] = strategy_colors([*colors, strategy])[strategy]
    return colors[strategy]


def _marker(kind: str, x: float, y: float, color: str, filled: bool = True, r: float = 4, title: str = "") -> str:
    fill = color if filled else "#fff"
    tip = f"<title>{escape(title)}</title>" if title else ""
    common = f'fill="{fill}" stroke="{color}" stroke-width="1.8"'
    if kind == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" {common}>{tip}</rect>'
    if kind == "triangle":
        pts = f"{x:.1f},{y - r * 1.2:.1f} {x - r * 1.1:.1f},{y + r * 0.9:.1f} {x + r * 1.1:.1f},{y + r * 0.9:.1f}"
        return f'<polygon points="{pts}" {common}>{tip}</polygon>'
    if kind == "diamond":
        pts = f"{x:.1f},{y - r * 1.3:.1f} {x + r * 1.1:.1f},{y:.1f} {x:.1f},{y + r * 1.3:.1f} {x - r * 1.1:.1f},{y:.1f}"
        return f'<polygon points="{pts}" {common}>{tip}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" {common}>{tip}</circle>'


def marker_of(colors: dict, strategy: str) -> str:
    names = list(colors)
    return MARKERS[names.index(strategy) % len(MARKERS)] if strategy in names else MARKERS[0]


def legend_html(colors: dict, strategies) -> str:
    """The strategies' colours and markers as HTML (it wraps; an SVG legend would be cut)."""
    items = []
    for s in strategies:
        c = colors[s]
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="26" height="14" aria-hidden="true">'
               f'<line x1="1" y1="7" x2="25" y2="7" stroke="{c}" stroke-width="2"/>{_marker(marker_of(colors, s), 13, 7, c)}</svg>')
        items.append(f'<span class="key">{svg} {escape(s)}</span>')
    return '<p class="legend">' + " ".join(items) + "</p>"


def text_width(text: str, size: float) -> float:
    """A generous estimate of a label's width in px (system sans-serif averages ~0.55 em per character)."""
    return len(text) * size * 0.62


# ---------------------------------------------------------------- ticks

def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Linear ticks at a 1-2-5 step from 0 (or lo) covering [lo, hi], at most `most` of them."""
    if hi <= lo:
        hi = lo + 1
    span = hi - lo
    for step in (m * 10 ** e for e in range(math.floor(math.log10(span / most)) - 1, 20) for m in (1, 2, 5)):
        first = math.floor(lo / step) * step
        n = math.ceil((hi - first) / step - 1e-9) + 1
        if n <= most:
            return [first + i * step for i in range(n)]
    return [lo, hi]


def log_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """(low end, high end, ticks) for a log axis over [lo, hi]: ends and ticks on 1-2-5 values; only
    powers of ten when the axis spans more than three decades."""
    lo, hi = max(lo, 1e-6), max(hi, lo * 1.01)
    seq = [m * 10 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2) for m in (1, 2, 5)]
    low = max(v for v in seq if v <= lo * 1.0001)
    high = min(v for v in seq if v >= hi * 0.9999)
    if high <= low:
        high = next(v for v in seq if v > low)
    ticks = [v for v in seq if low * 0.9999 <= v <= high * 1.0001]
    if math.log10(high / low) > 3:
        ticks = [v for v in ticks if abs(math.log10(v) - round(math.log10(v))) < 1e-9] or ticks
    return low, high, ticks


def fmt_ms(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g} s"
    return f"{v:g} ms"


def fmt_ops(v: float) -> str:
    if v >= 1000 and v % 1000 == 0:
        return f"{v / 1000:g}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    return f"{v:g}"


class _LogAxis:
    def __init__(self, lo: float, hi: float, start: float, length: float, flip: bool):
        self.lo, self.hi, self.ticks = log_ticks(lo, hi)
        self.start, self.length, self.flip = start, length, flip

    def __call__(self, v: float) -> float:
        f = (math.log10(max(v, self.lo)) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        f = min(max(f, 0.0), 1.0)
        return self.start + self.length * ((1 - f) if self.flip else f)


def _svg(width: float, height: float, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(label)}" {FONT}>')


def _y_grid(out: list, axis: _LogAxis, left: float, right: float, fmt=fmt_ms) -> None:
    for t in axis.ticks:
        y = axis(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="#e2e2e2"/>'
                   f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{fmt(t)}</text>')


def _x_labels(out: list, positions: list[tuple[float, str]], y: float, size: float = 11,
              width: float | None = None) -> None:
    """Tick labels along x, dropping any that would touch the one before; the last kept inside `width`."""
    last = -1e9
    for x, text in positions:
        half = text_width(text, size) / 2
        if width is not None and x + half > width - 1:
            x = width - 1 - half
        if x - half < last + 4:
            continue
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="{size}">{escape(text)}</text>')
        last = x + half


# ---------------------------------------------------------------- the first screen's figure

def answer_figure(panels: list[dict], colors: dict, width: float = 1200, per_row: int = 4) -> str:
    """Small multiples, one per dataset x backend on shared log axes: read p99 (y) against achieved
    throughput (x) per strategy; a capacity search is a line of steps (failed steps hollow, the
    capacity ringed), a fixed-load phase a point with its p99's 95% interval; the panel's read-p99
    objective dashed. panels: [{title, objective_ms, series: {strategy: [{x, y, lo, hi, passed,
    knee, search, note}]}}]."""
    if not panels:
        return "<p>No reads were measured.</p>"
    points = [pt for p in panels for pts in p["series"].values() for pt in pts]
    ys = [v for pt in points for v in (pt["y"], pt.get("lo"), pt.get("hi")) if v] + \
         [p["objective_ms"] for p in panels if p.get("objective_ms")]
    xs = [pt["x"] for pt in points if pt["x"]]
    if not ys or not xs:
        return "<p>No reads were measured.</p>"
    n = min(per_row, len(panels))
    gap = 10
    pw_total = (width - gap * (n - 1)) / n
    height = 250
    left, right, top, bottom = 52, 10, 26, 40
    pw, ph = pw_total - left - right, height - top - bottom
    xa = _LogAxis(min(xs) / 1.3, max(xs) * 1.3, left, pw, flip=False)
    ya = _LogAxis(min(ys), max(ys), top, ph, flip=True)
    out = ['<div class="multiples">']
    for p in panels:
        lone = [name for name, pts in p["series"].items() if any(not pt.get("search") for pt in pts)]
        s = [_svg(pw_total, height, f"read p99 against throughput: {p['title']}")]
        title = p["title"]
        while text_width(title, 12) > pw_total - 8 and len(title) > 8:
            title = title[:-2]
        if title != p["title"]:
            title = title.rstrip() + "…"
        s.append(f'<text x="{left}" y="15" font-size="12" font-weight="bold">{escape(title)}'
                 f'<title>{escape(p["title"])}</title></text>')
        _y_grid(s, ya, left, left + pw)
        for t in xa.ticks:
            s.append(f'<line x1="{xa(t):.1f}" y1="{top}" x2="{xa(t):.1f}" y2="{top + ph}" stroke="#f0f0f0"/>')
        _x_labels(s, [(xa(t), fmt_ops(t)) for t in xa.ticks], top + ph + 14, width=pw_total)
        s.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="11">'
                 'achieved ops/s (read p99 on the y axis)</text>')
        if p.get("objective_ms"):
            y = ya(p["objective_ms"])
            label = f"objective {fmt_ms(p['objective_ms'])}"
            s.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw:.1f}" y2="{y:.1f}" stroke="#444" '
                     f'stroke-dasharray="5,4"/><text x="{left + 3}" y="{y - 4:.1f}" font-size="10" fill="#444">'
                     f'{escape(label)}</text>')
        for strategy, pts in p["series"].items():
            c, kind = _color(colors, strategy), marker_of(colors, strategy)
            steps = sorted((pt for pt in pts if pt.get("search")), key=lambda pt: pt["x"])
            if len(steps) > 1:
                line = " ".join(f"{xa(pt['x']):.1f},{ya(pt['y']):.1f}" for pt in steps)
                s.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.8" points="{line}"/>')
            for pt in pts:
                x, y = xa(pt["x"]), ya(pt["y"])
                if not pt.get("search"):  # phases at one load side by side, not on top of each other
                    x += 9 * (lone.index(strategy) - (len(lone) - 1) / 2)
                if pt.get("lo") and pt.get("hi") and not pt.get("search"):
                    s.append(f'<line x1="{x:.1f}" y1="{ya(pt["hi"]):.1f}" x2="{x:.1f}" y2="{ya(pt["lo"]):.1f}" '
                             f'stroke="{c}" stroke-width="1.5"/>')
                if pt.get("knee"):
                    s.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="none" stroke="{c}" stroke-width="1.5"/>')
                s.append(_marker(kind, x, y, c, pt.get("passed", True), 4, pt.get("note", "")))
        s.append("</svg>")
        out.append("".join(s))
    out.append("</div>")
    return "".join(out)


# ---------------------------------------------------------------- detail charts

def latency_panels(curves: dict, labels: dict, colors: dict | None = None) -> str:
    """Small multiples: one read-latency-by-percentile panel per dataset x backend, its strategies
    in it, every panel on the same axes (so panels compare at a glance)."""
    if not curves:
        return "<p>No reads were measured.</p>"
    colors = colors if colors is not None else strategy_colors(n.rsplit("/", 1)[1] for n in curves)
    values = [v for pts in curves.values() for _, v in pts if v and v > 0]
    axis = (min(values), max(values)) if values else (0.01, 1)
    groups: dict = {}
    for name, pts in curves.items():
        groups.setdefault(name.rsplit("/", 1)[0], {})[name.rsplit("/", 1)[1]] = pts
    return "".join(f'<figure class="panel"><figcaption>{escape(labels.get(g, g))}</figcaption>'
                   f'{latency_chart(c, 380, 240, axis, colors)}</figure>' for g, c in groups.items())


def latency_chart(curves: dict, width=380, height=240, axis=None, colors: dict | None = None) -> str:
    """Read latency by percentile: x = log10(1/(1-p)) (HDR 'percentile spectrum'), y = log ms."""
    if not curves:
        return "<p>No reads were measured.</p>"
    colors = colors if colors is not None else strategy_colors(curves)
    left, right, top, bottom = 56, 12, 12, 40
    pw, ph = width - left - right, height - top - bottom
    lo, hi = axis or (min(v for pts in curves.values() for _, v in pts), max(v for pts in curves.values() for _, v in pts))
    ya = _LogAxis(lo, hi, top, ph, flip=True)
    pcts = [p for p, _ in next(iter(curves.values()))]
    xs = [math.log10(100 / (100 - p)) for p in pcts]
    x_of = lambda x: left + pw * (x - xs[0]) / ((xs[-1] - xs[0]) or 1)  # noqa: E731
    out = [_svg(width, height, "read latency by percentile")]
    _y_grid(out, ya, left, left + pw)
    for x in xs:
        out.append(f'<line x1="{x_of(x):.1f}" y1="{top}" x2="{x_of(x):.1f}" y2="{top + ph}" stroke="#f0f0f0"/>')
    _x_labels(out, [(x_of(x), f"p{p:g}") for p, x in zip(pcts, xs)], top + ph + 14, width=width)
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" font-size="11">percentile '
               '(log scale of 1/(1-p))</text>')
    for name, pts in curves.items():
        color, kind = _color(colors, name), marker_of(colors, name.rsplit("/", 1)[-1])
        path = " ".join(f"{x_of(x):.1f},{ya(v):.1f}" for x, (_, v) in zip(xs, pts))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for x, (p, v) in zip(xs, pts):
            out.append(_marker(kind, x_of(x), ya(v), color, True, 3, f"{name} p{p:g}: {v:.3f} ms"))
    out.append("</svg>")
    return "".join(out)


def throughput_chart(summary: list[dict], colors: dict, width=760, bar=18, emulator: bool = False) -> str:
    """Horizontal bars: total ops/s per phase, the phase's name above its bar (DynamoDB marked as the
    emulator's when it was)."""
    if not summary:
        return "<p>No operations were measured.</p>"
    right, row = 90, bar + 22
    height = len(summary) * row + 8
    peak = max((s["throughput_ops"] or 0) for s in summary) or 1
    out = [_svg(width, height, "throughput per strategy")]
    for i, s in enumerate(summary):
        backend = s["backend"] + (" (emulator)" if emulator and catalog.regional(s["backend"])[0] == "dynamodb" else "")
        name = f'{s["dataset"]}/{backend}/{s["strategy"]}'
        y = 4 + i * row
        w = (width - right) * (s["throughput_ops"] or 0) / peak
        out.append(f'<text x="0" y="{y + 12}" font-size="12">{escape(name)}</text>'
                   f'<rect x="0" y="{y + 16}" width="{w:.1f}" height="{bar}" fill="{_color(colors, s["strategy"])}"/>'
                   f'<text x="{w + 6:.1f}" y="{y + 16 + bar * 0.75:.1f}" font-size="12">'
                   f'{s["throughput_ops"] or 0:,.0f} ops/s</text>')
    out.append("</svg>")
    return "".join(out)


def capacity_chart(caps: dict, objective_ms: float | None, colors: dict | None = None, width=560, height=260) -> str:
    """Latency vs throughput per strategy (the hockey stick): x = achieved ops/s, y = read p99 (log),
    the objective as a dashed line, failed steps hollow, the capacity ringed."""
    colors = colors if colors is not None else strategy_colors(caps)
    fig = "read_p99_ms" if any(s.get("read_p99_ms") for c in caps.values() for s in c["steps"]) else "write_p99_ms"
    label = fig.split("_")[0]
    pts = {name: [s for s in c["steps"] if s.get(fig)] for name, c in caps.items()}
    if not any(pts.values()):
        return "<p>No step completed a read.</p>"
    values = [s[fig] for ss in pts.values() for s in ss] + ([objective_ms] if objective_ms else [])
    left, right, top, bottom = 56, 16, 14, 40
    pw, ph = width - left - right, height - top - bottom
    ya = _LogAxis(min(values), max(values), top, ph, flip=True)
    ticks = nice_ticks(0, max((s["achieved"] or s["rate"]) for ss in pts.values() for s in ss) * 1.05)
    xmax = ticks[-1] or 1
    x_of = lambda x: left + pw * x / xmax  # noqa: E731
    out = [_svg(width, height, f"{label} p99 by achieved throughput")]
    _y_grid(out, ya, left, left + pw)
    _x_labels(out, [(x_of(t), f"{t:,.0f}") for t in ticks], top + ph + 14, width=width)
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" font-size="11">achieved ops/s '
               f'({label} p99 per step)</text>')
    if objective_ms:
        y = ya(objective_ms)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#444" stroke-dasharray="5,4"/>'
                   f'<text x="{left + 3}" y="{y - 4:.1f}" font-size="10" fill="#444">objective {fmt_ms(objective_ms)}</text>')
    for name, steps in pts.items():
        color, kind = _color(colors, name), marker_of(colors, name)
        line = " ".join(f"{x_of(s['achieved'] or s['rate']):.1f},{ya(s[fig]):.1f}"
                        for s in sorted(steps, key=lambda s: s["achieved"] or s["rate"]))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{line}"/>')
        best = caps[name].get("capacity_ops")
        for s in steps:
            x, y = x_of(s["achieved"] or s["rate"]), ya(s[fig])
            if s["passed"] and best and s["rate"] == best:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="none" stroke="{color}" stroke-width="1.5"/>')
            out.append(_marker(kind, x, y, color, s["passed"], 4,
                               f'{name}: target {s["rate"]:,.0f}, achieved {s["achieved"]:,.0f} ops/s, {label} p99 '
                               f'{s[fig]:.3f} ms, {"met" if s["passed"] else "broke"} the objective'))
    out.append("</svg>")
    return "".join(out)


def timeline_chart(points: list[dict], warmup: float, width=380, height=150) -> str:
    """One phase over time: ops/s per second (grey bars, left axis), read+write p99 (red line,
    right axis, ms) and the read hit ratio (blue, 0..1, on the bars' axis scaled); warm-up shaded."""
    if not points:
        return "<p>–</p>"
    t0, t1 = min(p["t"] for p in points), max(p["t"] for p in points) + 1
    peak_raw = max(p["ops"] + p["failed"] for p in points) or 1
    ops_ticks = nice_ticks(0, peak_raw, 3)
    peak = ops_ticks[-1] or 1
    p99s = [p["p99_ms"] for p in points if p["p99_ms"]]
    ms_ticks = nice_ticks(0, max(p99s) if p99s else 1, 3)
    p99max = ms_ticks[-1] or 1
    left = 8 + text_width(f"{peak:,.0f}", 10)
    right = 8 + max(text_width(fmt_ms(t), 10) for t in ms_ticks)
    top, bottom = 10, 26
    pw, ph = width - left - right, height - top - bottom
    x_of = lambda t: left + pw * (t - t0) / max(t1 - t0, 1)  # noqa: E731
    bw = max(pw / max(t1 - t0, 1) - 1, 1)
    out = [_svg(width, height, "ops/s, p99 and hit ratio per second")]
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
            out.append(f'<rect x="{x_of(p["t"]):.1f}" y="{top + ph - h - hf:.1f}" width="{bw:.1f}" height="{hf:.1f}" fill="#D55E00"/>')
    mid = lambda p: x_of(p["t"]) + bw / 2  # noqa: E731
    line = " ".join(f'{mid(p):.1f},{top + ph * (1 - p["p99_ms"] / p99max):.1f}' for p in points if p["p99_ms"])
    if line:
        out.append(f'<polyline fill="none" stroke="#D55E00" stroke-width="1.5" points="{line}"/>')
    hits = " ".join(f'{mid(p):.1f},{top + ph * (1 - p["hit_ratio"]):.1f}' for p in points if p["hit_ratio"] is not None)
    if hits:
        out.append(f'<polyline fill="none" stroke="#0072B2" stroke-width="1.5" points="{hits}"/>')
    for t in ops_ticks:
        y = top + ph * (1 - t / peak)
        out.append(f'<text x="{left - 4:.1f}" y="{y + 3:.1f}" text-anchor="end" font-size="10">{t:,.0f}</text>')
    for t in ms_ticks:
        y = top + ph * (1 - t / p99max)
        out.append(f'<text x="{left + pw + 4:.1f}" y="{y + 3:.1f}" font-size="10" fill="#A04000">{fmt_ms(t)}</text>')
    out.append(f'<text x="{left:.1f}" y="{height - 8}" font-size="10">{t0} s</text>'
               f'<text x="{left + pw:.1f}" y="{height - 8}" text-anchor="end" font-size="10">{t1} s</text>')
    out.append("</svg>")
    return "".join(out)
