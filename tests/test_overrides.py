"""Overrides: parameters, event edits by id, strategies fixed for a run; the record."""

import pandas as pd
import pytest

import abm
from abm.params import PARAMS, add_months, coerce_param


def test_event_edit_by_id_changes_the_quota_the_model_applies():
    key = "event.quota_2011_h1.tonnes_per_yr"
    sc = abm.load_scenario("quota_2010", **{key: "2400"})
    ev = next(e for e in sc.events if e.id == "quota_2011_h1")
    assert ev.args["tonnes_per_yr"] == 2400.0
    df = abm.simulate("quota_2010", steps=30, rng=0, **{key: 2400})
    ref = abm.simulate("quota_2010", steps=30, rng=0)
    h1 = df["date"].between("2011-01", "2011-06")
    # 2,400 t REO/yr is 200 t/month: China's recorded exports cannot exceed it in H1 2011,
    # whereas under the real batch (14,508 t for the half-year) they do
    assert df.loc[h1, "china_exports_reo"].max() <= 200.0 * (1 + 1e-9)
    assert ref.loc[h1, "china_exports_reo"].mean() > 200.0
    before = df["date"] < "2011-01"
    assert (df.loc[before, "price_light_world"] == ref.loc[before, "price_light_world"]).all()


def test_event_date_edit_moves_the_event():
    sc = abm.load_scenario("quota_2010", **{"event.embargo_japan.date": "2011-03"})
    ev = next(e for e in sc.events if e.id == "embargo_japan")
    assert ev.date == "2011-03"
    assert [e.date for e in sc.events] == sorted(e.date for e in sc.events)


@pytest.mark.parametrize("key, value, needle", [
    ("event.nope.tonnes_per_yr", 1, "no event with id 'nope'"),
    ("event.quota_2012.colour", 1, "has no field 'colour'"),
    ("event.quota_2012.tonnes_per_yr", -5, "outside"),
    ("event.quota_2012.tonnes_per_yr", "lots", "must be a number"),
    ("event.quota_2012.tonnes_per_yr", float("nan"), "finite"),
    ("event.quota_2012.tonnes_per_yr", "２００", "ASCII"),
    ("event.quota_2012.date", "2011-13", "YYYY-MM"),
    ("event.quota_2012", 1, "event.<id>.<field>"),
    ("strategy.CHN.export", "embargo", "unknown export strategy"),
    ("strategy.CHN.navy", "ban", "unknown domain"),
    ("strategy.export", "ban", "strategy.<STATE>.<domain>"),
])
def test_bad_overrides_are_one_clear_error(key, value, needle):
    with pytest.raises(abm.InputError, match=needle):
        abm.load_scenario("quota_2010", **{key: value})


def test_unknown_state_in_a_strategy_override_fails_before_the_run():
    with pytest.raises(abm.InputError, match="unknown state 'XX'"):
        abm.RareEarthModel(scenario="strategic", rng=0, **{"strategy.XX.export": "ban"})


def test_a_fixed_strategy_holds_for_the_whole_run():
    m = abm.RareEarthModel(scenario="strategic", rng=1, n_firms=30, leakage_capacity_share=0.0,
                           **{"strategy.CHN.export": "ban", "strategy.JPN.stockpile": "build"})
    for _ in range(30):
        m.step()
        assert m.export_instrument("CHN", "USA", "light") == "ban"
        assert m.states["JPN"].stockpile_mode == {"light": "build", "heavy": "build"}
    log = m.event_log_frame()
    chosen = log[(log["actor"] == "CHN") & (log["action"] == "export")]
    assert set(chosen["source"]) == {"spec"}  # never a learning choice
    df = m.results_frame()
    # with no unrecorded trade, nothing from China reaches the USA, oxide or magnets
    assert (df["china_import_share_usa"].iloc[1:] == 0).all()


def test_a_fixed_strategy_starts_when_the_state_would_go_free():
    # controls_2025: China is scripted until 2026-11, then plays the fixed strategy
    m = abm.RareEarthModel(scenario="controls_2025", rng=0, n_firms=30,
                           **{"strategy.CHN.export": "open"})
    for _ in range(m.horizon):
        m.step()
    log = m.event_log_frame()
    china = log[(log["actor"] == "CHN") & (log["action"] == "export")]
    scripted = china[china["source"] == "timeline"]
    assert scripted["date"].min() == "2025-04" and scripted["date"].max() <= "2026-10"
    fixed = china[china["source"] == "spec"]
    assert list(fixed["date"]) == ["2026-11"]
    assert m.export_instrument("CHN", "all", "heavy") == "open"


def test_params_parse_text_strictly():
    assert coerce_param("n_firms", " 300 ") == 300
    assert coerce_param("alliance", "off") is False
    assert coerce_param("demand_elasticity", 1) == 1.0
    for bad in ("２００", "1e999", "nan", "12 firms"):
        with pytest.raises(abm.InputError):
            coerce_param("n_firms" if "firms" in bad else "demand_elasticity", bad)


def test_every_parameter_documents_a_source_or_says_assumption():
    for name, p in PARAMS.items():
        assert p.doc and p.source, name
        assert p.group in ("size", "demand", "supply", "trade", "states", "payoff"), name
        if p.type in (int, float):
            assert p.lo <= p.default <= p.hi, name


def test_the_datacollector_is_the_record():
    m = abm.RareEarthModel(scenario="controls_2025", rng=2, n_firms=40)
    for _ in range(5):
        m.step()
    df = m.results_frame()
    pd.testing.assert_frame_equal(df, m.datacollector.get_model_vars_dataframe())
    assert list(df.columns[:len(abm.MODEL_COLUMNS)]) == list(abm.MODEL_COLUMNS)
    assert len(df) == 5 and list(df["step"]) == [0, 1, 2, 3, 4]


def test_add_months_steps_across_year_ends_both_ways():
    # hand-counted on a calendar
    assert add_months("2010-11", 2) == "2011-01"
    assert add_months("2010-01", -1) == "2009-12"
    assert add_months("2024-12", 0) == "2024-12"
    assert add_months("2000-12", -24) == "1998-12"
    assert add_months("2025-04", 125) == "2035-09"
    for k in range(-30, 30):  # back and forth is the identity
        assert add_months(add_months("2012-07", k), -k) == "2012-07"
