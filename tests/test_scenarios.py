"""History replayed: the 2010 quota episode and the 2025 controls, over several seeds."""

import pandas as pd
import pytest

import abm
from abm.policy import OXIDES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quota_runs():
    return pd.concat(abm.simulate("quota_2010", rng=s).assign(seed=s) for s in range(5))


def test_quota_2010_world_price_rises_fivefold_in_the_quota_years(quota_runs):
    mean = quota_runs.groupby("date").mean(numeric_only=True)
    level_2009 = mean.loc[mean.index.str.startswith("2009"), "price_light_world"].mean()
    assert 15 <= level_2009 <= 25  # Nd ~20, Pr ~18 US$/kg in 2009
    peak_date = mean["price_light_world"].idxmax()
    # the peak falls in the quota years (history: Jul-Aug 2011; the model's comes later, a
    # known miss reported in docs/validation.md, "Known misses")
    assert "2010-07" <= peak_date <= "2014-12"
    assert mean.loc[peak_date, "price_light_world"] >= 5 * level_2009
    # two-tier pricing: with an export duty d of 15-25%, China's exports flow only while the
    # world price is at least (1 + d) x China's, so in the quota years the world price sits
    # above China's by more than the lowest duty in most months
    quota_years = mean.loc["2010-07":"2014-12"]
    ratio = quota_years["price_light_world"] / quota_years["price_light_china"]
    assert ratio.median() >= 1.15


def test_quota_2010_japan_starts_dependent_on_china(quota_runs):
    mean = quota_runs.groupby("date").mean(numeric_only=True)
    start = mean["china_import_share_japan"].iloc[:6].mean()
    assert 0.8 <= start <= 0.97  # China ~90% of Japan's imports before 2010


def _china_to_japan_oxides(**overrides) -> dict[str, tuple[float, float, float]]:
    """Month -> (recorded t, unrecorded t, the link's normal flow t) of oxides China -> Japan."""
    m = abm.RareEarthModel(scenario="quota_2010", rng=0, **overrides)
    c, j = m.countries.index("CHN"), m.countries.index("JPN")
    out = {}
    while m.date <= "2010-12":
        date, normal = m.date, sum(m.exchange.normal_flow[p][c, j] for p in OXIDES)
        m.step()
        res = m.last_month.results
        recorded = sum(res[p].flows[c, j] for p in OXIDES)
        out[date] = (recorded, sum(res[p].all_flows[c, j] for p in OXIDES) - recorded, normal)
    return out


def test_quota_2010_embargo_closes_the_oxide_route_to_japan_for_two_months():
    # with no unrecorded trade, the customs hold stops China's oxide to Japan in Oct and Nov
    closed = _china_to_japan_oxides(leakage_capacity_share=0.0)
    assert closed["2010-09"][0] > 0 and closed["2010-12"][0] > 0
    assert closed["2010-10"][:2] == (0.0, 0.0) and closed["2010-11"][:2] == (0.0, 0.0)
    # with it (enforcement 0 in 2010), only the grey tranches pass: at most
    # leakage_capacity_share (0.3) of the link's normal flow. (Japan's magnet imports from
    # China are not held, so its total supply from China falls less: docs/validation.md.)
    grey = _china_to_japan_oxides()
    for month in ("2010-10", "2010-11"):
        recorded, unrecorded, normal = grey[month]
        assert recorded == 0.0 and 0 < unrecorded <= 0.3 * normal * (1 + 1e-9)


def test_quota_2010_exports_follow_the_quota(quota_runs):
    one = quota_runs[quota_runs["seed"] == 0].set_index("date")
    quota_2010_t = 30258 / 12
    reo_share = one.loc["2010-06", "production_light"] / one.loc["2010-06", "production_reo"]
    # exports of NdPr stay within the quota converted with China's refined mix (+ rounding)
    assert one.loc["2010-06", "china_exports_light"] <= quota_2010_t * reo_share * 1.05


@pytest.fixture(scope="module")
def alliance_runs():
    rows = []
    for seed in range(10):
        for alliance in (True, False):
            df = abm.simulate("controls_2025", rng=seed, alliance=alliance)
            df = df[df["date"] >= "2025-10"]
            rows.append({"seed": seed, "alliance": alliance,
                         **df.mean(numeric_only=True).to_dict()})
    return pd.DataFrame(rows).set_index(["alliance", "seed"])


def test_controls_2025_alliance_differs_as_documented(alliance_runs):
    with_, without = alliance_runs.xs(True), alliance_runs.xs(False)
    diff = with_ - without
    # the two differences that hold at 200, 1,000 and 10,000 firms (README, from
    # scripts/alliance_comparison.py --sizes): the co-financed separation plant (online from
    # 2029) adds separation in the USA in every seed, and fewer blocs form; the 95% interval
    # of the blocs' paired difference (Student t, 9 degrees of freedom) lies below 0
    assert (diff["refined_usa"] > 0).all()
    blocs = diff["n_blocs"]
    half = 2.262157 * blocs.std(ddof=1) / len(blocs) ** 0.5
    assert blocs.mean() + half < 0


def test_controls_2025_heavy_licences_split_prices():
    df = abm.simulate("controls_2025", rng=0).set_index("date")
    before = df.loc["2025-03"]
    during = df.loc["2025-08"]
    assert during["price_heavy_world"] > 2 * before["price_heavy_world"]
    assert during["price_heavy_china"] < before["price_heavy_china"]
