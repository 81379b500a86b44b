"""Payoff terms, price-floor payments and the risk update, each against a hand-solved case.

Every expected number below is worked out by hand in the comment next to it (t x US$/kg =
US$ thousand; x 1e-3 = US$ million).
"""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from abm import payoff
from abm.exchange import perceived_risk
from abm.market import ClearingResult, MarketOrders
from abm.model import RareEarthModel
from abm.params import PARAMS, PAYOFF_WEIGHTS

W = {k: PARAMS[f"payoff_{k}"].default for k in PAYOFF_WEIGHTS}
REF = {"light": 60.0, "heavy": 300.0}


def test_revenue_is_flows_times_net_price():
    # (10 t x 60 + 5 t x (70 - 1)) = 945 US$ thousand = 0.945 US$ m; a link whose cost
    # exceeds the price earns nothing, not a loss
    assert payoff.revenue(np.array([10.0, 5.0]), np.array([60.0, 70.0]),
                          np.array([0.0, 1.0])) == pytest.approx(0.945)
    assert payoff.revenue(np.array([10.0]), np.array([1.0]), np.array([2.0])) == 0.0


@pytest.mark.parametrize("world, home, expected", [
    (80.0, 60.0, 1.0),    # 0.5 x 100 t x 20 = 1,000 US$ k
    (200.0, 20.0, 3.0),   # the gap 180 is capped at the reference price 60
    (20.0, 60.0, -2.0),   # dearer at home than abroad: a disadvantage, 0.5 x 100 x -40
    (20.0, 200.0, -3.0),  # capped at -60
])
def test_industry_advantage_is_capped_at_the_reference_price(world, home, expected):
    assert payoff.industry(0.5, 100.0, world, home, 60.0) == pytest.approx(expected)


@pytest.mark.parametrize("price, expected", [
    (100.0, 6.0),   # 0.3 x 0.5 x (100 - 60) x 1,000 t = 6,000 US$ k
    (500.0, 9.0),   # the rise is capped at the reference price: 0.3 x 0.5 x 60 x 1,000
    (50.0, 0.0),    # no rise, no leverage
])
def test_leverage(price, expected):
    assert payoff.leverage(0.3, 0.5, price, 60.0, 1000.0) == pytest.approx(expected)


def test_retaliation_is_the_uncapped_pain_of_allied_targets():
    assert payoff.retaliation(1.0, 100.0, 60.0, 1000.0) == pytest.approx(-40.0)
    assert payoff.retaliation(1.0, 500.0, 60.0, 1000.0) == pytest.approx(-440.0)
    assert payoff.retaliation(2.0, 50.0, 60.0, 1000.0) == 0.0


def test_shortage_stockpile_security_and_alliance_costs():
    assert payoff.shortage_cost(3.0, 10.0, 60.0) == pytest.approx(-1.8)  # 10 x 60 x 3
    # (1,000 x 60 + 10 x 300) = 63,000 US$ k x 0.12 / 12 per month = 0.63 US$ m
    assert payoff.stockpile_carry(0.12, {"light": 1000.0, "heavy": 10.0},
                                  REF) == pytest.approx(-0.63)
    # light: cover 150 / (3 x 100) = 0.5 -> -0.5 x 0.4 x 100 x 60 / 1e3 x 0.5 = -0.6;
    # heavy: no use, fully covered -> 0
    assert payoff.security(0.5, 0.4, {"light": 100.0, "heavy": 0.0}, REF,
                           {"light": 150.0, "heavy": 0.0}, 3.0) == pytest.approx(-0.6)
    # a stockpile above target gives no extra security
    assert payoff.security(0.5, 0.4, {"light": 100.0, "heavy": 0.0}, REF,
                           {"light": 900.0, "heavy": 0.0}, 3.0) == 0.0
    assert payoff.use_value({"light": 100.0, "heavy": 2.0}, REF) == pytest.approx(6.6)
    assert payoff.alliance_cost(0.02, 6.6) == pytest.approx(-0.132)


def _result(flows, price):
    flows = np.asarray(flows, float)
    return ClearingResult(flows, np.zeros(1), np.zeros((2, 1)), np.asarray(price, float),
                          np.asarray(price, float), 0.0, "lp")


def _two_node_model(jpn_bloc: str):
    n_flow = np.array([[50.0, 40.0], [0.0, 20.0]])
    return SimpleNamespace(
        cidx={"CHN": 0, "JPN": 1}, p_ref={"light": 60.0},
        exchange=SimpleNamespace(world_price={"light": 100.0}, normal_flow={"light": n_flow},
                                 price={"light": np.array([40.0, 100.0])}),
        demand_tpm={"light": np.array([80.0, 25.0])},
        states={"CHN": SimpleNamespace(bloc=""), "JPN": SimpleNamespace(bloc=jpn_bloc)},
        firms=SimpleNamespace(last_shortage={"light": np.array([2.0, 0.0])}))


def test_market_payoff_of_a_restricting_exporter():
    # China sells 50 t at home at 40 and 30 t to Japan at 100 (link cost 1); Japan's price
    # rose 40 over the reference 60; Japan relied on China for all its normal imports.
    model = _two_node_model(jpn_bloc="US-Japan")
    res = {"light": _result([[50.0, 30.0], [0.0, 20.0]], [40.0, 100.0])}
    cost = _orders_with(np.array([[0.0, 1.0], [1.0, 0.0]]))
    parts = payoff.market_payoff(model, "CHN", res, ["JPN"], W, cost)
    assert parts["revenue"] == pytest.approx((50 * 40 + 30 * 99) * 1e-3)  # 4.97
    assert parts["industry"] == pytest.approx(0.5 * 50 * 60 * 1e-3)  # gap 60, capped
    assert parts["leverage"] == pytest.approx(0.3 * 1.0 * 40 * 25 * 1e-3)  # 0.3
    assert parts["retaliation"] == pytest.approx(-1.0 * 40 * 25 * 1e-3)  # -1.0
    assert parts["shortage"] == pytest.approx(-2 * 60 * 3.0 * 1e-3)  # -0.36
    # a target outside any alliance does not retaliate
    calm = payoff.market_payoff(_two_node_model(jpn_bloc=""), "CHN", res, ["JPN"], W,
                                cost)
    assert calm["retaliation"] == 0.0 and calm["leverage"] == pytest.approx(0.3)
    # without restrictions there is neither leverage nor retaliation
    open_ = payoff.market_payoff(model, "CHN", res, [], W, cost)
    assert open_["leverage"] == 0.0 and open_["retaliation"] == 0.0


def _orders_with(link_cost, duty=None):
    """product -> (orders, book) stand-ins carrying link costs (duty included) and duties."""
    duty = np.zeros_like(link_cost) if duty is None else duty
    return {"light": (SimpleNamespace(link_cost=link_cost + duty), SimpleNamespace(duty=duty))}


def test_an_export_duty_moves_revenue_into_the_duties_term():
    # a 5 US$/kg duty on the 30 t to Japan: 150 US$ k of duties, and the sellers' revenue
    # falls by as much: (50 x 40 + 30 x (100 - 1 - 5)) = 4,820 US$ k
    model = _two_node_model(jpn_bloc="")
    res = {"light": _result([[50.0, 30.0], [0.0, 20.0]], [40.0, 100.0])}
    duty = np.array([[0.0, 5.0], [0.0, 0.0]])
    parts = payoff.market_payoff(model, "CHN", res, [], W,
                                 _orders_with(np.array([[0.0, 1.0], [1.0, 0.0]]), duty))
    assert parts["duties"] == pytest.approx(0.15)
    assert parts["revenue"] == pytest.approx(4.82)


def test_processing_margin_by_hand():
    # 10 t of magnets at 60 US$/kg, cost 27.7, content 0.359 x 60 + 0.0103 x 265 = 24.2695:
    # 10 t x 8.0305 US$/kg = 80.305 US$ k
    margin = payoff.processing_margin(10.0, 60.0, 27.7, {"light": 0.359, "heavy": 0.0103},
                                      {"light": 60.0, "heavy": 265.0})
    assert margin == pytest.approx(0.080305)


def _orders(link_cap, export_cap):
    n = 2
    return MarketOrders(nodes=("CHN", "JPN"), supply_node=np.array([0]),
                        supply_qty=np.array([1.0]), supply_ask=np.array([1.0]),
                        demand_bid=np.array([2.0]), demand_qty=np.zeros((n, 1)),
                        link_cost=np.zeros((n, n)), link_cap=np.asarray(link_cap, float),
                        export_cap=np.asarray(export_cap, float))


NORMAL = {p: np.array([[0.0, 100.0], [0.0, 0.0]]) for p in ("light", "heavy")}
ZERO = {p: np.zeros(2) for p in ("light", "heavy")}


def test_risk_from_a_link_cap_below_normal_flow():
    # China normally ships 100 t/month to Japan; a cap of 40 cuts 60% of Japan's imports:
    # Japan 0.85 x 0 + 0.15 x 0.6 = 0.09; China's own risk decays, 0.85 x 0.2 = 0.17
    inf = np.inf
    orders = {p: _orders([[inf, 40.0], [inf, inf]], [inf, inf]) for p in ("light", "heavy")}
    risk = perceived_risk(np.array([0.2, 0.0]), orders, NORMAL, ZERO, ZERO, 0.85, 5.0)
    np.testing.assert_allclose(risk, [0.17, 0.09])


def test_risk_from_an_aggregate_export_quota():
    # an export cap of 25 t on 100 t of normal exports cuts 75% of what Japan imports
    inf = np.inf
    orders = {p: _orders([[inf, inf], [inf, inf]], [25.0, inf]) for p in ("light", "heavy")}
    risk = perceived_risk(np.zeros(2), orders, NORMAL, ZERO, ZERO, 0.5, 5.0)
    np.testing.assert_allclose(risk, [0.0, 0.375])  # 0.5 x 0.75


def test_risk_from_shortage_is_scaled_and_capped():
    inf = np.inf
    orders = {p: _orders([[inf, inf], [inf, inf]], [inf, inf]) for p in ("light", "heavy")}
    planned = {"light": np.array([0.0, 50.0]), "heavy": np.zeros(2)}
    short = {"light": np.array([0.0, 2.0]), "heavy": np.zeros(2)}  # 4% short x 5 = 0.2
    risk = perceived_risk(np.zeros(2), orders, NORMAL, short, planned, 0.0, 5.0)
    np.testing.assert_allclose(risk, [0.0, 0.2])
    short["light"][1] = 30.0  # 60% short x 5 = 3, capped at 1
    risk = perceived_risk(np.zeros(2), orders, NORMAL, short, planned, 0.0, 5.0)
    np.testing.assert_allclose(risk, [0.0, 1.0])


def test_unrecorded_sales_earn_the_home_seller_price():
    # China's recorded 50 t at home at 40 and 30 t to Japan at 100 (link cost 1), plus 10 t
    # smuggled to Japan: the smugglers' sellers get China's seller price, 35 US$/kg, not
    # Japan's 100 (the smugglers keep the gap): (50 x 40 + 30 x 99 + 10 x 35) US$ k
    model = _two_node_model(jpn_bloc="")
    flows = np.array([[50.0, 30.0], [0.0, 20.0]])
    res = {"light": ClearingResult(flows, np.zeros(1), np.zeros((2, 1)), np.array([40.0, 100.0]),
                                   np.array([35.0, 100.0]), 0.0, "lp",
                                   grey_flows=np.array([[0.0, 10.0], [0.0, 0.0]]))}
    parts = payoff.market_payoff(model, "CHN", res, [], W,
                                 _orders_with(np.array([[0.0, 1.0], [1.0, 0.0]])))
    assert parts["revenue"] == pytest.approx((50 * 40 + 30 * 99 + 10 * 35) * 1e-3)  # 5.32
    # a node that made nothing this month sells from stock: the same revenue, no margin
    res["light"] = dataclasses.replace(res["light"], converted_out=np.zeros(2))
    again = payoff.market_payoff(model, "CHN", res, [], W,
                                 _orders_with(np.array([[0.0, 1.0], [1.0, 0.0]])))
    assert again["revenue"] == pytest.approx(parts["revenue"])


def test_market_terms_add_up_over_products():
    # the same light market twice under two product names: every term doubles
    model = _two_node_model(jpn_bloc="US-Japan")
    for attr in ("p_ref", "demand_tpm"):
        getattr(model, attr)["heavy"] = getattr(model, attr)["light"]
    model.exchange.normal_flow["heavy"] = model.exchange.normal_flow["light"]
    model.firms.last_shortage["heavy"] = model.firms.last_shortage["light"]
    one = {"light": _result([[50.0, 30.0], [0.0, 20.0]], [40.0, 100.0])}
    cost = _orders_with(np.array([[0.0, 1.0], [1.0, 0.0]]))
    single = payoff.market_payoff(model, "CHN", one, ["JPN"], W, cost)
    both = payoff.market_payoff(model, "CHN", {**one, "heavy": one["light"]}, ["JPN"], W,
                                {**cost, "heavy": cost["light"]})
    assert set(single) == set(both)
    for term, value in single.items():
        assert both[term] == pytest.approx(2 * value), term
    assert all(single[t] != 0 for t in ("revenue", "industry", "leverage", "retaliation",
                                         "shortage"))


@pytest.mark.parametrize(("purchases", "expected"), [
    ([500.0, 30.0, 10.0], (30 * 100 + 10 * 140) / 40),  # China's own purchases left out: 110
    ([500.0, 0.5, 0.0], 100.0),                          # half a tonne still weighs: 100
    ([500.0, 0.0, 0.0], 120.0),                          # nobody buys outside: the plain mean
])
def test_world_price_is_the_purchase_weighted_price_outside_china(purchases, expected):
    price = np.array([40.0, 100.0, 140.0])
    assert payoff.world_price(price, np.array(purchases), chn=0) == pytest.approx(expected)


def test_security_below_a_month_of_target_and_below_a_tonne_of_use():
    # half a month's target of 0.5 t/month: 0.125 t of stock covers half of it; the other
    # half is uncovered: 0.5 x 0.4 x 0.5 t x 60 US$/kg x 1e-3 x 0.5
    got = payoff.security(0.5, 0.4, {"light": 0.5}, {"light": 60.0}, {"light": 0.125}, 0.5)
    assert got == pytest.approx(-0.5 * 0.4 * 0.5 * 60.0 * 1e-3 * 0.5)
    # no use: nothing to secure, whatever the stock
    assert payoff.security(0.5, 0.4, {"light": 0.0}, {"light": 60.0}, {"light": 0.0}, 3.0) == 0


def test_weights_from_a_mapping_and_from_attributes():
    values = {f"payoff_{k}": float(i) for i, k in enumerate(payoff.PAYOFF_WEIGHTS)}
    expected = {k: float(i) for i, k in enumerate(payoff.PAYOFF_WEIGHTS)}
    assert payoff.weights_from(values) == expected
    assert payoff.weights_from(SimpleNamespace(**values)) == expected


def test_no_leverage_over_a_target_that_imports_nothing():
    model = _two_node_model(jpn_bloc="")
    model.exchange.normal_flow["light"] = np.array([[50.0, 0.0], [0.0, 20.0]])
    res = {"light": _result([[50.0, 0.0], [0.0, 20.0]], [40.0, 100.0])}
    parts = payoff.market_payoff(model, "CHN", res, ["JPN"], W,
                                 _orders_with(np.array([[0.0, 1.0], [1.0, 0.0]])))
    assert parts["leverage"] == 0.0


def test_the_exchange_world_price_is_the_payoff_measure_of_the_same_month():
    # states score the month with the exchange's world prices: the same quantity-weighted
    # price outside China that payoff.world_price gives for the month's results
    model = RareEarthModel(scenario="controls_2025", seed=0)
    for _ in range(4):
        model.step()
        for p, r in model.last_month.results.items():
            assert model.exchange.world_price[p] == payoff.world_price(
                r.price, r.purchases, model.cidx["CHN"])
