"""Invariants with the frictions and China's policy at home: random timelines, extreme values."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_model import check_invariants
from worlds import make_world

import abm

NEW_PARAMS = [name for name in abm.PARAMS if name in {
    "ramp_up_months", "refining_ramp_up_months", "mothball_margin_ratio",
    "mothball_window_months", "care_cost_share", "restart_cost_months",
    "restart_payback_months", "restart_ramp_months", "exit_after_months",
    "offtake_risk_threshold", "offtake_use_share", "offtake_contract_months",
    "offtake_collar_share", "offtake_take_or_pay", "ionic_clay_heavy_share",
    "illegal_capacity_share", "illegal_cost_ratio", "illegal_full_margin_ratio", "enforcement",
    "crackdown_enforcement", "domestic_quota_step", "domestic_quota_floor",
    "domestic_policy_mining_share", "reserve_buy_share", "reserve_target_months",
    "reserve_release_share", "reserve_support_ratio", "reserve_ceiling_ratio",
    "payoff_downstream_weight"}]

# a timeline that exercises every new action
TIMELINE = [
    {"date": "2030-01", "actor": "CHN", "action": "mining_quota", "tonnes_per_yr": 60000.0},
    {"date": "2030-01", "actor": "CHN", "action": "separation_quota", "tonnes_per_yr": 55000.0},
    {"date": "2030-03", "actor": "CHN", "action": "enforcement", "level": 0.5},
    {"date": "2030-04", "actor": "CHN", "action": "state_reserve", "mode": "band",
     "support_usd_per_kg": 70.0, "ceiling_usd_per_kg": 120.0},
    {"date": "2030-02", "actor": "JPN", "action": "offtake_contract", "miner": "ALT_MINE",
     "product": "reo", "tonnes_per_month": 300.0, "months": 12, "price_rule": "collar",
     "floor_usd_per_kg": 10.0, "ceiling_usd_per_kg": 20.0, "take_or_pay": 0.5},
    {"date": "2030-02", "actor": "USA", "action": "offtake_contract", "miner": "ALT_MINE",
     "tonnes_per_month": 80.0, "months": 6, "price_rule": "fixed", "usd_per_kg": 90.0},
]


def toml_events(events) -> str:
    return "\n".join("[[events]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in e.items())
                     for e in events)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frictions")
    return make_world(folder, chn_cap=90_000, alt_cap=15_000, horizon=18,
                      events=toml_events(TIMELINE), params='free_from = "2030-06"')


@pytest.mark.parametrize("end", ["lo", "hi"])
@pytest.mark.parametrize("name", NEW_PARAMS)
def test_every_new_parameter_runs_at_both_ends_of_its_range(world, name, end):
    p = abm.PARAMS[name]
    df = abm.simulate(str(world), rng=0, **{name: getattr(p, end)})
    check_invariants(df)
    assert len(df) == 18


@st.composite
def domestic_event(draw, month: int) -> dict:
    date = f"2030-{month:02d}"
    kind = draw(st.sampled_from(["mining_quota", "separation_quota", "enforcement",
                                 "state_reserve", "offtake_contract", "price_floor"]))
    ev = {"date": date, "action": kind, "actor": "CHN"}
    if kind == "mining_quota":
        ev["tonnes_per_yr"] = draw(st.floats(0.0, 2e5))
        if draw(st.booleans()):
            ev["light_tonnes_per_yr"] = draw(st.floats(0.0, 2e5))
    elif kind == "separation_quota":
        ev["tonnes_per_yr"] = draw(st.floats(0.0, 2e5))
    elif kind == "enforcement":
        ev["level"] = draw(st.floats(0.0, 1.0))
    elif kind == "state_reserve":
        ev["mode"] = "band"
        ev["product"] = draw(st.sampled_from(["light", "heavy", "both"]))
        ev["support_usd_per_kg"] = draw(st.floats(0.0, 500.0))
        if draw(st.booleans()):
            ev["ceiling_usd_per_kg"] = ev["support_usd_per_kg"] + draw(st.floats(0.01, 500.0))
    elif kind == "offtake_contract":
        ev["actor"] = draw(st.sampled_from(["USA", "JPN", "CHN"]))
        ev["miner"] = draw(st.sampled_from(["ALT_MINE", "CHN_MINE"]))
        ev["product"] = draw(st.sampled_from(["light", "heavy", "reo"]))
        ev["tonnes_per_month"] = draw(st.floats(0.0, 5000.0))
        ev["months"] = draw(st.integers(1, 24))
        ev["price_rule"] = draw(st.sampled_from(["market", "fixed"]))
        ev["usd_per_kg"] = draw(st.floats(0.0, 1000.0))
        ev["take_or_pay"] = draw(st.floats(0.0, 1.0))
    else:
        ev["actor"] = draw(st.sampled_from(["USA", "JPN"]))
        ev["usd_per_kg"] = draw(st.floats(0.0, 500.0))
        ev["miners"] = draw(st.sampled_from([["ALT_MINE"], "allied", "open"]))
    return ev


# derandomized: CI explores the same 60 timelines every time, so a failure is a regression, not
# luck (and no shrinking runs for minutes in CI); to explore new ones, run it with
# derandomize=False. Such a run found the contract case below.
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.integers(1, 12).flatmap(domestic_event), max_size=8),
       seed=st.integers(0, 1000), free=st.booleans())
def test_invariants_hold_on_random_domestic_timelines(tmp_path_factory, events, seed, free):
    folder = tmp_path_factory.mktemp("random")
    path = make_world(folder, chn_cap=90_000, alt_cap=15_000, horizon=18,
                      events=toml_events(events),
                      params='free_from = "start"' if free else "")
    df = abm.simulate(str(path), rng=seed)
    check_invariants(df)


def test_contracts_that_take_all_of_a_mines_output_leave_no_negative_stock(tmp_path):
    """Found by the random timelines: three offtakes from one mine, the last taking all.

    What was contracted summed to a few 1e-13 t more than what was refined, and the clearing
    refused the negative supply; it now runs and the invariants hold.
    """
    offtake = {"date": "2030-01", "action": "offtake_contract", "actor": "USA",
               "miner": "CHN_MINE", "product": "light", "months": 4, "price_rule": "market",
               "usd_per_kg": 0.0, "take_or_pay": 0.125}
    events = [{**offtake, "tonnes_per_month": 349.7885546773182},
              {**offtake, "tonnes_per_month": 352.7885546773182},
              {**offtake, "date": "2030-04", "tonnes_per_month": 1432.0, "months": 1,
               "take_or_pay": 1.0}]
    path = make_world(tmp_path, chn_cap=90_000, alt_cap=15_000, horizon=18,
                      events=toml_events(events))
    check_invariants(abm.simulate(str(path), rng=0))


def test_sellable_stock_reads_rounding_below_zero_as_zero_and_keeps_real_shortfalls():
    from abm.exchange import ROUNDING_TONNES, sellable

    got = sellable(np.array([0.0, 5.0, 0.0]), np.array([3.0, 0.0, 1.0]),
                   np.array([3.0 + 2e-13, 1.0, 2.0]))
    assert got[0] == 0.0 and got[1] == 4.0
    assert got[2] == -1.0  # not rounding: left for the clearing's checks to name
    assert sellable(np.zeros(1), np.zeros(1), np.array([ROUNDING_TONNES * 2]))[0] < 0
