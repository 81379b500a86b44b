"""Component-level tests of the dashboard: run control, charts, and views via solara.render."""

from __future__ import annotations

import re

import ipyvuetify as v
import ipywidgets
import pandas as pd
import pytest
import solara

import abm
from abm_dashboard import charts
from abm_dashboard.session import (
    RESET_LEVERS,
    SEED_SPEC,
    Run,
    Settings,
    month_to_year,
    parse_lever,
)
from abm_dashboard.svg import Panel, Series, nice_ticks, svg_chart
from abm_dashboard.views import Dashboard, DashboardState, NetworkView, PriceView

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
    ],
)
def test_parse_lever_refuses_bad_input_with_one_line(spec, text, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        parse_lever(spec, text)
    assert "\n" not in str(info.value)


def test_lever_ranges_come_from_the_model_parameter_table():
    for spec in RESET_LEVERS:
        param = abm.PARAMS[spec.name]
        assert spec.lo >= param.lo and spec.hi <= param.hi
        assert spec.kind is param.type


def test_month_to_year():
    assert month_to_year("2025-01") == pytest.approx(2025 + 0.5 / 12)
    assert month_to_year("2009") == 2009.5


# ---------------------------------------------------------------------- svg charts
def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 100, 5) == [0, 20, 40, 60, 80, 100]
    ticks = nice_ticks(0, 2.3, 4)
    assert ticks[0] == 0 and ticks[-1] <= 2.3 and len(ticks) >= 3


def test_svg_chart_draws_every_series_and_scales_into_the_panel():
    svg = svg_chart([Panel("p", "US$/kg", [Series("a", [2024, 2025], [10, 20]),
                                           Series("b", [2024, 2025], [5, float("nan")])])],
                    xlim=(2024, 2026), name="test", step=3, width=400, height=200)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'data-chart="test"' in svg and 'data-step="3"' in svg
    points = re.search(r'data-series="a" points="([^"]+)"', svg).group(1).split()
    xs = [float(p.split(",")[0]) for p in points]
    assert len(xs) == 2 and xs[0] < xs[1] < 400
    # one finite point only: drawn as a dot, not as an invisible one-point line
    assert re.search(r'<circle data-series="b" cx="46.0"', svg)
    assert '<polyline data-series="b"' not in svg


def test_svg_stacked_area_and_empty_placeholder():
    svg = svg_chart([Panel("s", "%", [Series("x", [1, 2], [40, 50]), Series("y", [1, 2], [60, 50])],
                           stacked=True, ymax=100)], xlim=(1, 2), name="s")
    assert svg.count("<polygon") == 2
    empty = svg_chart([Panel("e", "t", [Series("x", [], [])])], xlim=(0, 1), name="e")
    assert "press Step or Play" in empty


# ---------------------------------------------------------------------- run control
@pytest.fixture(scope="module")
def stepped_run():
    run = Run(Settings(scenario="controls_2025", seed=1))
    for _ in range(17):  # through 2025-05: the April 2025 licences are in force
        assert run.step()
    return run


def test_run_frame_has_model_columns_and_per_country_extras(stepped_run):
    df = stepped_run.frame()
    assert len(df) == 17 and df["date"].iloc[-1] == "2025-05"
    for col in ("price_heavy_world", "price_light_china", "stockpile_usa", "shortage_japan",
                "mine_CHN", "refine_CHN", "inventory_USA", "year"):
        assert col in df, col
    assert (df["refine_CHN"] > 0).all()
    assert df["year"].is_monotonic_increasing


def test_run_lists_the_china_export_control_event(stepped_run):
    events = stepped_run.events()
    hits = events[(events["date"] == "2025-04") & (events["actor"] == "CHN")]
    assert any("licences on heavy rare earths" in d for d in hits["detail"])


def test_network_blocs_and_sizes(stepped_run):
    graph, bloc, size = stepped_run.network()
    assert set(bloc) == set(graph.nodes) == set(size)
    assert bloc["CHN"] == bloc["CHN_south"] != "unaligned"  # China and its own mines
    assert size["CHN"] > size["AUS"]  # consumption: China uses far more than Australia
    pos = charts.network_layout(graph)
    assert pos == charts.network_layout(graph)  # seeded: the same picture every time


def test_live_china_policy_is_applied_logged_and_survives_the_timeline():
    run = Run(Settings(scenario="controls_2025", china_policy={("USA", "heavy"): "ban"}))
    assert run.model.export_instrument("CHN", "USA", "heavy") == "ban"
    for _ in range(17):  # 2025-04 brings a licence regime toward "all"
        run.step()
    assert run.model.export_instrument("CHN", "USA", "heavy") == "ban"
    assert ("CHN", "USA") in run.model.blocked_links["heavy"]
    flows = run.model.last_flows["heavy"]
    assert flows.loc["CHN", "USA"] == pytest.approx(0.0, abs=1e-9)
    user = run.events()[run.events()["source"] == "user"]
    assert any("heavy to USA -> ban" in d for d in user["detail"])
    assert run.set_china_policy({("USA", "heavy"): "scenario"}) == ["USA heavy: scenario"]
    assert run.model.export_instrument("CHN", "USA", "heavy") is None


def test_model_exception_is_caught_and_reported():
    run = Run(Settings(scenario="baseline"))

    def boom():
        raise RuntimeError("solver exploded")

    run.model.step = boom
    assert run.step() is False
    assert not run.running
    assert "RuntimeError: solver exploded" in run.error and "2024-01" in run.error


def test_bad_override_is_refused_by_the_model():
    with pytest.raises(abm.InputError):
        Run(Settings(levers={"demand_elasticity": 99.0}))


def test_flows_chart_shows_trade_and_crosses_out_blocked_links():
    run = Run(Settings(scenario="baseline", china_policy={("USA", "heavy"): "ban"}))
    run.step()
    svg = charts.flows_chart(run.model.last_flows, run.model.blocked_links, step=1)
    assert 'data-blocked="CHN|USA"' in svg
    assert svg.count('data-blocked="') == len(run.model.blocked_links["light"]) + len(
        run.model.blocked_links["heavy"])
    light = run.model.last_flows["light"]
    assert f"{light.loc['CHN', 'USA']:,.0f}" in svg  # China's NdPr sales to the USA, t/month


def test_network_chart_draws_states_miners_and_ties(stepped_run):
    graph, bloc, size = stepped_run.network()
    svg = charts.network_chart(graph, charts.network_layout(graph), bloc, size, step=17)
    assert svg.count("<rect data-node=") == sum(
        1 for _, d in graph.nodes(data=True) if d["kind"] == "state")
    assert svg.count("<circle data-node=") == sum(
        1 for _, d in graph.nodes(data=True) if d["kind"] == "miner")
    assert svg.count("<line data-edge=") == graph.number_of_edges()


# ---------------------------------------------------------------------- solara components
def _text(rc) -> str:
    """All text content of rendered widgets (HTML, labels, alerts, text)."""
    out = []

    def walk(w):
        for attr in ("unsafe_innerHTML", "children", "value", "label", "v_model", "template"):
            val = getattr(w, attr, None)
            if isinstance(val, str):
                out.append(val)
            elif isinstance(val, list | tuple):
                for item in val:
                    if isinstance(item, str):
                        out.append(item)
                    elif isinstance(item, ipywidgets.Widget):
                        walk(item)

    walk(rc.find(ipywidgets.Widget).widget)
    return "\n".join(out)


def _views(rc) -> dict[str, str]:
    """Map the ``view-<name>`` views to their inner HTML ("" for containers)."""
    out = {}

    def walk(w):
        for cls in str(getattr(w, "class_", "") or "").split():
            if cls.startswith("view-"):
                out.setdefault(cls[5:], "")
        for child in getattr(w, "children", None) or []:
            if isinstance(child, ipywidgets.Widget):
                walk(child)

    walk(rc.find(ipywidgets.Widget).widget)
    for w in rc.find(solara.widgets.HTML).widgets:
        for cls in (w.attributes or {}).get("class", "").split():
            if cls.startswith("view-"):
                out[cls[5:]] = w.unsafe_innerHTML or ""
    return out


def _button(rc, label):
    found = [b for b in rc.find(v.Btn).widgets if label in b.children]
    assert len(found) == 1, f"{len(found)} buttons labelled {label!r}"
    return found[0]


@pytest.fixture
def dashboard():
    state = DashboardState("controls_2025")
    box, rc = solara.render(Dashboard(state), handle_error=False)
    yield state, rc
    rc.close()


def test_page_renders_every_view(dashboard):
    state, rc = dashboard
    views = _views(rc)
    for name in ("prices", "shares", "stocks", "events", "network", "flows", "narrative"):
        assert name in views, name
    for name in ("prices", "shares", "stocks", "network", "flows"):
        assert views[name].startswith('<svg xmlns="http://www.w3.org/2000/svg"'), name
    text = _text(rc)
    assert "Why target heavy rare earths first" in text  # narrative question
    assert "step 0 of 84" in text


def test_step_button_redraws_the_views(dashboard):
    state, rc = dashboard
    before = _views(rc)
    _button(rc, "Step").click()
    assert state.run.value.steps_done == 1
    after = _views(rc)
    for name in ("prices", "shares", "stocks", "network", "flows"):
        assert 'data-step="0"' in before[name] and 'data-step="1"' in after[name], name
    for name in ("prices", "shares", "stocks"):
        assert "<polyline" in after[name] or "<circle" in after[name] or "<polygon" in after[name]
    assert after["flows"].count("<text") > before["flows"].count("<text")  # this month's trade
    text = _text(rc)
    assert "step 1 of 84" in text and "2024-01" in text


def test_price_and_network_components_render_content():
    run = Run(Settings(scenario="controls_2025"))
    run.step()
    run.step()
    box, rc = solara.render(PriceView(run, None, 2), handle_error=False)
    svg = _views(rc)["prices"]
    assert svg.count("<polyline") == 8  # 4 series x 2 products
    assert 'data-series="observed (world)"' in svg  # observed 2024 prices overlaid
    rc.close()
    box, rc = solara.render(NetworkView(run, 2), handle_error=False)
    svg = _views(rc)["network"]
    assert 'data-node="CHN"' in svg and 'data-node="MTPASS"' in svg and "<line" in svg
    rc.close()


def _type(rc, label, text):
    """Type into a text field and press Enter, as a user would."""
    field = rc.find(v.TextField, label=label).widget
    field.v_model = text
    field.fire_event("keyup.enter", None)


def test_bad_input_is_refused_with_a_visible_message(dashboard):
    state, rc = dashboard
    _type(rc, N_FIRMS.label, "many")
    assert "Number of firms: must be a whole number" in _text(rc)
    assert state.draft_levers.value["n_firms"] == "200"  # old value kept
    _button(rc, "Reset").click()
    assert "Not reset: fix the marked fields first" in _text(rc)
    _type(rc, N_FIRMS.label, "-3")
    assert "-3 is out of range" in _text(rc)
    _type(rc, N_FIRMS.label, "50")
    assert "must be a whole number" not in _text(rc) and "out of range" not in _text(rc)
    assert "Changed, waiting for Reset: number of firms" in _text(rc)
    _button(rc, "Reset").click()
    assert state.run.value.scenario.n_firms == 50
    assert "waiting for Reset" not in _text(rc) and "Not reset" not in _text(rc)
    _type(rc, SEED_SPEC.label, "twelve")
    assert "Seed: must be a whole number" in _text(rc)


def test_model_exception_shows_error_and_app_keeps_serving(dashboard):
    state, rc = dashboard

    def boom():
        raise ZeroDivisionError("division by zero in clearing")

    state.run.value.model.step = boom
    _button(rc, "Step").click()
    text = _text(rc)
    assert "The model failed at 2024-01: ZeroDivisionError" in text
    assert "press Reset" in text
    _button(rc, "Reset").click()
    _button(rc, "Step").click()
    assert state.run.value.steps_done == 1 and "model failed" not in _text(rc)


def test_compare_mode_runs_b_without_the_alliance(dashboard):
    state, rc = dashboard
    for _ in range(3):
        _button(rc, "Step").click()
    state.set_compare(True)
    run_b = state.run_b.value
    assert run_b is not None and run_b.settings.alliance is False
    assert run_b.steps_done == 3  # caught up with run A
    _button(rc, "Step").click()
    assert state.run_b.value.steps_done == 4
    text = _text(rc)
    assert "alliance off" in text and "alliance on" in text


def test_live_policy_control_takes_effect_without_reset(dashboard):
    state, rc = dashboard
    state.set_policy("JPN", "light", "ban")
    model = state.run.value.model
    assert model.export_instrument("CHN", "JPN", "light") == "ban"
    assert "applies from the next simulated month" in _text(rc)
    _button(rc, "Step").click()
    assert state.run.value.model.last_flows["light"].loc["CHN", "JPN"] == pytest.approx(0.0)


def test_history_scenario_overlays_observed_prices():
    run = Run(Settings(scenario="quota_2010"))
    for _ in range(36):
        run.step()
    box, rc = solara.render(PriceView(run, None, 36), handle_error=False)
    svg = _views(rc)["prices"]
    observed = re.findall(r'<circle data-series="observed \(world\)"', svg)
    assert len(observed) >= 2  # e.g. 2009 prices and the mid-2011 peak
    rc.close()


@pytest.mark.parametrize("scenario", abm.list_scenarios())
def test_every_scenario_draws_every_view_without_gaps(scenario):
    state = DashboardState(scenario)
    box, rc = solara.render(Dashboard(state), handle_error=False)
    for _ in range(13):
        assert state.step(), state.error.value
    views = _views(rc)
    for name in ("prices", "shares", "stocks", "network", "flows"):
        svg = views[name]
        assert 'data-step="13"' in svg, name
        assert not re.search(r'[\s",]nan[\s",]', svg.lower()), name  # no NaN coordinates
    assert state.error.value == ""
    rc.close()


def test_log_price_axis_places_decades_evenly():
    svg = svg_chart([Panel("p", "US$/kg", [Series("a", [0, 1, 2], [10, 100, 1000])], log=True)],
                    xlim=(0, 2), name="log", width=400, height=200)
    points = re.search(r'data-series="a" points="([^"]+)"', svg).group(1).split()
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] > ys[1] > ys[2]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.2)  # one decade, one distance
    assert ">1,000<" in svg and ">10<" in svg  # decade tick labels


def test_a_view_that_cannot_draw_shows_an_error_and_the_rest_still_render(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("price_heavy_world")

    monkeypatch.setattr(charts, "flows_chart", broken)
    state = DashboardState("baseline")
    box, rc = solara.render(Dashboard(state), handle_error=False)
    assert state.step()
    views = _views(rc)
    assert "Could not draw the flows: KeyError" in views["flows"]
    assert 'data-step="1"' in views["prices"] and 'data-step="1"' in views["network"]
    rc.close()


def test_headlines_explain_two_tier_prices_shortages_and_events():
    from abm_dashboard.session import headlines

    df = pd.DataFrame([{"date": "2025-05", "price_heavy_china": 200.0,
                        "price_heavy_world": 1000.0, "price_light_china": 60.0,
                        "price_light_world": 62.0, "shortage_usa": 0.0, "shortage_japan": 12.0,
                        "china_share_refining": 0.9}])
    events = pd.DataFrame([{"date": "2025-05", "actor": "CHN", "action": "export",
                            "detail": "China: licences on heavy rare earths to all"}])
    lines = headlines(df, events)
    assert lines[0].startswith("Two-tier prices: heavy (Dy/Tb) oxide costs 5.0x more")
    assert "Japan 12.0 t" in lines[1] and "USA" not in lines[1]
    assert lines[-1] == "1 policy event this month: China: licences on heavy rare earths to all"
    assert headlines(pd.DataFrame()) == ["Press Step or Play to start the simulation."]
