"""Traders: the storage rule, carrying costs, Brock-Hommes learning, mass balance, smoothing.

Expected values are solved by hand (the arithmetic is written out here, not taken from the
module), and the small-world runs check the predictions of competitive storage theory (Deaton
and Laroque 1992) and of heterogeneous expectations (Brock and Hommes 1998).
"""

import math

import numpy as np
import pytest
from worlds import make_world

import abm
from abm.agents.traders import (
    carry_value,
    forecasts,
    position_share,
    reservation,
    rule_shares,
    storage_ladder,
)
from abm.errors import ConservationError
from abm.exchange import build_orders
from abm.policy import PolicyRegime

#: every trader parameter, so hand computations do not move with the defaults
TRADERS = {"trader_capital_share": 0.2, "trader_china_share": 0.75, "trader_horizon_months": 6,
           "trader_interest_rate_per_yr": 0.06, "trader_storage_cost_per_yr": 0.01,
           "trader_convenience_yield_per_yr": 0.2, "trader_risk_premium": 0.2,
           "trader_fundamental_weight": 0.03, "trader_trend_weight": 0.3,
           "trader_trend_extrapolation": 1.0, "trader_choice_intensity": 3.0,
           "trader_fitness_memory": 0.7}

BAN = """
[[events]]
id = "ban"
date = "2031-01"
actor = "CHN"
action = "export"
instrument = "ban"
target = "all"
product = "both"
detail = "test: China bans exports for six months"

[[events]]
id = "lift"
date = "2031-07"
actor = "CHN"
action = "export"
instrument = "open"
target = "all"
product = "both"
detail = "test: the ban ends"
"""


def same(orders, expected):
    """Order lists equal to 1e-12 relative (same length, same order)."""
    assert len(orders) == len(expected)
    if expected:
        np.testing.assert_allclose(np.array(orders, float), np.array(expected, float), rtol=1e-12)


def trade_at(offers, bids, price):
    """Net t a holder buys (+) or sells (-) when its node clears at ``price``."""
    return (sum(q for q, limit in bids if limit >= price)
            - sum(q for q, ask in offers if ask <= price))


# ----------------------------------------------------------------------------- pure rules

def test_carrying_value_discounts_the_resale_price_and_subtracts_storage():
    # a year at 10%: 110 / 1.1 = 100, less 2% of 50 US$/kg storage = 99
    assert carry_value(110.0, 12, 0.10, 0.02, 50.0) == pytest.approx(99.0, rel=1e-12)
    # six months at 6%: discount by sqrt(1.06); storage 1%/yr of 60 for half a year = 0.3
    assert carry_value(100.0, 6, 0.06, 0.01, 60.0) == pytest.approx(
        100.0 / math.sqrt(1.06) - 0.3, rel=1e-12)
    assert carry_value(80.0, 3, 0.0, 0.0, 60.0) == 80.0  # no carrying cost, no change


def test_forecasts_of_fundamentalists_and_chartists():
    # fundamentalists expect the fundamental price; chartists 6 months of a 2 US$/kg/month trend
    np.testing.assert_allclose(forecasts(100.0, 80.0, 2.0, 6, 1.0), [80.0, 112.0])
    np.testing.assert_allclose(forecasts(100.0, 80.0, 2.0, 6, 0.5), [80.0, 106.0])
    # a steep fall never makes a negative forecast
    np.testing.assert_allclose(forecasts(100.0, 80.0, -30.0, 6, 1.0), [80.0, 0.0])


def test_rule_shares_are_the_brock_hommes_logit():
    # n_c = exp(3 x 0.3) / (exp(3 x 0.1) + exp(3 x 0.3)) = 1 / (1 + exp(-0.6)) = 0.645656...
    n = rule_shares(np.array([0.1, 0.3]), 3.0)
    assert n[1] == pytest.approx(0.6456563062257954, rel=1e-12)
    assert n.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(rule_shares(np.array([0.1, 0.3]), 0.0), [0.5, 0.5])
    # any intensity stays finite: the better rule takes everything
    np.testing.assert_allclose(rule_shares(np.array([0.0, 10.0]), 1000.0), [0.0, 1.0])


def test_the_ladder_buys_below_the_value_sells_above_and_holds_between():
    # R(z) = 100 (1 - 0.2 z) + 10 (1 - z) = 110 - 30 z over a 40 t limit in 10 t tranches;
    # the desk holds 10 t: it offers [0, 10] at R(1/8) and bids for the three tranches above
    offers, bids = storage_ladder(100.0, 10.0, 0.2, 40.0, 10.0)
    same(offers, [(10.0, 106.25)])
    same(bids, [(10.0, 98.75), (10.0, 91.25), (10.0, 83.75)])
    assert trade_at(offers, bids, 95.0) == pytest.approx(10.0)     # cheap: buy
    assert trade_at(offers, bids, 108.0) == pytest.approx(-10.0)   # dear: sell
    assert trade_at(offers, bids, 100.0) == 0.0                    # in between: hold
    assert trade_at(offers, bids, 80.0) == pytest.approx(30.0)     # very cheap: to the limit
    # the continuous rule agrees: at 95 the desk wants (110 - 95) / 30 = 1/2 of 40 t
    assert position_share(100.0, 10.0, 0.2, 95.0) == pytest.approx(0.5)
    assert 10.0 + trade_at(offers, bids, 95.0) == pytest.approx(0.5 * 40.0)


def test_the_ladder_cuts_at_the_stock_and_offers_stock_above_the_limit():
    # holding 15 t: [10, 15] offered at R(12.5/40) = 100.625, [15, 20] bid at R(17.5/40)
    offers, bids = storage_ladder(100.0, 10.0, 0.2, 40.0, 15.0)
    same(offers, [(10.0, 106.25), (5.0, 100.625)])
    same(bids, [(5.0, 96.875), (10.0, 91.25), (10.0, 83.75)])
    assert min(a for _, a in offers) > max(b for _, b in bids)  # never trades with itself
    # holding 50 t against a 40 t limit: the 10 t beyond is offered at R(1) = 80
    offers, bids = storage_ladder(100.0, 10.0, 0.2, 40.0, 50.0)
    assert bids == []
    same(offers[-1:], [(10.0, 80.0)])
    assert sum(q for q, _ in offers) == pytest.approx(50.0)
    assert reservation(100.0, 10.0, 0.2, 1.0) == pytest.approx(80.0)


def test_without_yield_or_risk_premium_the_rule_is_the_storage_arbitrage():
    # Deaton-Laroque: hold everything while the price is below the carrying value, else nothing
    assert position_share(100.0, 0.0, 0.0, 99.0) == 1.0
    assert position_share(100.0, 0.0, 0.0, 100.0) == 0.0
    offers, bids = storage_ladder(100.0, 0.0, 0.0, 40.0, 0.0)
    assert offers == [] and sum(q for q, _ in bids) == pytest.approx(40.0)
    assert trade_at(offers, bids, 99.0) == pytest.approx(40.0)
    assert trade_at(offers, bids, 101.0) == 0.0


# ----------------------------------------------------------------------------- a desk

def _model(tmp_path, **params):
    path = make_world(tmp_path, chn_cap=80_000, alt_cap=20_000, horizon=12)
    return abm.RareEarthModel(scenario=str(path), rng=0, **(TRADERS | params))


def _desk(model, code):
    return next(t for t in model.traders if t.code == code)


def _set_price(model, code, price):
    arr = model.exchange.price["light"].copy()
    arr[model.cidx[code]] = price
    model.exchange.price["light"] = arr


def test_a_desk_learns_and_orders_as_solved_by_hand(tmp_path):
    m = _model(tmp_path)
    desk = _desk(m, "CHN")
    # capital: 0.2 x 20,000 t/yr x 60 US$/kg x 0.75 at China's node; USA has 1/2 of the rest
    assert desk.capital["light"] == pytest.approx(0.2 * 20_000 * 60e3 * 0.75)
    assert _desk(m, "USA").capital["light"] == pytest.approx(0.2 * 20_000 * 60e3 * 0.125)
    assert desk.limit("light") == pytest.approx(3000.0)
    # at the start both rules expect 60: V = 60/sqrt(1.06) - 0.3, Y = 0.2 x 60 x 1/2 = 6
    d = 1.06 ** -0.5
    v0 = 60 * d - 0.3
    z0 = (v0 + 6 - 60) / (6 + 0.2 * v0)
    assert desk.stock["light"] == pytest.approx(3000 * z0)
    # month 1 clears at 66, month 2 at 70
    month = 1.06 ** (1 / 12) - 1
    _set_price(m, "CHN", 66.0)
    desk.learn()
    ret1 = (66 - 60 - (60 * month + 0.01 * 60 / 12)) / 60
    fund1, trend1 = 0.97 * 60 + 0.03 * 66, 0.3 * 6
    assert desk.fundamental["light"] == pytest.approx(fund1)
    assert desk.trend["light"] == pytest.approx(trend1)
    np.testing.assert_allclose(desk.fitness["light"], [z0 * ret1, z0 * ret1])
    assert desk.rule_share("light", "chartist") == pytest.approx(0.5)
    # the rules' positions for month 2: fundamentalists expect fund1, chartists 66 + 6 x 1.8
    v1 = [fund1 * d - 0.3, (66 + 6 * trend1) * d - 0.3]
    z1 = [min(max((v + 6.6 - 66) / (6.6 + 0.2 * v), 0.0), 1.0) for v in v1]
    assert z1[0] == 0.0 and 0 < z1[1] < 1
    _set_price(m, "CHN", 70.0)
    desk.learn()
    ret2 = (70 - 66 - (66 * month + 0.01 * 60 / 12)) / 66
    u = [0.7 * z0 * ret1 + z1[0] * ret2, 0.7 * z0 * ret1 + z1[1] * ret2]
    n_c = 1 / (1 + math.exp(-3 * (u[1] - u[0])))
    assert desk.rule_share("light", "chartist") == pytest.approx(n_c, rel=1e-9)
    assert n_c > 0.5  # the chartists held stock through a rise and gained followers
    # its orders for month 3 at the mixed expectation
    fund2, trend2 = 0.97 * fund1 + 0.03 * 70, 0.7 * trend1 + 0.3 * 4
    e = (1 - n_c) * fund2 + n_c * (70 + 6 * trend2)
    assert desk.expected_price("light") == pytest.approx(e)
    v, y, limit, stock = e * d - 0.3, 0.2 * 70 * 0.5, 0.2 * 20_000 * 0.75 * 60 / 70, 3000 * z0
    cuts = sorted({0.0, limit / 4, limit / 2, 3 * limit / 4, limit, stock})
    expect_offers, expect_bids = [], []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        z = (a + b) / 2 / limit
        price = v * (1 - 0.2 * z) + y * (1 - z)
        (expect_offers if b <= stock else expect_bids).append((0, b - a, price))
    same(desk.offers("light"), expect_offers)
    same(desk.bids("light"), expect_bids)


def test_orders_are_read_only_and_holdings_change_only_by_settlement(tmp_path):
    m = _model(tmp_path)
    desk = _desk(m, "USA")
    before = (dict(desk.stock), desk.offers("light"), desk.bids("light"))
    for _ in range(3):  # what-if clearings call the participants freely
        build_orders(m, m.plan_month(record=False), PolicyRegime(), steady_state=True)
    assert (dict(desk.stock), desk.offers("light"), desk.bids("light")) == before
    stock = desk.stock["light"]
    desk.take_purchases("light", [5.0])
    desk.take_sales("light", [2.0, 1.0])
    assert desk.stock["light"] == pytest.approx(stock + 2.0)
    with pytest.raises(ConservationError, match="USA"):
        desk.take_sales("light", [stock + 10.0])


def test_no_capital_means_no_orders_and_no_stock(tmp_path):
    m = _model(tmp_path, trader_capital_share=0.0)
    for _ in range(6):
        m.step()
        for desk in m.traders:
            assert desk.offers("light") == desk.bids("heavy") == []
    df = m.results_frame()
    assert (df[["trader_stock_light", "trader_stock_heavy"]] == 0).all().all()
    assert df["chartist_share_light"].between(0, 1).all()


# ----------------------------------------------------------------------------- small worlds

def _ban_world(tmp_path, chn_cap, alt_cap, params=""):
    return str(make_world(tmp_path, chn_cap=chn_cap, alt_cap=alt_cap, events=BAN, horizon=36,
                          params=params))


def test_mass_balance_holds_with_traders_trading(tmp_path):
    path = _ban_world(tmp_path, 60_000, 40_000)
    model = abm.RareEarthModel(scenario=path, rng=0, **TRADERS)
    opening = {p: model.holdings()[p] for p in ("light", "heavy")}
    for _ in range(model.horizon):
        model.step()  # the model checks the balance every month (ConservationError)
    df = model.results_frame()
    for p in ("light", "heavy"):
        held = (df[f"inventory_{p}"] + df[f"producer_stock_{p}"] + df[f"stockpiles_{p}"]
                + df[f"trader_stock_{p}"]).to_numpy()
        before = np.concatenate([[opening[p]], held[:-1]])
        residual = df[f"production_{p}"] - df[f"consumption_{p}"] - (held - before)
        assert (residual.abs() / np.maximum(held, 1.0)).max() < 1e-9
        # the desks did trade: stocks moved by more than a tenth of their opening level
        stock = df[f"trader_stock_{p}"]
        assert stock.max() - stock.min() > 0.1 * stock.iloc[0]
    assert df["trader_stock_china"].max() > 0 and df["trader_stock_usa"].max() > 0


# storers outside China only, firms with little stock of their own: the textbook setting
STORERS = ("trader_china_share = 0.0\nbase_cover_months = 0.5\nhoarding_sensitivity = 0.0\n")


def _ban_path(df, start="2031-01", end="2031-06"):
    ban = df["date"].between(start, end)
    after = df["date"].between("2031-07", "2031-12")
    return df.loc[ban, "price_light_usa"].max(), df.loc[after, "price_light_usa"].mean()


@pytest.mark.parametrize("seed", [0, 1])
def test_storage_lowers_the_peak_of_a_temporary_cut_and_lifts_prices_after(tmp_path, seed):
    # Deaton and Laroque: storers who expect prices to return to normal (trend following
    # off) sell their stock into the shortage and rebuild it afterwards
    path = _ban_world(tmp_path, 60_000, 40_000, STORERS + "trader_trend_extrapolation = 0.0\n")
    without = abm.simulate(path, rng=seed, trader_capital_share=0.0)
    with_ = abm.simulate(path, rng=seed, trader_capital_share=0.2)
    peak0, after0 = _ban_path(without)
    peak1, after1 = _ban_path(with_)
    assert peak0 > 2 * without["price_light_usa"].iloc[:12].mean()  # a real shortage
    assert peak1 < 0.8 * peak0
    assert after1 > after0
    stock = with_.set_index("date")["trader_stock_light"]
    assert stock["2031-06"] < 0.5 * stock["2030-12"]  # released into the shortage
    assert stock["2031-12"] > stock["2031-06"]        # and rebuilt after it


def test_trend_followers_push_the_peak_up(tmp_path):
    # Brock and Hommes: when chartists extrapolate the rise they buy into it instead of
    # selling, and the storers' smoothing turns into amplification
    path = _ban_world(tmp_path, 65_000, 35_000, STORERS)
    fundamental = abm.simulate(path, rng=0, trader_trend_extrapolation=0.0)
    trend = abm.simulate(path, rng=0, trader_trend_extrapolation=1.0,
                         trader_choice_intensity=10.0)
    none = abm.simulate(path, rng=0, trader_capital_share=0.0)
    peak_f, peak_t, peak_0 = (_ban_path(df)[0] for df in (fundamental, trend, none))
    assert peak_f < peak_0 < peak_t
    ban = trend["date"].between("2031-01", "2031-06")
    assert trend.loc[ban, "chartist_share_light"].max() > 0.6


def test_same_seed_same_run_with_traders(tmp_path):
    path = _ban_world(tmp_path, 60_000, 40_000)
    a = abm.simulate(path, rng=4, steps=24)
    b = abm.simulate(path, rng=4, steps=24)
    assert a.equals(b)
    assert a["trader_stock_light"].nunique() > 1  # the traders took part
