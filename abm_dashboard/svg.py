"""Small, fast SVG time-series charts (line and stacked-area panels).

Matplotlib needs ~0.1 s to render a multi-panel figure, too slow to redraw several views every
simulated month within the dashboard's budget (one step well under 0.5 s in the browser). These
charts are plain SVG strings built in about a millisecond, sent as HTML and drawn by the
browser, with no script or asset from anywhere. Every chart is an ``<svg>`` element with
``data-chart`` naming it; each series is a ``<polyline>`` (lines) or ``<polygon>`` (areas) with
``data-series`` naming it, which the browser tests read.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Series", "Panel", "nice_ticks", "svg_chart"]


@dataclass
class Series:
    """One line (or area band) of a panel.

    Attributes:
        name: legend label (also written to ``data-series``).
        x: x values (fractional years).
        y: y values (NaN values are skipped).
        colour: CSS colour.
        dash: SVG ``stroke-dasharray`` (empty = solid).
        width: line width in px.
        markers: draw points as circles instead of a line (observed data).
        legend: show in the legend.
    """

    name: str
    x: Sequence[float]
    y: Sequence[float]
    colour: str = "#333"
    dash: str = ""
    width: float = 1.6
    markers: bool = False
    legend: bool = True


@dataclass
class Panel:
    """One plot area: a title, a y label, and lines or a stacked area.

    Attributes:
        title: panel title.
        ylabel: y-axis label with units.
        series: the lines, or the bands of the stack when ``stacked`` is set.
        stacked: draw the series as a stacked area (bottom to top in order).
        ymax: fixed upper y limit (else from the data).
        log: logarithmic y axis (lines only; values <= 0 are not drawn).
    """

    title: str
    ylabel: str
    series: list[Series]
    stacked: bool = False
    ymax: float | None = None
    log: bool = False


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (1, 2, 2.5, 5 x 10^k steps).

    Args:
        lo: lower limit.
        hi: upper limit.
        n: about how many ticks.

    Returns:
        Tick values within ``[lo, hi]``.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = start
    while v <= hi + 1e-9 * step:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e4:
        return f"{v / 1e3:g}k"
    if a >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:g}"


def _year_label(v: float) -> str:
    return f"{int(v)}" if abs(v - round(v)) < 1e-6 else f"{v:g}"


def svg_chart(panels: Sequence[Panel], *, xlim: tuple[float, float], name: str,
              width: int = 640, height: int = 260, legend_rows: int = 1,
              step: int | None = None) -> str:
    """Draw panels side by side as one SVG document.

    Args:
        panels: the panels, left to right.
        xlim: x range shared by all panels (fractional years).
        name: chart name, written to ``data-chart``.
        width: total width in px (the SVG scales to its container).
        height: total height in px.
        legend_rows: rows reserved for the shared legend under the panels.
        step: the model step drawn, written to ``data-step`` (lets tests and timing code see
            that the chart was redrawn).

    Returns:
        The ``<svg>`` element as text.
    """
    legend_h = 16 * legend_rows + 4
    top, bottom, left, right, gap = 22, 22 + legend_h, 46, 8, 40
    n = max(len(panels), 1)
    pw = (width - left - right - gap * (n - 1)) / n
    ph = height - top - bottom
    x0, x1 = xlim
    if x1 <= x0:
        x1 = x0 + 1.0 / 12.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="100%" data-chart="{html.escape(name)}" data-step="{step}" '
           'style="font-family:Roboto,Arial,sans-serif;font-size:10px;max-width:100%">']
    legend: dict[str, Series] = {}
    xticks = [t for t in nice_ticks(x0, x1, 6) if abs(t - round(t)) < 1e-6] or [x0]
    for k, panel in enumerate(panels):
        px = left + k * (pw + gap)
        ys = [np.asarray(s.y, dtype=float) for s in panel.series]
        if panel.stacked and ys:
            cum = np.cumsum(np.vstack([np.nan_to_num(y) for y in ys]), axis=0)
            ymax = panel.ymax or float(cum.max(initial=0.0))
        else:
            finite = [y[np.isfinite(y)] for y in ys]
            ymax = panel.ymax or max((float(f.max()) for f in finite if f.size), default=0.0)
        ymax = ymax if ymax > 0 else 1.0
        log = panel.log and not panel.stacked
        if log:
            positive = [y[np.isfinite(y) & (y > 0)] for y in ys]
            lo = min((float(p.min()) for p in positive if p.size), default=1.0)
            e0 = math.floor(math.log10(lo))
            e1 = max(math.ceil(math.log10(ymax)), e0 + 1)
            mults = (1, 2, 5) if e1 - e0 <= 2 else (1,)
            yticks = [m * 10.0**e for e in range(e0, e1 + 1) for m in mults
                      if m * 10.0**e <= 10.0**e1]

            def sy(v, e0=e0, e1=e1):
                return top + ph - (math.log10(v) - e0) / (e1 - e0) * ph
        else:
            yticks = nice_ticks(0.0, ymax * 1.05, 4)
            ytop = max(yticks[-1], ymax * 1.05)

            def sy(v, ytop=ytop):
                return top + ph - v / ytop * ph

        def sx(v, px=px):
            return px + (v - x0) / (x1 - x0) * pw

        out.append(f'<text x="{px + pw / 2:.1f}" y="14" text-anchor="middle" '
                   f'font-size="12" font-weight="500">{html.escape(panel.title)}</text>')
        out.append(f'<rect x="{px:.1f}" y="{top}" width="{pw:.1f}" height="{ph}" fill="none" '
                   'stroke="#bbb"/>')
        for t in yticks:
            y = sy(t)
            out.append(f'<line x1="{px:.1f}" x2="{px + pw:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                       'stroke="#eee"/>')
            out.append(f'<text x="{px - 3:.1f}" y="{y + 3:.1f}" text-anchor="end" '
                       f'fill="#555">{_fmt(t)}</text>')
        for t in xticks:
            x = sx(t)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 3}" '
                       'stroke="#999"/>')
            out.append(f'<text x="{x:.1f}" y="{top + ph + 13}" text-anchor="middle" '
                       f'fill="#555">{_year_label(t)}</text>')
        out.append(f'<text transform="translate({px - 34:.1f},{top + ph / 2:.1f}) rotate(-90)" '
                   f'text-anchor="middle" fill="#555">{html.escape(panel.ylabel)}</text>')
        out.append(f'<svg x="{px:.1f}" y="{top}" width="{pw:.1f}" height="{ph}" '
                   f'viewBox="{px:.1f} {top} {pw:.1f} {ph}" overflow="hidden">')
        if panel.stacked:
            base = None
            for s, upper in zip(panel.series, cum if ys else [], strict=False):
                x = np.asarray(s.x, dtype=float)
                if not len(x):
                    continue
                lower = np.zeros_like(upper) if base is None else base
                pts = [(sx(a), sy(b)) for a, b in zip(x, upper, strict=True)]
                pts += [(sx(a), sy(b)) for a, b in zip(x[::-1], lower[::-1], strict=True)]
                path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
                out.append(f'<polygon data-series="{html.escape(s.name)}" points="{path}" '
                           f'fill="{s.colour}" fill-opacity="0.85" stroke="none"/>')
                base = upper
                legend.setdefault(s.name, s)
        else:
            for s, y in zip(panel.series, ys, strict=True):
                x = np.asarray(s.x, dtype=float)
                ok = np.isfinite(y) & np.isfinite(x)
                if log:
                    ok &= y > 0
                if not ok.any():
                    continue
                if s.markers or ok.sum() == 1:  # a lone point (first month) as a dot
                    radius = 4 if s.markers else 2.5
                    for a, b in zip(x[ok], y[ok], strict=True):
                        out.append(f'<circle data-series="{html.escape(s.name)}" '
                                   f'cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="{radius}" '
                                   f'fill="{s.colour}" stroke="#000" stroke-width="0.8"/>')
                else:
                    path = " ".join(f"{sx(a):.1f},{sy(b):.1f}"
                                    for a, b in zip(x[ok], y[ok], strict=True))
                    dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
                    out.append(f'<polyline data-series="{html.escape(s.name)}" points="{path}" '
                               f'fill="none" stroke="{s.colour}" stroke-width="{s.width}"'
                               f'{dash}/>')
                if s.legend:
                    legend.setdefault(s.name, s)
        if not any(len(s.x) for s in panel.series):
            out.append(f'<text x="{px + pw / 2:.1f}" y="{top + ph / 2:.1f}" text-anchor="middle" '
                       'fill="#999">press Step or Play</text>')
        out.append("</svg>")
    # legend
    x, y = left, height - legend_h + 10
    for s in legend.values():
        label = html.escape(s.name)
        w = 26 + 6.2 * len(s.name)
        if x + w > width - right:
            x, y = left, y + 16
        if s.markers:
            out.append(f'<circle cx="{x + 8}" cy="{y - 3}" r="4" fill="{s.colour}" '
                       'stroke="#000" stroke-width="0.8"/>')
        else:
            dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
            thick = 8 if any(p.stacked for p in panels) else 2
            out.append(f'<line x1="{x}" x2="{x + 16}" y1="{y - 3}" y2="{y - 3}" '
                       f'stroke="{s.colour}" stroke-width="{thick}"{dash}/>')
        out.append(f'<text x="{x + 20}" y="{y}">{label}</text>')
        x += w
    out.append("</svg>")
    return "".join(out)
