"""The magnet makers' stock of oxide (a lead, off by default): its orders, its accounting, and
what it does to a squeeze.

The ladder's prices and the refill are solved by hand; the runs check the mass balance (the
model raises ``ConservationError`` on any month that loses a tonne) and the direction of the
effect the mechanism exists for: a stock drawn when the price jumps, so the jump is smaller.
"""

import numpy as np
import pytest

import abm
from abm.agents.magnets import STOCK_TRANCHES, NodeStock, stock_ladder
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
