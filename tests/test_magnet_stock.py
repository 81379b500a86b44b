"""The magnet makers' stock of oxide (a lead, off by default): its orders, its accounting, and
what it does to a squeeze.

The ladder's prices and the refill are solved by hand; the runs check the mass balance (the
model raises ``ConservationError`` on any month that loses a tonne) and the direction of the
effect the mechanism exists for: a stock drawn when the price jumps, so the jump is smaller.
"""

from types import SimpleNamespace

import mesa
import numpy as np
import pytest

import abm
from abm.agents.magnets import STOCK_TRANCHES, MagnetMakers, NodeStock, stock_ladder
from abm.errors import ConservationError
from abm.exchange import build_orders
from abm.policy import OXIDES, PolicyRegime

#: the April 2025 licences extended to magnets, as China's customs record had them
MAGNET_LICENCE = {
    "id": "licences_magnets_apr_2025", "date": "2025-04", "actor": "CHN", "action": "export",
    "instrument": "licence", "target": "all", "product": "magnet",
    "detail": "China: licences on magnets containing Dy/Tb, to all (test)"}


def test_the_ladder_offers_four_equal_pieces_from_the_release_price_and_refills_at_the_expected():
    # 8 t held, 12 t wanted, 100 US$/kg expected, release at 1.5x, a quarter of the gap a month:
    # pieces of 2 t at 150, 187.5, 225 and 262.5; a bid for 0.25 x 4 = 1 t at 100
    assert STOCK_TRANCHES == 4
    offers, bids = stock_ladder(8.0, 12.0, 100.0, 1.5, 0.25)
    assert offers == [(2.0, 150.0), (2.0, 187.5), (2.0, 225.0), (2.0, 262.5)]
    assert bids == [(1.0, 100.0)]
    # full (or over-full): nothing to refill; empty: nothing to offer
    assert stock_ladder(12.0, 12.0, 100.0, 1.5, 0.25)[1] == []
    assert stock_ladder(13.0, 12.0, 100.0, 1.5, 0.25)[1] == []
    assert stock_ladder(0.0, 12.0, 100.0, 1.5, 0.25) == ([], [(3.0, 100.0)])
    # no price remembered yet (nobody ever bid at the node): no orders at all
    assert stock_ladder(8.0, 12.0, 0.0, 1.5, 0.25) == ([], [])
    # release at 1: the first piece is offered at the expected price itself
    assert stock_ladder(4.0, 4.0, 80.0, 1.0, 0.5)[0][0] == (1.0, 80.0)


def test_small_stocks_and_prices_still_trade():
    # 0.4 t held at 0.8 US$/kg expected: pieces of 0.1 t at 1.2, 1.5, 1.8 and 2.1 US$/kg
    offers, bids = stock_ladder(0.4, 0.5, 0.8, 1.5, 1.0)
    np.testing.assert_allclose(offers, [(0.1, 1.2), (0.1, 1.5), (0.1, 1.8), (0.1, 2.1)])
    np.testing.assert_allclose(bids, [(0.1, 0.8)])


def _makers(cover=2.0, weight=0.25, release=1.5, adjust=0.5):
    """Makers at three nodes (A makes 10 t of magnet a month, B 4, C nothing) in a bare model;
    a magnet holds 0.3 t of NdPr and 0.01 t of Dy/Tb."""
    model = mesa.Model(rng=0)
    model.sc = SimpleNamespace(magnet_stock_cover_months=cover, price_memory_weight=weight,
                               magnet_stock_release_ratio=release, inventory_adjust_rate=adjust)
    mm = MagnetMakers(model, ("A", "B", "C"), {"light": 0.3, "heavy": 0.01},
                      np.array([10.0, 4.0, 0.0]), np.zeros(3))
    return mm


def _results(made, light, heavy):
    return {"magnet": SimpleNamespace(converted_out=np.array(made, dtype=float)),
            "light": SimpleNamespace(price=np.array(light, dtype=float)),
            "heavy": SimpleNamespace(price=np.array(heavy, dtype=float))}


def test_the_makers_remember_their_use_and_prices_and_refill_what_they_lack():
    mm = _makers()
    assert mm.holds_stock
    # warm-up month: A made 8 t, B 4 t; NdPr 60 and 70 US$/kg, Dy/Tb 300 and 0 (nobody bid)
    mm.fill_stock(_results([8.0, 4.0, 0.0], [60.0, 70.0, 0.0], [300.0, 0.0, 0.0]))
    np.testing.assert_allclose(mm.oxide_use["light"], [2.4, 1.2, 0.0])  # 0.3 t a magnet
    np.testing.assert_allclose(mm.stock["light"], [4.8, 2.4, 0.0])  # two months of it
    np.testing.assert_allclose(mm.stock["heavy"], [0.16, 0.08, 0.0])
    # full: four pieces offered from 1.5 x 60 = 90 US$/kg at A, nothing bid
    assert mm.stock_orders("light", 0) == ([(0, 1.2, 90.0), (0, 1.2, 112.5), (0, 1.2, 135.0),
                                            (0, 1.2, 157.5)], [])
    assert mm.stock_orders("heavy", 1) == ([], [])  # no Dy/Tb price seen at B yet: no orders
    assert mm.stock_orders("light", 2) == ([], [])  # C makes nothing: holds nothing
    # a month later: A made 12 t, B none; NdPr 100 at A, 0 at B (nobody bid: no news)
    mm.made = np.array([12.0, 0.0, 0.0])
    mm.stock["light"][0] = 1.8  # 3 t were drawn
    mm.remember_stock(_results([12.0, 0.0, 0.0], [100.0, 0.0, 0.0], [400.0, 0.0, 0.0]))
    # use: 0.75 x 2.4 + 0.25 x 3.6 = 2.7 at A, 0.75 x 1.2 = 0.9 at B
    np.testing.assert_allclose(mm.oxide_use["light"], [2.7, 0.9, 0.0])
    # expected: 0.75 x 60 + 0.25 x 100 = 70 at A; B keeps 70; Dy/Tb at A 325
    np.testing.assert_allclose(mm.expected["light"], [70.0, 70.0, 0.0])
    np.testing.assert_allclose(mm.expected["heavy"], [325.0, 0.0, 0.0])
    # A wants 2 x 2.7 = 5.4 t and holds 1.8: it bids for half the 3.6 t gap at 70 US$/kg
    offers, bids = mm.stock_orders("light", 0)
    assert [q for _n, q, _a in offers] == pytest.approx([0.45] * 4)
    assert offers[0][2] == pytest.approx(105.0)
    assert bids == [(0, pytest.approx(1.8), pytest.approx(70.0))]
    # B holds 2.4 against 1.8 wanted: it offers, it does not bid
    assert mm.stock_orders("light", 1)[1] == []
    store = NodeStock(mm, 0)
    assert store.bids("light") == bids and store.offers("light") == offers


def test_a_plant_with_an_empty_stock_bids_to_fill_it():
    mm = _makers(cover=1.0, adjust=1.0)
    mm.fill_stock(_results([10.0, 0.0, 0.0], [50.0, 50.0, 50.0], [200.0, 200.0, 200.0]))
    assert mm.stock["light"][1] == 0.0  # B made nothing in the warm-up month
    mm.made = np.array([10.0, 4.0, 0.0])
    mm.remember_stock(_results([10.0, 4.0, 0.0], [50.0, 50.0, 50.0], [200.0, 200.0, 200.0]))
    # B now uses 0.25 x 1.2 = 0.3 t a month: with nothing held it bids for all of it
    assert NodeStock(mm, 1).bids("light") == [(1, pytest.approx(0.3), 50.0)]
    assert NodeStock(mm, 1).offers("light") == []


def test_rounding_is_forgiven_an_overdraw_is_not():
    mm = _makers()
    mm.fill_stock(_results([8.0, 4.0, 0.0], [60.0, 70.0, 0.0], [300.0, 0.0, 0.0]))
    mm.stock["light"][:] = [1.0, 10.0, 0.0]
    mm.add_stock("light", 0, -(1.0 + 5e-10))  # a rounding error below 1e-9 t: to zero
    assert mm.stock["light"][0] == 0.0
    mm.add_stock("light", 1, -(10.0 + 5e-9))  # relative to the 10 t moved: still rounding
    assert mm.stock["light"][1] == 0.0
    mm.stock["light"][0] = 1.0
    with pytest.raises(ConservationError, match="magnet makers at A"):
        mm.add_stock("light", 0, -(1.0 + 1.5e-9))
    assert mm.stock["light"][0] == 1.0  # nothing changed


def test_off_by_default_the_makers_hold_nothing_and_are_not_in_the_market():
    m = abm.RareEarthModel(scenario="controls_2025", rng=0)
    assert not m.magnets.holds_stock
    assert not any(isinstance(w, NodeStock) for w in m.participants)
    m.step()
    assert all(m.magnets.stock[p].sum() == 0 for p in OXIDES)


@pytest.fixture(scope="module")
def stocked():
    """`controls_2025` with three months of stock, run through 2024 (twelve months)."""
    m = abm.RareEarthModel(scenario="controls_2025", rng=0, magnet_stock_cover_months=3.0)
    opening = {p: m.magnets.stock[p].copy() for p in OXIDES}
    opening["capacity"] = m.magnets.capacity_tpm.copy()
    use = {p: m.magnets.oxide_use[p].copy() for p in OXIDES}
    for _ in range(12):
        m.step()
    return m, opening, use


def test_the_stock_starts_full_at_the_makers_nodes_in_their_recipe(stocked):
    m, opening, use = stocked
    mm = m.magnets
    making = opening["capacity"] > 0
    for p in OXIDES:
        np.testing.assert_allclose(opening[p], 3.0 * use[p], rtol=1e-12)
        assert (opening[p][~making] == 0).all()  # no plant, no stock
        assert opening[p][m.cidx["CHN"]] > 0.5 * opening[p].sum()  # China makes most magnets
    # one t of magnet holds recipe[light] t of NdPr and recipe[heavy] t of Dy/Tb: the two
    # stocks stand in that ratio at every node (they cover the same magnets)
    ratio = mm.base_recipe["heavy"] / mm.base_recipe["light"]
    np.testing.assert_allclose(opening["heavy"], ratio * opening["light"], rtol=1e-12)
    assert sum(isinstance(w, NodeStock) for w in m.participants) == len(m.countries)


def test_orders_are_read_only_and_the_stock_changes_only_by_settlement(stocked):
    m, _opening, _use = stocked
    mm = m.magnets
    node = m.cidx["JPN"]
    store = next(w for w in m.participants if isinstance(w, NodeStock) and w.node == node)
    before = (mm.stock["heavy"].copy(), store.offers("heavy"), store.bids("heavy"))
    for _ in range(2):  # what-if clearings call the participants freely
        build_orders(m, m.plan_month(record=False), PolicyRegime(), steady_state=False)
    assert (mm.stock["heavy"] == before[0]).all()
    assert (store.offers("heavy"), store.bids("heavy")) == before[1:]
    # every order sits at the store's own node; the magnet product is not stored
    assert all(o[0] == node for o in store.offers("heavy") + store.bids("heavy"))
    assert store.offers("magnet") == store.bids("magnet") == []
    held = float(mm.stock["heavy"][node])
    store.take_purchases("heavy", [0.5])
    store.take_sales("heavy", [0.2, 0.1])
    assert mm.stock["heavy"][node] == pytest.approx(held + 0.2)
    assert mm.stock["heavy"].sum() == pytest.approx(before[0].sum() + 0.2)
    with pytest.raises(ConservationError, match="magnet makers at JPN"):
        store.take_sales("heavy", [held + 10.0])
    mm.stock["heavy"][node] = held  # leave the fixture as it was


def test_steady_state_what_ifs_leave_the_stock_out(stocked):
    m, _opening, _use = stocked
    stores = [w for w in m.participants if isinstance(w, NodeStock)]
    assert stores and all(w.speculative for w in stores)
    orders = build_orders(m, m.plan_month(record=False), PolicyRegime(), steady_state=True)
    assert not any(isinstance(who, NodeStock) for who, *_ in orders["heavy"][1].bids)
    assert not any(isinstance(who, NodeStock) for who, _steps in orders["heavy"][1].offers)
    live = build_orders(m, m.plan_month(record=False), PolicyRegime(), steady_state=False)
    assert any(isinstance(who, NodeStock) for who, _steps in live["heavy"][1].offers)


def _run(cover: float, licensed: bool, seed: int = 0):
    scenario = (abm.load_scenario("controls_2025", rng=seed, extra_events=[MAGNET_LICENCE])
                if licensed else "controls_2025")
    m = abm.RareEarthModel(scenario=scenario, rng=seed, magnet_stock_cover_months=cover)
    outside = np.array([c != "CHN" for c in m.countries])
    heavy = {}
    while m.running:
        date = m.date
        m.step()  # the model checks the mass balance every month, the stock included
        heavy[date] = float(m.magnets.stock["heavy"][outside].sum())
    return m.results_frame().set_index("date"), heavy


def test_a_stock_is_drawn_in_the_squeeze_and_softens_the_dy_price_jump():
    # magnets licensed with the oxides in April 2025: without a stock the Dy/Tb price outside
    # China runs to its choke price; with three months of stock the makers outside China draw
    # it down through the squeeze and the price stays far lower
    bare, _ = _run(0.0, True)
    held, heavy = _run(3.0, True)
    spring = slice("2025-04", "2025-06")
    assert (held.loc[spring, "price_heavy_world"] < 0.5 * bare.loc[spring, "price_heavy_world"]
            ).all()
    assert min(heavy["2025-04"], heavy["2025-05"], heavy["2025-06"]) < 0.8 * heavy["2025-03"]
    # the output columns carry the stock, and the month's balance closes with it
    assert (held["maker_stock_heavy"] > 0).all() and (bare["maker_stock_heavy"] == 0).all()
    assert held.loc["2025-05", "maker_stock_heavy"] < held.loc["2025-03", "maker_stock_heavy"]
    for p in ("light", "heavy", "magnet"):
        stock = (held[f"inventory_{p}"] + held[f"producer_stock_{p}"] + held[f"stockpiles_{p}"]
                 + held[f"trader_stock_{p}"] + held[f"maker_stock_{p}"])
        residual = held[f"production_{p}"] - held[f"consumption_{p}"] - stock.diff()
        assert (residual.iloc[1:].abs() / stock.iloc[1:].clip(lower=1.0)).max() < 1e-9
    assert (held["maker_stock_magnet"] == 0).all()  # they hold oxide, not magnets
    # the licence still cuts China's magnet exports as much: a cushion, not a leak
    for frame in (bare, held):
        e = frame["china_exports_magnet"]
        assert e["2025-05"] < 0.7 * e["2024-05"]
    # a longer cover, a smaller jump (the same seed)
    more, _ = _run(6.0, True)
    assert more.loc["2025-05", "price_heavy_world"] < held.loc["2025-05", "price_heavy_world"]
