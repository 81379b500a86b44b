"""By-product (La/Ce) revenue of miners: the price series, its checks, and the margin it adds.

Expected values are worked by hand from the rows of ``abm/data/byproduct_prices.csv`` and
``mines.csv`` quoted in each test.
"""

from pathlib import Path

import pytest
from test_reliability_data import copy_data

import abm
from abm.calibration import read_byproduct_prices
from abm.model import RareEarthModel


def _copy(tmp_path: Path) -> Path:
    """The shipped data in ``tmp_path/data`` and a 3-month 2009 scenario ``s.toml`` on it."""
    d = copy_data(tmp_path)
    (tmp_path / "s.toml").write_text('start = "2009-01"\nhorizon_months = 3\ndata_year = 2009\n'
                                     'data_dir = "data"\n[params]\nn_firms = 10\n')
    return d


def _ordinal(date: str) -> int:
    return 12 * int(date[:4]) + int(date[5:7]) - 1


def test_series_is_linear_between_points_and_flat_outside():
    bp = read_byproduct_prices()
    # world: 5.62 in 2010-01, 23.0 in 2010-08 -> 2010-04 is 3 of 7 months along
    assert bp.at(_ordinal("2010-04"))["world"] == pytest.approx(5.62 + 3 / 7 * (23.0 - 5.62))
    # china has no 2010-08 point: 4.89 (2010-01) to 22.3 (2011-09) over 20 months
    assert bp.at(_ordinal("2010-04"))["china"] == pytest.approx(4.89 + 3 / 20 * (22.3 - 4.89))
    assert bp.at(_ordinal("2011-05"))["world"] == pytest.approx(136.5)  # a point itself
    assert bp.at(_ordinal("2000-01")) == pytest.approx({"world": 6.64, "china": 5.77})
    assert bp.at(_ordinal("2030-01")) == pytest.approx({"world": 1.0, "china": 1.0})


def test_miner_revenue_counts_the_rest_of_its_tonne_at_its_market(tmp_path):
    m = RareEarthModel(scenario="quota_2010", rng=1, n_firms=10)
    weld = m.miner("MTWELD")  # refined in Malaysia: FOB China price; 1 - 0.26 - 0.003 = 0.737
    china = m.miner("CHN_north")  # refined in China: China's price; 1 - 0.22 - 0.001 = 0.779
    m.month = 28  # 2011-05
    assert weld.byproduct_revenue() == pytest.approx(0.737 * 136.5)
    assert china.byproduct_revenue() == pytest.approx(
        0.779 * (4.89 + 16 / 20 * (22.3 - 4.89)))
    half = RareEarthModel(scenario="quota_2010", rng=1, n_firms=10, byproduct_price_share=0.5)
    half.month = 28
    assert half.miner("MTWELD").byproduct_revenue() == pytest.approx(0.5 * 0.737 * 136.5)


def test_margin_ratio_adds_byproduct_revenue_to_ndpr_and_dy_revenue():
    m = RareEarthModel(scenario="quota_2010", rng=1, n_firms=10)
    off = RareEarthModel(scenario="quota_2010", rng=1, n_firms=10, byproduct_price_share=0.0)
    prices = m.exchange.seller_price
    weld = m.miner("MTWELD")
    assert off.miner("MTWELD").byproduct_revenue() == 0.0
    node = m.cidx["MYS"]
    ndpr_dy = 0.26 * float(prices["light"][node]) + 0.003 * float(prices["heavy"][node])
    assert off.miner("MTWELD").margin_ratio(prices) == pytest.approx(ndpr_dy / 9.0)
    world_2009_01 = 6.64 + 7 / 19 * (5.62 - 6.64)  # 2008-06 to 2010-01: 7 of 19 months
    assert weld.margin_ratio(prices) == pytest.approx((ndpr_dy + 0.737 * world_2009_01) / 9.0)


def test_without_a_series_file_miners_earn_from_ndpr_and_dy_only(tmp_path):
    d = _copy(tmp_path)
    (d / "byproduct_prices.csv").unlink()
    assert read_byproduct_prices(d) is None
    m = RareEarthModel(scenario=tmp_path / "s.toml", rng=1)
    assert m.miner("MTWELD").byproduct_revenue() == 0.0


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda t: t.replace("2010-08,world", "2010-13,world", 1),
     "column 'date': expected YYYY-MM, got '2010-13'"),
    (lambda t: t.replace("2010-08,world", "2010,world", 1),
     "column 'date': expected YYYY-MM, got '2010'"),
    (lambda t: t.replace("2010-08,world", "2010-08,europe", 1),
     "column 'market': expected one of world, china, got 'europe'"),
    (lambda t: t.replace("2010-08,world,23.0", "2010-08,world,-1", 1),
     "column 'usd_per_kg': expected a finite number within (0, 1e+06], got '-1'"),
    (lambda t: "\n".join(x for x in t.splitlines() if ",china," not in x) + "\n",
     "data file byproduct_prices.csv has no row for market 'china'"),
])
def test_a_bad_series_is_one_clear_error(tmp_path, edit, needle):
    d = _copy(tmp_path)
    f = d / "byproduct_prices.csv"
    f.write_text(edit(f.read_text()))
    with pytest.raises(abm.InputError, match="byproduct_prices.csv") as err:
        RareEarthModel(scenario=tmp_path / "s.toml", rng=1)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_row_order_in_the_file_does_not_matter(tmp_path):
    d = _copy(tmp_path)
    f = d / "byproduct_prices.csv"
    header, *rows = f.read_text().splitlines()
    f.write_text("\n".join([header, *reversed(rows)]) + "\n")
    shuffled, shipped = read_byproduct_prices(d), read_byproduct_prices()
    for date in ("2009-01", "2010-04", "2011-07", "2013-06", "2020-01"):
        assert shuffled.at(_ordinal(date)) == pytest.approx(shipped.at(_ordinal(date)))
