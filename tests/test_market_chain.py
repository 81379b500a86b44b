"""Clearing with conversion (oxide -> magnets), unrecorded trade and sticky sourcing.

Hand-solved cases (the reasoning is in each test's comment), and a cross-check of the optimal
welfare against an independent, loop-built formulation solved by scipy's linprog on random
small chains.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from abm.market import (
    NOISE_SHARE,
    ClearingError,
    Conversion,
    GreyTranche,
    MarketOrders,
    _clean_flows,
    _feasible_conversion,
    clear_chain,
    clear_market,
)

INF = np.inf


def orders(nodes, supply, bids, demand, cost=None, cap=None, export_cap=None, **kw):
    n = len(nodes)
    if supply:
        s_node, s_qty, s_ask = (np.array(x, dtype=float) for x in zip(*supply, strict=True))
    else:
        s_node = s_qty = s_ask = np.zeros(0)
    return MarketOrders(
        nodes=tuple(nodes), supply_node=s_node.astype(int), supply_qty=s_qty, supply_ask=s_ask,
        demand_bid=np.array(bids, dtype=float), demand_qty=np.array(demand, dtype=float),
        link_cost=np.zeros((n, n)) if cost is None else np.array(cost, dtype=float),
        link_cap=np.full((n, n), INF) if cap is None else np.array(cap, dtype=float),
        export_cap=np.full(n, INF) if export_cap is None else np.array(export_cap, dtype=float),
        **kw)


def conv(capacity, cost=5.0, a=0.5):
    capacity = np.asarray(capacity, float)
    return Conversion("magnet", {"oxide": a}, capacity, np.full(capacity.size, cost))


def test_scarce_oxide_limits_magnets_and_sets_the_oxide_price():
    # A has 10 t of oxide (ask 10) and room for 50 t of magnets (0.5 t oxide each, 5 US$/kg);
    # B wants 30 t of magnets at 100. Only 20 t can be made: B's price stays at its bid, 100;
    # oxide is worth (100 - 5) / 0.5 = 190 to the converter. Welfare 20x100 - 10x10 - 20x5.
    ox = orders("AB", [(0, 10, 10)], [1.0], [[0], [0]])
    mag = orders("AB", [], [100.0], [[0], [30]])
    r = clear_chain({"oxide": ox, "magnet": mag}, conv([50, 0]))
    assert r["magnet"].converted_out[0] == pytest.approx(20)
    assert r["oxide"].converted_in[0] == pytest.approx(10)
    assert r["magnet"].flows[0, 1] == pytest.approx(20)
    assert r["magnet"].price[1] == pytest.approx(100)
    assert r["oxide"].price[0] == pytest.approx(190)
    assert r["oxide"].purchases.sum() == pytest.approx(0)  # the converter is not a buyer
    assert r["oxide"].welfare + r["magnet"].welfare == pytest.approx(2000 - 100 - 100)
    # split by product: the conversion cost is the output's (magnets 2000 - 20x5), the oxide's
    # ask its own (no buyer's bid is served in oxide: 0 - 10x10)
    assert r["magnet"].welfare == pytest.approx(1900)
    assert r["oxide"].welfare == pytest.approx(-100)


def test_binding_capacity_earns_a_rent_and_leaves_oxide_at_its_ask():
    # plenty of oxide (100 t at 10) but room for 20 t of magnets: B's price is 100, the oxide
    # price its ask 10, and the magnet seller price at A is 100 (a capacity rent of 90/kg).
    ox = orders("AB", [(0, 100, 10)], [1.0], [[0], [0]])
    mag = orders("AB", [], [100.0], [[0], [30]])
    r = clear_chain({"oxide": ox, "magnet": mag}, conv([20, 0]))
    assert r["magnet"].converted_out[0] == pytest.approx(20)
    assert r["oxide"].price[0] == pytest.approx(10)
    assert r["magnet"].seller_price[0] == pytest.approx(100)
    # 10 t of oxide were sold at A, all to the converter (no buyer took any)
    assert r["oxide"].sales[0] == pytest.approx(10) and r["oxide"].purchases[0] == 0
    assert r["oxide"].sold.sum() == pytest.approx(10)


def test_magnet_price_is_oxide_content_plus_conversion_cost_when_nothing_binds():
    # marginal cost of a magnet = 5 + 0.5 x 10 = 10: B buys its 100- and 20-steps (60 t),
    # not the 8-step, and pays 10
    ox = orders("AB", [(0, 1000, 10)], [1.0], [[0], [0]])
    mag = orders("AB", [], [100.0, 20.0, 8.0], [[0, 0, 0], [30, 30, 30]])
    r = clear_chain({"oxide": ox, "magnet": mag}, conv([1000, 0]))
    assert r["magnet"].purchases[1] == pytest.approx(60)
    assert r["magnet"].price[1] == pytest.approx(10)
    assert r["oxide"].converted_in[0] == pytest.approx(30)


def test_an_oxide_export_cap_moves_magnet_making_to_the_exporter():
    # CHN: 100 t oxide at 10, room for 40 t of magnets; JPN: room for 100 t, wants 100 t of
    # magnets at 100; CHN may export only 10 t of oxide. CHN makes 40 t (20 t oxide) and
    # exports them; JPN makes 20 t from the 10 t it may import; JPN is rationed at 60 t and
    # pays 100; JPN's converters value oxide at (100 - 5) / 0.5 = 190, CHN's oxide stays at 10.
    ox = orders(("CHN", "JPN"), [(0, 100, 10)], [1.0], [[0], [0]],
                cap=[[INF, 10], [INF, INF]])
    mag = orders(("CHN", "JPN"), [], [100.0], [[0], [100]])
    r = clear_chain({"oxide": ox, "magnet": mag}, conv([40, 100]))
    np.testing.assert_allclose(r["magnet"].converted_out, [40, 20], atol=1e-9)
    assert r["oxide"].flows[0, 1] == pytest.approx(10)
    assert r["magnet"].flows[0, 1] == pytest.approx(40)
    assert r["magnet"].price[1] == pytest.approx(100)
    np.testing.assert_allclose(r["oxide"].price, [10, 190], atol=1e-9)


def test_unrecorded_trade_passes_a_ban_and_grows_with_the_price_gap():
    # A's link to B is banned; 20 t can go unrecorded at 10 US$/kg and 30 t more at 60.
    # B bids 50 for 50 t: the 10-tranche is used, the 60-tranche is not (60 > 50).
    tranches = (GreyTranche(np.array([[0, 20.0], [0, 0]]), np.array([[0, 10.0], [0, 0]])),
                GreyTranche(np.array([[0, 30.0], [0, 0]]), np.array([[0, 60.0], [0, 0]])))
    o = orders("AB", [(0, 100, 1)], [50.0, 5.0], [[0, 100], [50, 0]],
               cap=[[INF, 0], [INF, INF]], export_cap=[0, INF], grey=tranches)
    r = clear_market(o)
    assert r.flows[0, 1] == 0 and r.grey_flows[0, 1] == pytest.approx(20)
    assert r.price[1] == pytest.approx(50) and r.price[0] == pytest.approx(5)
    assert r.purchases[1] == pytest.approx(20)
    # a wider gap (B bids 100) opens the dearer tranche too
    o2 = orders("AB", [(0, 100, 1)], [100.0, 5.0], [[0, 100], [50, 0]],
                cap=[[INF, 0], [INF, INF]], export_cap=[0, INF], grey=tranches)
    assert clear_market(o2).grey_flows[0, 1] == pytest.approx(50)


def test_magnets_made_for_unrecorded_trade_count_as_made():
    # A makes magnets (no stock of them) from 100 t of oxide at 10; C holds 5 t of magnets
    # (ask 1). Recorded magnet exports to B are banned, but 12 t can go unrecorded from A and
    # 5 t from C, at 10 US$/kg; B wants 30 t at 100. A makes exactly what it ships
    # unrecorded: 12 t, from 6 t of oxide (not the 17 t shipped unrecorded in all)
    grey_cap, grey_cost = np.zeros((3, 3)), np.zeros((3, 3))
    grey_cap[0, 1], grey_cap[2, 1] = 12.0, 5.0
    grey_cost[0, 1] = grey_cost[2, 1] = 10.0
    banned = np.full((3, 3), INF)
    banned[0, 1] = banned[2, 1] = 0.0
    ox = orders("ABC", [(0, 100, 10)], [1.0], [[0], [0], [0]])
    mag = orders("ABC", [(2, 5, 1)], [100.0], [[0], [30], [0]], cap=banned,
                 grey=(GreyTranche(grey_cap, grey_cost),))
    r = clear_chain({"oxide": ox, "magnet": mag}, conv([50, 0, 0]))
    assert r["magnet"].flows.sum() == 0
    np.testing.assert_allclose(r["magnet"].grey_flows[:, 1], [12, 0, 5], atol=1e-9)
    np.testing.assert_allclose(r["magnet"].converted_out, [12, 0, 0], atol=1e-9)
    assert r["oxide"].converted_in[0] == pytest.approx(6)
    assert r["magnet"].purchases[1] == pytest.approx(17)


def test_sticky_sourcing_keeps_the_usual_supplier_until_switching_pays():
    # B buys from A (ask 10) 30 t under a relationship and from C (ask 9) with no history;
    # volume beyond a relationship costs 3 more. B bids 100 for 60 t and 12.5 for 100 t more.
    # Without stickiness B takes all 50 t of C and 50 t of A (everything clears at 12.5).
    # With it: A's 30 t (10), then C's 50 t (9 + 3 = 12 < 12.5), but not A beyond 30
    # (10 + 3 = 13 > 12.5): 30 from A and 50 from C; B pays 12.5, C receives 12.5 - 3 = 9.5.
    base = dict(nodes="ABC", supply=[(0, 50, 10), (2, 50, 9)], bids=[100.0, 12.5],
                demand=[[0, 0], [60, 100], [0, 0]])
    r0 = clear_market(orders(**base))
    np.testing.assert_allclose(r0.flows[:, 1], [50, 0, 50], atol=1e-9)
    sticky = np.array([[0, 30.0, 0], [0, 0, 0], [0, 0, 0]])
    r = clear_market(orders(**base, sticky_cap=sticky, switch_cost=np.full((3, 3), 3.0)))
    np.testing.assert_allclose(r.flows[:, 1], [30, 0, 50], atol=1e-9)
    assert r.price[1] == pytest.approx(12.5)
    assert r.seller_price[2] == pytest.approx(9.5)
    assert r.seller_price[0] == pytest.approx(10)


def test_sub_tonne_tranches_of_a_sticky_link_are_kept():
    # A sells at 10; its link to B is capped at 1.5 t, of which 0.5 t is the relationship
    # (link cost 0) and 1.0 t the rest (3 more). B bidding 100 for 0.4 t gets it all within
    # the relationship and pays 10; for 0.8 t it needs 0.3 t of the rest and pays 13
    sticky, cap = np.array([[0, 0.5], [0, 0]]), np.array([[INF, 1.5], [INF, INF]])
    for want, price in ((0.4, 10.0), (0.8, 13.0)):
        o = orders("AB", [(0, 10, 10)], [100.0], [[0], [want]], cap=cap, sticky_cap=sticky,
                   switch_cost=np.full((2, 2), 3.0))
        r = clear_market(o)
        assert r.flows[0, 1] == pytest.approx(want)
        assert r.price[1] == pytest.approx(price)


def test_a_policy_cap_applies_to_both_tranches_of_a_sticky_link():
    # the cap (20 t) is below the relationship volume (30 t): only 20 t pass
    sticky = np.array([[0, 30.0], [0, 0]])
    o = orders("AB", [(0, 100, 1)], [50.0], [[0], [60]], cap=[[INF, 20], [INF, INF]],
               sticky_cap=sticky, switch_cost=np.full((2, 2), 3.0))
    assert clear_market(o).flows[0, 1] == pytest.approx(20)


@pytest.mark.parametrize("bad, needle", [
    (dict(sticky_cap=np.zeros((2, 2))), "go together"),
    (dict(sticky_cap=np.full((2, 2), -1.0), switch_cost=np.zeros((2, 2))), "sticky_cap"),
    (dict(grey=(GreyTranche(np.zeros((2, 2)), np.full((2, 2), np.nan)),)), "grey\\[0\\].cost"),
])
def test_bad_extras_are_named(bad, needle):
    with pytest.raises(ClearingError, match=needle):
        clear_market(orders("AB", [(0, 1, 1)], [2.0], [[0], [1]], **bad))


def test_bad_conversions_are_named():
    ox = orders("AB", [(0, 10, 10)], [1.0], [[0], [0]])
    mag = orders("AB", [], [100.0], [[0], [30]])
    with pytest.raises(ClearingError, match="not cleared"):
        clear_chain({"oxide": ox}, conv([20, 0]))
    with pytest.raises(ClearingError, match="shape"):
        clear_chain({"oxide": ox, "magnet": mag}, conv([20, 0, 0]))
    bad = Conversion("magnet", {"oxide": -1.0}, np.ones(2), np.ones(2))
    with pytest.raises(ClearingError, match=">= 0"):
        clear_chain({"oxide": ox, "magnet": mag}, bad)


# ---------------------------------------------------------------- independent cross-check
def _reference_columns(ox, mag, c):
    """Variables of the reference LP: (kind, product, data), costs and upper bounds."""
    n = len(ox.nodes)
    var, cost, ub = [], [], []
    for prod, o in (("oxide", ox), ("magnet", mag)):
        for i in range(o.supply_qty.size):
            var.append(("s", prod, int(o.supply_node[i])))
            cost.append(o.supply_ask[i])
            ub.append(o.supply_qty[i])
        for s, b in ((s, b) for s in range(n) for b in range(n)):
            caps = [(o.link_cost[s, b], INF if s == b else o.link_cap[s, b], False)]
            caps += [] if s == b else [(t.cost[s, b], t.cap[s, b], True) for t in o.grey]
            for unit_cost, cap, grey in caps:
                if cap > 0:
                    var.append(("x", prod, (s, b, grey)))
                    cost.append(unit_cost)
                    ub.append(cap)
        for b in range(n):
            for k, bid in enumerate(o.demand_bid):
                var.append(("d", prod, b))
                cost.append(-bid)
                ub.append(o.demand_qty[b, k])
    for node in range(n):
        var.append(("z", "magnet", node))
        cost.append(c.cost[node])
        ub.append(c.capacity[node])
    return var, cost, ub


def _coefficient(kind, p, data, prod, node, side, a):
    """A variable's coefficient in the seller (side 0) or buyer (side 1) row of (prod, node)."""
    if kind == "z":
        if data != node:
            return 0.0
        if prod == "magnet":
            return 1.0 if side == 0 else 0.0
        return -a if side == 1 else 0.0
    if p != prod:
        return 0.0
    if kind == "s":
        return 1.0 if side == 0 and data == node else 0.0
    if kind == "d":
        return -1.0 if side == 1 and data == node else 0.0
    out = -1.0 if side == 0 and data[0] == node else 0.0
    return out + (1.0 if side == 1 and data[1] == node else 0.0)


def reference_welfare(ox: MarketOrders, mag: MarketOrders, c: Conversion) -> float:
    """Max welfare of the same chain, formulated arc by arc with loops (no shared code)."""
    var, cost, ub = _reference_columns(ox, mag, c)
    a = c.inputs["oxide"]
    a_eq = [[_coefficient(*v, prod, node, side, a) for v in var]
            for prod in ("oxide", "magnet") for node in range(len(ox.nodes)) for side in (0, 1)]
    # an exporter's aggregate cap: its recorded sales abroad (grey trade passes outside it)
    a_ub, b_ub = [], []
    for prod, o in (("oxide", ox), ("magnet", mag)):
        for node in np.flatnonzero(np.isfinite(o.export_cap)):
            a_ub.append([1.0 if k == "x" and p == prod and d[0] == node and d[1] != node
                         and not d[2] else 0.0 for k, p, d in var])
            b_ub.append(o.export_cap[node])
    res = linprog(cost, A_eq=a_eq, b_eq=np.zeros(len(a_eq)), A_ub=a_ub or None,
                  b_ub=b_ub or None,
                  bounds=[(0, None if np.isinf(u) else u) for u in ub], method="highs")
    assert res.status == 0
    return -res.fun


def export_caps(rng, n, capped):
    """Caps (t) on a random half of the nodes, none when not ``capped``; two nodes at least."""
    if not capped:
        return None
    cap = np.where(rng.random(n) < 0.5, rng.uniform(0, 15, n), INF)
    cap[:2] = rng.uniform(0, 15, 2)
    return cap


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), capped=st.booleans())
def test_chain_welfare_matches_an_independent_formulation(seed, capped):
    """``capped``: aggregate export caps on some nodes of both products at once."""
    rng = np.random.default_rng(seed)
    n = 3
    nodes = ("A", "B", "C")
    bids = np.sort(rng.uniform(5, 200, 3))[::-1]
    ox = orders(nodes, [(i, rng.uniform(0, 50), rng.uniform(1, 20)) for i in range(n)], bids,
                rng.uniform(0, 20, (n, 3)), cost=rng.uniform(0, 3, (n, n)),
                cap=np.where(rng.random((n, n)) < 0.3, rng.uniform(0, 10, (n, n)), INF),
                grey=(GreyTranche(rng.uniform(0, 5, (n, n)), rng.uniform(5, 30, (n, n))),),
                export_cap=export_caps(rng, n, capped))
    mag = orders(nodes, [(0, rng.uniform(0, 5), rng.uniform(20, 60))], bids * 3,
                 rng.uniform(0, 30, (n, 3)), cost=rng.uniform(0, 3, (n, n)),
                 export_cap=export_caps(rng, n, capped))
    c = Conversion("magnet", {"oxide": 0.3}, rng.uniform(0, 40, n), rng.uniform(1, 10, n))
    r = clear_chain({"oxide": ox, "magnet": mag}, c)
    got = r["oxide"].welfare + r["magnet"].welfare
    assert got == pytest.approx(reference_welfare(ox, mag, c), rel=1e-7, abs=1e-6)
    # books balance: what converters used is what was shipped to them, per node
    inflow = r["oxide"].all_flows.sum(axis=0)
    np.testing.assert_allclose(r["oxide"].purchases + r["oxide"].converted_in, inflow,
                               atol=1e-7)
    np.testing.assert_allclose(r["oxide"].converted_in, 0.3 * r["magnet"].converted_out,
                               atol=1e-9)
    assert (r["magnet"].converted_out <= c.capacity + 1e-9).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_products_without_conversion_clear_as_if_alone(seed):
    """Three products with export caps everywhere, cleared together, give each product what
    clearing it alone gives (no conversion links them: the joint LP separates by product)."""
    rng = np.random.default_rng(seed)
    n = 3
    nodes = ("A", "B", "C")
    books = {}
    for p in ("light", "heavy", "magnet"):
        bids = np.sort(rng.uniform(5, 200, 3))[::-1]
        books[p] = orders(nodes, [(i, rng.uniform(0, 50), rng.uniform(1, 20)) for i in range(n)],
                          bids, rng.uniform(0, 20, (n, 3)), cost=rng.uniform(0, 3, (n, n)),
                          export_cap=rng.uniform(0, 15, n))
    together = clear_chain(books)
    for p, o in books.items():
        alone = clear_market(o)
        assert together[p].welfare == pytest.approx(alone.welfare, rel=1e-7, abs=1e-6)
        exports = together[p].flows.sum(axis=1) - np.diag(together[p].flows)
        assert (exports <= o.export_cap + 1e-7).all()


# ---------------------------------------------------------------- trimming the solver's noise
def test_flows_are_cleaned_of_noise_and_trimmed_to_what_was_offered():
    # A offered 10 t but the solution ships 8 t recorded and 4 t unrecorded to B: both are
    # scaled by 10/12. A home flow of 6e-12 t is noise below NOISE_SHARE x the 12 t traded
    # (1.2e-11 t) and goes; B, which converted 5 t, may ship those 5 t
    o = orders("AB", [(0, 10.0, 1.0)], [20.0], [[0.0], [20.0]])
    flows = np.array([[6 * NOISE_SHARE, 8.0], [5.0, 0.0]])
    grey = np.array([[0.0, 4.0], [0.0, 0.0]])
    f, g = _clean_flows(o, flows, grey, made=np.array([0.0, 5.0]))
    assert f[0, 0] == 0.0
    np.testing.assert_allclose(f, [[0.0, 8 * 10 / 12], [5.0, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(g, [[0.0, 4 * 10 / 12], [0.0, 0.0]], rtol=1e-12)
    # nothing traded: all zeros
    f, g = _clean_flows(o, np.zeros((2, 2)), np.zeros((2, 2)), made=None)
    assert not f.any() and not g.any()


def test_conversion_output_is_trimmed_to_shipments_inputs_and_capacity():
    # node A shipped 6 + 2 t of magnets: it made at most 8. Node B received 3 + 1 t of oxide
    # at 0.5 t per t of magnet: at most 8. Node C is capped at 7 by its capacity.
    c = Conversion("magnet", {"oxide": 0.5}, np.array([100.0, 100.0, 7.0]), np.ones(3))
    mag_f = np.array([[0.0, 6.0, 0.0], [0.0, 0.0, 20.0], [20.0, 0.0, 0.0]])
    mag_g = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    ox_f = np.array([[0.0, 3.0, 20.0], [20.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    ox_g = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    raw = {"magnet": (mag_f, mag_g), "oxide": (ox_f, ox_g)}
    made = _feasible_conversion(np.array([10.0, 10.0, 10.0]), c, raw)
    np.testing.assert_allclose(made, [8.0, 8.0, 7.0])
