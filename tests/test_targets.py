"""Target statistics on a hand-built ensemble (experiments.targets)."""

import numpy as np
import pandas as pd
import pytest

from experiments.targets import (
    _per_run,
    load_targets,
    markdown,
    quarter_label,
    score,
    statistic_kind,
)


def _ts() -> pd.DataFrame:
    """Two runs over 2015-2016: run a mines 10 t/month in 2015 and 20 in 2016; run b 30."""
    dates = [f"{y}-{m:02d}" for y in (2015, 2016) for m in range(1, 13)]
    a = [10.0] * 12 + [20.0] * 12
    return pd.DataFrame({"run_id": ["a"] * 24 + ["b"] * 24, "date": dates * 2,
                         "mined": a + [30.0] * 24})


def _target(statistic: str, start: str, end: str) -> pd.Series:
    return pd.Series({"variable": "mined", "date_from": start, "date_to": end,
                      "statistic": statistic})


@pytest.mark.parametrize(("words", "kind"), [
    ("annual sum", "sum"), ("quarterly sums", "sum"), ("annual sum (each year)", "run_rate"),
    ("run rate", "run_rate"), ("share of world mine output", "world_share"),
    ("quarter of maximum", "argmax_quarter"), ("spot (Nd oxide)", "mean"),
    ("ratio to 2011Q3 peak (RE oxide basket)", "ratio_to_peak"),
    ("ratio, export vs domestic (Nd oxide)", "mean"),
    ("ratio to the same month a year earlier (magnets)", "ratio_to_year_before"),
    ("ratio to the same months a year earlier", "ratio_to_year_before"),
    ("ratio to the month before", "ratio_to_months_before"),
    ("ratio to the months before", "ratio_to_months_before")])
def test_statistic_words(words, kind):
    assert statistic_kind(words) == kind


def test_an_annual_sum_in_each_year_is_the_mean_year_not_the_window_total():
    each = _per_run(_ts(), _target("annual sum (each year)", "2015-01", "2016-12"))
    assert each["a"] == pytest.approx((120 + 240) / 2)  # the mean of 120 t and 240 t
    assert each["b"] == pytest.approx(360)
    total = _per_run(_ts(), _target("annual sum", "2015-01", "2016-12"))
    assert total["a"] == pytest.approx(360) and total["b"] == pytest.approx(720)
    one_year = _per_run(_ts(), _target("annual sum", "2016-01", "2016-12"))
    assert one_year["a"] == pytest.approx(240)


def test_ratio_to_a_year_earlier_and_to_the_months_before_by_hand():
    # run a: 10 t/month in 2015, 20 in 2016; run b: 30 throughout (_ts)
    year = _per_run(_ts(), _target("ratio to the same month a year earlier", "2016-05",
                                   "2016-05"))
    assert year["a"] == pytest.approx(20 / 10) and year["b"] == pytest.approx(1.0)
    # January 2016 against December 2015, and the first half of 2016 against 2015H2
    month = _per_run(_ts(), _target("ratio to the month before", "2016-01", "2016-01"))
    assert month["a"] == pytest.approx(2.0)
    half = _per_run(_ts(), _target("ratio to the months before", "2016-01", "2016-06"))
    assert half["a"] == pytest.approx(2.0) and half["b"] == pytest.approx(1.0)
    inside = _per_run(_ts(), _target("ratio to the month before", "2016-06", "2016-06"))
    assert inside["a"] == pytest.approx(1.0)  # June over May 2016, both 20
    # a base period outside the runs (2014) is not comparable
    assert _per_run(_ts(), _target("ratio to the same month a year earlier", "2015-03",
                                   "2015-03")) is None
    assert _per_run(_ts(), _target("ratio to the months before", "2015-01", "2015-06")) is None


def test_changes_on_a_ramp_pick_exactly_the_base_months():
    # one run whose value is the month's number, 1 in 2015-01 to 24 in 2016-12
    dates = [f"{y}-{m:02d}" for y in (2015, 2016) for m in range(1, 13)]
    ramp = pd.DataFrame({"run_id": "r", "date": dates, "mined": np.arange(1.0, 25.0)})
    one = _per_run(ramp, _target("ratio to the month before", "2016-01", "2016-01"))
    assert one["r"] == pytest.approx(13 / 12)
    half = _per_run(ramp, _target("ratio to the months before", "2016-01", "2016-06"))
    assert half["r"] == pytest.approx(15.5 / 9.5)  # mean of 13..18 over mean of 7..12
    year = _per_run(ramp, _target("ratio to the same month a year earlier", "2016-05",
                                  "2016-05"))
    assert year["r"] == pytest.approx(17 / 5)


def test_a_base_period_only_partly_in_the_runs_is_not_comparable():
    # 2015-01..2016-03 against the same months a year earlier: 2014 is missing
    assert _per_run(_ts(), _target("ratio to the same months a year earlier", "2015-10",
                                   "2016-03")) is None


def _peaks() -> pd.DataFrame:
    """Two runs over 2010-2011, prices by month (US$/kg).

    Run a: 10 everywhere except 40 in 2010-08 and 2010-09 (its highest quarter is 2010Q3,
    mean (10 + 40 + 40) / 3 = 30). Run b: 10, except 20 in each month of 2011Q2 (mean 20).
    """
    dates = [f"{y}-{m:02d}" for y in (2010, 2011) for m in range(1, 13)]
    a = [40.0 if d in ("2010-08", "2010-09") else 10.0 for d in dates]
    b = [20.0 if d in ("2011-04", "2011-05", "2011-06") else 10.0 for d in dates]
    return pd.DataFrame({"run_id": ["a"] * 24 + ["b"] * 24, "date": dates * 2, "p": a + b})


def test_quarter_of_maximum_is_the_highest_quarterly_mean_as_a_decimal_year():
    t = pd.Series({"variable": "p", "date_from": "2010-01", "date_to": "2011-12",
                   "statistic": "quarter of maximum"})
    q = _per_run(_peaks(), t)
    assert q["a"] == pytest.approx(2010.5) and q["b"] == pytest.approx(2011.25)
    assert quarter_label(2010.5) == "2010Q3" and quarter_label(2011.25) == "2011Q2"
    assert quarter_label(2010.74) == "2010Q4"  # rounds to the nearest quarter


def test_ratio_to_peak_divides_the_window_mean_by_the_highest_quarter_before_it():
    t = pd.Series({"variable": "p", "date_from": "2011-10", "date_to": "2011-12",
                   "statistic": "ratio to 2011Q3 peak"})
    r = _per_run(_peaks(), t)
    assert r["a"] == pytest.approx(10.0 / 30.0)
    assert r["b"] == pytest.approx(10.0 / 20.0)
    early = pd.Series({**t.to_dict(), "date_from": "2010-01", "date_to": "2010-03"})
    assert _per_run(_peaks(), early) is None  # no quarter before the window


def test_a_date_target_is_matched_within_one_quarter_and_shown_as_quarters():
    targets = load_targets()
    v19 = targets[targets["id"] == "V19"].copy()
    assert v19["value_num"].iloc[0] == pytest.approx(2011.5)  # "2011Q3" in the file
    v19["scenario"] = "s"
    v19["date_from"], v19["date_to"] = "2010-01", "2011-12"
    v19["variable"] = "p"
    got = score(v19, {"s": _peaks()})
    # runs peak in 2010Q3 (2010.5) and 2011Q2 (2011.25): mean 2010.875, 2.5 quarters early
    assert got["model"].iloc[0] == pytest.approx(2010.875)
    assert not got["match"].iloc[0] and np.isnan(got["rel_error"].iloc[0])
    assert "| -2.5 quarters | no |" in markdown(got, seeds=2)
    near = _peaks()
    near.loc[near["run_id"] == "a", "p"] = near.loc[near["run_id"] == "b", "p"].to_numpy()
    near.loc[(near["run_id"] == "b") & near["date"].isin(["2011-07", "2011-08"]), "p"] = 90.0
    got = score(v19, {"s": near})  # 2011Q2 (2011.25) and 2011Q3 (2011.5): mean 2011.375
    assert got["match"].iloc[0] and got["model"].iloc[0] == pytest.approx(2011.375)


def test_a_date_target_one_and_a_half_quarters_off_is_not_matched():
    v19 = load_targets().query("id == 'V19'").assign(scenario="s", date_from="2010-01",
                                                     date_to="2011-12", variable="p")
    late = _peaks()
    late.loc[late["run_id"] == "a", "p"] = 10.0
    late.loc[(late["run_id"] == "a") & late["date"].isin(["2011-01", "2011-02"]), "p"] = 50.0
    got = score(v19, {"s": late})  # 2011Q1 (2011.0) and 2011Q2 (2011.25): 1.5 quarters early
    assert got["model"].iloc[0] == pytest.approx(2011.125)
    assert not got["match"].iloc[0]
    assert "| -1.5 quarters | no |" in markdown(got, seeds=2)
