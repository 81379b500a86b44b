"""Target statistics on a hand-built ensemble (experiments.targets)."""

import pandas as pd
import pytest

from experiments.targets import _per_run, statistic_kind


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
    ("quarter of maximum", "argmax_quarter"), ("spot (Nd oxide)", "mean")])
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
