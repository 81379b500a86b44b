"""Market clearing against hand-solved cases, brute force and random inputs."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abm.market import (
    ClearingError,
    Conversion,
    GreyTranche,
    MarketOrders,
    _distribute,
    _fill_in_order,
    clear_market,
    price_grid,
)

INF = np.inf


def orders(nodes, supply, bids, demand, cost=None, cap=None, export_cap=None):
    """supply: list of (node, qty, ask); demand: (N, K) step quantities."""
    n = len(nodes)
    s_node, s_qty, s_ask = (np.array(x, dtype=float) for x in zip(*supply, strict=True))
    return MarketOrders(
        nodes=tuple(nodes), supply_node=s_node.astype(int), supply_qty=s_qty, supply_ask=s_ask,
        demand_bid=np.array(bids, dtype=float), demand_qty=np.array(demand, dtype=float),
        link_cost=np.zeros((n, n)) if cost is None else np.array(cost, dtype=float),
        link_cap=np.full((n, n), INF) if cap is None else np.array(cap, dtype=float),
        export_cap=np.full(n, INF) if export_cap is None else np.array(export_cap, dtype=float))


def test_open_trade_one_price():
    # One seller (100 t at ask 1) in A; A and B each bid 30 t at 10, 5 and 2 US$/kg.
    # Demand above 5 is 60 t, at 5 it is 120 t > 100 t: the price is 5 everywhere, and the
    # 40 t left after the 10-bids are shared on the 5-step.
    o = orders("AB", [(0, 100, 1)], [10, 5, 2], [[30, 30, 30], [30, 30, 30]])
    r = clear_market(o)
    np.testing.assert_allclose(r.price, [5, 5], atol=1e-9)
    assert r.flows.sum() == pytest.approx(100)
    np.testing.assert_allclose(r.bought[:, 0], [30, 30])
    assert r.bought[:, 1].sum() == pytest.approx(40)
    assert r.welfare == pytest.approx(30 * 10 * 2 + 40 * 5 - 100 * 1)


def test_link_cost_separates_prices_by_the_cost():
    o = orders("AB", [(0, 100, 1)], [10, 5, 2], [[30, 30, 30], [30, 30, 30]],
               cost=[[0, 0.1], [0.1, 0]])
    r = clear_market(o)
    # B's marginal 5-step is partly served; A's seller is indifferent between home and export,
    # so A's price is B's price minus the link cost.
    np.testing.assert_allclose(r.price, [4.9, 5.0], atol=1e-9)
    np.testing.assert_allclose(r.flows, [[60, 40], [0, 0]], atol=1e-9)


def test_binding_cap_splits_prices_into_two_tiers():
    cap = [[INF, 20], [INF, INF]]
    o = orders("AB", [(0, 100, 1)], [10, 5, 2], [[30, 30, 30], [30, 30, 30]], cap=cap)
    r = clear_market(o)
    np.testing.assert_allclose(r.flows, [[80, 20], [0, 0]], atol=1e-9)
    # B gets 20 t: its 10-step is partly served, so its price is 10; A absorbs 80 t, filling
    # its 10 and 5 steps and 20 t of its 2-step: its price falls to 2.
    np.testing.assert_allclose(r.price, [2, 10], atol=1e-9)
    open_ = clear_market(orders("AB", [(0, 100, 1)], [10, 5, 2], [[30, 30, 30], [30, 30, 30]]))
    assert r.price[0] < open_.price[0] and r.price[1] > open_.price[1]


def test_aggregate_export_cap_applies_to_all_foreign_links():
    # 80 t in A; foreign sales capped at 25 t in total. B and C want 30 t each at 10: they
    # share 25 t and pay 10. A keeps 55 t: its 10-step (30 t) and 25 t of its 5-step: price 5.
    o = orders("ABC", [(0, 80, 1)], [10, 5], [[30, 30], [30, 30], [30, 30]],
               export_cap=[25, INF, INF])
    r = clear_market(o)
    assert r.flows[0, 1:].sum() == pytest.approx(25)
    assert r.flows[0, 0] == pytest.approx(55)
    assert r.price[0] == pytest.approx(5)
    np.testing.assert_allclose(r.price[1:], [10, 10], atol=1e-9)


def test_ban_on_one_country_leaves_the_others_trading():
    cap = [[INF, 0, INF], [INF, INF, INF], [INF, INF, INF]]
    o = orders("ABC", [(0, 50, 1), (2, 10, 1)], [10, 5], [[20, 20], [20, 20], [20, 20]],
               cap=cap)
    r = clear_market(o)
    assert r.flows[0, 1] == 0
    assert r.flows[0, 2] > 0 or r.flows[0, 0] > 0
    assert r.flows[2, 1] == pytest.approx(10)  # B can only buy from C
    assert r.purchases[1] == pytest.approx(10)
    assert r.price[1] == pytest.approx(10)  # B rationed on its top step


def test_infeasible_demand_is_rationed_not_negative():
    o = orders("AB", [(0, 10, 1)], [100, 50], [[40, 40], [40, 40]])
    r = clear_market(o)
    assert r.flows.min() >= 0 and r.bought.min() >= 0
    assert r.flows.sum() == pytest.approx(10)
    unmet = r.unmet(o, price_floor=100)
    assert unmet.sum() == pytest.approx(70)
    assert (unmet >= 0).all()


def test_no_demand_for_the_supply_leaves_price_at_the_ask():
    o = orders("AB", [(0, 100, 3)], [10, 5], [[1, 1], [1, 1]])
    r = clear_market(o)
    assert r.flows.sum() == pytest.approx(4)
    assert r.seller_price[0] == pytest.approx(3)


def brute_force_welfare(o: MarketOrders, grid: float = 1.0) -> float:
    """Enumerate integer flows on every link (tiny cases only)."""
    n = len(o.nodes)
    supply = np.bincount(o.supply_node, weights=o.supply_qty, minlength=n)
    ask = np.zeros(n)
    for i in range(n):  # one supply step per node in these cases
        sel = o.supply_node == i
        ask[i] = o.supply_ask[sel][0] if sel.any() else 0.0
    links = [(s, b) for s in range(n) for b in range(n)
             if supply[s] > 0 and (s == b or o.link_cap[s, b] > 0)]
    ranges = []
    for s, b in links:
        hi = supply[s] if s == b else min(supply[s], o.link_cap[s, b])
        ranges.append(np.arange(0, hi + 1e-9, grid))
    best = 0.0
    for combo in itertools.product(*ranges):
        flows = np.zeros((n, n))
        for (s, b), q in zip(links, combo, strict=True):
            flows[s, b] = q
        if np.any(flows.sum(axis=1) > supply + 1e-9):
            continue
        if np.any((flows.sum(axis=1) - np.diag(flows)) > o.export_cap + 1e-9):
            continue
        value = 0.0
        for b in range(n):
            q = flows[:, b].sum()
            for k in range(o.demand_bid.size):
                take = min(q, o.demand_qty[b, k])
                value += take * o.demand_bid[k]
                q -= take
            if q > 1e-9:
                value = -np.inf
        value -= (flows.sum(axis=1) * ask).sum() + (flows * o.link_cost).sum()
        best = max(best, value)
    return best


@settings(max_examples=25, deadline=None)
@given(
    sup=st.lists(st.integers(0, 4), min_size=2, max_size=2),
    dem=st.lists(st.integers(0, 3), min_size=4, max_size=4),
    cap01=st.sampled_from([0, 1, 2, INF]),
    xcap=st.sampled_from([0, 1, 3, INF]),
)
def test_lp_matches_brute_force_on_tiny_markets(sup, dem, cap01, xcap):
    o = orders("AB", [(0, sup[0], 1), (1, sup[1], 2)], [9, 4],
               [[dem[0], dem[1]], [dem[2], dem[3]]], cost=[[0, 0.5], [0.5, 0]],
               cap=[[INF, cap01], [INF, INF]], export_cap=[xcap, INF])
    r = clear_market(o)
    assert r.welfare == pytest.approx(brute_force_welfare(o), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), k=st.integers(1, 12))
def test_random_markets_conserve_and_stay_nonnegative(seed, n, k):
    rng = np.random.default_rng(seed)
    s = int(rng.integers(1, 10))
    cap = np.where(rng.random((n, n)) < 0.3, rng.uniform(0, 20, (n, n)), INF)
    cap[rng.random((n, n)) < 0.1] = 0.0
    o = MarketOrders(
        nodes=tuple(f"N{i}" for i in range(n)), supply_node=rng.integers(0, n, s),
        supply_qty=rng.uniform(0, 50, s), supply_ask=rng.uniform(0, 20, s),
        demand_bid=price_grid(rng.uniform(5, 100), k), demand_qty=rng.uniform(0, 10, (n, k)),
        link_cost=rng.uniform(0, 2, (n, n)), link_cap=cap,
        export_cap=np.where(rng.random(n) < 0.3, rng.uniform(0, 30, n), INF))
    r = clear_market(o)
    for arr in (r.flows, r.sold, r.bought, r.price, r.seller_price):
        assert np.all(np.isfinite(arr)) and arr.min() >= 0
    assert r.sold.sum() == pytest.approx(r.flows.sum(), rel=1e-9, abs=1e-9)
    assert r.bought.sum() == pytest.approx(r.flows.sum(), rel=1e-9, abs=1e-9)
    assert np.all(r.sold <= o.supply_qty + 1e-9)
    assert np.all(r.bought <= o.demand_qty + 1e-6)
    off = ~np.eye(n, dtype=bool)
    assert np.all(r.flows[off] <= o.link_cap[off] + 1e-6)
    assert np.all((r.flows.sum(axis=1) - np.diag(r.flows)) <= o.export_cap + 1e-6)
    # no arbitrage on open links that carry flow: buyer price = seller price + link cost
    free = np.isinf(o.link_cap) & (np.eye(n, dtype=bool) | np.isinf(o.export_cap)[:, None])
    carry = (r.flows > 1e-6) & free
    for s_, b_ in zip(*np.nonzero(carry), strict=True):
        assert r.price[b_] == pytest.approx(r.seller_price[s_] + o.link_cost[s_, b_], abs=1e-6)


def test_price_grid_is_fine_near_centre_and_spans_the_range():
    g = price_grid(60.0, 41, 25.0)
    assert np.all(np.diff(g) < 0)
    assert g[0] == pytest.approx(60 * 25) and g[-1] == pytest.approx(60 / 25)
    assert g[20] == pytest.approx(60.0)
    assert g[19] / g[20] - 1 < 0.03  # ~2% near the centre


@pytest.mark.parametrize("field,value,msg", [
    ("supply_qty", np.array([-1.0]), "negative"),
    ("supply_ask", np.array([np.nan]), "NaN"),
    ("demand_bid", np.array([1.0, 2.0]), "decreasing"),
    ("supply_node", np.array([5]), "does not exist"),
])
def test_malformed_orders_are_refused_at_the_boundary(field, value, msg):
    base = orders("AB", [(0, 10, 1)], [5, 2], [[1, 1], [1, 1]])
    kwargs = {f: getattr(base, f) for f in base.__dataclass_fields__}
    kwargs[field] = value
    with pytest.raises(ClearingError, match=msg):
        clear_market(MarketOrders(**kwargs))


def _bad(**changes):
    base = orders("AB", [(0, 10, 1), (1, 5, 2)], [5, 2], [[1, 1], [1, 1]])
    kwargs = {f: getattr(base, f) for f in base.__dataclass_fields__}
    kwargs.update(changes)
    return MarketOrders(**kwargs)


_Z2, _NAN2 = np.zeros((2, 2)), np.full((2, 2), np.nan)


@pytest.mark.parametrize(("changes", "message"), [
    ({"supply_ask": np.array([1.0])},
     "supply_node, supply_qty and supply_ask must be 1-D and equal"),
    ({"supply_node": np.array([0])},
     "supply_node, supply_qty and supply_ask must be 1-D and equal"),
    ({"supply_qty": np.ones((2, 1)), "supply_node": np.zeros((2, 1), dtype=int),
      "supply_ask": np.ones((2, 1))},
     "supply_node, supply_qty and supply_ask must be 1-D and equal"),
    ({"supply_node": np.array([0, 2])}, "supply_node refers to a node that does not exist"),
    ({"supply_node": np.array([-1, 0])}, "supply_node refers to a node that does not exist"),
    ({"demand_qty": np.ones((2, 3))}, "demand_qty must have shape (2, 2)"),
    ({"demand_qty": np.ones((3, 2))}, "demand_qty must have shape (2, 2)"),
    ({"link_cost": np.zeros((2, 3))}, "link_cost must have shape (2, 2)"),
    ({"link_cap": np.zeros((3, 2))}, "link_cap must have shape (2, 2)"),
    ({"sticky_cap": np.zeros((2, 3)), "switch_cost": _Z2}, "sticky_cap must have shape (2, 2)"),
    ({"sticky_cap": _Z2, "switch_cost": np.zeros(2)}, "switch_cost must have shape (2, 2)"),
    ({"sticky_cap": _Z2}, "sticky_cap and switch_cost go together"),
    ({"switch_cost": _Z2}, "sticky_cap and switch_cost go together"),
    ({"export_cap": np.ones(3)}, "export_cap must have shape (2,)"),
    ({"supply_qty": np.array([np.inf, 1.0])}, "supply_qty contains NaN or infinity"),
    ({"supply_qty": np.array([-1.0, 1.0])}, "supply_qty contains a negative value"),
    ({"supply_ask": np.array([1.0, -2.0])}, "supply_ask contains a negative value"),
    ({"demand_bid": np.array([5.0, np.nan])}, "demand_bid contains NaN or infinity"),
    ({"demand_qty": np.array([[1.0, -1.0], [1.0, 1.0]])}, "demand_qty contains a negative value"),
    ({"link_cost": _NAN2}, "link_cost contains NaN or infinity"),
    ({"link_cost": -np.ones((2, 2))}, "link_cost contains a negative value"),
    ({"sticky_cap": _Z2, "switch_cost": -np.ones((2, 2))},
     "switch_cost contains a negative value"),
    ({"link_cap": _NAN2}, "link_cap contains NaN or a negative value"),
    ({"link_cap": -np.ones((2, 2))}, "link_cap contains NaN or a negative value"),
    ({"export_cap": np.array([1.0, -1.0])}, "export_cap contains NaN or a negative value"),
    ({"sticky_cap": -np.ones((2, 2)), "switch_cost": _Z2},
     "sticky_cap contains NaN or a negative value"),
    ({"grey": (GreyTranche(_Z2, -np.ones((2, 2))),)}, "grey[0].cost contains a negative value"),
    ({"grey": (GreyTranche(_Z2, _Z2), GreyTranche(_NAN2, _Z2))},
     "grey[1].cap contains NaN or a negative value"),
    ({"demand_bid": np.array([2.0, 2.0])}, "demand_bid must be strictly decreasing"),
])
def test_each_malformed_order_is_named_in_one_line(changes, message):
    with pytest.raises(ClearingError) as err:
        clear_market(_bad(**changes))
    assert str(err.value) == message


def test_well_formed_orders_with_every_optional_part_pass_the_boundary():
    ok = _bad(sticky_cap=_Z2, switch_cost=_Z2, grey=(GreyTranche(_Z2, _Z2),),
              supply_qty=np.array([0.0, 0.0]), demand_bid=np.array([5.0, 0.0]))
    ok.validate()  # zeros are allowed everywhere: no trade, free links, a zero bid
    _bad(link_cap=np.full((2, 2), np.inf), export_cap=np.full(2, np.inf)).validate()


@pytest.mark.parametrize(("changes", "message"), [
    ({"output": "alloy"}, "conversion names a product that is not cleared"),
    ({"inputs": {"light": 0.3, "dust": 0.1}}, "conversion names a product that is not cleared"),
    ({"inputs": {"light": 0.3, "magnet": 0.1}}, "a conversion cannot use its own output"),
    ({"capacity": np.ones(3)}, "conversion capacity and cost must have shape (2,)"),
    ({"cost": np.ones(1)}, "conversion capacity and cost must have shape (2,)"),
    ({"capacity": np.array([1.0, np.inf])},
     "conversion capacity, cost and inputs must be finite and >= 0"),
    ({"cost": np.array([1.0, -1.0])},
     "conversion capacity, cost and inputs must be finite and >= 0"),
    ({"inputs": {"light": -0.3}}, "conversion capacity, cost and inputs must be finite and >= 0"),
])
def test_each_malformed_conversion_is_named_in_one_line(changes, message):
    fields = {"output": "magnet", "inputs": {"light": 0.3, "heavy": 0.01},
              "capacity": np.ones(2), "cost": np.zeros(2)}
    with pytest.raises(ClearingError) as err:
        Conversion(**{**fields, **changes}).validate(("light", "heavy", "magnet"), 2)
    assert str(err.value) == message
    Conversion(**fields).validate(("light", "heavy", "magnet"), 2)  # the unchanged one passes


def test_small_genuine_trades_survive_a_huge_demand_step_at_low_prices():
    # Regression (issue 11): clearing used to zero every quantity below 1e-10 x the largest
    # demand step. At high elasticity the bottom step of the price grid is huge (here 1e13 t
    # at 1 US$/kg, below every ask), so a real 0.05 t sale vanished from one side of the books.
    # Hand-solved: the buyer takes 0.05 t at 50 (the cheap step) and 20 t more at 40 from the
    # 30 t step at ask 30, so 20.05 t trade; any price between the unused ask (30) and the
    # last bid served (40) clears the market.
    o = MarketOrders(
        nodes=("A", "B"), supply_node=np.array([0, 0]), supply_qty=np.array([0.05, 30.0]),
        supply_ask=np.array([10.0, 30.0]), demand_bid=np.array([50.0, 40.0, 1.0]),
        demand_qty=np.array([[0.0, 0.0, 0.0], [0.05, 20.0, 1e13]]),
        link_cost=np.zeros((2, 2)), link_cap=np.full((2, 2), np.inf),
        export_cap=np.full(2, np.inf))
    r = clear_market(o)
    assert r.flows[0, 1] == pytest.approx(20.05, rel=1e-12)
    np.testing.assert_allclose(r.sold, [0.05, 20.0], rtol=1e-12)
    assert r.sold.sum() == pytest.approx(r.flows.sum(), rel=1e-15)
    assert r.bought.sum() == pytest.approx(r.flows.sum(), rel=1e-15)
    np.testing.assert_allclose(r.bought[1], [0.05, 20.0, 0.0], atol=1e-12)
    assert 30.0 - 1e-9 <= r.price[1] <= 40.0 + 1e-9


def test_sales_never_exceed_the_supply_offered_at_a_node():
    # a seller that the solver over-ships by tolerance is scaled back to what it offered
    from abm.market import _clean_flows
    o = MarketOrders(
        nodes=("A", "B"), supply_node=np.array([0]), supply_qty=np.array([10.0]),
        supply_ask=np.array([1.0]), demand_bid=np.array([5.0]),
        demand_qty=np.array([[0.0], [20.0]]), link_cost=np.zeros((2, 2)),
        link_cap=np.full((2, 2), np.inf), export_cap=np.full(2, np.inf))
    flows, _ = _clean_flows(o, np.array([[0.0, 10.0 + 1e-7], [0.0, 0.0]]), np.zeros((2, 2)),
                            None)
    assert flows.sum(axis=1)[0] <= 10.0
    assert flows[0, 1] == pytest.approx(10.0, rel=1e-15)


def test_idle_nodes_get_their_arbitrage_prices():
    # A sells 100 t at 10; only B buys (50 t, bid 30). A is not exhausted, so A's seller price
    # is its ask, 10, and B pays 10 + 2 (link cost A->B). C neither buys nor sells: as a buyer
    # it would pay the cheapest delivered price, 10 + 3 = 13; as a seller it would get the
    # best buyer price net of its link cost, 12 - 5 = 7. B sells nothing: it would get its own
    # price, 12 (no link cost at home). D is cut off from every seller (caps 0) and can reach
    # B only at a link cost of 20 > 12: 0 both ways.
    cost = [[0, 2, 3, 0], [0, 0, 0, 0], [0, 5, 0, 0], [0, 20, 0, 0]]
    cap = [[INF, INF, INF, 0], [INF, INF, INF, 0], [INF, INF, INF, 0], [INF, INF, INF, INF]]
    o = orders("ABCD", [(0, 100, 10)], [30], [[0], [50], [0], [0]], cost=cost, cap=cap)
    r = clear_market(o)
    np.testing.assert_allclose(r.flows[0], [0, 50, 0, 0], atol=1e-9)
    np.testing.assert_allclose(r.price, [10, 12, 13, 0], atol=1e-9)
    np.testing.assert_allclose(r.seller_price, [10, 12, 7, 0], atol=1e-9)


def test_a_node_without_supply_gets_a_seller_price_only_over_an_open_link():
    # A sells 100 t at 10, B buys 50 t bidding 30 (B pays 10 at A's ask, no link costs).
    # C has no supply: its link to B is open but tiny (0.5 t/month, cost 4), so as a seller it
    # would get 10 - 4 = 6; D's only link to a buyer is closed (cap 0), so it gets 0
    cost = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 4, 0, 0], [0, 4, 0, 0]]
    cap = [[INF] * 4, [INF] * 4, [INF, 0.5, INF, INF], [INF, 0, INF, INF]]
    o = orders("ABCD", [(0, 100, 10)], [30], [[0], [50], [0], [0]], cost=cost, cap=cap)
    r = clear_market(o)
    np.testing.assert_allclose(r.seller_price, [10, 10, 6, 0], atol=1e-9)


def test_unmet_demand_counts_steps_bid_at_or_above_the_floor():
    # 40 t for two buyers bidding 20 t each at 10 and 20 t each at 5: the 10-steps are served
    # (40 t), the 5-steps not at all
    o = orders("AB", [(0, 40, 1)], [10, 5], [[20, 20], [20, 20]])
    r = clear_market(o)
    np.testing.assert_allclose(r.unmet(o), [20, 20], atol=1e-9)
    np.testing.assert_allclose(r.unmet(o, price_floor=5.0), [20, 20], atol=1e-9)
    np.testing.assert_allclose(r.unmet(o, price_floor=6.0), [0, 0], atol=1e-9)
    # by default every step counts, however low its bid (0.5 US$/kg here, below the ask)
    low = orders("AB", [(0, 40, 1)], [10, 0.5], [[20, 20], [20, 20]])
    np.testing.assert_allclose(clear_market(low).unmet(low), [20, 20], atol=1e-9)


def test_fill_in_order_puts_the_rest_on_the_last_real_step_of_each_row():
    # hand-solved. Row 0: steps 2 and 3 (and a padding step), 4 t: 2 + 2. Row 1: three
    # 1 t steps, 5 t: the 2 t the steps cannot hold go on the last step, 1 + 1 + 3.
    # Row 2: one real 2 t step then padding, 3 t: all 3 t on the real step, none on padding.
    capacity = np.array([[2.0, 3.0, 0.0], [1.0, 1.0, 1.0], [2.0, 0.0, 0.0]])
    take = _fill_in_order(capacity, np.array([4.0, 5.0, 3.0]), np.array([2, 3, 1]))
    assert take.tolist() == [[2.0, 2.0, 0.0], [1.0, 1.0, 3.0], [3.0, 0.0, 0.0]]


def test_distribute_sells_each_nodes_cheapest_steps_first_and_fills_top_bids_first():
    # node A's steps (asks 3 then 4) sell 1.5 t: 1 + 0.5; node B's (asks 2 then 5) sell
    # 1.2 t: 1 + 0.2; the 0.7 t step of node A at ask 4 is listed last but sold second.
    # Node B buys 1.5 t over bids 9 (1 t) and 8 (1 t): 1 + 0.5; node A buys nothing.
    o = orders(["A", "B"], [(1, 1.0, 5.0), (0, 1.0, 3.0), (1, 1.0, 2.0), (0, 0.7, 4.0)],
               [9.0, 8.0], [[1.0, 1.0], [1.0, 1.0]])
    sold, bought = _distribute(o, np.array([1.5, 1.2]), np.array([0.0, 1.5]))
    assert sold.tolist() == pytest.approx([0.2, 1.0, 1.0, 0.5], abs=1e-12)
    assert bought.tolist() == [[0.0, 0.0], [1.0, 0.5]]
