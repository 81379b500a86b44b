"""The history scenario's inputs agree with the data files they are derived from."""

import pytest

import abm
from abm.calibration import read_table


def test_quota_2010_demand_growth_is_the_growth_between_the_two_data_years():
    states = read_table("states.csv")
    use = states.groupby("year")["consumption_light_tpy"].sum()
    assert use[2009] == 29203 and use[2024] == 83600  # the rows' sums, as the scenario says
    derived = (use[2024] / use[2009]) ** (1 / (2024 - 2009)) - 1
    growth = abm.load_scenario("quota_2010").params["demand_growth_per_yr"]
    assert growth == pytest.approx(derived, abs=5e-4)


def test_china_holds_no_state_reserve_before_its_2011_purchases():
    states = read_table("states.csv")
    china_2009 = states[(states["year"] == 2009) & (states["code"] == "CHN")].iloc[0]
    assert china_2009["stockpile_light_t"] == 0 and china_2009["stockpile_heavy_t"] == 0
    m = abm.RareEarthModel(scenario="quota_2010", rng=0, n_firms=10)
    for _ in range(24):  # through 2010: nothing to release, no reserve event yet
        m.step()
    assert m.results_frame()["stockpile_china"].max() == 0
