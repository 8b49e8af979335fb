"""Line charts as SVG text: the benchmark's plots without torch, Qt or matplotlib.

The CLI must start without the ML stack and the core without Qt, so `studio bench` writes its
plots as plain SVG (any browser and GitHub show them). Small on purpose: panels side by side,
each with axes, ticks, a legend, and series drawn as lines or as dots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

PANEL_W, PANEL_H = 440, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 58, 16, 48, 44
LEGEND_ROW = 14
COLORS = {"trainer": "#4c72b0", "trl": "#55a868", "trl-padding-free": "#8172b3", "trl-packing": "#937860",
          "studio": "#dd8452"}


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    color: str = "#333333"
    width: float = 1.5
    dash: str = ""
    dots: bool = False


@dataclass
class Panel:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    y_from_zero: bool = False
    integer_x: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5, integers: bool = False) -> list[float]:
    """Round tick values from one at or below `lo` to one at or above `hi` (the axis range)."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integers:
        step = max(1, round(step))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _panel(panel: Panel, left: float, top: float) -> list[str]:
    points = [p for s in panel.series for p in s.points if all(math.isfinite(v) for v in p)]
    xs, ys = [p[0] for p in points] or [0.0, 1.0], [p[1] for p in points] or [0.0, 1.0]
    y_lo = 0.0 if panel.y_from_zero else min(ys)
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs), integers=panel.integer_x), nice_ticks(y_lo, max(ys))
    x0, x1, y0, y1 = min(x_ticks), max(x_ticks), min(y_ticks), max(y_ticks)
    w = PANEL_W - MARGIN_L - MARGIN_R
    rows = _legend_rows(panel.series, w)
    extra = LEGEND_ROW * (len(rows) - 1)  # a legend of several rows pushes the plot down
    h = PANEL_H - MARGIN_T - MARGIN_B - extra
    ox, oy = left + MARGIN_L, top + MARGIN_T + extra

    def sx(x: float) -> float:
        return ox + (x - x0) / ((x1 - x0) or 1) * w

    def sy(y: float) -> float:
        return oy + h - (y - y0) / ((y1 - y0) or 1) * h

    out = [f'<text x="{ox + w / 2:.1f}" y="{top + 20}" text-anchor="middle" font-weight="bold">'
           f'{escape(panel.title)}</text>',
           f'<rect x="{ox}" y="{oy}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for t in x_ticks:
        out.append(f'<line x1="{sx(t):.1f}" y1="{oy + h}" x2="{sx(t):.1f}" y2="{oy + h + 4}" stroke="#999"/>'
                   f'<text x="{sx(t):.1f}" y="{oy + h + 16}" text-anchor="middle">{_fmt(t)}</text>')
    for t in y_ticks:
        out.append(f'<line x1="{ox}" y1="{sy(t):.1f}" x2="{ox + w}" y2="{sy(t):.1f}" stroke="#eee"/>'
                   f'<text x="{ox - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    out.append(f'<text x="{ox + w / 2:.1f}" y="{oy + h + 34}" text-anchor="middle">{escape(panel.x_label)}</text>')
    out.append(f'<text transform="translate({left + 14},{oy + h / 2:.1f}) rotate(-90)" text-anchor="middle">'
               f'{escape(panel.y_label)}</text>')
    for s in panel.series:
        pts = [(sx(x), sy(y)) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
        if s.dots:
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{s.color}" fill-opacity="0.75"/>' for x, y in pts)
        elif len(pts) == 1:  # a line of one point (one step) would not show
            out.append(f'<circle cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" fill="{s.color}"/>')
        elif pts:
            dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="{s.width}"{dash}/>')
    for r, row in enumerate(rows):  # the legend: rows between the title and the plot, never over data
        lx, ly = ox, top + 36 + LEGEND_ROW * r
        for s in row:
            mark = (f'<circle cx="{lx + 8}" cy="{ly - 4}" r="4" fill="{s.color}"/>' if s.dots else
                    f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{s.color}" '
                    f'stroke-width="{max(s.width, 2)}"' + (f' stroke-dasharray="{s.dash}"' if s.dash else "") + "/>")
            out.append(mark + f'<text x="{lx + 22}" y="{ly}">{escape(s.label)}</text>')
            lx += _legend_width(s)
    return out


def _legend_width(series: Series) -> float:
    return 34 + 6.5 * len(series.label)


def _legend_rows(series: list[Series], width: float) -> list[list[Series]]:
    """Legend entries in rows that fit the plot's width."""
    rows: list[list[Series]] = [[]]
    used = 0.0
    for s in series:
        if rows[-1] and used + _legend_width(s) - 12 > width:
            rows.append([])
            used = 0.0
        rows[-1].append(s)
        used += _legend_width(s)
    return rows


def chart(panels: list[Panel], caption: str = "") -> str:
    """An SVG document with the panels side by side and an optional caption below."""
    width = PANEL_W * len(panels)
    height = PANEL_H + (24 if caption else 0)
    body: list[str] = []
    for i, panel in enumerate(panels):
        body.extend(_panel(panel, i * PANEL_W, 0))
    if caption:
        body.append(f'<text x="{width / 2}" y="{PANEL_H + 14}" text-anchor="middle" fill="#555">{escape(caption)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")
