"""The dashboard's charts: pure functions from model data to SVG text.

Every view is an SVG string drawn in a few milliseconds and shown inline by the browser, so a
step that redraws every view stays far below the half-second budget (matplotlib needed ~0.1 s
per figure, ~0.5 s per step for all views) and nothing is fetched from a CDN. Time-series
panels use :mod:`abm_dashboard.svg`; the bloc network and the trade matrix are drawn here.
Time runs along a fractional-year axis (``2025.04`` = January 2025).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

import networkx as nx
import numpy as np
import pandas as pd

from abm_dashboard.svg import Panel, Series, svg_chart

__all__ = [
    "bloc_colours",
    "flows_chart",
    "network_chart",
    "network_layout",
    "price_chart",
    "shares_chart",
    "stocks_chart",
]

COUNTRY_COLOURS = {"CHN": "#d62728", "USA": "#1f77b4", "JPN": "#9467bd", "EU": "#2ca02c",
                   "AUS": "#ff7f0e", "ROW": "#7f7f7f", "MMR": "#8c564b", "VNM": "#e377c2",
                   "BRA": "#bcbd22", "IND": "#17becf", "RUS": "#393b79", "NGA": "#637939",
                   "THA": "#e7ba52", "Other": "#c7c7c7"}
_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
SERIES_STYLE = {"china": ("China", "#d62728"), "world": ("World (outside China)", "#333333"),
                "usa": ("USA", "#1f77b4"), "japan": ("Japan", "#9467bd")}


def _year(df: pd.DataFrame) -> np.ndarray:
    return df["year"].to_numpy(float) if "year" in df and not df.empty else np.zeros(0)


def _col(df: pd.DataFrame | None, col: str) -> np.ndarray:
    if df is None or df.empty or col not in df:
        return np.zeros(0)
    return df[col].to_numpy(float)


def _xlim(start_year: float | None, horizon_years: float, df: pd.DataFrame) -> tuple:
    if start_year is not None:
        return (start_year, start_year + horizon_years)
    x = _year(df)
    return (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)


def price_chart(df: pd.DataFrame, *, observed: pd.DataFrame | None = None,
                compare: pd.DataFrame | None = None, compare_label: str = "B",
                start_year: float | None = None, horizon_years: float = 1.0,
                step: int | None = None, log: bool = False) -> str:
    """Prices of light (NdPr) and heavy (Dy/Tb) oxide, US$/kg: China, world, USA and Japan.

    Args:
        df: the run's frame (``price_<product>_<china|world|usa|japan>`` and ``year``).
        observed: observed history (``year``, ``variable``, ``value``) overlaid as points.
        compare: a second run's frame, drawn dashed.
        compare_label: legend label of the second run.
        start_year: left end of the time axis (the scenario start).
        horizon_years: length of the time axis (the scenario horizon).
        step: model step drawn (``data-step``).
        log: logarithmic price axis (spikes and the level before them both readable).

    Returns:
        Two panels, light and heavy, as an SVG element (``data-chart="prices"``).
    """
    xlim = _xlim(start_year, horizon_years, df)
    panels = []
    for product, title in (("light", "Light: NdPr oxide"), ("heavy", "Heavy: Dy/Tb oxide")):
        series = []
        for key, (label, colour) in SERIES_STYLE.items():
            col = f"price_{product}_{key}"
            series.append(Series(label, _year(df), _col(df, col), colour))
            if compare is not None:
                series.append(Series(f"{label} ({compare_label})", _year(compare),
                                     _col(compare, col), colour, dash="5,3", width=1.2,
                                     legend=key == "world"))
        if observed is not None and not observed.empty:
            obs = observed[(observed["variable"] == f"price_{product}_world")
                           & (observed["year"] >= xlim[0] - 0.5)
                           & (observed["year"] <= xlim[1] + 0.5)]
            if not obs.empty:
                series.append(Series("observed (world)", obs["year"].to_numpy(float),
                                     obs["value"].to_numpy(float), "#ff7f0e", markers=True))
        panels.append(Panel(title, "US$/kg", series, log=log))
    return svg_chart(panels, xlim=xlim, name="prices", height=270, legend_rows=2,
                     step=step)


def shares_chart(df: pd.DataFrame, *, names: Mapping[str, str] | None = None,
                 start_year: float | None = None, horizon_years: float = 1.0,
                 step: int | None = None) -> str:
    """Who mines and who refines: shares by country over time (stacked areas).

    Args:
        df: the run's frame with ``mine_<country>`` and ``refine_<country>`` (t REO/month).
        names: display names of country codes.
        start_year: left end of the time axis.
        horizon_years: length of the time axis.
        step: model step drawn (``data-step``).

    Returns:
        Two panels as an SVG element (``data-chart="shares"``): mining (by the mine's host
        country) and separation/refining (by refining country; concentrate refined in China
        counts as Chinese). Countries beyond the largest six are summed as "Other".
    """
    names = names or {}
    panels = []
    for prefix, title in (("mine_", "Mining, share of t REO"),
                          ("refine_", "Refining, share of t REO")):
        codes, shares = _top_columns(df, prefix, keep=6)
        series = [Series(names.get(c, c), _year(df), shares[f"{prefix}{c}"].to_numpy() * 100,
                         COUNTRY_COLOURS.get(c, _PALETTE[i % len(_PALETTE)]))
                  for i, c in enumerate(codes)]
        panels.append(Panel(title, "%", series, stacked=True, ymax=100.0))
    return svg_chart(panels, xlim=_xlim(start_year, horizon_years, df), name="shares",
                     height=250, legend_rows=2, step=step)


def _top_columns(df: pd.DataFrame, prefix: str, keep: int) -> tuple[list[str], pd.DataFrame]:
    cols = [c for c in df.columns if c.startswith(prefix)]
    if not cols or df.empty:
        return [], pd.DataFrame()
    data = df[cols].fillna(0.0)
    order = data.sum().sort_values(ascending=False).index.tolist()
    top, rest = order[:keep], order[keep:]
    out = data[top].copy()
    if rest:
        out[f"{prefix}Other"] = data[rest].sum(axis=1)
    total = out.sum(axis=1).replace(0.0, np.nan)
    shares = out.div(total, axis=0).fillna(0.0)
    return [c[len(prefix):] for c in shares.columns], shares


STOCK_COUNTRIES = (("china", "CHN"), ("usa", "USA"), ("japan", "JPN"), ("eu", "EU"))


def stocks_chart(df: pd.DataFrame, *, compare: pd.DataFrame | None = None,
                 names: Mapping[str, str] | None = None, start_year: float | None = None,
                 horizon_years: float = 1.0, step: int | None = None) -> str:
    """Strategic stockpiles (t), firm inventories (t) and shortages (t/month) by country.

    Args:
        df: the run's frame (``stockpile_<name>``, ``inventory_<code>``, ``shortage_<name>``).
        compare: a second run's frame, drawn dashed.
        names: display names of country codes.
        start_year: left end of the time axis.
        horizon_years: length of the time axis.
        step: model step drawn (``data-step``).

    Returns:
        Three panels as an SVG element (``data-chart="stocks"``).
    """
    names = names or {}
    panels = []
    for pattern, title, unit in (("stockpile_{name}", "State stockpiles", "t"),
                                 ("inventory_{code}", "Firm inventories", "t"),
                                 ("shortage_{name}", "Shortage", "t/month")):
        series = []
        for name, code in STOCK_COUNTRIES:
            col = pattern.format(name=name, code=code)
            colour = COUNTRY_COLOURS.get(code, "#555")
            label = names.get(code, code)
            series.append(Series(label, _year(df), _col(df, col), colour))
            if compare is not None:
                series.append(Series(f"{label} (B)", _year(compare), _col(compare, col),
                                     colour, dash="5,3", width=1.2, legend=False))
        panels.append(Panel(title, unit, series))
    return svg_chart(panels, xlim=_xlim(start_year, horizon_years, df), name="stocks",
                     height=230, step=step)


def network_layout(graph: nx.Graph, seed: int = 7) -> dict[str, tuple[float, float]]:
    """Fixed node positions for the bloc network, seeded so the picture does not jump.

    States sit on an inner circle; each miner sits on an outer circle next to its host state
    (miners in countries that are not modelled as states gather by the "rest of world" state),
    with a small seeded jitter. Positions depend only on the nodes, never on the ties, so
    alliances and offtake ties that come and go move edges, not nodes.

    Args:
        graph: the model's alliance graph (nodes with ``kind`` and, for miners, ``country``).
        seed: seed of the jitter.

    Returns:
        ``{node: (x, y)}``.
    """
    rng = np.random.default_rng(seed)
    states = [n for n, d in graph.nodes(data=True) if d.get("kind") == "state"]
    others = [n for n in graph.nodes if n not in states]
    pos: dict[str, tuple[float, float]] = {}
    angle = {}
    for i, code in enumerate(states):
        angle[code] = np.pi / 2 - 2 * np.pi * i / max(len(states), 1)
        pos[code] = (float(np.cos(angle[code])), float(np.sin(angle[code])))
    fallback = "ROW" if "ROW" in angle else (states[-1] if states else None)
    groups: dict[str | None, list[str]] = {}
    for node in others:
        host = graph.nodes[node].get("country")
        groups.setdefault(host if host in angle else fallback, []).append(node)
    spread = 2 * np.pi / max(len(states), 1) * 0.8
    for anchor, nodes in groups.items():
        base = angle.get(anchor, 0.0)
        for k, node in enumerate(sorted(nodes)):
            offset = (k - (len(nodes) - 1) / 2) * spread / max(len(nodes), 1)
            a = base + offset + rng.normal(0.0, 0.02)
            r = 2.0 + 0.25 * (k % 2) + rng.normal(0.0, 0.03)
            pos[node] = (float(r * np.cos(a)), float(r * np.sin(a)))
    return pos


def bloc_colours(blocs: Iterable[str]) -> dict[str, str]:
    """Assign a stable colour to each bloc name (``unaligned`` is grey).

    A bloc named after one country (``CHN``) takes that country's colour; alliances and
    mixed groups take colours from a palette in name order.

    Args:
        blocs: bloc names.

    Returns:
        ``{bloc: colour}``.
    """
    out = {}
    used = set()
    named = sorted(b for b in set(blocs) if b != "unaligned")
    for bloc in named:
        if bloc in COUNTRY_COLOURS:
            out[bloc] = COUNTRY_COLOURS[bloc]
            used.add(out[bloc])
    free = [c for c in ["#17becf", "#9467bd", "#2ca02c", "#ff7f0e", "#8c564b", "#e377c2"]
            if c not in used]
    for i, bloc in enumerate(b for b in named if b not in out):
        out[bloc] = free[i % len(free)]
    out["unaligned"] = "#bbbbbb"
    return out


def network_chart(graph: nx.Graph, pos: Mapping[str, tuple[float, float]],
                  bloc: Mapping[str, str], size: Mapping[str, float], *, title: str = "",
                  step: int | None = None, width: int = 460, height: int = 400) -> str:
    """The bloc network as SVG: states (squares) and miners (circles), colour = bloc.

    Args:
        graph: nodes with ``kind`` (``state`` or ``miner``) and ``label``; edges with ``kind``
            (``alliance``: thick solid; ``offtake``: thin dashed).
        pos: fixed node positions (:func:`network_layout`).
        bloc: bloc name of every node.
        size: marker area of every node (points squared; the side or diameter is its root).
        title: subtitle (e.g. the month).
        step: model step drawn (``data-step``).
        width: width in px.
        height: height in px.

    Returns:
        An SVG element (``data-chart="network"``); nodes carry ``data-node`` and ``data-bloc``,
        edges ``data-edge`` (``u|v``) and ``data-kind``.
    """
    colours = bloc_colours(bloc.values())
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    x0, x1 = min(xs) - 0.3, max(xs) + 0.3
    y0, y1 = min(ys) - 0.25, max(ys) + 0.25
    top = 24

    def sx(x):
        return 10 + (x - x0) / (x1 - x0) * (width - 20)

    def sy(y):
        return top + (y1 - y) / (y1 - y0) * (height - top - 10)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="100%" data-chart="network" data-step="{step}" '
           'style="font-family:Roboto,Arial,sans-serif;font-size:10px;max-width:100%">']
    if title:
        out.append(f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="12">'
                   f"{html.escape(title)}</text>")
    for u, v, data in sorted(graph.edges(data=True), key=lambda e: (str(e[0]), str(e[1]))):
        if u not in pos or v not in pos:
            continue
        kind = str(data.get("kind", ""))
        style = ('stroke="#333" stroke-width="3"' if kind == "alliance"
                 else 'stroke="#888" stroke-width="1" stroke-dasharray="4,3"')
        out.append(f'<line data-edge="{html.escape(f"{u}|{v}")}" data-kind="{kind}" '
                   f'x1="{sx(pos[u][0]):.1f}" y1="{sy(pos[u][1]):.1f}" '
                   f'x2="{sx(pos[v][0]):.1f}" y2="{sy(pos[v][1]):.1f}" {style}/>')
    for kind in ("miner", "state"):
        for node, data in graph.nodes(data=True):
            if data.get("kind") != kind or node not in pos:
                continue
            x, y = sx(pos[node][0]), sy(pos[node][1])
            r = max(float(np.sqrt(max(size.get(node, 30.0), 1.0))) / 2.0, 2.5)
            b = bloc.get(node, "unaligned")
            attrs = (f'data-node="{html.escape(str(node))}" data-bloc="{html.escape(b)}" '
                     f'fill="{colours[b]}" stroke="#000" stroke-width="0.7"')
            name = html.escape(str(data.get("label", node)))
            if kind == "state":
                out.append(f'<rect {attrs} x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" '
                           f'height="{2 * r:.1f}"><title>{name}</title></rect>')
                out.append(f'<text x="{x:.1f}" y="{y - r - 3:.1f}" text-anchor="middle" '
                           f'font-weight="bold" font-size="11">{html.escape(str(node))}</text>')
            else:
                out.append(f'<circle {attrs} cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}">'
                           f"<title>{name}</title></circle>")
                short = html.escape(str(data.get("label", node)).split(" (")[0])
                out.append(f'<text x="{x:.1f}" y="{y + r + 10:.1f}" text-anchor="middle" '
                           f'font-size="9" fill="#333">{short}</text>')
    shown = [b for b in colours if b in set(bloc.values())]
    for i, b in enumerate(shown):
        out.append(f'<rect x="8" y="{top + 4 + 14 * i}" width="10" height="10" '
                   f'fill="{colours[b]}"/><text x="22" y="{top + 13 + 14 * i}">'
                   f"{html.escape(b)}</text>")
    out.append("</svg>")
    return "".join(out)


def flows_chart(flows: Mapping[str, pd.DataFrame], blocked: Mapping[str, set],
                names: Mapping[str, str] | None = None, *, title: str = "",
                step: int | None = None, width: int = 460, height: int = 250) -> str:
    """Trade flows this month as SVG matrices: who buys from whom; blocked links crossed out.

    Args:
        flows: product -> seller-country x buyer-country DataFrame, t/month.
        blocked: product -> set of (seller, buyer) links closed or capped by export controls.
        names: display names of country codes.
        title: subtitle (e.g. the month).
        step: model step drawn (``data-step``).
        width: width in px.
        height: height in px.

    Returns:
        An SVG element (``data-chart="flows"``) with one matrix per product (rows = seller,
        columns = buyer, shade = log tonnes, numbers in t/month); a blocked link is a red cross
        with ``data-blocked="seller|buyer"``.
    """
    names = names or {}
    products = ("light", "heavy")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="100%" data-chart="flows" data-step="{step}" '
           'style="font-family:Roboto,Arial,sans-serif;font-size:9px;max-width:100%">']
    if title:
        out.append(f'<text x="{width / 2}" y="12" text-anchor="middle" font-size="11">'
                   f"{html.escape(title)}</text>")
    left, top, gap = 44, 44, 50
    pw = (width - left - gap - 6) / 2
    for k, product in enumerate(products):
        mat = flows.get(product)
        px = left + k * (pw + gap)
        out.append(f'<text x="{px + pw / 2:.1f}" y="27" text-anchor="middle" font-size="11" '
                   f'font-weight="500">{product}: seller (row) to buyer (column)</text>')
        if mat is None or mat.empty:
            continue
        rows, cols = list(mat.index), list(mat.columns)
        values = mat.to_numpy(dtype=float)
        shade = np.log10(1.0 + np.clip(values, 0.0, None))
        top_shade = max(float(shade.max()), 1e-9)
        cw, ch = pw / len(cols), (height - top - 8) / len(rows)
        for j, c in enumerate(cols):
            out.append(f'<text x="{px + (j + 0.5) * cw:.1f}" y="{top - 4}" '
                       f'text-anchor="middle">{html.escape(names.get(c, c)[:7])}</text>')
        cut = blocked.get(product, set())
        for i, r in enumerate(rows):
            y = top + i * ch
            out.append(f'<text x="{px - 3:.1f}" y="{y + ch / 2 + 3:.1f}" text-anchor="end">'
                       f"{html.escape(names.get(r, r)[:7])}</text>")
            for j, c in enumerate(cols):
                x = px + j * cw
                level = shade[i, j] / top_shade
                fill = _blue(level)
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" '
                           f'fill="{fill}" stroke="#fff"/>')
                v = values[i, j]
                if v >= 0.05:
                    txt = f"{v:,.0f}" if v >= 10 else f"{v:.1f}"
                    colour = "#fff" if level > 0.6 else "#000"
                    out.append(f'<text x="{x + cw / 2:.1f}" y="{y + ch / 2 + 3:.1f}" '
                               f'text-anchor="middle" fill="{colour}">{txt}</text>')
                if (r, c) in cut:
                    out.append(f'<path data-blocked="{html.escape(f"{r}|{c}")}" '
                               f'd="M{x + 3:.1f},{y + 3:.1f}L{x + cw - 3:.1f},{y + ch - 3:.1f}'
                               f'M{x + cw - 3:.1f},{y + 3:.1f}L{x + 3:.1f},{y + ch - 3:.1f}" '
                               'stroke="#d62728" stroke-width="2"/>')
    out.append("</svg>")
    return "".join(out)


def _blue(level: float) -> str:
    """White to dark blue for ``level`` in [0, 1]."""
    level = min(max(level, 0.0), 1.0)
    lo, hi = (247, 251, 255), (8, 48, 107)
    r, g, b = (round(a + (z - a) * level) for a, z in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
