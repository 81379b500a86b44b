"""The states' and miners' small decision rules, on hand-built stand-ins with hand-solved values."""

from types import SimpleNamespace as NS

import numpy as np
import pytest

from abm.domestic import DomesticPolicy
from abm.policy import ExportPolicy, PolicyRegime
from abm.strategies import (
    AllianceJoin,
    AllianceLeave,
    DomesticExpand,
    DomesticSteady,
    ExportLicence,
    ExportOpen,
    aggregate_orders,
    bloc_to_join,
    firm_orders_at,
    is_exporter,
    is_importer,
    miner_utilisation,
    mining_share,
    scaled_quotas,
    targets_outside_bloc,
)

P_REF = {"light": 60.0, "heavy": 300.0, "magnet": 100.0}


@pytest.mark.parametrize(("margin", "floor", "expected"), [
    (1.0, 0.5, 1.0), (1.4, 0.5, 1.0),   # revenue covers cost: full output
    (0.75, 0.5, 0.5),                   # halfway between the floor and 1
    (0.6, 0.2, 0.5), (0.5, 0.5, 0.0),   # at the floor: idle
    (0.1, 0.5, 0.0),                    # below it: idle, never negative
    (0.9, 1.0, 0.0), (0.9, 1.2, 0.0)])  # a floor at or above 1: idle unless covered
def test_miner_utilisation_is_linear_between_the_floor_and_full_cover(margin, floor, expected):
    assert miner_utilisation(margin, floor) == pytest.approx(expected)


def _trade_model(flows: dict[str, np.ndarray], share: float = 0.2) -> NS:
    """Three countries A, B, C; ``flows[p][s, b]`` t/month from s to b (diagonal: at home)."""
    full = {p: flows.get(p, np.zeros((3, 3))) for p in P_REF}
    return NS(cidx={"A": 0, "B": 1, "C": 2}, p_ref=P_REF,
              exchange=NS(normal_flow=full), sc=NS(exporter_trade_share=share))


def test_exporters_and_importers_by_value_at_reference_prices():
    light = np.array([[50.0, 10.0, 0.0],    # A sells 10 t NdPr to B (600 US$k)
                      [0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0]])
    heavy = np.array([[0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0],
                      [0.0, 3.0, 0.0]])     # C sells 3 t Dy to B (900 US$k)
    model = _trade_model({"light": light, "heavy": heavy})
    # foreign trade 1,500: A exports 600 (0.4), C 900 (0.6), B nothing; home use is not trade
    assert is_exporter(model, "A") and is_exporter(model, "C") and not is_exporter(model, "B")
    assert not is_exporter(_trade_model({"light": light, "heavy": heavy}, share=0.4), "A")
    assert is_exporter(_trade_model({"light": light, "heavy": heavy}, share=0.39), "A")
    # B imports 1,500 and exports nothing; A and C export more than they import
    assert is_importer(model, "B") and not is_importer(model, "A")
    assert not is_importer(model, "C")
    # no foreign trade at all: nobody exports
    assert not is_exporter(_trade_model({"light": np.diag([5.0, 5.0, 5.0])}), "A")


def test_mining_share_is_the_countrys_share_of_capacity():
    miners = [NS(country="A", capacity_tpm=30.0), NS(country="B", capacity_tpm=10.0),
              NS(country="A", capacity_tpm=10.0)]
    assert mining_share(NS(miners=miners), "A") == pytest.approx(0.8)
    assert mining_share(NS(miners=miners), "C") == 0.0
    assert mining_share(NS(miners=[NS(country="A", capacity_tpm=0.0)]), "A") == 0.0
    # the shares do not depend on the unit: a world of 0.04 t/month splits the same way
    tiny = [NS(country="A", capacity_tpm=0.03), NS(country="B", capacity_tpm=0.01)]
    assert mining_share(NS(miners=tiny), "A") == pytest.approx(0.75)


def test_a_trickle_of_trade_still_makes_an_exporter_and_an_importer():
    # A sells B 0.001 t of NdPr a month (0.06 US$k at the reference price) and nothing else
    # moves: A exports all its foreign trade, B imports it
    light = np.zeros((3, 3))
    light[0, 1] = 0.001
    model = _trade_model({"light": light})
    assert is_exporter(model, "A") and not is_exporter(model, "B")
    assert is_importer(model, "B") and not is_importer(model, "A")


def _states(*specs) -> dict[str, NS]:
    return {code: NS(code=code, bloc=bloc, player=player) for code, bloc, player in specs}


def test_a_state_joins_the_largest_bloc_of_other_playing_states():
    states = _states(("USA", "Framework", True), ("JPN", "Framework", True),
                     ("EU", "Club", True), ("AUS", "Club", False),  # not a player: not counted
                     ("IND", "", True))
    model = NS(states=states)
    assert bloc_to_join(model, states["IND"]) == "Framework"
    # a tie is broken by name, so the choice does not depend on dict order
    tie = _states(("USA", "Zeta", True), ("EU", "Alpha", True), ("IND", "", True))
    assert bloc_to_join(NS(states=tie), tie["IND"]) == "Alpha"
    # the state's own membership is not a reason to join its own bloc
    alone = _states(("USA", "Framework", True), ("IND", "", True))
    assert bloc_to_join(NS(states=alone), alone["USA"]) == "Partners"
    assert AllianceJoin().actions(NS(states=states), states["IND"]) == [
        ("alliance", {"bloc": "Framework"})]
    assert AllianceJoin().actions(NS(states=states), states["USA"]) == []  # already in it
    assert AllianceLeave().actions(NS(states=states), states["USA"]) == [("leave_alliance", {})]
    assert AllianceLeave().actions(NS(states=states), states["IND"]) == []


def test_open_trade_opens_both_oxides_toward_everyone():
    assert ExportOpen().actions(None, None) == [
        ("export", {"instrument": "open", "target": "all", "product": "both"})]


def _china(domestic: DomesticPolicy, capacity_tpm: float = 10_000.0) -> tuple[NS, NS]:
    model = NS(miners=[NS(country="CHN", capacity_tpm=capacity_tpm)],
               sc=NS(domestic_quota_floor=0.5, domestic_quota_step=0.1))
    return model, NS(code="CHN", domestic=domestic)


def test_scaled_quotas_move_every_quota_in_proportion_within_bounds():
    # capacity 120,000 t/yr; quota 100,000 (80,000 light + 20,000 ionic), separation 96,000
    model, china = _china(DomesticPolicy(mining_quota_tpy=100_000.0, light_quota_tpy=80_000.0,
                                         ionic_quota_tpy=20_000.0,
                                         separation_quota_tpy=96_000.0))
    assert scaled_quotas(model, china, 1.0) == []
    cut = dict(scaled_quotas(model, china, 0.9))
    assert cut["mining_quota"] == pytest.approx({"tonnes_per_yr": 90_000.0,
                                                 "light_tonnes_per_yr": 72_000.0,
                                                 "ionic_tonnes_per_yr": 18_000.0})
    assert cut["separation_quota"] == pytest.approx({"tonnes_per_yr": 86_400.0})
    # bounded: never below 0.5 x capacity (60,000), never above 1.1 x capacity (132,000)
    low = dict(scaled_quotas(model, china, 0.1))
    assert low["mining_quota"]["tonnes_per_yr"] == pytest.approx(60_000.0)
    assert low["separation_quota"]["tonnes_per_yr"] == pytest.approx(96_000.0 * 0.6)
    high = dict(scaled_quotas(model, china, 2.0))
    assert high["mining_quota"]["tonnes_per_yr"] == pytest.approx(132_000.0)


def test_scaled_quotas_from_a_quota_of_zero_restart_at_the_floor_and_keep_separation():
    # capacity 120,000 t/yr, mining stopped (quota 0), separation 50,000: there is no
    # proportion to scale by, so the total goes to the floor (0.5 x 120,000) and the separation
    # quota stays as it is (no division by the zero quota)
    model, china = _china(DomesticPolicy(mining_quota_tpy=0.0, separation_quota_tpy=50_000.0))
    acts = dict(scaled_quotas(model, china, 1.1))
    assert acts["mining_quota"] == {"tonnes_per_yr": 60_000.0}
    assert acts["separation_quota"] == {"tonnes_per_yr": 50_000.0}


def test_scaled_quotas_start_from_the_split_or_the_capacity_when_there_is_no_total():
    model, china = _china(DomesticPolicy(light_quota_tpy=60_000.0, ionic_quota_tpy=20_000.0))
    acts = dict(scaled_quotas(model, china, 1.05))  # from 80,000 (the split's sum)
    assert acts["mining_quota"] == pytest.approx({"tonnes_per_yr": 84_000.0,
                                                  "light_tonnes_per_yr": 63_000.0,
                                                  "ionic_tonnes_per_yr": 21_000.0})
    assert "separation_quota" not in acts
    model, china = _china(DomesticPolicy(light_quota_tpy=60_000.0))  # half a split: capacity
    assert dict(scaled_quotas(model, china, 0.9))["mining_quota"] == pytest.approx(
        {"tonnes_per_yr": 108_000.0, "light_tonnes_per_yr": 54_000.0})
    model, china = _china(DomesticPolicy())
    assert dict(scaled_quotas(model, china, 0.9))["mining_quota"] == pytest.approx(
        {"tonnes_per_yr": 108_000.0})


def test_firm_orders_by_hand_never_negative():
    # order = c x f + k x h - b: 10 x 0.5 + 4 x 2 - 3 = 10; 1 x 0.5 + 0 - 6 < 0 -> 0
    got = firm_orders_at(np.array([10.0, 1.0]), np.array([4.0, 0.0]), np.array([3.0, 6.0]),
                         np.array([0.5, 0.5]), np.array([2.0, 2.0]))
    np.testing.assert_allclose(got, [10.0, 0.0])


def test_order_curves_summed_in_chunks_equal_a_firm_by_firm_sum():
    rng = np.random.default_rng(4)
    n_firms, n_countries, k_grid = 23, 3, 5
    country = np.sort(rng.integers(0, n_countries, n_firms))
    c, k, b = rng.uniform(0, 10, n_firms), rng.uniform(0, 5, n_firms), rng.uniform(0, 20, n_firms)
    f_grid = np.linspace(2.0, 0.2, k_grid)
    h_grid = rng.uniform(0.5, 2.0, (n_countries, k_grid))
    brute = np.zeros((n_countries, k_grid))
    for j in range(n_firms):  # one firm at a time, one price at a time
        for g in range(k_grid):
            cc = country[j]
            brute[cc, g] += max(c[j] * f_grid[g] + k[j] * h_grid[cc, g] - b[j], 0.0)
    for chunk in (1, 4, 8192):  # chunks smaller than a country's firms, and one chunk
        got = aggregate_orders(country, c, k, b, f_grid, h_grid, n_countries, chunk=chunk)
        np.testing.assert_allclose(got, brute, rtol=1e-12)


def _brute_order_sums(country, c, k, b, f_grid, h_grid, n_countries):
    """Every firm's clipped order at every grid price, added one at a time."""
    out = np.zeros((n_countries, f_grid.size))
    for j in range(c.size):
        for g in range(f_grid.size):
            cc = country[j]
            out[cc, g] += max(c[j] * f_grid[g] + k[j] * h_grid[cc, g] - b[j], 0.0)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("direction", ["rising", "falling"])
def test_order_sums_on_monotone_grids_equal_a_firm_by_firm_sum(seed, direction):
    # the model's case: curves rise along the grid (highest price first), where the sum
    # bisects for each firm's first positive grid point; and the grid the other way round
    rng = np.random.default_rng(seed)
    n_firms, n_countries, k_grid = 40, 3, 1 + 7 * seed
    country = np.sort(rng.integers(0, n_countries, n_firms))
    c, k, b = rng.uniform(0, 10, n_firms), rng.uniform(0, 5, n_firms), rng.uniform(0, 60, n_firms)
    c[:5], k[5:10], b[10:15] = 0.0, 0.0, 0.0  # firms with no use, no target, no stock
    f_grid = np.sort(rng.uniform(0.1, 3.0, k_grid))
    h_grid = np.sort(rng.uniform(0.1, 3.0, (n_countries, k_grid)), axis=1)
    if seed % 2:  # flat stretches: ties between neighbouring grid points
        f_grid[: k_grid // 2] = f_grid[0]
        h_grid[:, k_grid // 2:] = h_grid[:, [k_grid // 2]]
    if direction == "falling":
        f_grid, h_grid = f_grid[::-1].copy(), h_grid[:, ::-1].copy()
    brute = _brute_order_sums(country, c, k, b, f_grid, h_grid, n_countries)
    got = aggregate_orders(country, c, k, b, f_grid, h_grid, n_countries)
    np.testing.assert_allclose(got, brute, rtol=1e-10, atol=1e-9)


def test_order_sums_by_hand_on_a_rising_grid():
    # one country, grid multipliers f = (1, 2, 4), h = (0, 1, 1); orders c f + k h - b:
    # firm 1 (c 10, k 0, b 15): -5, 5, 25; firm 2 (c 1, k 3, b 4): -3, 1, 3 -> sums 0, 6, 28
    got = aggregate_orders(np.array([0, 0]), np.array([10.0, 1.0]), np.array([0.0, 3.0]),
                           np.array([15.0, 4.0]), np.array([1.0, 2.0, 4.0]),
                           np.array([[0.0, 1.0, 1.0]]), 1)
    np.testing.assert_allclose(got, [[0.0, 6.0, 28.0]])


def test_a_firm_whose_order_is_exactly_zero_at_a_grid_point_starts_after_it():
    # f = (1, 1.5, 2), h = 0; firm 1 (c 1, b 1.5) orders -0.5, 0, 0.5: exactly nothing at the
    # middle price, so it counts from the last point on; firm 2 (c 0.1, b 0.07) orders
    # 0.03, 0.08, 0.13. The middle sum is firm 2's alone, 1.5 x 0.1 - 0.07 in floating point;
    # with firm 1 counted there too it would be 1.5 x 1.1 - 1.57, which differs in the last bits
    got = aggregate_orders(np.array([0, 0]), np.array([1.0, 0.1]), np.zeros(2),
                           np.array([1.5, 0.07]), np.array([1.0, 1.5, 2.0]), np.zeros((1, 3)), 1)
    assert got[0, 1] == 1.5 * 0.1 - 0.07
    assert got[0, 1] != 1.5 * (1.0 + 0.1) - (1.5 + 0.07)
    assert got[0, 0] == pytest.approx(0.03) and got[0, 2] == pytest.approx(0.63)


def test_order_sums_with_a_curve_that_falls_and_rises_are_not_bisected():
    # f flat (rises and falls), h = (10, 0, 10): the order k h - b = 5, -5, 5 is positive at
    # both ends only; a bisection would miss the first grid point
    got = aggregate_orders(np.array([0]), np.array([0.0]), np.array([1.0]), np.array([5.0]),
                           np.ones(3), np.array([[10.0, 0.0, 10.0]]), 1)
    np.testing.assert_allclose(got, [[5.0, 0.0, 5.0]])


def test_is_importer_weighs_tonnes_at_reference_prices():
    # B imports 10 t of Dy/Tb (3,000 US$k) and exports 20 t of NdPr (1,200 US$k): in tonnes it
    # is a net exporter, in value a net importer
    light = np.zeros((3, 3))
    light[1, 0] = 20.0
    heavy = np.zeros((3, 3))
    heavy[2, 1] = 10.0
    assert is_importer(_trade_model({"light": light, "heavy": heavy}), "B")
    # balanced trade is not importing
    even = np.zeros((3, 3))
    even[0, 1] = even[1, 0] = 5.0
    assert not is_importer(_trade_model({"light": even}), "A")


def test_targets_outside_bloc_are_every_other_state_not_in_the_choosers_bloc():
    states = _states(("USA", "Framework", True), ("JPN", "Framework", True),
                     ("CHN", "", True), ("EU", "Club", True))
    model = NS(countries=("CHN", "USA", "JPN", "EU"), states=states)
    assert targets_outside_bloc(model, states["USA"]) == ["CHN", "EU"]
    assert targets_outside_bloc(model, states["CHN"]) == ["USA", "JPN", "EU"]  # no bloc


def test_licences_are_recognised_only_without_bans_or_quotas():
    regime = PolicyRegime()
    model, china = NS(regime=regime), NS(code="CHN")
    regime.set("CHN", "USA", "light", ExportPolicy("licence", 0.5))
    assert ExportLicence().matches(model, china)
    regime.set("CHN", "JPN", "heavy", ExportPolicy("ban"))
    assert not ExportLicence().matches(model, china)


def test_expanding_raises_the_quotas_by_the_step_and_steady_keeps_them():
    model, china = _china(DomesticPolicy(mining_quota_tpy=100_000.0))
    assert dict(DomesticExpand().actions(model, china))["mining_quota"] == pytest.approx(
        {"tonnes_per_yr": 110_000.0})  # step 0.1
    assert DomesticSteady().actions(model, china) == []
