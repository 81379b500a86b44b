"""Component-level tests of the dashboard: the adapter, charts, inputs and views via solara.render.

Crafted values are sent the way the page's websocket delivers them: by setting a widget's
``v_model`` on the server-side widget (what ``model.set('v_model', ...); save_changes()`` in the
page's JavaScript ends in); ``tests/test_browser.py`` does the same from the real page.
"""

from __future__ import annotations

import html
import itertools
import math
import re

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara

import abm
from abm_dashboard import charts, session
from abm_dashboard.info import GLOSSARY, THINGS_TO_TRY
from abm_dashboard.session import (
    CLASSROOM_ROLES,
    COUNTRIES,
    RESET_LEVERS,
    SEED_SPEC,
    Run,
    Settings,
    country_values,
    lever_status,
    month_to_year,
    parse_lever,
    parse_month_text,
    scenario_info,
)
from abm_dashboard.svg import Layout, Marker, Panel, Series, nice_ticks, svg_chart
from abm_dashboard.views import Dashboard, DashboardState, _collapse
from abm_dashboard.widgets import refusal

N_FIRMS = next(s for s in RESET_LEVERS if s.name == "n_firms")
ELASTICITY = next(s for s in RESET_LEVERS if s.name == "demand_elasticity")


# ---------------------------------------------------------------------- input checking
def test_parse_lever_accepts_numbers_in_range():
    assert parse_lever(N_FIRMS, " 300 ") == 300
    assert parse_lever(N_FIRMS, "3e2") == 300
    assert parse_lever(ELASTICITY, "0.35") == pytest.approx(0.35)
    assert parse_lever(SEED_SPEC, 7) == 7


@pytest.mark.parametrize(
    ("spec", "text", "pattern"),
    [
        (N_FIRMS, "abc", r"Number of firms: must be a whole number between 1 and 20000, got 'abc'"),
        (N_FIRMS, "2.5", r"must be a whole number"),
        (N_FIRMS, "0", r"0 is out of range"),
        (N_FIRMS, "1e9", r"out of range"),
        (ELASTICITY, "-0.1", r"out of range; must be between 0 and 2"),
        (ELASTICITY, "nan", r"must be a number"),
        (ELASTICITY, "", r"must be a number"),
        (ELASTICITY, "x" * 5000, r"got 'x{30,40}'$"),
    ],
)
def test_parse_lever_refuses_bad_input_with_one_line(spec, text, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        parse_lever(spec, text)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_lever_ranges_come_from_the_model_parameter_table():
    for spec in RESET_LEVERS:
        param = abm.PARAMS[spec.name]
        assert spec.lo >= param.lo and spec.hi <= param.hi
        assert spec.kind is param.type


def test_month_parsing():
    assert month_to_year("2025-01") == pytest.approx(2025 + 0.5 / 12)
    assert month_to_year("2009") == 2009.5
    assert parse_month_text(" 2025-04 ", "2024-01", "2030-12") == "2025-04"
    for bad, why in (("2025-13", "YYYY-MM"), ("April", "YYYY-MM"), ("２０２５-04", "YYYY-MM"),
                     ("2031-01", "outside this run")):
        with pytest.raises(ValueError, match=why):
            parse_month_text(bad, "2024-01", "2030-12")


def test_refusal_is_one_line_naming_the_control_and_the_offered_values():
    line = refusal("Speed", "/etc/passwd", ["1", "2"])
    assert line == ("Refused: '/etc/passwd' is not a value the 'Speed' control offers (1, 2); "
                    "nothing was changed.")
    assert "\n" not in refusal("Scenario", "x\n" * 100)


# ---------------------------------------------------------------------- the adapter's columns
def test_country_slugs_follow_the_core_scheme():
    expected = {"CHN": "china", "USA": "usa", "JPN": "japan", "EU": "eu", "AUS": "australia",
                "ROW": "row"}  # the core's scheme (HELPERS.md), independent of this table
    assert {c: COUNTRIES[c].slug for c in expected} == expected
    assert session.column("mined", "CHN") == "mined_china"
    assert session.column("price", "JPN", "heavy") == "price_heavy_japan"
    for code, country in COUNTRIES.items():
        if code not in expected:  # other hosts: lower-case English names
            assert country.slug == country.name.lower().replace(" ", "_") or country.slug in (
                "korea",)


@pytest.fixture(scope="module")
def stepped_run():
    run = Run(Settings(scenario="controls_2025", seed=1))
    for _ in range(17):  # through 2025-05: the April 2025 licences are in force
        assert run.step()
    return run


def test_every_country_column_the_views_read_exists_in_the_model_frame(stepped_run):
    df = stepped_run.frame()
    for code in ("CHN", "USA", "JPN", "EU", "AUS", "ROW"):
        for kind in ("stockpile", "shortage", "china_import_share", "risk", "refined",
                     "inventory", "payoff"):
            values = country_values(df, kind, code)
            assert values is not None and len(values) == 17, (kind, code)
        assert country_values(df, "price_light", code) is not None or code == "CHN"
    hosts = session.countries_with(df, "mined")
    assert {"CHN", "USA", "AUS", "MMR"} <= set(hosts)
    total = sum(country_values(df, "mined", h) for h in hosts)
    np.testing.assert_allclose(total, df["production_reo"].to_numpy(), rtol=1e-9)


def test_payoff_columns_are_the_states_payoffs(stepped_run):
    df = stepped_run.frame()
    last = stepped_run.model.states
    for code in ("CHN", "USA", "JPN"):
        assert country_values(df, "payoff", code)[-1] == pytest.approx(last[code].payoff)


def test_run_lists_the_china_export_control_event(stepped_run):
    events = stepped_run.events()
    hits = events[(events["date"] == "2025-04") & (events["actor"] == "CHN")]
    assert any("licences on heavy rare earths" in d for d in hits["detail"])


def test_network_blocs_sizes_and_countries(stepped_run):
    graph, bloc, size, country = stepped_run.network()
    assert set(bloc) == set(graph.nodes) == set(size) == set(country)
    assert bloc["CHN"] == bloc["CHN_south"] != "unaligned"  # China and its own mines
    assert size["CHN"] > size["AUS"]  # China buys far more than Australia
    assert country["MTWELD"] == "AUS" and country["CHN"] == "CHN"
    assert charts.network_layout(graph) == charts.network_layout(graph)  # seeded, stable


def test_live_china_policy_is_applied_logged_and_survives_the_timeline():
    run = Run(Settings(scenario="controls_2025", china_policy={("USA", "heavy"): "ban"}))
    assert run.model.export_instrument("CHN", "USA", "heavy") == "ban"
    for _ in range(17):  # 2025-04 brings a licence regime toward "all"
        run.step()
    assert run.model.export_instrument("CHN", "USA", "heavy") == "ban"
    assert ("CHN", "USA") in run.model.blocked_links["heavy"]
    assert run.model.last_flows["heavy"].loc["CHN", "USA"] == pytest.approx(0.0, abs=1e-9)
    user = run.events()[run.events()["source"] == "user"]
    assert any("heavy to USA -> ban" in d for d in user["detail"])
    assert run.set_china_policy({("USA", "heavy"): "scenario"}) == ["USA heavy: as in scenario"]
    assert run.model.export_instrument("CHN", "USA", "heavy") is None


def test_clearing_the_live_lever_hands_china_back_to_its_learning():
    run = Run(Settings(scenario="strategic"))
    assert "export" not in run.model.states["CHN"].pinned
    run.set_china_policy({("JPN", "light"): "open"})
    assert "export" in run.model.states["CHN"].pinned
    run.step()
    run.set_china_policy({})
    assert "export" not in run.model.states["CHN"].pinned  # China chooses again


def test_clearing_the_live_lever_keeps_a_scripted_pin():
    run = Run(Settings(scenario="quota_2010"))
    run.step()  # 2009-01: the timeline pins China's exports (the quota)
    assert "export" in run.model.states["CHN"].pinned
    run.set_china_policy({("JPN", "heavy"): "ban"})
    run.set_china_policy({})
    assert "export" in run.model.states["CHN"].pinned


def test_a_crash_keeps_the_months_before_and_says_what_happened():
    run = Run(Settings(scenario="baseline"))
    for _ in range(3):
        run.step()

    def boom():
        raise RuntimeError("solver exploded")

    run.model.step = boom
    assert run.step() is False and not run.running
    assert run.error == ("The model stopped in 2024-04: RuntimeError: solver exploded. "
                         "The 3 months before are kept")
    assert len(run.frame()) == 3


def test_run_to_a_month_and_to_the_next_scripted_event():
    run = Run(Settings(scenario="quota_2010"))
    assert run.next_event().date == "2009-01"
    run.run_to("2009-06")
    assert run.last_month == "2009-06" and run.steps_done == 6
    event = run.next_event()
    assert (event.date, event.actor) == ("2009-07", "CHN")  # the second quota batch of 2009
    run.run_to(event.date)
    assert run.last_month == "2009-07"
    assert run.next_event().date == "2010-01"  # the 40% quota cut and the 2010 mining quota


def test_bad_override_is_refused_by_the_model():
    with pytest.raises(abm.InputError):
        Run(Settings(levers={"demand_elasticity": 99.0}))


def test_a_scenario_name_is_never_read_as_a_path(tmp_path):
    toml = tmp_path / "evil.toml"
    toml.write_text('start = "2024-01"\nhorizon_months = 1\ndata_year = 2024\n')
    with pytest.raises(ValueError, match="unknown scenario"):
        scenario_info(str(toml))
    with pytest.raises(ValueError, match="unknown scenario"):
        Run(Settings(scenario=str(toml)))


# ---------------------------------------------------------------------- honest levers
def test_lever_status_reads_the_scenario_files():
    status = {n: {lever: lever_status(scenario_info(n), lever) for lever in
                  ("alliance", "logit_intensity", "stockpile_target_months",
                   "demand_elasticity")} for n in abm.list_scenarios()}
    assert not status["baseline"]["alliance"].acts
    assert not status["baseline"]["logit_intensity"].acts  # nobody chooses in baseline
    assert not status["baseline"]["stockpile_target_months"].acts
    assert status["controls_2025"]["alliance"].start == "2025-10"  # the framework's month
    assert status["controls_2025"]["logit_intensity"].start == "2026-11"  # states free then
    assert status["controls_2025"]["stockpile_target_months"].start == "2025-11"
    assert lever_status(scenario_info("controls_2025"), "stockpile_target_months",
                        alliance=False).start == "2026-11"  # no framework stockpiling
    for name in ("quota_2010", "strategic"):
        assert not status[name]["alliance"].acts
        assert status[name]["logit_intensity"].acts and status[name]["logit_intensity"].start == ""
    assert all(status[n]["demand_elasticity"].acts for n in status)


def _months(scenario, steps, seed=0, **overrides):
    return abm.simulate(scenario, steps=steps, rng=seed, **overrides).drop(
        columns=["step"]).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "lever", "value"), [
    ("baseline", "logit_intensity", 30.0), ("baseline", "stockpile_target_months", 24.0),
    ("baseline", "alliance", False), ("quota_2010", "alliance", False),
    ("strategic", "alliance", False)])
def test_levers_the_page_hides_change_nothing(scenario, lever, value):
    assert not lever_status(scenario_info(scenario), lever).acts
    pd.testing.assert_frame_equal(_months(scenario, 36), _months(scenario, 36, **{lever: value}))


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "lever", "value"), [
    ("controls_2025", "alliance", False), ("controls_2025", "logit_intensity", 0.0),
    ("controls_2025", "stockpile_target_months", 24.0), ("strategic", "logit_intensity", 0.0),
    ("quota_2010", "stockpile_target_months", 24.0)])
def test_levers_the_page_offers_act_from_the_month_it_names(scenario, lever, value):
    info = scenario_info(scenario)
    status = lever_status(info, lever)
    assert status.acts
    start = status.start or info.start
    k = (int(start[:4]) - int(info.start[:4])) * 12 + int(start[5:]) - int(info.start[5:])
    n = min(k + 60, info.horizon_months)
    a, b = _months(scenario, n), _months(scenario, n, **{lever: value})
    if k:
        # nothing before it starts; the states' security score measures stockpile cover
        # against the target from the first month (abm.payoff.security), so payoffs may differ
        scored = [c for c in a.columns if c.startswith("payoff_")
                  and lever == "stockpile_target_months"]
        pd.testing.assert_frame_equal(a.iloc[:k].drop(columns=scored),
                                      b.iloc[:k].drop(columns=scored))
    assert not a.iloc[k:].equals(b.iloc[k:])  # something after


# ---------------------------------------------------------------------- svg charts
def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 100, 5) == [0, 20, 40, 60, 80, 100]
    ticks = nice_ticks(0, 2.3, 4)
    assert ticks[0] == 0 and ticks[-1] <= 2.3 and len(ticks) >= 3


def _points(svg: str, name: str) -> list[tuple[float, float]]:
    raw = re.search(rf'data-series="{re.escape(name)}" points="([^"]+)"', svg).group(1)
    return [tuple(map(float, p.split(","))) for p in raw.split()]


def test_svg_chart_is_drawn_at_the_given_width_with_text_in_px():
    svg = svg_chart([Panel("p", "US$/kg", [Series("a", [2024, 2025], [10, 20])])],
                    xlim=(2024, 2026), name="t", layout=Layout(width=500, font=20), step=3)
    assert re.search(r'viewBox="0 0 500 \d+" width="500"', svg)
    assert 'data-chart="t"' in svg and 'data-step="3"' in svg and 'data-font="20"' in svg
    sizes = [float(x) for x in re.findall(r'font-size="([\d.]+)"', svg)]
    assert min(sizes) >= 0.85 * 20  # the smallest text is 85% of the base font
    xs = [p[0] for p in _points(svg, "a")]
    assert xs[0] < xs[1] < 500


def test_panels_stack_on_a_narrow_screen():
    panels = [Panel("left", "t", [Series("a", [0, 1], [1, 2])]),
              Panel("right", "t", [Series("b", [0, 1], [1, 2])])]
    wide = svg_chart(panels, xlim=(0, 1), name="w", layout=Layout(width=1200))
    narrow = svg_chart(panels, xlim=(0, 1), name="n", layout=Layout(width=360))
    (ax, ay), (bx, by) = _points(wide, "a")[0], _points(wide, "b")[0]
    assert ay == by and bx > ax + 400  # side by side
    (ax, ay), (bx, by) = _points(narrow, "a")[0], _points(narrow, "b")[0]
    assert ax == bx and by > ay + 100  # one above the other


def _hover(svg: str, panel: int = 0) -> tuple[list[float], list[str]]:
    """The right edges (px) and texts of a panel's hover zone."""
    import html as html_lib
    import json

    edges, texts = re.findall(r'data-hover-x="([^"]*)" data-hover-t="([^"]*)"', svg)[panel]
    return [float(e) for e in edges.split(",")], json.loads(html_lib.unescape(texts))


def test_hover_zone_carries_every_lines_value_each_month():
    svg = svg_chart([Panel("p", "US$/kg", [Series("China", [2024.04, 2024.125], [10, 12.5]),
                                          Series("Japan", [2024.04, 2024.125], [30, 31])])],
                    xlim=(2024, 2025), name="h", layout=Layout(width=600))
    edges, texts = _hover(svg)
    assert texts == ["2024-01  (US$/kg)\nChina: 10\nJapan: 30",
                     "2024-02  (US$/kg)\nChina: 12\nJapan: 31"]  # {:,.0f} rounds 12.5 to 12
    (x_jan, _), (x_feb, _) = _points(svg, "China")
    assert x_jan < edges[0] < x_feb < edges[1]  # each month's column holds its point


def test_one_point_is_drawn_as_a_marker_and_nan_is_skipped():
    svg = svg_chart([Panel("p", "t", [Series("b", [2024, 2025], [5, float("nan")])])],
                    xlim=(2024, 2026), name="x")
    assert '<path data-series="b" class="point"' in svg
    assert '<polyline data-series="b"' not in svg and "nan" not in svg.lower()


def test_log_price_axis_places_decades_evenly():
    svg = svg_chart([Panel("p", "US$/kg", [Series("a", [0, 1, 2], [10, 100, 1000])], log=True)],
                    xlim=(0, 2), name="log", layout=Layout(width=400))
    ys = [p[1] for p in _points(svg, "a")]
    assert ys[0] > ys[1] > ys[2]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.2)  # one decade, one distance
    assert ">1,000<" in svg and ">10<" in svg  # decade tick labels


def test_event_markers_are_numbered_by_month_with_a_key():
    markers = charts.event_markers([("2010-01", "quota cut"), ("2010-10", "embargo"),
                                    ("2010-10", "embargo"), ("2010-10", "other")],
                                   "2010-06", year_of=month_to_year)
    assert [(m.label, m.text, m.future) for m in markers] == [
        ("1", "2010-01 quota cut", False), ("2", "2010-10 embargo / other", True)]
    svg = svg_chart([Panel("p", "t", [Series("a", [2010, 2011], [1, 2])], markers=markers)],
                    xlim=(2009.5, 2011.5), name="m")
    assert svg.count("data-marker=") == 2 and "2010-10 embargo / other" in svg


# ---------------------------------------------------------------------- chart content
def _strokes(svg: str) -> dict[str, tuple[str, str]]:
    out = {}
    for name, colour, rest in re.findall(
            r'<polyline data-series="([^"]+)" points="[^"]*" fill="none" stroke="([^"]+)"([^>]*)>',
            svg):
        dash = re.search(r'stroke-dasharray="([^"]+)"', rest)
        out[name] = (colour, dash.group(1) if dash else "")
    return out


def test_one_colour_and_line_style_per_country_across_charts(stepped_run):
    df = stepped_run.frame()
    xlim = (2024.0, 2031.0)
    prices = _strokes(charts.price_chart(df, values=country_values, xlim=xlim))
    dependence = _strokes(charts.dependence_chart(df, values=country_values, xlim=xlim))
    stocks = _strokes(charts.stocks_chart(df, values=country_values, xlim=xlim,
                                          names={"CHN": "China", "USA": "USA", "JPN": "Japan",
                                                 "EU": "EU"}))
    okabe_ito = {"China": "#D55E00", "USA": "#0072B2", "Japan": "#CC79A7", "EU": "#009E73"}
    for name, colour in okabe_ito.items():
        seen = {chart[name] for chart in (prices, dependence, stocks) if name in chart}
        assert seen and {c for c, _ in seen} == {colour}, name  # same colour everywhere
        assert len({d for _, d in seen}) == 1, name  # and the same line style
    styles = {prices[n] for n in ("China", "USA", "Japan")}
    assert len(styles) == 3  # overlapping lines stay apart by colour AND dash
    colour, _ = prices["World (outside China)"]
    assert re.search(r'data-series="World \(outside China\)"[^>]*stroke-width="7',
                     charts.price_chart(df, values=country_values, xlim=xlim))


def test_observed_history_is_drawn_with_its_sources():
    run = Run(Settings(scenario="quota_2010"))
    run.run_to("2011-12")
    obs = session.observed_history()
    svg = charts.price_chart(run.frame(), values=country_values, observed=obs,
                             xlim=(2009.0, 2016.0))
    points = re.findall(r'<path data-series="Observed \(world\)" class="point"[^>]*>'
                        r"<title>([^<]+)</title>", svg)
    # 2009 and the mid-2011 peak for each product, each with its source
    assert len(points) == 4
    assert any(p.startswith("2011-07: 450 US$/kg - mid-2011 peak: Nd ~450") for p in points)
    assert 'class="chart-note"' in svg and "docs/sources.md" in svg


def test_mining_outside_china_is_the_sum_of_other_hosts(stepped_run):
    df = stepped_run.frame()
    svg = charts.outside_china_chart(df, values=country_values, codes=list(COUNTRIES),
                                     names={c: COUNTRIES[c].name for c in COUNTRIES},
                                     xlim=(2024.0, 2031.0))
    outside = df["production_reo"] * (1 - df["china_share_mining"])
    top = _hover(svg, panel=0)[1][-1].split("\n")  # last month, mining panel
    values = [float(line.split(": ")[1].replace(",", "")) for line in top[1:]]
    assert sum(values) == pytest.approx(outside.iloc[-1], rel=0.01, abs=len(values))


def test_magnet_chart_draws_when_the_model_has_magnet_prices(stepped_run):
    df = stepped_run.frame().copy()
    df = df.drop(columns=session.magnet_columns(df))
    assert session.magnet_columns(df) == []
    df["price_magnet_china"] = 50.0
    df["price_magnet_japan"] = 80.0
    svg = charts.magnet_chart(df, names={"CHN": "China", "JPN": "Japan"},
                              code_of={"china": "CHN", "japan": "JPN"}, xlim=(2024.0, 2031.0))
    strokes = _strokes(svg)
    assert strokes["China"][0] == "#D55E00" and strokes["Japan"][0] == "#CC79A7"


def test_flows_chart_shows_trade_and_crosses_out_blocked_links():
    run = Run(Settings(scenario="baseline", china_policy={("USA", "heavy"): "ban"}))
    run.step()
    flows, blocked = run.flows()
    svg = charts.flows_chart(flows, blocked, step=1)
    assert 'data-blocked="CHN|USA"' in svg
    assert svg.count('data-blocked="') == len(blocked["light"]) + len(blocked["heavy"])
    light = flows["light"]
    assert f"{light.loc['CHN', 'USA']:,.0f}" in svg  # China's NdPr sales to the USA, t/month


def test_network_chart_draws_states_miners_ties_and_blocs(stepped_run):
    graph, bloc, size, country = stepped_run.network()
    svg = charts.network_chart(graph, charts.network_layout(graph), bloc, size, country, step=17)
    kinds = [d["kind"] for _, d in graph.nodes(data=True)]
    assert svg.count("<rect data-node=") == kinds.count("state")
    assert svg.count("<circle data-node=") == kinds.count("miner")
    assert svg.count("<line data-edge=") == graph.number_of_edges()
    assert 'data-node="CHN"' in svg and 'fill="#D55E00"' in svg  # China in its own colour
    assert "Bloc " in svg  # the key names each bloc and its members


def _label_boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """The network's labels as boxes, from the drawn text (0.58 em a character, as drawn)."""
    boxes = {}
    for x, y, node, font, text in re.findall(
            r'<text x="([-\d.]+)" y="([-\d.]+)" text-anchor="middle" data-label="([^"]*)" '
            r'font-size="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        half = 0.58 * float(font) * len(html.unescape(text)) / 2
        boxes[node] = (float(x) - half, float(y) - 0.8 * float(font), float(x) + half,
                       float(y) + 0.25 * float(font))
    return boxes


def _overlapping(boxes: dict) -> list[tuple[str, str]]:
    items = sorted(boxes.items())
    return [(a, b) for i, (a, p) in enumerate(items) for b, q in items[i + 1:]
            if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]]


@pytest.mark.parametrize("width,font", [(240, 13.0), (320, 13.0), (360, 13.0), (640, 13.0),
                                        (1200, 13.0), (360, 22.0), (640, 22.0), (1000, 22.0)])
def test_network_labels_name_every_state_and_never_cover_each_other(stepped_run, width, font):
    graph, bloc, size, country = stepped_run.network()
    svg = charts.network_chart(graph, charts.network_layout(graph), bloc, size, country,
                               title="2024-03", layout=Layout(width=width, font=font),
                               trade=stepped_run.trade_communities())
    boxes = _label_boxes(svg)
    states = {n for n, d in graph.nodes(data=True) if d.get("kind") == "state"}
    mines = set(graph.nodes) - states
    assert states <= set(boxes)  # every state is named, however crowded
    named = set(boxes) & mines
    hidden = int(re.search(r'data-labels-hidden="(\d+)"', svg)[1])
    assert len(named) + hidden == len(mines)
    assert (f"{hidden} mine name" in svg) == (hidden > 0)  # the key says names are left out
    # a mine's name covers no other label, no marker and nothing outside the drawing
    plot_top = 1.8 * font
    for node in named:
        a = boxes[node]
        assert 0 <= a[0] and a[2] <= width and a[1] >= plot_top
        for other, b in boxes.items():
            assert other == node or not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3]
                                         and b[1] < a[3]), (node, other)
        for mark in re.finditer(r'<circle data-node="([^"]*)"[^>]*cx="([\d.]+)" '
                                r'cy="([\d.]+)" r="([\d.]+)"', svg):
            cx, cy, r = float(mark[2]), float(mark[3]), float(mark[4])
            assert mark[1] == node or not (a[0] < cx + r and cx - r < a[2] and a[1] < cy + r
                                           and cy - r < a[3]), (node, mark[1])
    if width >= 360 and width >= 29 * font:  # room enough: no two labels touch at all
        assert _overlapping(boxes) == []
    if width >= 640 and font == 13.0:
        assert hidden <= 1  # a desk-sized chart names (nearly) every mine


def test_network_markers_shrink_together_where_the_plot_is_small(stepped_run):
    graph, bloc, size, country = stepped_run.network()
    pos = charts.network_layout(graph)

    def squares(width, font):
        svg = charts.network_chart(graph, pos, bloc, size, country,
                                   layout=Layout(width=width, font=font))
        return {m[1]: (float(m[2]) + float(m[4]) / 2, float(m[3]) + float(m[4]) / 2,
                       float(m[4])) for m in re.finditer(
            r'<rect data-node="([^"]*)"[^>]* x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"', svg)}

    wide, narrow = squares(1600, 22.0), squares(320, 22.0)
    for node, (_x, _y, side) in wide.items():  # room enough: sqrt(area) x font/13, as before
        assert side == pytest.approx(math.sqrt(size[node]) * 22.0 / 13.0, abs=0.1)
    ratios = {n: narrow[n][2] / wide[n][2] for n in wide}
    assert max(ratios.values()) < 0.8  # crowded: every square smaller, all alike
    assert max(ratios.values()) == pytest.approx(min(ratios.values()), rel=0.03)
    for a, b in itertools.combinations(narrow.values(), 2):  # and no square covers another
        assert abs(a[0] - b[0]) >= (a[2] + b[2]) / 2 or abs(a[1] - b[1]) >= (a[2] + b[2]) / 2


def test_trade_communities_read_the_last_month_of_the_trade_bloc_columns():
    df = pd.DataFrame({"trade_bloc_china": ["usa", "china"], "trade_bloc_japan": ["usa", "china"],
                       "trade_bloc_usa": ["usa", "usa"], "trade_bloc_eu": ["eu", "usa"]})
    assert session.trade_communities(df, ["CHN", "JPN", "USA", "EU", "AUS"]) == {
        "CHN": "CHN", "JPN": "CHN", "USA": "USA", "EU": "USA"}  # AUS: no column, left out
    assert session.trade_communities(df.iloc[:0], ["CHN"]) == {}
    # a hub outside the codes asked for is still named by its code (Korea: KOR, not KOREA)
    assert session.trade_communities(pd.DataFrame({"trade_bloc_japan": ["korea"]}),
                                     ["JPN"]) == {"JPN": "KOR"}


def test_network_chart_shows_the_trade_groups_next_to_the_blocs(stepped_run):
    graph, bloc, size, country = stepped_run.network()
    trade = stepped_run.trade_communities()
    states = {n for n, d in graph.nodes(data=True) if d.get("kind") == "state"}
    assert set(trade) == states
    for hub in set(trade.values()):  # each community is named after one of its members
        assert trade[hub] == hub
    svg = charts.network_chart(graph, charts.network_layout(graph), bloc, size, country,
                               step=17, trade=trade)
    groups = {h: sorted(s for s in trade if trade[s] == h) for h in set(trade.values())}
    shared = {h: m for h, m in groups.items() if len(m) >= 2}
    assert svg.count("data-trade-bar=") == sum(len(m) for m in shared.values())
    key = " ".join(re.findall(r'class="trade-key">([^<]*)<', svg))  # wrapped lines rejoined
    for hub, members in shared.items():
        assert f"Trades with {hub}: {', '.join(members)}" in key
    for code in states:
        assert f'data-trade="{trade[code]}"' in svg
    # hand-made: two groups of two and a state alone; the lone state gets no bar
    lone = charts.network_chart(graph, charts.network_layout(graph), bloc, size, country,
                                trade={"CHN": "CHN", "JPN": "CHN", "USA": "USA", "EU": "USA",
                                       "AUS": "AUS"})
    assert lone.count("data-trade-bar=") == 4 and "Trades with AUS" not in lone
    assert "Trades with CHN: CHN, JPN" in lone and "Trades with USA: EU, USA" in lone
    alone = charts.network_chart(graph, charts.network_layout(graph), bloc, size, country,
                                 trade={"CHN": "CHN", "JPN": "JPN"})
    assert "no group of two or more states" in alone and "data-trade-bar=" not in alone
    assert "bar = trade group" not in charts.network_chart(
        graph, charts.network_layout(graph), bloc, size, country)
    # on a narrow screen a long group wraps within the chart instead of running off it
    ten = {c: "CHN" for c in ("AUS", "CHN", "EU", "IND", "JPN", "KOR", "MYS", "ROW", "USA",
                              "VNM")}
    narrow = charts.network_chart(graph, charts.network_layout(graph), bloc, size, country,
                                  trade=ten, layout=Layout(width=260))
    rows = re.findall(r'class="trade-key">([^<]*)<', narrow)
    assert len(rows) >= 2 and " ".join(rows).startswith("Trades with CHN: AUS, CHN, EU")
    assert max(len(r) for r in rows) * 0.58 * 0.95 * 13 <= 260 - 3.4 * 13


def test_the_bloc_view_gives_the_months_supply_concentration_by_stage(stepped_run):
    df = pd.DataFrame({"hhi_mining": [0.2, 0.5], "hhi_refining": [0.3, 0.9]})
    assert session.concentration(df) == {"mining": 0.5, "separation": 0.9}
    assert session.concentration(df.iloc[:0]) == {}
    graph, bloc, size, country = stepped_run.network()
    svg = charts.network_chart(graph, charts.network_layout(graph), bloc, size, country,
                               concentration={"mining": 0.5, "separation": 0.9})
    assert "Supply concentration (HHI): mining 0.50, separation 0.90" in svg
    last = stepped_run.frame().iloc[-1]
    assert stepped_run.concentration() == {"mining": last["hhi_mining"],
                                           "separation": last["hhi_refining"],
                                           "magnets": last["hhi_magnets"]}


def test_timeline_collapses_repeats_and_filters_by_kind():
    events = pd.DataFrame([
        {"date": "2024-01", "actor": "AUS", "action": "export", "source": "choice",
         "detail": "Australia: licence"},
        {"date": "2024-01", "actor": "AUS", "action": "export", "source": "choice",
         "detail": "Australia: licence"},
        {"date": "2024-01", "actor": "CHN", "action": "export", "source": "timeline",
         "detail": "China: quota"},
        {"date": "2024-02", "actor": "CHN", "action": "export", "source": "user",
         "detail": "China: ban to USA"},
        {"date": "2024-02", "actor": "CHN", "action": "export", "source": "user",
         "detail": "China: ban to JPN"},
    ])
    every = frozenset({"history", "model", "yours"})
    assert [(d, k, t) for d, k, t, _ in _collapse(events, every)] == [
        ("2024-02", "yours", "China: ban to USA (and 1 more like it)"),
        ("2024-01", "history", "China: quota"),
        ("2024-01", "model", "Australia: licence (x2)")]
    assert [t for _, _, t, _ in _collapse(events, frozenset({"history"}))] == ["China: quota"]


# ---------------------------------------------------------------------- solara components
def _text(rc) -> str:
    """Every text of the rendered widgets (labels, hints, messages, HTML, Markdown, alerts)."""
    out: list[str] = []
    seen: set[int] = set()

    def walk(value):
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, ipywidgets.Widget) and id(value) not in seen:
            seen.add(id(value))
            for name in value.trait_names():
                if name.startswith("_") or name in ("layout", "comm", "keys"):
                    continue
                walk(getattr(value, name, None))

    walk(rc.find(ipywidgets.Widget).widget)
    return "\n".join(out)


def _charts(rc) -> dict[str, str]:
    """Chart name -> SVG of every chart frame on the page."""
    return {w.name: w.svg for w in rc.find(v.VuetifyTemplate).widgets
            if hasattr(w, "svg") and hasattr(w, "name")}


def _button(rc, label):
    found = [b for b in rc.find(v.Btn).widgets if label in b.children]
    assert len(found) == 1, f"{len(found)} buttons labelled {label!r}"
    return found[0]


def _select(rc, label) -> v.Select:
    found = [w for w in rc.find(v.Select).widgets if w.label == label]
    assert len(found) == 1, f"{len(found)} selects labelled {label!r}"
    return found[0]


def _type(rc, label, text):
    """Type into a text field and press Enter, as a user would."""
    field = rc.find(v.TextField, label=label).widget
    field.v_model = text
    field.fire_event("keyup.enter", None)


@pytest.fixture
def dashboard():
    state = DashboardState("controls_2025")
    box, rc = solara.render(Dashboard(state), handle_error=False)
    yield state, rc
    rc.close()


def test_page_renders_every_view_heading_and_lever(dashboard):
    state, rc = dashboard
    views = _charts(rc)
    assert set(views) == {"prices", "dependence", "outside", "shares", "stocks", "network",
                          "flows"}
    for svg in views.values():
        assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    text = _text(rc)
    assert "Rare earths: a geopolitical market game" in text  # the page heading
    assert "Why target heavy rare earths first" in text  # the narrative's question
    assert "step 0 of 84" in text
    labels = {w.label for w in rc.find(v.TextField).widgets}
    assert {"Demand elasticity (abs.)", "Stockpile target (months of use)",
            "How strategic states are (logit intensity)"} <= labels
    assert "acts from 2026-11" in text and "acts from 2025-10" in text  # when levers start
    scenario = _select(rc, "Scenario (starts at once)")
    assert {i["title"] for i in scenario.items} == {scenario_info(n).title
                                                    for n in abm.list_scenarios()}


def test_baseline_offers_only_levers_that_act():
    state = DashboardState("baseline")
    box, rc = solara.render(Dashboard(state), handle_error=False)
    labels = {w.label for w in rc.find(v.TextField).widgets}
    assert "Demand elasticity (abs.)" in labels
    assert "How strategic states are (logit intensity)" not in labels
    assert not [w for w in rc.find(v.Select).widgets if w.label.startswith("US-Japan")]
    assert "no state chooses freely in this scenario" in _text(rc)
    rc.close()


def test_step_button_redraws_every_view(dashboard):
    state, rc = dashboard
    before = _charts(rc)
    _button(rc, "Step").click()
    assert state.run.value.steps_done == 1
    after = _charts(rc)
    for name in before:
        assert 'data-step="0"' in before[name] and 'data-step="1"' in after[name], name
    assert "step 1 of 84" in _text(rc) and "2024-01" in _text(rc)


def test_bad_input_is_refused_with_a_visible_message(dashboard):
    state, rc = dashboard
    label = "Demand elasticity (abs.)"
    _type(rc, label, "lots")
    assert "Demand elasticity (abs.): must be a number between 0 and 2, got 'lots'" in _text(rc)
    assert state.draft_levers.value["demand_elasticity"] == "0.2"  # old value kept
    _button(rc, "Reset").click()
    assert "Not reset: fix the marked fields first" in _text(rc)
    _type(rc, label, "1.0")
    assert "must be a number" not in _text(rc)
    assert "Changed, waiting for Reset: demand elasticity" in _text(rc)
    _button(rc, "Reset").click()
    assert state.run.value.model.scenario.demand_elasticity == 1.0
    assert "waiting for Reset" not in _text(rc) and "Not reset" not in _text(rc)


@pytest.mark.parametrize(("label", "crafted"), [
    ("Scenario (starts at once)", "/etc/passwd"),
    ("Scenario (starts at once)", "../abm/scenarios/baseline"),
    ("Scenario (starts at once)", {"$ne": 1}),
    ("Speed (months per second)", "fast"),
    ("Speed (months per second)", True),
    ("To USA: heavy", "nuke"),
    ("US-Japan framework (Oct 2025)", "on"),
])
def test_crafted_select_values_are_refused_in_one_line(dashboard, monkeypatch, label, crafted):
    state, rc = dashboard
    opened = []
    monkeypatch.setattr(abm, "load_scenario", lambda *a, **k: opened.append(a) or 1 / 0)
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or 1 / 0)
    before = (state.settings.value, state.speed.value, dict(state.china_policy.value))
    _select(rc, label).v_model = crafted
    text = _text(rc)
    assert re.search(r"Refused: .* is not a value the '.*' control offers", text)
    errors = [w.children[0] for w in rc.find(v.Alert).widgets if "Refused" in str(w.children)]
    assert errors and all("\n" not in e and "Traceback" not in e for e in errors)
    assert opened == []  # no file was opened, no scenario loaded
    assert (state.settings.value, state.speed.value, dict(state.china_policy.value)) == before
    assert _select(rc, label).v_model != crafted  # the widget shows the valid value again


def test_crafted_checkbox_value_is_refused(dashboard):
    state, rc = dashboard
    box = [w for w in rc.find(v.Checkbox).widgets if w.label == "Compare with run B (faded)"][0]
    box.v_model = "yes please"
    assert state.compare.value is False and state.run_b.value is None
    assert "Refused: 'yes please'" in _text(rc)


def test_model_exception_shows_error_and_app_keeps_serving(dashboard):
    state, rc = dashboard

    def boom():
        raise ZeroDivisionError("division by zero in clearing")

    state.run.value.model.step = boom
    _button(rc, "Step").click()
    text = _text(rc)
    assert "The model stopped in 2024-01: ZeroDivisionError" in text
    assert "press Reset to run again" in text and "Traceback" not in text
    _button(rc, "Reset").click()
    _button(rc, "Step").click()
    assert state.run.value.steps_done == 1 and "model stopped" not in _text(rc)


def test_compare_can_vary_demand_elasticity(dashboard):
    state, rc = dashboard
    state.set_compare(True)
    assert _select(rc, "Run B changes").items[0]["value"] == "alliance"
    _select(rc, "Run B changes").v_model = "demand_elasticity"
    assert state.run_b.value.model.scenario.demand_elasticity == 1.0  # the default alternative
    for _ in range(18):
        state.step()
    a, b = state.run.value.frame(), state.run_b.value.frame()
    assert b["price_heavy_world"].iloc[-1] < a["price_heavy_world"].iloc[-1]  # spike softened
    assert "B: Demand elasticity 1.0" in _text(rc)
    assert '(B)"' in _charts(rc)["prices"]  # run B is drawn


def test_compare_can_vary_chinas_policy(dashboard):
    state, rc = dashboard
    state.set_compare(True)
    state.set_compare_lever("china_policy")
    assert state.compare_value.value == "ban"
    state.step()
    b = state.run_b.value.model
    assert b.export_instrument("CHN", "JPN", "heavy") == "ban"
    assert state.run.value.model.export_instrument("CHN", "JPN", "heavy") is None


def test_live_policy_control_takes_effect_without_reset(dashboard):
    state, rc = dashboard
    _select(rc, "To Japan: light").v_model = "ban"
    model = state.run.value.model
    assert model.export_instrument("CHN", "JPN", "light") == "ban"
    assert "applies from the next simulated month" in _text(rc)
    _button(rc, "Step").click()
    assert model.last_flows["light"].loc["CHN", "JPN"] == pytest.approx(0.0)


def test_run_to_and_next_event_buttons(dashboard):
    state, rc = dashboard
    _button(rc, "Run to next event (2024-01)").click()  # China's 2024 quotas, first month
    assert state.run.value.last_month == "2024-01"
    _button(rc, "Run to next event (2025-01)").click()  # Mountain Pass's separation ramps up
    assert state.run.value.last_month == "2025-01"
    _button(rc, "Run to next event (2025-04)").click()
    assert state.run.value.last_month == "2025-04"
    _button(rc, "Run to next event (2025-06)")  # the label moved on to the next event
    _button(rc, "Step").click()
    _button(rc, "Run to next event (2025-06)")
    state.run_to_text.value = "2025-02"
    _button(rc, "Run to").click()
    assert "Run to: 2025-02 is already simulated" in _text(rc)
    state.run_to_text.value = "2026-01"
    _button(rc, "Run to").click()
    assert state.run.value.last_month == "2026-01"
    assert 'data-step="25"' in _charts(rc)["prices"]


def test_projector_mode_shows_one_large_chart_at_a_time(dashboard):
    state, rc = dashboard
    _button(rc, "Projector mode").click()
    views = _charts(rc)
    assert list(views) == ["prices"] and 'data-font="22"' in views["prices"]
    assert not state.show_controls.value  # controls folded away
    _button(rc, "Next >").click()
    assert list(_charts(rc)) == ["dependence"]
    _button(rc, "Projector mode: on").click()
    assert len(_charts(rc)) == 7


def test_info_panel_explains_the_model_and_ties_things_to_try_to_levers(dashboard):
    import html as html_lib

    state, rc = dashboard
    _button(rc, "Info").click()
    text = html_lib.unescape(_text(rc))
    for heading in ("What is it?", "How it works", "How to use it", "Things to notice",
                    "Things to try", "Words", "Sources"):
        assert re.search(rf"<h2[^>]*>{re.escape(heading)}</h2>", text), heading
    for term in ("t REO", "Licence", "Logit intensity"):
        assert f"<strong>{term}</strong>: {GLOSSARY[term]}" in text
    assert all(what in text for what, _ in THINGS_TO_TRY)
    assert "Levers in this scenario: US-Japan framework (from 2025-10)" in text
    assert "2025-03 price_light_world: 48 US$/kg - Mar 2025 NdPr" in text  # a source


def test_csv_download_holds_the_run(dashboard):
    state, rc = dashboard
    for _ in range(4):
        state.step()
    from io import StringIO

    df = pd.read_csv(StringIO(state.run_csv().decode()))
    assert list(df["date"]) == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert "price_heavy_world" in df and "payoff_china" in df
    assert state.file_stem() == "controls_2025_seed0_2024-04"


def test_a_view_that_cannot_draw_shows_an_error_and_the_rest_still_render(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("price_heavy_world")

    monkeypatch.setattr(charts, "flows_chart", broken)
    state = DashboardState("baseline")
    box, rc = solara.render(Dashboard(state), handle_error=False)
    assert state.step()
    views = _charts(rc)
    assert "Could not draw the trade this month: KeyError" in views["flows"]
    assert 'data-step="1"' in views["prices"] and 'data-step="1"' in views["network"]
    rc.close()


@pytest.mark.parametrize("scenario", abm.list_scenarios())
def test_every_scenario_draws_every_view_without_gaps(scenario):
    state = DashboardState(scenario)
    box, rc = solara.render(Dashboard(state), handle_error=False)
    for _ in range(13):
        assert state.step(), state.error.value
    for name, svg in _charts(rc).items():
        assert 'data-step="13"' in svg, name
        assert not re.search(r'[\s",]nan[\s",]', svg.lower()), name  # no NaN coordinates
    assert state.error.value == ""
    rc.close()


def test_headlines_explain_two_tier_prices_shortages_and_events():
    df = pd.DataFrame([{"date": "2025-05", "price_heavy_china": 200.0,
                        "price_heavy_world": 1000.0, "price_light_china": 60.0,
                        "price_light_world": 62.0, "shortage_usa": 0.0, "shortage_japan": 12.0,
                        "china_share_refining": 0.9}])
    events = pd.DataFrame([{"date": "2025-05", "actor": "CHN", "action": "export",
                            "detail": "China: licences on heavy rare earths to all"}])
    lines = session.headlines(df, events)
    assert lines[0].startswith("Two-tier prices: heavy (Dy/Tb) oxide costs 5.0x more")
    assert "Japan 12.0 t" in lines[1] and "USA" not in lines[1]
    assert lines[-1] == "1 policy event this month: China: licences on heavy rare earths to all"
    assert session.headlines(pd.DataFrame()) == ["Press Step or Play to start the simulation."]


def test_classroom_roles_are_the_designed_five():
    assert [COUNTRIES[r].name for r in CLASSROOM_ROLES] == ["China", "USA", "Japan", "EU",
                                                            "Australia"]
    assert Marker(2024.0, "1", "x").future is False


def test_only_the_adapter_imports_the_model_and_the_dashboard_has_no_import_cycle():
    import ast
    from pathlib import Path

    import networkx as nx

    folder = Path(__file__).resolve().parents[1] / "abm_dashboard"
    graph = nx.DiGraph()
    for path in folder.glob("*.py"):
        module = path.stem
        graph.add_node(module)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name == "abm" or name.startswith("abm."):
                    assert module == "session", f"{module} imports the model ({name})"
                if name.startswith("abm_dashboard."):
                    target = name.split(".")[1]
                    if (folder / f"{target}.py").exists():
                        graph.add_edge(module, target)
    assert nx.is_directed_acyclic_graph(graph), list(nx.simple_cycles(graph))
    assert "session" in graph and not list(graph.successors("session"))  # the bottom layer


def test_the_magnet_chart_joins_the_page_when_the_model_has_magnet_prices(monkeypatch):
    plain = Run.frame

    def without_magnets(self):
        df = plain(self)
        return df.drop(columns=[c for c in df.columns if c.startswith("price_magnet_")])

    monkeypatch.setattr(Run, "frame", without_magnets)
    state = DashboardState("baseline")
    box, rc = solara.render(Dashboard(state), handle_error=False)
    state.step()
    assert "magnets" not in _charts(rc)  # a world without a magnet stage has no chart
    rc.close()
    monkeypatch.setattr(Run, "frame", plain)
    state = DashboardState("baseline")
    box, rc = solara.render(Dashboard(state), handle_error=False)
    state.step()
    state.step()
    svg = _charts(rc)["magnets"]
    assert 'data-step="2"' in svg
    strokes = _strokes(svg)
    assert strokes["China"] == ("#D55E00", "") and strokes["USA"] == ("#0072B2", "9,4")
    rc.close()
