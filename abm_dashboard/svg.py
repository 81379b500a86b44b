"""Small, fast SVG time-series charts (line and stacked-area panels), drawn at the page's width.

Why SVG strings from Python: a step of the dashboard redraws every view, and the budget is
150 ms from the click to the last view redrawn (``benchmarks/bench_dashboard.py``). These charts
take a few milliseconds each to build and are drawn by the browser with no script or asset from
anywhere; Plotly through ``solara.FigurePlotly`` needed ~0.5 s for the same five charts and
~5 MB of front-end per page (measured in issue 14), matplotlib ~0.1 s per figure.

Every chart is drawn for the width (CSS px) its frame reports (``chart_frame.vue``), so a font
size here is a size on the screen: chart text grows with browser zoom, and a chart on a phone
stacks its panels instead of shrinking them. Each chart is an ``<svg>`` with ``data-chart``
naming it; each series is a ``<polyline>`` (lines) or ``<polygon>`` (areas) with
``data-series``; a transparent ``<rect class="hover-zone">`` per panel carries every line's
value at each x for the hover tooltip; scripted events are numbered markers
(``data-marker``) with their key
under the panels.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Layout", "Marker", "Panel", "Series", "nice_ticks", "svg_chart", "text_width",
           "wrap_text"]


@dataclass
class Series:
    """One line (or area band) of a panel.

    Attributes:
        name: legend label (also written to ``data-series``).
        x: x values (fractional years).
        y: y values (NaN values are skipped).
        colour: CSS colour.
        dash: SVG ``stroke-dasharray`` (empty = solid).
        width: line width in px (at font size 13; scaled with the font).
        markers: draw points as diamonds joined by a thin line (observed data).
        legend: show in the legend.
        opacity: stroke opacity (a second run is drawn faded).
        hover: include the series' values in the hover text.
        note: text appended to the series' hover entry (e.g. an observation's source).
    """

    name: str
    x: Sequence[float]
    y: Sequence[float]
    colour: str = "#333"
    dash: str = ""
    width: float = 2.0
    markers: bool = False
    legend: bool = True
    opacity: float = 1.0
    hover: bool = True
    note: Sequence[str] = ()


@dataclass
class Marker:
    """A scripted event drawn as a numbered vertical line.

    Attributes:
        x: when (fractional year).
        label: the number shown (``1``, ``2``, ...).
        text: its key line (``2010-01 China: export quota cut 40%``).
        future: not yet simulated (drawn lighter).
    """

    x: float
    label: str
    text: str
    future: bool = False


@dataclass
class Panel:
    """One plot area: a title, a unit, and lines or a stacked area.

    Attributes:
        title: panel title.
        unit: unit of the y axis (shown above it, horizontally).
        series: the lines, or the bands of the stack when ``stacked`` is set.
        stacked: draw the series as a stacked area (bottom to top in order).
        ymax: fixed upper y limit (else from the data).
        log: logarithmic y axis (lines only; values <= 0 are not drawn).
        markers: scripted events.
        fmt: Python format of hover values (``{:,.0f}``).
        overlay: lines drawn over a stacked panel (e.g. observed totals).
    """

    title: str
    unit: str
    series: list[Series]
    stacked: bool = False
    ymax: float | None = None
    log: bool = False
    markers: list[Marker] = field(default_factory=list)
    fmt: str = "{:,.0f}"
    overlay: list[Series] = field(default_factory=list)


@dataclass(frozen=True)
class Layout:
    """Size of a chart on the page.

    Attributes:
        width: width in CSS px (the frame's measured width).
        font: base font size in px (13 on a desk, 20 in projector mode).
        aspect: plot height as a share of a panel's width (bounded below and above).
        max_plot_height: tallest plot area in px.
    """

    width: int = 640
    font: float = 13.0
    aspect: float = 0.55
    max_plot_height: float = 380.0

    @property
    def scale(self) -> float:
        """Font size relative to the desk default (line widths and markers scale with it)."""
        return self.font / 13.0


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


def text_width(text: str, font: float) -> float:
    """Approximate width of a text in px (0.58 em per character, Roboto/Arial)."""
    return 0.58 * font * len(text)


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


def _month_of(x: float) -> str:
    """``YYYY-MM`` of a mid-month fractional year."""
    k = int(math.floor(x * 12 + 1e-6))
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def wrap_text(text: str, width: float, font: float) -> list[str]:
    """Break a text into lines that fit ``width`` px."""
    per_line = max(int(width / (0.58 * font)), 10)
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > per_line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return lines


class _Canvas:
    """Collects SVG elements."""

    def __init__(self):
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def text(self, x: float, y: float, text: str, *, size: float, anchor: str = "start",
             fill: str = "#333", weight: str = "", extra: str = "") -> None:
        bold = f' font-weight="{weight}"' if weight else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" '
                          f'text-anchor="{anchor}" fill="{fill}"{bold}{extra}>'
                          f"{html.escape(text)}</text>")


def svg_chart(panels: Sequence[Panel], *, xlim: tuple[float, float], name: str,
              layout: Layout | None = None, step: int | None = None,
              title: str = "", notes: Sequence[str] = ()) -> str:
    """Draw panels side by side (or stacked on a narrow screen) as one SVG document.

    Args:
        panels: the panels, left to right.
        xlim: x range shared by all panels (fractional years).
        name: chart name, written to ``data-chart``.
        layout: width and font size on the page.
        step: the model step drawn, written to ``data-step`` (lets tests and timing code see
            that the chart was redrawn).
        title: a line above the panels (e.g. the month).
        notes: lines under the chart (e.g. the sources of observed data).

    Returns:
        The ``<svg>`` element as text; its ``viewBox`` equals its size in px.
    """
    lay = layout or Layout()
    f = lay.font
    width = max(int(lay.width), 240)
    n = max(len(panels), 1)
    gap = 3.2 * f
    left, right = 4.4 * f, 1.0 * f
    side_by_side = (width - left - right - gap * (n - 1)) / n >= 22 * f
    cols = n if side_by_side else 1
    rows = 1 if side_by_side else n
    pw = (width - left - right - gap * (cols - 1)) / cols
    aspect = lay.aspect if cols > 1 else lay.aspect * 0.62
    ph = min(max(pw * aspect, 9 * f), lay.max_plot_height)
    title_h = 1.6 * f if title else 0.0
    head = 2.9 * f  # panel title and unit line above each plot
    foot = 2.0 * f  # x tick labels
    row_h = head + ph + foot
    legend = _legend_items(panels)
    legend_lines = _legend_rows(legend, width - left - right, f)
    markers = _marker_keys(panels)
    key_lines: list[str] = []
    for m in markers:
        key_lines += wrap_text(f"{m.label}  {m.text}", width - left - right, 0.9 * f)
    legend_h = len(legend_lines) * 1.5 * f + (0.4 * f if legend_lines else 0)
    key_h = len(key_lines) * 1.35 * f + (0.5 * f if key_lines else 0)
    note_lines: list[str] = []
    for note in notes:
        note_lines += wrap_text(note, width - left - right, 0.85 * f)
    note_h = len(note_lines) * 1.3 * f + (0.4 * f if note_lines else 0)
    height = title_h + rows * row_h + legend_h + key_h + note_h + 0.4 * f
    x0, x1 = xlim
    if x1 <= x0:
        x1 = x0 + 1.0 / 12.0
    c = _Canvas()
    c.add(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" '
          f'width="{width}" height="{height:.0f}" data-chart="{html.escape(name)}" '
          f'data-step="{step}" data-font="{f:g}" role="img" '
          f'style="font-family:Roboto,Arial,sans-serif;max-width:100%;background:#fff">')
    if title:
        c.text(width / 2, 1.2 * f, title, size=1.05 * f, anchor="middle", weight="500")
    years = max(x1 - x0, 1e-9)
    every = next(k for k in (1, 2, 5, 10, 20) if pw / (years / k) >= 3.2 * f)
    xticks = [t for t in nice_ticks(math.ceil(x0), math.floor(x1), 40)
              if abs(t - round(t)) < 1e-6 and round(t) % every == 0] or [x0]
    for k, panel in enumerate(panels):
        col, row = (k, 0) if side_by_side else (0, k)
        px = left + col * (pw + gap)
        top = title_h + row * row_h + head
        _draw_panel(c, panel, px, top, pw, ph, (x0, x1), xticks, f, lay.scale)
    y = title_h + rows * row_h + 0.2 * f
    for line in legend_lines:
        x = left
        y += 1.5 * f
        for item, stacked in line:
            _legend_swatch(c, item, stacked, x, y, f, lay.scale)
            c.text(x + 2.2 * f, y, item.name, size=0.95 * f)
            x += 2.2 * f + text_width(item.name, 0.95 * f) + 1.4 * f
    y += 0.4 * f if legend_lines else 0
    for line in key_lines:
        y += 1.35 * f
        c.text(left, y, line, size=0.9 * f, fill="#444", extra=' class="marker-key"')
    y += 0.4 * f if note_lines else 0
    for line in note_lines:
        y += 1.3 * f
        c.text(left, y, line, size=0.85 * f, fill="#555", extra=' class="chart-note"')
    c.add("</svg>")
    return "".join(c.parts)


def _y_scale(panel: Panel, top: float, ph: float, f: float):
    """(stacked cumulative values or None, y ticks, scalar and array value -> y functions)."""
    ys = [np.asarray(s.y, dtype=float) for s in panel.series]
    over = [np.asarray(s.y, dtype=float) for s in panel.overlay]
    if panel.stacked and ys and all(len(y) == len(ys[0]) for y in ys):
        cum = np.cumsum(np.vstack([np.nan_to_num(y) for y in ys]), axis=0)
        top_over = max((float(np.nanmax(y)) for y in over if y.size), default=0.0)
        ymax = panel.ymax or max(float(cum.max(initial=0.0)), top_over)
    else:
        cum = None
        finite = [y[np.isfinite(y)] for y in ys]
        ymax = panel.ymax or max((float(v.max()) for v in finite if v.size), default=0.0)
    ymax = ymax if ymax > 0 else 1.0
    if panel.log and not panel.stacked:
        positive = [y[np.isfinite(y) & (y > 0)] for y in ys]
        lo = min((float(p.min()) for p in positive if p.size), default=1.0)
        e0 = math.floor(math.log10(lo))
        e1 = max(math.ceil(math.log10(ymax)), e0 + 1)
        mults = (1, 2, 5) if e1 - e0 <= 2 else (1,)
        yticks = [m * 10.0**e for e in range(e0, e1 + 1) for m in mults if m * 10.0**e <= 10.0**e1]

        def sy(v, e0=e0, e1=e1):
            return top + ph - (math.log10(v) - e0) / (e1 - e0) * ph

        def vy(v, e0=e0, e1=e1):
            return top + ph - (np.log10(v) - e0) / (e1 - e0) * ph

        return cum, yticks, sy, vy
    yticks = nice_ticks(0.0, ymax * 1.05, max(int(ph / (2.6 * f)), 2))
    ytop = max(yticks[-1], ymax * 1.05)

    def sy_lin(v, ytop=ytop):
        return top + ph - v / ytop * ph

    return cum, yticks, sy_lin, sy_lin  # the linear map works on numpy arrays as it is


def _draw_frame(c: _Canvas, panel: Panel, px, top, pw, ph, f, yticks, xticks, sx, sy) -> None:
    """Title, unit, box, grid lines and tick labels of a panel."""
    c.text(px + pw / 2, top - 1.55 * f, panel.title, size=1.1 * f, anchor="middle",
           weight="500")
    c.text(px, top - 0.45 * f, panel.unit, size=0.95 * f, anchor="start", fill="#444",
           extra=' class="unit"')
    c.add(f'<rect x="{px:.1f}" y="{top:.1f}" width="{pw:.1f}" height="{ph:.1f}" fill="none" '
          'stroke="#999"/>')
    for t in yticks:
        y = sy(t)
        c.add(f'<line x1="{px:.1f}" x2="{px + pw:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
              'stroke="#e6e6e6"/>')
        c.text(px - 0.3 * f, y + 0.35 * f, _fmt(t), size=0.95 * f, anchor="end", fill="#444",
               extra=' class="tick"')
    for t in xticks:
        x = sx(t)
        c.add(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph:.1f}" y2="{top + ph + 0.3 * f:.1f}" '
              'stroke="#777"/>')
        c.text(x, top + ph + 1.3 * f, _year_label(t), size=0.95 * f, anchor="middle",
               fill="#444", extra=' class="tick"')


def _draw_markers(c: _Canvas, panel: Panel, xlim, top, ph, f, sx) -> None:
    """Numbered event markers, stacked when they crowd."""
    x0, x1 = xlim
    last_x, level = -1e9, 0
    for m in sorted(panel.markers, key=lambda m: m.x):
        if not x0 <= m.x <= x1:
            continue
        x = sx(m.x)
        level = level + 1 if x - last_x < 1.5 * f else 0
        last_x = x
        lift = 1.5 * f * (level % 3)
        colour = "#bbbbbb" if m.future else "#555555"
        c.add(f'<line data-marker="{html.escape(m.label)}" x1="{x:.1f}" x2="{x:.1f}" '
              f'y1="{top:.1f}" y2="{top + ph:.1f}" stroke="{colour}" stroke-dasharray="3,3"/>')
        c.add(f'<circle cx="{x:.1f}" cy="{top + 0.75 * f + lift:.1f}" r="{0.68 * f:.1f}" '
              f'fill="#fff" stroke="{colour}"><title>{html.escape(m.text)}</title></circle>')
        c.text(x, top + 1.08 * f + lift, m.label, size=0.85 * f, anchor="middle", fill=colour)


def _draw_panel(c: _Canvas, panel: Panel, px: float, top: float, pw: float, ph: float,
                xlim: tuple[float, float], xticks: list[float], f: float, scale: float) -> None:
    x0, x1 = xlim
    cum, yticks, sy, vy = _y_scale(panel, top, ph, f)

    def sx(v):
        return px + (v - x0) / (x1 - x0) * pw

    _draw_frame(c, panel, px, top, pw, ph, f, yticks, xticks, sx, sy)
    _draw_markers(c, panel, xlim, top, ph, f, sx)
    ys = [np.asarray(s.y, dtype=float) for s in panel.series]
    over = [np.asarray(s.y, dtype=float) for s in panel.overlay]
    log = panel.log and not panel.stacked
    c.add(f'<svg x="{px:.1f}" y="{top:.1f}" width="{pw:.1f}" height="{ph:.1f}" '
          f'viewBox="{px:.1f} {top:.1f} {pw:.1f} {ph:.1f}" overflow="hidden">')
    if cum is not None:
        base = None
        for s, upper in zip(panel.series, cum, strict=True):
            x = np.asarray(s.x, dtype=float)
            if not len(x):
                continue
            lower = np.zeros_like(upper) if base is None else base
            path = _points(np.concatenate([sx(x), sx(x[::-1])]),
                           np.concatenate([vy(upper), vy(lower[::-1])]))
            c.add(f'<polygon data-series="{html.escape(s.name)}" points="{path}" '
                  f'fill="{s.colour}" fill-opacity="0.9" stroke="#fff" stroke-width="0.5"/>')
            base = upper
    else:
        for s, y in zip(panel.series, ys, strict=True):
            _draw_line(c, s, y, sx, vy, log, scale)
    for s, y in zip(panel.overlay, over, strict=True):
        _draw_line(c, s, y, sx, vy, log, scale)
    if not any(len(s.x) for s in panel.series):
        c.text(px + pw / 2, top + ph / 2, "press Step or Play", size=f, anchor="middle",
               fill="#888")
    _hover_columns(c, panel, px, top, pw, ph, sx, (x0, x1))
    c.add("</svg>")


def _points(xs: np.ndarray, ys: np.ndarray) -> str:
    """SVG ``points`` text of pixel coordinates (one decimal)."""
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs.tolist(), ys.tolist(), strict=True))


def _draw_line(c: _Canvas, s: Series, y: np.ndarray, sx, vy, log: bool, scale: float) -> None:
    x = np.asarray(s.x, dtype=float)
    ok = np.isfinite(y) & np.isfinite(x)
    if log:
        ok &= y > 0
    if not ok.any():
        return
    name = html.escape(s.name)
    opacity = f' stroke-opacity="{s.opacity:g}"' if s.opacity < 1 else ""
    px_, py_ = sx(x[ok]), vy(y[ok])
    if len(px_) > 1:
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        width = s.width * scale * (0.6 if s.markers else 1.0)
        c.add(f'<polyline data-series="{name}" points="{_points(px_, py_)}" fill="none" '
              f'stroke="{s.colour}" stroke-width="{width:.2f}" stroke-linejoin="round"'
              f"{dash}{opacity}/>")
    if s.markers or len(px_) == 1:
        r = (4.5 if s.markers else 2.6) * scale
        notes = list(s.note) if s.note else []
        for i, (a, b) in enumerate(zip(px_.tolist(), py_.tolist(), strict=True)):
            tip = f"<title>{html.escape(notes[i])}</title>" if i < len(notes) else ""
            c.add(f'<path data-series="{name}" class="point" d="M{a:.1f},{b - r:.1f}'
                  f"L{a + r:.1f},{b:.1f}L{a:.1f},{b + r:.1f}L{a - r:.1f},{b:.1f}Z\" "
                  f'fill="{s.colour}" stroke="#fff" stroke-width="{0.8 * scale:.2f}">{tip}</path>')


def _hover_columns(c: _Canvas, panel: Panel, px: float, top: float, pw: float, ph: float, sx,
                   xlim: tuple[float, float]) -> None:
    """A transparent hover zone over the plot with every series' value each month.

    It carries, for every month with data, the right edge of its column (px,
    ``data-hover-x``) and the text of every series' value that month
    (a JSON list, ``data-hover-t``): one element instead of a column per month keeps the
    page light; ``chart_frame.vue`` picks the text under the pointer.
    """
    lines = [s for s in panel.series if s.hover and not s.markers and len(s.x)]
    if not lines:
        return
    xs = np.unique(np.round(np.concatenate([np.asarray(s.x, dtype=float) for s in lines]), 6))
    xs = xs[(xs >= xlim[0]) & (xs <= xlim[1])]
    if not xs.size:
        return
    columns: list[list[str]] = [[] for _ in range(xs.size)]
    fmt = panel.fmt.format
    for s in lines:
        sx_ = np.round(np.asarray(s.x, dtype=float), 6)
        sy_ = np.asarray(s.y, dtype=float)
        where = np.searchsorted(xs, sx_)
        good = (where < xs.size) & np.isfinite(sy_)
        good[good] &= xs[where[good]] == sx_[good]
        prefix = f"{s.name}: "
        for i, v in zip(where[good].tolist(), sy_[good].tolist(), strict=True):
            columns[i].append(prefix + fmt(v))
    edges = np.concatenate([[xlim[0]], (xs[1:] + xs[:-1]) / 2, [xlim[1]]])
    edges[-1] = min(edges[-1], xs[-1] + (xs[-1] - xs[-2] if xs.size > 1 else 1 / 12))
    right = sx(edges[1:]).tolist()
    head = f"  ({panel.unit})\n"
    keep = [i for i in range(xs.size) if columns[i]]
    texts = [_month_of(xs[i]) + head + "\n".join(columns[i]) for i in keep]
    bounds = ",".join(f"{right[i]:.1f}" for i in keep)
    c.add(f'<rect class="hover-zone" data-hover-x="{bounds}" '
          f'data-hover-t="{html.escape(json.dumps(texts))}" x="{px:.1f}" y="{top:.1f}" '
          f'width="{pw:.1f}" height="{ph:.1f}" fill="transparent"/>')


def _legend_items(panels: Sequence[Panel]) -> list[tuple[Series, bool]]:
    seen: dict[str, tuple[Series, bool]] = {}
    for panel in panels:
        for s in panel.series:
            if s.legend and s.name not in seen:
                seen[s.name] = (s, panel.stacked)
        for s in panel.overlay:
            if s.legend and s.name not in seen:
                seen[s.name] = (s, False)
    return list(seen.values())


def _legend_rows(items: list[tuple[Series, bool]], width: float,
                 f: float) -> list[list[tuple[Series, bool]]]:
    rows: list[list[tuple[Series, bool]]] = []
    x = width + 1
    for item in items:
        w = 2.2 * f + text_width(item[0].name, 0.95 * f) + 1.4 * f
        if x + w > width and (not rows or rows[-1]):
            rows.append([])
            x = 0.0
        rows[-1].append(item)
        x += w
    return rows


def _legend_swatch(c: _Canvas, s: Series, stacked: bool, x: float, y: float, f: float,
                   scale: float) -> None:
    mid = y - 0.35 * f
    if stacked:
        c.add(f'<rect x="{x:.1f}" y="{mid - 0.45 * f:.1f}" width="{1.8 * f:.1f}" '
              f'height="{0.9 * f:.1f}" fill="{s.colour}"/>')
        return
    if s.markers:
        r = 4.5 * scale
        a = x + 0.9 * f
        c.add(f'<path d="M{a:.1f},{mid - r:.1f}L{a + r:.1f},{mid:.1f}L{a:.1f},{mid + r:.1f}'
              f'L{a - r:.1f},{mid:.1f}Z" fill="{s.colour}"/>')
        return
    dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
    opacity = f' stroke-opacity="{s.opacity:g}"' if s.opacity < 1 else ""
    c.add(f'<line x1="{x:.1f}" x2="{x + 1.8 * f:.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
          f'stroke="{s.colour}" stroke-width="{max(s.width, 2.0) * scale:.2f}"{dash}{opacity}/>')


def _marker_keys(panels: Sequence[Panel]) -> list[Marker]:
    seen: dict[str, Marker] = {}
    for panel in panels:
        for m in panel.markers:
            seen.setdefault(m.label, m)
    return list(seen.values())
