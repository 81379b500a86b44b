"""The dashboard's charts: pure functions from run data to SVG text (see :mod:`abm_dashboard.svg`).

One colour per country in every chart, from the Okabe-Ito palette (distinguishable with the
common colour-vision deficiencies), and one line style per country, so that overlapping lines
stay visible: China solid vermillion, the USA dashed blue, Japan dotted purple, the EU dash-dot
green, Australia long-dash orange; the price outside China ("world") is a wide grey band under
the countries' lines, so it shows where the USA's and Japan's lines lie on it. A second run
(compare mode) uses the same styles, faded.

Charts take the run's frame and ask :mod:`abm_dashboard.session` nothing: column names come
from the caller's ``values`` function (the adapter's :func:`~abm_dashboard.session.country_values`).
Time runs along a fractional-year axis (``2025.04`` = January 2025).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from abm_dashboard.svg import Layout, Marker, Panel, Series, svg_chart, text_width, wrap_text

__all__ = [
    "COUNTRY_STYLE",
    "WORLD_STYLE",
    "country_style",
    "dependence_chart",
    "event_markers",
    "flows_chart",
    "game_chart",
    "magnet_chart",
    "network_chart",
    "network_layout",
    "outside_china_chart",
    "price_chart",
    "scores_chart",
    "shares_chart",
    "stocks_chart",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}
#: country code -> (colour, dash pattern). Hosts of minor mines take greys.
COUNTRY_STYLE: dict[str, tuple[str, str]] = {
    "CHN": (OKABE_ITO["vermillion"], ""),
    "USA": (OKABE_ITO["blue"], "9,4"),
    "JPN": (OKABE_ITO["purple"], "2,3"),
    "EU": (OKABE_ITO["green"], "10,3,2,3"),
    "AUS": (OKABE_ITO["orange"], "14,4"),
    "ROW": ("#7a7a7a", "4,2"),
    "MMR": (OKABE_ITO["sky"], "6,2,2,2"),
    "NGA": (OKABE_ITO["yellow"], "3,1"),
    "VNM": ("#a0a0a0", "5,5"),
    "BRA": ("#c8c8c8", "1,2"),
    "IND": ("#5a5a5a", "8,2,2,2,2,2"),
    "RUS": ("#303030", "12,3"),
    "THA": ("#e0e0e0", "2,2"),
    "Other": ("#d9d9d9", "1,1"),
}
WORLD_STYLE = ("#000000", 7.0, 0.28)  # colour, width, opacity of the "world" band
OBSERVED_COLOUR = "#000000"

ValuesFn = Callable[[pd.DataFrame, str, str], "np.ndarray | None"]


def country_style(code: str) -> tuple[str, str]:
    """Colour and dash pattern of a country (grey for ones without their own)."""
    return COUNTRY_STYLE.get(code, ("#8c8c8c", "3,3"))


def _year(df: pd.DataFrame | None) -> np.ndarray:
    if df is None or df.empty or "year" not in df:
        return np.zeros(0)
    return df["year"].to_numpy(float)


def _col(df: pd.DataFrame | None, col: str) -> np.ndarray:
    if df is None or df.empty or col not in df:
        return np.zeros(0)
    return df[col].to_numpy(float)


def _country_series(df: pd.DataFrame | None, values: ValuesFn | None, kind: str, code: str,
                    name: str, *, scale: float = 1.0, faded: bool = False,
                    legend: bool = True) -> Series:
    colour, dash = country_style(code)
    y = values(df, kind, code) if (values is not None and df is not None and not df.empty) else None
    y = np.zeros(0) if y is None else np.asarray(y, dtype=float) * scale
    x = _year(df) if len(y) else np.zeros(0)
    return Series(name, x, y, colour, dash=dash, width=2.2, opacity=0.45 if faded else 1.0,
                  legend=legend)


def _observed(observed: pd.DataFrame | None, variable: str, xlim: tuple[float, float],
              name: str, scale: float = 1.0,
              colour: str = OBSERVED_COLOUR) -> tuple[Series | None, list[str]]:
    """Observed history of a variable within the window, with its sources.

    Drawn as diamonds joined by a thin line, each point's source as its tooltip, plus a note
    line naming the sources (cached: the observed table does not change while the server
    runs).
    """
    if observed is None or observed.empty:
        return None, []
    key = (id(observed), variable, tuple(xlim), name, scale, colour)
    hit = _OBSERVED.get(key)
    if hit is not None and hit[0] is observed:
        return hit[1]
    if len(_OBSERVED) > 256:
        _OBSERVED.clear()
    result = _observed_uncached(observed, variable, xlim, name, scale, colour)
    _OBSERVED[key] = (observed, result)
    return result


_OBSERVED: dict[tuple, tuple[pd.DataFrame, tuple[Series | None, list[str]]]] = {}


def _observed_uncached(observed: pd.DataFrame, variable: str, xlim: tuple[float, float],
                       name: str, scale: float,
                       colour: str) -> tuple[Series | None, list[str]]:
    obs = _by_variable(observed).get(variable)
    if obs is None:
        return None, []
    obs = obs[(obs["year"] >= xlim[0] - 0.5) & (obs["year"] <= xlim[1] + 0.5)]
    if obs.empty:
        return None, []
    notes = [f"{d}: {v:,.4g} {u} - {s}" for d, v, u, s in
             zip(obs["date"], obs["value"], obs["unit"], obs["source"], strict=True)]
    series = Series(name, obs["year"].to_numpy(float), obs["value"].to_numpy(float) * scale,
                    colour, width=1.5, markers=True, note=notes)
    return series, [f"Observed {d} ({u}): {s}" for d, u, s in
                    zip(obs["date"], obs["unit"], obs["source"], strict=True)]


_SPLIT: dict[int, tuple[pd.DataFrame, dict[str, pd.DataFrame]]] = {}


def _by_variable(observed: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The observed history split by variable, sorted by time (computed once per table)."""
    hit = _SPLIT.get(id(observed))
    if hit is None or hit[0] is not observed:
        if len(_SPLIT) > 8:
            _SPLIT.clear()
        split = {v: g.sort_values("year") for v, g in observed.groupby("variable")}
        hit = (observed, split)
        _SPLIT[id(observed)] = hit
    return hit[1]


def event_markers(events: Iterable[tuple[str, str]], last_month: str, *,
                  year_of: Callable[[str], float], max_chars: int = 90) -> list[Marker]:
    """Numbered markers for scripted events, one per month with events.

    Args:
        events: ``(YYYY-MM, detail)`` pairs of the scenario timeline.
        last_month: last simulated month (later events are drawn lighter).
        year_of: ``YYYY-MM`` -> fractional year.
        max_chars: longest text per event in the key.

    Returns:
        Markers numbered 1, 2, ... in date order; a month's details joined by " / ".
    """
    by_month: dict[str, list[str]] = {}
    for date, detail in events:
        text = " ".join(str(detail).split())
        if len(text) > max_chars:
            text = text[: max_chars - 1].rstrip() + "..."
        by_month.setdefault(date, [])
        if text not in by_month[date]:
            by_month[date].append(text)
    out = []
    for i, (date, texts) in enumerate(sorted(by_month.items()), start=1):
        out.append(Marker(year_of(date), str(i), f"{date} " + " / ".join(texts),
                          future=not last_month or date > last_month))
    return out


def _runs(df: pd.DataFrame | None, compare: pd.DataFrame | None):
    """``(frame, faded)`` for the run and, in compare mode, the second run."""
    return [(frame, faded) for frame, faded in ((df, False), (compare, True))
            if frame is not None]


PRICE_COUNTRIES = (("CHN", "China"), ("USA", "USA"), ("JPN", "Japan"))


def price_chart(df: pd.DataFrame, *, values: ValuesFn, observed: pd.DataFrame | None = None,
                compare: pd.DataFrame | None = None, compare_label: str = "B",
                xlim: tuple[float, float], markers: Sequence[Marker] = (),
                layout: Layout | None = None, step: int | None = None,
                log: bool = False) -> str:
    """Prices of light (NdPr) and heavy (Dy/Tb) oxide, US$/kg: China, world, USA and Japan.

    Args:
        df: the run's frame (``price_<product>_<country>``, ``price_<product>_world``, ``year``).
        values: reads a per-country column (``values(df, "price_light", "CHN")``).
        observed: observed history, drawn as diamonds with their sources.
        compare: a second run's frame, drawn faded.
        compare_label: legend label of the second run.
        xlim: time axis (fractional years).
        markers: scripted events.
        layout: size on the page.
        step: model step drawn (``data-step``).
        log: logarithmic price axis (spikes and the level before them both readable).

    Returns:
        Two panels, light and heavy, as an SVG element (``data-chart="prices"``).
    """
    panels, notes = [], []
    for product, title in (("light", "Light: NdPr oxide"), ("heavy", "Heavy: Dy/Tb oxide")):
        series = []
        for frame, faded in _runs(df, compare):
            suffix = f" ({compare_label})" if faded else ""
            colour, width, opacity = WORLD_STYLE
            series.append(Series(f"World (outside China){suffix}", _year(frame),
                                 _col(frame, f"price_{product}_world"), colour, width=width,
                                 opacity=opacity * (0.6 if faded else 1.0)))
            for code, name in PRICE_COUNTRIES:
                series.append(_country_series(frame, values, f"price_{product}", code,
                                              f"{name}{suffix}", faded=faded))
        obs, note = _observed(observed, f"price_{product}_world", xlim, "Observed (world)")
        if obs is not None:
            series.append(obs)
            notes += note
        panels.append(Panel(title, "US$/kg", series, log=log, markers=list(markers)))
    return svg_chart(panels, xlim=xlim, name="prices", layout=layout, step=step, notes=notes)


DEPENDENT = (("JPN", "Japan"), ("USA", "USA"), ("EU", "EU"))


def dependence_chart(df: pd.DataFrame, *, values: ValuesFn,
                     observed: pd.DataFrame | None = None, compare: pd.DataFrame | None = None,
                     xlim: tuple[float, float], layout: Layout | None = None,
                     step: int | None = None) -> str:
    """Japan's, the USA's and the EU's dependence on China.

    The share of their purchases (t, both products) refined in China, in %.

    Returns:
        One panel (``data-chart="dependence"``).
    """
    series = []
    for frame, faded in _runs(df, compare):
        for code, name in DEPENDENT:
            series.append(_country_series(frame, values, "china_import_share", code,
                                          name + (" (B)" if faded else ""), scale=100.0,
                                          faded=faded))
    notes = []
    for code, name in DEPENDENT:
        obs, note = _observed(observed, f"china_import_share_{name.lower()}", xlim,
                              f"Observed ({name})", scale=100.0,
                              colour=country_style(code)[0])
        if obs is not None:
            series.append(obs)
            notes += note
    panel = Panel("Share of purchases refined in China", "%", series, ymax=100.0,
                  fmt="{:.0f}%")
    return svg_chart([panel], xlim=xlim, name="dependence", layout=layout, step=step,
                     notes=notes)


def _stack(df: pd.DataFrame, values: ValuesFn, kind: str, codes: Sequence[str], *,
           exclude: str = "CHN", keep: int = 6, scale: float = 1.0,
           names: Mapping[str, str] | None = None) -> list[Series]:
    """Stacked bands of a per-country quantity, largest first, the rest as "Other"."""
    names = names or {}
    data = {}
    for code in codes:
        if code == exclude:
            continue
        y = values(df, kind, code)
        if y is not None:
            data[code] = np.nan_to_num(np.asarray(y, dtype=float)) * scale
    order = sorted(data, key=lambda c: -float(data[c].sum()))
    top, rest = order[:keep], order[keep:]
    x = _year(df)
    bands = [Series(names.get(c, c), x, data[c], country_style(c)[0]) for c in top]
    if rest:
        other = np.sum([data[c] for c in rest], axis=0)
        bands.append(Series("Other", x, other, COUNTRY_STYLE["Other"][0]))
    return bands


def outside_china_chart(df: pd.DataFrame, *, values: ValuesFn, codes: Sequence[str],
                        names: Mapping[str, str], observed: pd.DataFrame | None = None,
                        xlim: tuple[float, float], layout: Layout | None = None,
                        step: int | None = None) -> str:
    """Mining and separation outside China by country, t REO/month (stacked areas).

    Args:
        df: the run's frame (``mined_<host>``, ``refined_<country>``, t REO/month).
        values: reads a per-country column.
        codes: the countries to look for.
        names: display names.
        observed: observed history; world production and China's share give the observed
            mine output outside China (a line per observed year).
        xlim: time axis.
        layout: size on the page.
        step: model step drawn.

    Returns:
        Two panels (``data-chart="outside"``).
    """
    mined = _stack(df, values, "mined", codes, names=names)
    refined = _stack(df, values, "refined", codes, names=names)
    notes, overlay = [], []
    derived = _observed_outside(observed, xlim)
    if derived is not None:
        overlay.append(derived[0])
        notes.append(derived[1])
    panels = [Panel("Mined outside China", "t REO/month", mined, stacked=True, overlay=overlay),
              Panel("Separated outside China", "t REO/month", refined, stacked=True)]
    return svg_chart(panels, xlim=xlim, name="outside", layout=layout, step=step, notes=notes)


def _observed_outside(observed: pd.DataFrame | None,
                      xlim: tuple[float, float]) -> tuple[Series, str] | None:
    """Observed mine output outside China: world production x (1 - China's share), t/month."""
    if observed is None or observed.empty:
        return None
    key = (id(observed), "outside", tuple(xlim))
    hit = _OBSERVED.get(key)
    if hit is not None and hit[0] is observed:
        return hit[1]  # type: ignore[return-value]
    result = _outside_uncached(observed, xlim)
    _OBSERVED[key] = (observed, result)  # type: ignore[assignment]
    return result


def _outside_uncached(observed: pd.DataFrame,
                      xlim: tuple[float, float]) -> tuple[Series, str] | None:
    prod = observed[observed["variable"] == "production_reo"].set_index("date")
    share = observed[observed["variable"] == "china_share_mining"].set_index("date")
    dates = sorted(set(prod.index) & set(share.index))
    rows = [(d, float(prod.loc[d, "value"]) * (1 - float(share.loc[d, "value"])) / 12.0,
             f"{prod.loc[d, 'source']}; {share.loc[d, 'source']}") for d in dates]
    rows = [r for r in rows if xlim[0] - 0.5 <= float(prod.loc[r[0], "year"]) <= xlim[1] + 0.5]
    if not rows:
        return None
    x = [float(prod.loc[d, "year"]) for d, _, _ in rows]
    series = Series("Observed (mined outside China)", x, [v for _, v, _ in rows],
                    OBSERVED_COLOUR, markers=True,
                    note=[f"{d}: {v:,.0f} t REO/month outside China ({s})" for d, v, s in rows])
    text = "Observed mine output outside China = world production x (1 - China's share): " + (
        "; ".join(f"{d}: {s}" for d, _, s in rows))
    return series, text


SHARE_LINES = (("china_share_mining", "China's share of mining", "CHN", ""),
               ("china_share_refining", "China's share of separation/refining", "CHN", "9,4"))


def shares_chart(df: pd.DataFrame, *, observed: pd.DataFrame | None = None,
                 compare: pd.DataFrame | None = None, xlim: tuple[float, float],
                 layout: Layout | None = None, step: int | None = None) -> str:
    """China's shares of mining and of separation/refining (t REO), in %.

    Returns:
        One panel (``data-chart="shares"``) with observed shares as diamonds.
    """
    series, notes = [], []
    colour = country_style("CHN")[0]
    for frame, faded in _runs(df, compare):
        for col, name, _code, dash in SHARE_LINES:
            series.append(Series(name + (" (B)" if faded else ""), _year(frame),
                                 _col(frame, col) * 100.0, colour if dash == "" else "#7f2a00",
                                 dash=dash, width=2.2, opacity=0.45 if faded else 1.0))
    for col, name, _code, _dash in SHARE_LINES:
        obs, note = _observed(observed, col, xlim, f"Observed ({name[15:]})", scale=100.0)
        if obs is not None:
            series.append(obs)
            notes += note
    panel = Panel("China's share of the world (t REO)", "%", series, ymax=100.0, fmt="{:.0f}%")
    return svg_chart([panel], xlim=xlim, name="shares", layout=layout, step=step, notes=notes)


STOCK_COUNTRIES = ("CHN", "USA", "JPN", "EU")


def stocks_chart(df: pd.DataFrame, *, values: ValuesFn, names: Mapping[str, str],
                 compare: pd.DataFrame | None = None, xlim: tuple[float, float],
                 layout: Layout | None = None, step: int | None = None) -> str:
    """Strategic stockpiles (t), firm inventories (t) and shortages (t/month) by country.

    Returns:
        Three panels as an SVG element (``data-chart="stocks"``).
    """
    panels = []
    for kind, title, unit in (("stockpile", "State stockpiles", "t"),
                              ("inventory", "Firm inventories", "t"),
                              ("shortage", "Shortage", "t/month")):
        series = []
        for frame, faded in _runs(df, compare):
            for code in STOCK_COUNTRIES:
                series.append(_country_series(frame, values, kind, code,
                                              names.get(code, code) + (" (B)" if faded else ""),
                                              faded=faded, legend=not faded))
        panels.append(Panel(title, unit, series, fmt="{:,.1f}" if kind == "shortage"
                            else "{:,.0f}"))
    return svg_chart(panels, xlim=xlim, name="stocks", layout=layout, step=step)


def magnet_chart(df: pd.DataFrame, *, names: Mapping[str, str], code_of: Mapping[str, str],
                 compare: pd.DataFrame | None = None, xlim: tuple[float, float],
                 layout: Layout | None = None, step: int | None = None) -> str:
    """NdFeB magnet prices by country (``price_magnet_<country>``, US$/kg).

    Drawn only where the model has a magnet stage.

    Args:
        df: the run's frame.
        names: display names of country codes.
        code_of: column suffix (``china``) -> country code.
        compare: a second run, faded.
        xlim: time axis.
        layout: size on the page.
        step: model step drawn.

    Returns:
        One panel (``data-chart="magnets"``).
    """
    series = []
    for frame, faded in _runs(df, compare):
        for col in [c for c in frame.columns if c.startswith("price_magnet_")]:
            suffix = col[len("price_magnet_"):]
            code = code_of.get(suffix, suffix.upper())
            colour, dash = (WORLD_STYLE[0], "") if suffix == "world" else country_style(code)
            label = "World (outside China)" if suffix == "world" else names.get(code, code)
            series.append(Series(label + (" (B)" if faded else ""), _year(frame),
                                 _col(frame, col), colour, dash=dash, width=2.2,
                                 opacity=0.45 if faded else 1.0))
    panel = Panel("NdFeB magnets", "US$/kg", series)
    return svg_chart([panel], xlim=xlim, name="magnets", layout=layout, step=step)


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


BLOC_OUTLINES = ("#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
#: the largest marker's half-size, as a share of the distance between the two circles
#: (states sit 0.63 of it apart on theirs, mines of one country about 0.2 on theirs)
MARKER_ROOM = {"state": 0.22, "miner": 0.15}
#: bars under the states of one trade community (apart from the bloc rings' colours)
TRADE_COLOURS = ("#56B4E9", "#882255", "#44AA99", "#999933", "#332288", "#AA4499")


def network_chart(graph: nx.Graph, pos: Mapping[str, tuple[float, float]],
                  bloc: Mapping[str, str], size: Mapping[str, float],
                  country: Mapping[str, str], *, title: str = "", step: int | None = None,
                  layout: Layout | None = None, trade: Mapping[str, str] | None = None,
                  concentration: Mapping[str, float] | None = None) -> str:
    """The bloc network: states (squares) and miners (circles) in their country's colour.

    Ties are drawn as lines (alliance: thick solid; offtake: thin dashed); the legend lists each
    bloc (a connected group of two or more) with its members. With ``trade``, the blocs that
    emerge from trade are shown too: a coloured bar under each state of a trade community of
    two or more states, and a legend line per community. With ``concentration``, a key line
    gives the month's supply concentration by stage (HHI).

    Args:
        graph: nodes with ``kind`` (``state`` or ``miner``) and ``label``; edges with ``kind``.
        pos: fixed node positions (:func:`network_layout`).
        bloc: bloc name of every node (``unaligned`` for none).
        size: marker area of every node (px squared at font 13).
        country: country code of every node (a miner's host).
        title: subtitle (e.g. the month).
        step: model step drawn (``data-step``).
        layout: size on the page.
        trade: state -> the hub of its community in this month's trade network, or ``None``.
        concentration: stage -> this month's HHI of supply by country (0-1), or ``None``.

    Returns:
        An SVG element (``data-chart="network"``); nodes carry ``data-node``, ``data-bloc`` and
        a ``data-hover`` text (states also ``data-trade``, their trade community's hub), edges
        ``data-edge`` (``u|v``) and ``data-kind``.
    """
    lay = layout or Layout(width=460)
    f, scale = lay.font, lay.scale
    width = max(int(lay.width), 240)
    blocs = sorted({b for b in bloc.values() if b != "unaligned"})
    members = {b: sorted(n for n, nb in bloc.items() if nb == b and graph.nodes[n].get("kind")
                         == "state") for b in blocs}
    legend = [f"Bloc {b}: " + (", ".join(members[b]) or "miners") +
              f" (+{sum(1 for n, nb in bloc.items() if nb == b) - len(members[b])} mines)"
              for b in blocs] or ["No blocs: every state is on its own"]
    trade = dict(trade or {})
    bar, trade_legend = _trade_groups(trade)
    if concentration:
        trade_legend.append(("Supply concentration (HHI): " + ", ".join(
            f"{stage} {value:.2f}" for stage, value in concentration.items()), ""))
    outline = {b: BLOC_OUTLINES[i % len(BLOC_OUTLINES)] for i, b in enumerate(blocs)}
    key = wrap_text("Fill = country; thick line = alliance, dashed = offtake; ring = bloc"
                    + ("; bar = trade group" if trade else ""), width - 2 * f, 0.85 * f)
    rows = _key_rows([(line, outline[blocs[i]] if i < len(blocs) else "")
                      for i, line in enumerate(legend)], width - 3.4 * f, f, "bloc-key")
    rows += _key_rows(trade_legend, width - 3.4 * f, f, "trade-key")
    plot_h = min(max(width * 0.62, 16 * f), 34 * f)  # narrow or large-font: taller than wide
    top = 1.8 * f if title else 0.6 * f
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    x0, x1 = min(xs) - 0.35, max(xs) + 0.35
    y0, y1 = min(ys) - 0.3, max(ys) + 0.3
    unit = min((width - 2 * f) / (x1 - x0), (plot_h - f) / (y1 - y0))
    ox = (width - unit * (x1 - x0)) / 2
    oy = top + (plot_h - unit * (y1 - y0)) / 2

    def sx(x):
        return ox + (x - x0) * unit

    def sy(y):
        return oy + (y1 - y) * unit

    out = []
    if title:
        out.append(f'<text x="{width / 2:.1f}" y="{1.2 * f:.1f}" text-anchor="middle" '
                   f'font-size="{1.05 * f:.1f}" font-weight="500">{html.escape(title)}</text>')
    for u, v, data in sorted(graph.edges(data=True), key=lambda e: (str(e[0]), str(e[1]))):
        if u not in pos or v not in pos:
            continue
        kind = str(data.get("kind", ""))
        style = (f'stroke="#222" stroke-width="{3.5 * scale:.1f}"' if kind == "alliance"
                 else f'stroke="#888" stroke-width="{1.1 * scale:.1f}" stroke-dasharray="4,3"')
        out.append(f'<line data-edge="{html.escape(f"{u}|{v}")}" data-kind="{kind}" '
                   f'x1="{sx(pos[u][0]):.1f}" y1="{sy(pos[u][1]):.1f}" '
                   f'x2="{sx(pos[v][0]):.1f}" y2="{sy(pos[v][1]):.1f}" {style}/>')
    marks: dict[str, tuple[float, float, float]] = {}  # node -> (x, y, half-size) in px
    labels: list[str] = []
    for kind in ("miner", "state"):
        nodes = [(n, d) for n, d in graph.nodes(data=True) if d.get("kind") == kind and n in pos]
        half = {n: max(math.sqrt(max(size.get(n, 30.0), 1.0)) / 2.0 * scale, 2.5 * scale)
                for n, _d in nodes}
        # where the plot is small for the font (narrow, or projector mode) the markers shrink
        # together, so that neighbours on their circle do not cover each other
        room = MARKER_ROOM[kind] * unit / max(half.values(), default=1.0)
        for node, data in nodes:
            x, y = sx(pos[node][0]), sy(pos[node][1])
            r = half[node] * min(1.0, room)
            marks[node] = (x, y, r)
            b = bloc.get(node, "unaligned")
            fill = country_style(country.get(node, ""))[0]
            ring = (f'stroke="{outline[b]}" stroke-width="{2.2 * scale:.1f}"' if b in outline
                    else 'stroke="#666" stroke-width="0.8"')
            label = str(data.get("label", node))
            hover = f"{label} - {'bloc ' + b if b != 'unaligned' else 'in no bloc'}"
            hub = trade.get(node) if kind == "state" else None
            if hub in bar:
                hover += f"; trades with {hub}'s group"
            attrs = (f'data-node="{html.escape(str(node))}" data-bloc="{html.escape(b)}" '
                     f'data-hover="{html.escape(hover)}" fill="{fill}" {ring}')
            if hub:
                attrs += f' data-trade="{html.escape(hub)}"'
            if kind == "state":
                out.append(f'<rect {attrs} x="{x - r:.1f}" y="{y - r:.1f}" '
                           f'width="{2 * r:.1f}" height="{2 * r:.1f}"/>')
                if hub in bar:
                    w = _bar_half(r, f)
                    out.append(f'<rect data-trade-bar="{html.escape(str(node))}" '
                               f'x="{x - w:.1f}" y="{y + r + 0.25 * f:.1f}" width="{2 * w:.1f}" '
                               f'height="{0.45 * f:.1f}" fill="{bar[hub]}"/>')
            else:
                out.append(f'<circle {attrs} cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}"/>')
    hidden = _network_labels(graph, marks, size, f,
                             (0.0, top, float(width), top + plot_h + 0.5 * f), labels)
    out += labels
    if hidden:
        key += wrap_text(f"{hidden} mine name{'s' if hidden > 1 else ''} left out for room: "
                         "hover over a circle", width - 2 * f, 0.85 * f)
    height = top + plot_h + 1.2 * f + 1.4 * f * (len(key) + len(rows))
    out.insert(0, f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" '
                  f'width="{width}" height="{height:.0f}" data-chart="network" '
                  f'data-step="{step}" data-font="{f:g}" data-labels-hidden="{hidden}" '
                  'style="font-family:Roboto,Arial,sans-serif;max-width:100%;background:#fff">')
    out += _network_key(top + plot_h + 1.5 * f, f, scale, key, rows)
    out.append("</svg>")
    return "".join(out)


def _network_labels(graph: nx.Graph, marks: Mapping[str, tuple[float, float, float]],
                    size: Mapping[str, float], f: float,
                    area: tuple[float, float, float, float], out: list[str]) -> int:
    """Place the bloc network's labels where they overlap no other label or marker.

    States' codes come first (above their square, else below its trade bar, else right, left,
    or at a corner; smaller, then over a mine's circle where crowded, then where it overlaps
    least: a state is never unnamed), then the mines' names, largest mine first, below their
    circle, else above, right, left or at a corner; a mine name with no free place is left out
    (its circle's hover text names it).

    Args:
        graph: the network (nodes with ``kind`` and ``label``).
        marks: node -> (x, y, half-size) of its marker, px.
        size: marker areas (the order in which mines are named).
        f: base font, px.
        area: (left, top, right, bottom) the labels must stay within, px.
        out: the ``<text>`` elements are appended here.

    Returns:
        How many mine names were left out.
    """
    def extent(node, x, y, r):  # a marker's box; a state's with the room for its trade bar
        if graph.nodes[node].get("kind") != "state":
            return (x - r, y - r, x + r, y + r)
        w = _bar_half(r, f)
        return (x - w, y - r, x + w, y + r + 0.7 * f)

    squares = {node: extent(node, *mark) for node, mark in marks.items()}
    circles = [b for node, b in squares.items() if graph.nodes[node].get("kind") != "state"]
    taken = [b for node, b in squares.items()  # states' squares, then the labels placed
             if graph.nodes[node].get("kind") == "state"]

    def box(x, y, text, font):  # a middle-anchored text's box; y is its baseline
        half = text_width(text, font) / 2
        return (x - half, y - 0.8 * font, x + half, y + 0.25 * font)

    def clash(b, node, over_circles):  # px^2 of overlap (any part outside the area: inf)
        if not (area[0] <= b[0] and b[2] <= area[2] and area[1] <= b[1] and b[3] <= area[3]):
            return math.inf
        return sum(max(0.0, min(b[2], t[2]) - max(b[0], t[0]))
                   * max(0.0, min(b[3], t[3]) - max(b[1], t[1]))
                   for t in (taken if over_circles else taken + circles)
                   if t is not squares[node])

    states = sorted(n for n, d in graph.nodes(data=True) if d.get("kind") == "state"
                    and n in marks)
    mines = sorted((n for n, d in graph.nodes(data=True) if d.get("kind") == "miner"
                    and n in marks), key=lambda n: (-size.get(n, 30.0), str(n)))
    hidden = 0
    for node in states + mines:
        x, y, r = marks[node]
        state = node in states
        text = str(node) if state else str(graph.nodes[node].get("label", node)).split(" (")[0]
        # a crowded state's code: smaller, then over a mine's circle, then where it clashes
        # least (a state is never unnamed); a mine's name: in a free place or not at all
        tries = ([(f, False), (0.8 * f, False), (f, True), (0.8 * f, True)] if state
                 else [(0.8 * f, False)])
        best = (math.inf, 0.0, 0.0, f)
        for font, over_circles in tries:
            for px, py in _label_spots(x, y, r, text_width(text, font) / 2, font, f, state):
                cost = clash(box(px, py, text, font), node, over_circles)
                if cost < best[0]:
                    best = (cost, px, py, font)
            if best[0] == 0.0:
                break
        cost, px, py, font = best
        if cost > 0.0 and not state:
            hidden += 1
            continue
        if cost == math.inf:  # no place inside the chart: above the square, at full size
            px, py, font = x, y - r - 0.35 * f, f
        taken.append(box(px, py, text, font))
        weight = ' font-weight="bold"' if state else ' fill="#333"'
        out.append(f'<text x="{px:.1f}" y="{py:.1f}" text-anchor="middle" data-label='
                   f'"{html.escape(str(node))}" font-size="{font:.1f}"{weight}>'
                   f"{html.escape(text)}</text>")
    return hidden


def _bar_half(r: float, f: float) -> float:
    """Half-width of a state's trade bar: its square's, visible under a shrunken square."""
    return max(r, 0.4 * f)


def _label_spots(x: float, y: float, r: float, half: float, font: float, f: float,
                 state: bool) -> list[tuple[float, float]]:
    """Places (middle, baseline) for a label of half-width ``half`` around a marker.

    In the order tried: a state's above first, a mine's below first; then right, left, the
    corners.
    """
    side = half + r + 0.3 * f  # a side place clears the marker
    above, mid = y - r - 0.35 * f, y + 0.3 * font
    below = y + r + (1.65 * f if state else 0.95 * f)  # a state's trade bar is under it
    first = [(x, above), (x, below)] if state else [(x, below), (x, above)]
    return first + [(x + side, mid), (x - side, mid), (x + side, above), (x - side, above),
                    (x + side, below), (x - side, below)]


def _key_rows(entries: list[tuple[str, str]], width: float, f: float,
              css: str) -> list[tuple[str, str, str]]:
    """Key entries (text, colour) wrapped to ``width`` px: (line, colour on the first, css)."""
    return [(line, colour if j == 0 else "", css) for text, colour in entries
            for j, line in enumerate(wrap_text(text, width, 0.95 * f))]


def _network_key(y: float, f: float, scale: float, key: list[str],
                 rows: list[tuple[str, str, str]]) -> list[str]:
    """The bloc network's key: the symbols' lines, then the blocs' and trade groups' rows.

    A ``bloc-key`` row's colour is its bloc's ring, a ``trade-key`` row's its group's bar.
    """
    out = []
    for line in key:
        out.append(f'<text x="{f:.1f}" y="{y:.1f}" font-size="{0.85 * f:.1f}" fill="#444">'
                   f"{html.escape(line)}</text>")
        y += 1.4 * f
    for line, colour, css in rows:
        if colour and css == "bloc-key":
            out.append(f'<rect x="{f:.1f}" y="{y - 0.8 * f:.1f}" width="{0.9 * f:.1f}" '
                       f'height="{0.9 * f:.1f}" fill="#fff" stroke="{colour}" '
                       f'stroke-width="{2.2 * scale:.1f}"/>')
        elif colour:
            out.append(f'<rect x="{f:.1f}" y="{y - 0.55 * f:.1f}" width="{0.9 * f:.1f}" '
                       f'height="{0.45 * f:.1f}" fill="{colour}"/>')
        out.append(f'<text x="{2.4 * f:.1f}" y="{y:.1f}" font-size="{0.95 * f:.1f}" '
                   f'class="{css}">{html.escape(line)}</text>')
        y += 1.4 * f
    return out


def _trade_groups(trade: Mapping[str, str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Colours of the trade communities of two or more states, and their legend lines.

    Returns:
        ``({hub: colour}, [(legend line, colour or "")])``; no lines without ``trade``.
    """
    groups: dict[str, list[str]] = {}
    for state, hub in trade.items():
        groups.setdefault(hub, []).append(state)
    hubs = sorted(h for h, members in groups.items() if len(members) >= 2)
    bar = {h: TRADE_COLOURS[i % len(TRADE_COLOURS)] for i, h in enumerate(hubs)}
    lines = [(f"Trades with {h}: " + ", ".join(sorted(groups[h])), bar[h]) for h in hubs]
    if trade and not lines:
        lines = [("Trade: no group of two or more states this month", "")]
    return bar, lines


def flows_chart(flows: Mapping[str, pd.DataFrame], blocked: Mapping[str, set],
                names: Mapping[str, str] | None = None, *, title: str = "",
                step: int | None = None, layout: Layout | None = None) -> str:
    """Trade flows this month as matrices: who buys from whom; blocked links crossed out.

    Args:
        flows: product -> seller-country x buyer-country DataFrame, t/month.
        blocked: product -> set of (seller, buyer) links closed or capped by export controls.
        names: display names of country codes.
        title: subtitle (e.g. the month).
        step: model step drawn (``data-step``).
        layout: size on the page.

    Returns:
        An SVG element (``data-chart="flows"``) with one matrix per product (rows = seller,
        columns = buyer, shade = log tonnes, numbers in t/month), side by side or stacked on a
        narrow screen; a blocked link is a cross with ``data-blocked="seller|buyer"``; every
        cell carries its value as ``data-hover``.
    """
    lay = layout or Layout(width=460)
    f = lay.font
    width = max(int(lay.width), 240)
    names = names or {}
    products = ("light", "heavy")
    n = len(next((m.index for m in flows.values() if m is not None), [])) or 6
    label_w = 5.2 * f
    gap = 1.5 * f
    side = (width - 2 * label_w - gap) / 2 >= n * 3.4 * f
    pw = (width - (2 if side else 1) * label_w - (gap if side else 0) - 0.5 * f) / (2 if side
                                                                                      else 1)
    cell_h = min(max(pw / n * 0.45, 1.8 * f), 2.6 * f)
    block_h = 3.4 * f + n * cell_h
    top = (1.6 * f if title else 0.3 * f)
    height = top + (block_h if side else 2 * block_h + f) + 0.5 * f
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" '
           f'width="{width}" height="{height:.0f}" data-chart="flows" data-step="{step}" '
           f'data-font="{f:g}" style="font-family:Roboto,Arial,sans-serif;max-width:100%;'
           'background:#fff">']
    if title:
        out.append(f'<text x="{width / 2:.1f}" y="{1.1 * f:.1f}" text-anchor="middle" '
                   f'font-size="{0.95 * f:.1f}">{html.escape(title)}</text>')
    for k, product in enumerate(products):
        mat = flows.get(product)
        px = label_w + (k * (pw + gap + label_w) if side else 0)
        py = top + (0 if side else k * (block_h + f))
        out.append(f'<text x="{px + pw / 2:.1f}" y="{py + 1.2 * f:.1f}" text-anchor="middle" '
                   f'font-size="{f:.1f}" font-weight="500">{product}: seller (row) to buyer '
                   "(column)</text>")
        if mat is None or mat.empty:
            continue
        rows, cols = list(mat.index), list(mat.columns)
        values = mat.to_numpy(dtype=float)
        shade = np.log10(1.0 + np.clip(values, 0.0, None))
        top_shade = max(float(shade.max()), 1e-9)
        cw = pw / len(cols)
        grid_top = py + 3.2 * f
        for j, c in enumerate(cols):
            label = _short(names.get(c, c), cw, 0.85 * f)
            out.append(f'<text x="{px + (j + 0.5) * cw:.1f}" y="{grid_top - 0.4 * f:.1f}" '
                       f'text-anchor="middle" font-size="{0.85 * f:.1f}">{html.escape(label)}'
                       "</text>")
        cut = blocked.get(product, set())
        for i, r in enumerate(rows):
            y = grid_top + i * cell_h
            out.append(f'<text x="{px - 0.3 * f:.1f}" y="{y + cell_h / 2 + 0.3 * f:.1f}" '
                       f'text-anchor="end" font-size="{0.85 * f:.1f}">'
                       f"{html.escape(_short(names.get(r, r), label_w, 0.85 * f))}</text>")
            for j, c in enumerate(cols):
                x = px + j * cw
                level = shade[i, j] / top_shade
                v = values[i, j]
                hover = (f"{product}: {names.get(r, r)} to {names.get(c, c)}: {v:,.1f} t/month"
                         + (" (blocked or capped)" if (r, c) in cut else ""))
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" '
                           f'height="{cell_h:.1f}" fill="{_blue(level)}" stroke="#fff" '
                           f'data-hover="{html.escape(hover)}"/>')
                if v >= 0.05:
                    txt = f"{v:,.0f}" if v >= 10 else f"{v:.1f}"
                    size = min(0.85 * f, cw / max(len(txt), 1) / 0.6)
                    colour = "#fff" if level > 0.6 else "#000"
                    out.append(f'<text x="{x + cw / 2:.1f}" y="{y + cell_h / 2 + 0.3 * f:.1f}" '
                               f'text-anchor="middle" font-size="{size:.1f}" fill="{colour}" '
                               f'pointer-events="none">{txt}</text>')
                if (r, c) in cut:
                    out.append(f'<path data-blocked="{html.escape(f"{r}|{c}")}" '
                               f'd="M{x + 3:.1f},{y + 3:.1f}L{x + cw - 3:.1f},{y + cell_h - 3:.1f}'
                               f'M{x + cw - 3:.1f},{y + 3:.1f}L{x + 3:.1f},{y + cell_h - 3:.1f}" '
                               f'stroke="{OKABE_ITO["vermillion"]}" '
                               f'stroke-width="{2 * lay.scale:.1f}" '
                               'pointer-events="none"/>')
    out.append("</svg>")
    return "".join(out)


def _short(text: str, width: float, font: float) -> str:
    """Shorten a label to fit ``width`` px."""
    if text_width(text, font) <= width * 0.95:
        return text
    keep = max(int(width * 0.95 / (0.58 * font)), 3)
    return text[: keep - 1] + "."


def _blue(level: float) -> str:
    """White to dark blue for ``level`` in [0, 1]."""
    level = min(max(level, 0.0), 1.0)
    lo, hi = (247, 251, 255), (8, 48, 107)
    r, g, b = (round(a + (z - a) * level) for a, z in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def game_chart(class_df: pd.DataFrame, *, reference: pd.DataFrame | None = None,
               history: pd.DataFrame | None = None, observed: pd.DataFrame | None = None,
               xlim: tuple[float, float], layout: Layout | None = None,
               step: int | None = None) -> str:
    """The class's path against an all-model run and against history: world prices.

    Args:
        class_df: the game's frame.
        reference: the same seed with every state played by the model, drawn faded.
        history: the history replay (``controls_2025``), dotted.
        observed: observed prices, diamonds with sources.
        xlim: time axis.
        layout: size on the page.
        step: months simulated.

    Returns:
        Two panels, light and heavy (``data-chart="debrief"``).
    """
    panels, notes = [], []
    for product, title in (("light", "NdPr oxide, price outside China"),
                           ("heavy", "Dy/Tb oxide, price outside China")):
        col = f"price_{product}_world"
        series = [Series("Your class", _year(class_df), _col(class_df, col),
                         OKABE_ITO["blue"], width=3.0)]
        if reference is not None:
            series.append(Series("All states played by the model", _year(reference),
                                 _col(reference, col), OKABE_ITO["orange"], dash="9,4",
                                 width=2.4))
        if history is not None:
            series.append(Series("History replayed (2025 controls)", _year(history),
                                 _col(history, col), "#555555", dash="2,3", width=2.2))
        obs, note = _observed(observed, col, xlim, "Observed")
        if obs is not None:
            series.append(obs)
            notes += note
        panels.append(Panel(title, "US$/kg", series))
    return svg_chart(panels, xlim=xlim, name="debrief", layout=layout, step=step, notes=notes)


def scores_chart(df: pd.DataFrame, *, values: ValuesFn, roles: Sequence[str],
                 names: Mapping[str, str], xlim: tuple[float, float],
                 layout: Layout | None = None, step: int | None = None) -> str:
    """Each team's score so far: its state's payoff summed over the months played.

    Returns:
        One panel (``data-chart="scores"``), US$ million.
    """
    series = []
    for code in roles:
        y = values(df, "payoff", code) if not df.empty else None
        y = np.zeros(0) if y is None else np.nancumsum(np.asarray(y, dtype=float))
        colour, dash = country_style(code)
        series.append(Series(names.get(code, code), _year(df) if len(y) else np.zeros(0), y,
                             colour, dash=dash, width=2.4))
    panel = Panel("Score: payoff summed over the game", "US$ million", series)
    return svg_chart([panel], xlim=xlim, name="scores", layout=layout, step=step)
