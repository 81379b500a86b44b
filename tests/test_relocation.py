"""Relocation of magnet users into China (issue 12 item 2), on hand-built firm populations.

A firm moves once its home input prices have exceeded China's by more than its threshold for
``relocation_delay_months`` in a row; the pressure decays by one month per month below it.
"""

import numpy as np
import pytest

import abm
from abm.agents.firms import FirmPopulation
from abm.countries import slug
from abm.policy import PRODUCTS


@pytest.fixture(scope="module")
def model():
    return abm.RareEarthModel(scenario="baseline", rng=3, n_firms=50, relocation_delay_months=3)


def _population(model, codes, light_tpm, thresholds, mobile):
    cidx = np.array([model.cidx[c] for c in codes])
    order = np.argsort(cidx, kind="stable")
    n = len(codes)
    base = {p: np.zeros(n) for p in PRODUCTS}
    base["light"] = np.asarray(light_tpm, float)[order]
    pop = FirmPopulation(model, model.countries, cidx[order], base, np.ones(n), np.full(n, np.inf),
                         1.0, model.p_ref)
    pop.relocation_threshold = np.asarray(thresholds, float)[order]
    pop.mobile = np.asarray(mobile, bool)[order]
    return pop


def _prices(model, usa, jpn, chn):
    price = {p: np.full(len(model.countries), model.p_ref[p]) for p in PRODUCTS}
    for code, value in (("USA", usa), ("JPN", jpn), ("CHN", chn)):
        price["light"][model.cidx[code]] = value
    return price


def test_a_mobile_firm_moves_after_the_delay_and_its_origin_counts_it(model):
    # USA: firm A (3 t/month, threshold 1.5, mobile), firm B (1 t/month, immobile);
    # JPN: firm C (2 t/month, threshold 3); CHN: firm D. Home/China price ratio 2 in the
    # USA and in Japan: A is over its threshold, C is not, B cannot move, D is home.
    pop = _population(model, ["USA", "USA", "JPN", "CHN"], [3.0, 1.0, 2.0, 5.0],
                      [1.5, 1.5, 3.0, 1.5], [True, False, True, True])
    price = _prices(model, usa=20.0, jpn=20.0, chn=10.0)
    assert [pop.relocate(price) for _ in range(3)] == [0, 0, 1]  # delay 3 months
    chn, usa, jpn = (model.cidx[c] for c in ("CHN", "USA", "JPN"))
    moved = (pop.origin == usa) & (pop.country == chn)
    assert moved.sum() == 1 and pop.base_demand["light"][moved][0] == 3.0
    shares = pop.relocated_shares()
    assert shares[usa] == pytest.approx(3.0 / 4.0)  # value at reference prices: 3 of 4 t
    assert shares[jpn] == 0.0 and shares[chn] == 0.0
    assert pop.relocated_share(usa) == pytest.approx(0.75)
    # firms stay sorted by country, the order the demand aggregation needs
    assert (np.diff(pop.country) >= 0).all()
    # nobody else moves, however long the gap lasts
    assert sum(pop.relocate(price) for _ in range(10)) == 0


def test_pressure_decays_one_month_per_month_below_the_threshold(model):
    pop = _population(model, ["USA"], [1.0], [1.5], [True])
    high, low = _prices(model, 20.0, 10.0, 10.0), _prices(model, 10.0, 10.0, 10.0)
    for price in (high, high, low):  # 2 months over, 1 under: pressure 1
        assert pop.relocate(price) == 0
    assert pop.pressure[0] == 1.0
    assert pop.relocate(high) == 0  # pressure 2, below the delay of 3
    assert pop.relocate(high) == 1  # pressure 3: it moves


def test_relocated_shares_without_firms_of_a_country_are_zero(model):
    pop = _population(model, ["USA"], [1.0], [1.5], [True])
    shares = pop.relocated_shares()
    assert shares.shape == (len(model.countries),)
    assert (shares == 0.0).all()


def test_country_columns_of_inventory_and_relocation_equal_firm_by_firm_sums():
    # every firm mobile with a low threshold, so firms move within months
    m = abm.RareEarthModel(scenario="controls_2025", rng=2, n_firms=60, relocation_threshold=1.0,
                           relocation_delay_months=1, relocation_mobile_share=1.0)
    for _ in range(6):
        m.step()
    row = m.results_frame().iloc[-1]
    firms, weight = m.firms, {"light": 1.0, "heavy": 1.0, "magnet": m.magnets.oxide_per_magnet}
    moved_any = False
    for i, code in enumerate(m.countries):
        col = slug(code)
        held = moved = total = 0.0
        for f in range(firms.size):  # one firm at a time
            if firms.country[f] == i:
                held += sum(firms.inventory[p][f] * weight[p] for p in PRODUCTS)
            if firms.origin[f] == i:
                value = sum(firms.base_demand[p][f] * m.p_ref[p] for p in PRODUCTS)
                total += value
                moved += value if firms.country[f] != i else 0.0
        assert row[f"inventory_{col}"] == pytest.approx(held, rel=1e-9, abs=1e-9)
        assert row[f"relocated_{col}"] == pytest.approx(moved / total if total else 0.0, abs=1e-12)
        moved_any |= moved > 0
    assert moved_any  # the case tests something
