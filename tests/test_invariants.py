"""The design's invariants (docs/architecture.md) at the edges of every range and on random
configurations.

- Mass balance per product and month, from the output columns alone: production =
  consumption + change in firms' inventories (``inventory_*``), producers' unsold stock
  (``producer_stock_*``) and states' stockpiles (``stockpiles_*``), relative error < 1e-9.
  The columns hold the stocks at the end of each month; the stocks before the first month are
  not an output, so they are read from the model before it steps (:func:`opening_stocks`).
- No NaN or infinity anywhere; no negative stock, capacity, price or flow (every numeric column
  except those listed in :data:`SIGNED`, plus each month's trade flows, stockpiles and mine and
  refining capacities); shares within [0, 1].
- Same scenario, overrides and seed: identical results and event log, in this process or a
  fresh one.

``test_every_parameter_at_both_ends_in_every_scenario`` runs each documented parameter of
``abm.PARAMS`` at its lowest and highest value (booleans both ways, ``free_from`` at each
documented kind of value) in every scenario over the whole horizon (``n_firms`` at 1,000,000
for 12 months: ~6 s to build and ~0.8 s a month). The hypothesis tests draw all parameters at
once, seeds, and edits of the scenario's event timeline written to a TOML copy.

Two sizes. ``make test`` (CI) runs every parameter at both ends, each end in one scenario
(the scenarios rotate over the parameters, so each scenario takes a quarter of the cases and the
two ends of a parameter fall in different scenarios), and 150 random configurations: 233
runs + 150 x 2. ``make test-exhaustive`` (``ABM_TEST_EXHAUSTIVE=1``) runs the full cross
product, every end in every scenario (932 runs), and 1,000 random configurations: about 50
minutes of CPU, for a change to the market or the agents' numerics.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import abm
from abm.calibration import load_world
from abm.policy import INSTRUMENTS, PRODUCTS
from abm.safeio import MAX_MONTHS

REL_TOL = 1e-9
#: Numeric output columns that may be negative (payoffs are gains or losses).
SIGNED = ("payoff_",)
#: Output columns that are shares (0-1).
SHARES = ("china_share_", "china_import_share_", "supply_share_", "substitution_", "risk_")
#: ``n_firms`` at its documented maximum runs this many months per scenario (see module doc).
BIG_N_FIRMS_MONTHS = 12
#: Run the full cross products (see the module docstring); CI runs the rotated subset.
EXHAUSTIVE = os.environ.get("ABM_TEST_EXHAUSTIVE", "") not in ("", "0")
#: Random configurations drawn by the hypothesis test (derandomized: the same ones every time).
RANDOM_CONFIGURATIONS = 1000 if EXHAUSTIVE else 150


# ----------------------------------------------------------------------------- checks

def opening_stocks(model: abm.RareEarthModel) -> dict[str, float]:
    """Stocks of each product before the first month: firms, producers and states, t.

    Read from model attributes because no output column holds them (the columns are stocks
    at the end of each month).
    """
    return model.holdings()


def check_month(model: abm.RareEarthModel) -> None:
    """Flows, stockpiles and capacities after a month: finite and never negative."""
    for p in PRODUCTS:
        flows = model.last_flows[p].to_numpy()
        assert np.isfinite(flows).all() and (flows >= 0).all(), (model.date, p, flows.min())
        for code, s in model.states.items():
            stock = s.stockpile.get(p, 0.0)  # states stockpile the oxides
            assert math.isfinite(stock) and stock >= 0, (model.date, code, p)
    for m in model.miners:
        assert math.isfinite(m.capacity_tpm) and m.capacity_tpm >= 0, (model.date, m.mine_id)
        assert math.isfinite(m.output_tpm) and 0 <= m.output_tpm, (model.date, m.mine_id)
        assert m.output_tpm <= m.capacity_tpm * (1 + REL_TOL) + 1e-9, (model.date, m.mine_id)
    refining = np.asarray(model.refining.tpm)
    assert np.isfinite(refining).all() and (refining >= 0).all(), model.date


def check_frame(df: pd.DataFrame, opening: dict[str, float], start: str, steps: int) -> None:
    """The DESIGN invariants on a results frame (see the module docstring)."""
    assert len(df) == steps
    y, m = (int(x) for x in start.split("-"))
    months = [f"{y + (m - 1 + k) // 12:04d}-{(m - 1 + k) % 12 + 1:02d}" for k in range(steps)]
    assert list(df["date"]) == months
    num = df.select_dtypes("number")
    values = num.to_numpy(float)
    bad = ~np.isfinite(values)
    assert not bad.any(), f"NaN or infinity in {list(num.columns[bad.any(axis=0)])}"
    unsigned = [c for c in num.columns if not c.startswith(SIGNED)]
    low = num[unsigned].min()
    assert (low >= 0).all(), f"negative values: {low[low < 0].to_dict()}"
    shares = [c for c in num.columns if c.startswith(SHARES)]
    high = num[shares].max()
    assert (high <= 1 + REL_TOL).all(), f"shares above 1: {high[high > 1 + REL_TOL].to_dict()}"
    for p in PRODUCTS:
        held = (df[f"inventory_{p}"] + df[f"producer_stock_{p}"] + df[f"stockpiles_{p}"]
                + df[f"trader_stock_{p}"] + df[f"maker_stock_{p}"])
        held = held.to_numpy(float)
        before = np.concatenate([[opening[p]], held[:-1]])
        prod = df[f"production_{p}"].to_numpy(float)
        cons = df[f"consumption_{p}"].to_numpy(float)
        residual = prod - cons - (held - before)
        scale = np.maximum.reduce([prod, cons, held, before, np.ones_like(prod)])
        off = np.flatnonzero(np.abs(residual) / scale >= REL_TOL)
        if off.size:
            k = int(off[0])
            raise AssertionError(
                f"{p} {months[k]}: production {float(prod[k])!r} t != consumption "
                f"{float(cons[k])!r} t + stock change {float(held[k] - before[k])!r} t "
                f"(relative error {float(abs(residual[k]) / scale[k]):.3g})")


def run_checked(scenario, *, steps: int | None, seed: int, **overrides):
    """Run month by month holding every invariant; return (results, event log)."""
    model = abm.RareEarthModel(scenario=scenario, rng=seed, **overrides)
    opening = opening_stocks(model)
    steps = model.horizon if steps is None else steps
    for _ in range(steps):
        model.step()
        check_month(model)
    df = model.results_frame()
    check_frame(df, opening, model.sc.start, steps)
    return df, model.event_log_frame()


# ----------------------------------------------------------------------------- ranges

def month_after(start: str, k: int) -> str:
    y, m = (int(x) for x in start.split("-"))
    return f"{y + (m - 1 + k) // 12:04d}-{(m - 1 + k) % 12 + 1:02d}"


def documented_values(name: str, p, start: str) -> list:
    """Both ends of a parameter's range; both booleans; each kind of ``free_from`` value."""
    if p.type is bool:
        return [False, True]
    if name == "free_from":  # '' = never, 'start', or a month (here 2 years in)
        return ["", "start", month_after(start, 24)]
    if p.type in (int, float):
        assert p.lo is not None and p.hi is not None, f"{name} has no documented range"
        return [p.type(p.lo), p.type(p.hi)]
    raise AssertionError(f"no documented values for the {p.type.__name__} parameter {name}")


def range_cases(exhaustive: bool = EXHAUSTIVE):
    """(scenario, parameter, value, steps) cases: all of them, or each value in one scenario.

    The subset gives the j-th documented value of the i-th parameter to scenario (i + j) mod
    the number of scenarios, so both ends of a parameter run, in different scenarios.
    """
    cases = []
    scenarios = abm.list_scenarios()
    for k, scenario in enumerate(scenarios):
        start = abm.load_scenario(scenario).start
        for i, (name, p) in enumerate(abm.PARAMS.items()):
            for j, value in enumerate(documented_values(name, p, start)):
                if not exhaustive and (i + j) % len(scenarios) != k:
                    continue
                big = name == "n_firms" and value == p.hi and value > 10_000
                steps = BIG_N_FIRMS_MONTHS if big else None
                cases.append(pytest.param(scenario, name, value, steps,
                                          id=f"{scenario}-{name}={value!r}"))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("scenario,name,value,steps", range_cases())
def test_every_parameter_at_both_ends_in_every_scenario(scenario, name, value, steps):
    run_checked(scenario, steps=steps, seed=11, **{name: value})


@pytest.mark.slow
@pytest.mark.parametrize("scenario", abm.list_scenarios())
def test_longest_documented_run_holds_the_invariants(scenario):
    run_checked(scenario, steps=MAX_MONTHS, seed=5)


@pytest.mark.parametrize("exhaustive", [False, True])
def test_range_cases_cover_every_parameter_and_scenario(exhaustive):
    cases = range_cases(exhaustive)
    scenarios = abm.list_scenarios()
    assert {c.values[0] for c in cases} == set(scenarios)
    assert {c.values[1] for c in cases} == set(abm.PARAMS)
    n_firms = abm.PARAMS["n_firms"]
    assert {c.values[2] for c in cases if c.values[1] == "n_firms"} == {n_firms.lo, n_firms.hi}
    # every documented value of every parameter runs: in every scenario, or in exactly one
    starts = {s: abm.load_scenario(s).start for s in scenarios}
    runs = {}
    for c in cases:
        scenario, name, value = c.values[:3]
        j = documented_values(name, abm.PARAMS[name], starts[scenario]).index(value)
        runs.setdefault((name, j), []).append(scenario)
    assert set(runs) == {(n, j) for n, p in abm.PARAMS.items()
                         for j in range(len(documented_values(n, p, "2000-01")))}
    assert all(len(v) == (len(scenarios) if exhaustive else 1) for v in runs.values())
    if not exhaustive:  # the two ends of every parameter fall in different scenarios
        assert all(runs[(n, 0)] != runs[(n, 1)] for n, _j in runs if (n, 1) in runs)


def test_a_month_that_clears_at_price_zero_does_not_break_the_next():
    """Found by the random test: documented lower ends together give a zero price.

    Sellers who ask nothing (``seller_reserve_frac`` 0), free links, firms that never top up
    their stock, inelastic demand and no traders to buy the glut: the first month's surplus
    clears at 0 US$/kg (a legitimate outcome), and the next month's demand grid, centred on
    that price, must still be a valid grid (strictly decreasing prices) rather than all zeros.
    """
    lows = {name: abm.PARAMS[name].lo for name in (
        "demand_elasticity", "inventory_adjust_rate", "seller_reserve_frac", "link_cost_frac",
        "ally_preference_frac", "trader_capital_share")}
    assert set(lows.values()) == {0.0}
    df, _ = run_checked("baseline", steps=3, seed=0, **lows)
    assert df["price_light_china"].iloc[0] == 0.0  # the surplus month, as described above


def test_a_planted_leak_breaks_the_mass_balance_check():
    """The balance check is not vacuous: one tonne lost from a stock in month 3 is caught."""
    model = abm.RareEarthModel(scenario="baseline", rng=0, n_firms=20)
    opening = opening_stocks(model)
    for _ in range(4):
        model.step()
    df = model.results_frame()
    check_frame(df, opening, "2024-01", 4)
    leaky = df.copy()
    leaky.loc[2, "inventory_light"] -= 1.0  # a tonne vanishes from firms' stock in 2024-03
    with pytest.raises(AssertionError, match="light 2024-03"):
        check_frame(leaky, opening, "2024-01", 4)
    flipped = df.copy()
    flipped.loc[1, "price_heavy_world"] *= -1
    with pytest.raises(AssertionError, match="negative values"):
        check_frame(flipped, opening, "2024-01", 4)
    with pytest.raises(AssertionError, match="light 2024-01"):
        check_frame(df, {**opening, "light": opening["light"] + 1.0}, "2024-01", 4)


# ----------------------------------------------------------------------------- random

def to_toml(doc: dict) -> str:
    """A TOML text for a scenario document (scalars, [params], [narrative], [[events]])."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(type(v))

    lines = [f"{k} = {value(v)}" for k, v in doc.items() if not isinstance(v, dict | list)]
    for table in ("params", "narrative"):
        if doc.get(table):
            lines.append(f"[{table}]")
            lines += [f"{k} = {value(v)}" for k, v in doc[table].items()]
    for ev in doc.get("events", []):
        lines.append("[[events]]")
        lines += [f"{k} = {value(v)}" for k, v in ev.items()]
    return "\n".join(lines) + "\n"


def _scenario_doc(name: str) -> dict:
    return tomllib.loads((resources.files("abm") / "scenarios" / f"{name}.toml").read_text())


_DOCS = {name: _scenario_doc(name) for name in abm.list_scenarios()}
_WORLDS = {y: load_world(y) for y in {d["data_year"] for d in _DOCS.values()}}


def param_value(name: str, p):
    if p.type is bool:
        return st.booleans()
    if name == "n_firms":
        return st.integers(1, 300)  # small worlds keep a thousand runs to minutes
    if p.type is int:
        return st.integers(int(p.lo), int(p.hi))
    if p.type is float:
        return st.floats(p.lo, p.hi, allow_nan=False, allow_infinity=False)
    raise AssertionError(f"no strategy for {name}")


@st.composite
def new_event(draw, states: list[str], miners: list[str], date: str) -> dict:
    actor = draw(st.sampled_from(states))
    action = draw(st.sampled_from(["export", "export", "stockpile", "alliance",
                                   "leave_alliance", "price_floor", "co_invest", "offtake",
                                   "china_route", "free"]))
    ev = {"date": date, "actor": actor, "action": action}
    if action == "export":
        ev["instrument"] = draw(st.sampled_from(INSTRUMENTS))
        ev["target"] = draw(st.sampled_from(["all", *[s for s in states if s != actor]]))
        ev["product"] = draw(st.sampled_from([*PRODUCTS, "both"]))
        if ev["instrument"] == "licence" and draw(st.booleans()):
            ev["share"] = draw(st.floats(0.0, 1.0))
        if ev["instrument"] == "quota":
            ev["tonnes_per_yr"] = draw(st.floats(0.0, 4e5))
    elif action == "stockpile":
        ev["mode"] = draw(st.sampled_from(["build", "hold", "release"]))
        if draw(st.booleans()):
            ev["product"] = draw(st.sampled_from([*PRODUCTS, "both"]))
    elif action == "alliance":
        ev["bloc"] = draw(st.sampled_from(["US-Japan", "Quad", "Pact"]))
        if draw(st.booleans()):
            ev["member"] = draw(st.sampled_from([s for s in states if s != actor]))
    elif action == "price_floor":
        ev["usd_per_kg"] = draw(st.floats(0.0, 3000.0))
        ev["product"] = draw(st.sampled_from([*PRODUCTS, "both"]))
        if draw(st.booleans()):
            ev["miners"] = draw(st.lists(st.sampled_from(miners), min_size=1, max_size=3,
                                         unique=True))
        ev["upside_share"] = draw(st.floats(0.0, 1.0))
    elif action == "co_invest":
        ev["country"] = draw(st.sampled_from(states))
        ev["tonnes_reo_per_yr"] = draw(st.floats(0.0, 1e5))
        ev["lead_months"] = draw(st.integers(1, 120))
        ev["kind"] = draw(st.sampled_from(["separation", "refining"]))
    elif action == "offtake":
        ev["miner"] = draw(st.sampled_from(miners))
        ev["bloc"] = draw(st.sampled_from(states))
    elif action == "china_route":
        ev["actor"] = ev["miner"] = draw(st.sampled_from(miners))
        ev["allowed"] = draw(st.booleans())
    if action in ("export", "stockpile", "alliance", "leave_alliance"):
        ev["pin"] = draw(st.booleans())
    return ev


_NUMERIC_FIELDS = {"tonnes_per_yr": st.floats(0.0, 4e5), "share": st.floats(0.0, 1.0),
                   "usd_per_kg": st.floats(0.0, 3000.0), "upside_share": st.floats(0.0, 1.0),
                   "tonnes_reo_per_yr": st.floats(0.0, 1e5), "lead_months": st.integers(1, 120)}


@st.composite
def configurations(draw) -> dict:
    """A scenario with every parameter drawn, its timeline edited, a seed and a run length."""
    scenario = draw(st.sampled_from(sorted(_DOCS)))
    doc = json.loads(json.dumps(_DOCS[scenario]))  # a deep copy
    steps = draw(st.integers(1, 12))
    start = doc["start"]
    world = _WORLDS[doc["data_year"]]
    states, miners = list(world.states["code"]), list(world.mines["id"])
    window = st.integers(0, steps - 1).map(lambda k: month_after(start, k))
    events = []
    for ev in doc.get("events", []):
        edit = draw(st.sampled_from(["keep", "move", "numbers", "drop"]))
        if edit == "drop":
            continue
        if edit in ("move", "numbers"):  # into the run's window, so that it applies
            ev["date"] = draw(window)
        if edit == "numbers":
            for key in set(ev) & set(_NUMERIC_FIELDS):
                ev[key] = draw(_NUMERIC_FIELDS[key])
        events.append(ev)
    events += draw(st.lists(new_event(states, miners, draw(window)), max_size=4))
    doc["events"] = events
    values = {n: draw(param_value(n, p)) for n, p in abm.PARAMS.items() if n != "free_from"}
    values["free_from"] = draw(st.one_of(  # never, from the start, or a month around the run
        st.sampled_from(["", "start"]),
        st.integers(-12, steps + 12).map(lambda k: month_after(start, k))))
    in_file = draw(st.lists(st.sampled_from(sorted(values)), unique=True))
    doc["params"] = {**doc.get("params", {}), **{k: values[k] for k in in_file}}
    overrides = {k: v for k, v in values.items() if k not in in_file}
    return {"scenario": scenario, "toml": to_toml(doc), "seed": draw(st.integers(0, 2**64 - 1)),
            "steps": steps, "overrides": overrides}


# derandomized: CI explores the same 150 configurations every time, 1,000 when exhaustive (a
# failure is then a regression, never luck); to explore new ones, run it with derandomize=False
@pytest.mark.slow
@settings(max_examples=RANDOM_CONFIGURATIONS, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(config=configurations())
def test_invariants_and_determinism_on_random_configurations(tmp_path, config):
    path = tmp_path / f"edited_{config['scenario']}.toml"
    path.write_text(config["toml"])
    df, events = run_checked(path, steps=config["steps"], seed=config["seed"],
                             **config["overrides"])
    again, events_again = run_checked(path, steps=config["steps"], seed=config["seed"],
                                      **config["overrides"])
    pd.testing.assert_frame_equal(df, again, check_exact=True)
    pd.testing.assert_frame_equal(events, events_again, check_exact=True)


_CHILD = """
import json, sys
import abm
for i, c in enumerate(json.load(open(sys.argv[1]))):
    m = abm.RareEarthModel(scenario=c["path"], rng=c["seed"], **c["overrides"])
    for _ in range(c["steps"]):
        m.step()
    m.results_frame().to_parquet(f"{sys.argv[2]}/r{i}.parquet")
    m.event_log_frame().to_parquet(f"{sys.argv[2]}/e{i}.parquet")
"""


@pytest.mark.slow
@settings(max_examples=2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(batch=st.lists(configurations(), min_size=4, max_size=4))
def test_random_configurations_are_identical_in_a_fresh_process(tmp_path, batch):
    jobs = []
    for i, config in enumerate(batch):
        path = tmp_path / f"edited_{i}.toml"
        path.write_text(config["toml"])
        jobs.append({"path": str(path), "seed": config["seed"], "steps": config["steps"],
                     "overrides": config["overrides"]})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "jobs.json"), str(tmp_path)],
                   check=True, timeout=600)
    for i, job in enumerate(jobs):
        here, events = run_checked(Path(job["path"]), steps=job["steps"], seed=job["seed"],
                                   **job["overrides"])
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"r{i}.parquet"), here,
                                      check_exact=True)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"e{i}.parquet"), events,
                                      check_exact=True)
