"""The policy regime on its own: precedence, licence ramps, quotas and duties, hand-solved.

Three nodes (CHN exporter, USA and JPN importers) and hand-written normal flows; every
expected cap is worked out from the instrument's definition in ``abm/policy.py``'s docstring.
"""

from __future__ import annotations

import numpy as np
import pytest

from abm.policy import OXIDES, PRODUCTS, ExportPolicy, PolicyRegime, products_of

COUNTRIES = ("CHN", "USA", "JPN")
NORMAL = np.array([[0.0, 100.0, 50.0],   # CHN -> USA 100 t/month, CHN -> JPN 50 t/month
                   [0.0, 0.0, 10.0],
                   [0.0, 0.0, 0.0]])


def mix(_s: int) -> float:
    """Half of a tonne REO refined is the product (t product per t REO)."""
    return 0.5


def caps(regime: PolicyRegime, product: str = "light", month: int = 0, delay: int = 0):
    return regime.link_caps(product, COUNTRIES, NORMAL, mix, month, delay)


def test_products_named_by_an_event():
    assert products_of(None) == OXIDES == ("light", "heavy")
    assert products_of("both") == OXIDES
    assert products_of("all") == PRODUCTS == ("light", "heavy", "magnet")
    assert products_of("magnet") == ("magnet",)


def test_labels():
    assert ExportPolicy().label() == "open"
    assert ExportPolicy("ban").label() == "ban"
    assert ExportPolicy("licence", 0.5).label() == "licence 50%"
    assert ExportPolicy("quota", tonnes_per_yr=30258.0).label() == "quota 30,258 t/yr"


def test_licence_ramp_reaches_the_share_after_the_delay():
    pol = ExportPolicy("licence", 0.5, since_step=10)
    # (month - since + 1) / (delay + 1): 1/4, 2/4, 3/4, then 1 for good
    assert [pol.licence_ramp(m, 3) for m in (10, 11, 12, 13, 20)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert pol.licence_ramp(10, 0) == 1.0  # no delay: approved in full at once


def test_open_regime_caps_nothing():
    cap, export_cap = caps(PolicyRegime())
    assert np.isinf(cap).all() and np.isinf(export_cap).all()
    regime = PolicyRegime()
    regime.set("CHN", "USA", "light", ExportPolicy("open"))
    cap, export_cap = caps(regime)
    assert np.isinf(cap).all() and np.isinf(export_cap).all()


def test_each_instrument_on_one_link():
    regime = PolicyRegime()
    regime.set("CHN", "USA", "light", ExportPolicy("licence", 0.4))
    regime.set("CHN", "JPN", "light", ExportPolicy("ban"))
    regime.set("USA", "JPN", "light", ExportPolicy("quota", tonnes_per_yr=24.0))
    cap, export_cap = caps(regime, month=5, delay=0)
    assert cap[0, 1] == pytest.approx(0.4 * 100.0)   # share x normal flow
    assert cap[0, 2] == 0.0                          # ban
    assert cap[1, 2] == pytest.approx(24.0 / 12.0 * 0.5)  # t REO/yr -> t product/month
    assert np.isinf(cap[1, 0]) and np.isinf(cap[2, 0])  # links nobody restricted
    assert np.isinf(export_cap).all()                # no aggregate quota
    heavy, _ = caps(regime, product="heavy")
    assert np.isinf(heavy).all()                     # the policies name light only


def test_licence_during_its_delay_approves_a_growing_share():
    regime = PolicyRegime()
    regime.set("CHN", "USA", "light", ExportPolicy("licence", 0.4, since_step=2))
    got = [caps(regime, month=m, delay=1)[0][0, 1] for m in (2, 3, 9)]
    assert got == pytest.approx([0.4 * 0.5 * 100.0, 0.4 * 100.0, 0.4 * 100.0])


def test_a_target_specific_policy_takes_precedence_over_all():
    regime = PolicyRegime()
    regime.set("CHN", "all", "light", ExportPolicy("ban"))
    regime.set("CHN", "JPN", "light", ExportPolicy("licence", 0.5))
    cap, _ = caps(regime)
    assert cap[0, 1] == 0.0                     # USA: the ban toward all
    assert cap[0, 2] == pytest.approx(25.0)     # JPN: its own licence, 0.5 x 50, not the ban
    assert np.isinf(cap[1, 2])                  # other exporters are not touched
    assert regime.restricted_targets("CHN") == {"all", "JPN"}
    assert regime.restricted_targets("USA") == set()


def test_a_new_policy_toward_all_replaces_the_specific_ones_of_that_product():
    regime = PolicyRegime()
    regime.set("CHN", "JPN", "light", ExportPolicy("ban"))
    regime.set("CHN", "JPN", "heavy", ExportPolicy("ban"))
    regime.set("CHN", "all", "light", ExportPolicy("licence", 0.5))
    assert regime.get("CHN", "JPN", "light") is None
    assert regime.get("CHN", "JPN", "heavy") == ExportPolicy("ban")  # other product kept
    cap, _ = caps(regime)
    assert cap[0, 2] == pytest.approx(25.0)     # JPN now under the general licence


def test_aggregate_quota_caps_the_exporter_not_a_link():
    regime = PolicyRegime()
    regime.set("CHN", "all", "light", ExportPolicy("quota", tonnes_per_yr=1200.0))
    cap, export_cap = caps(regime)
    assert np.isinf(cap).all()
    assert export_cap[0] == pytest.approx(1200.0 / 12.0 * 0.5)
    assert np.isinf(export_cap[1:]).all()


def test_caps_take_the_tighter_of_a_link_policy_and_an_aggregate():
    regime = PolicyRegime()
    regime.set("CHN", "all", "light", ExportPolicy("quota", tonnes_per_yr=1200.0))
    regime.set("CHN", "USA", "light", ExportPolicy("quota", tonnes_per_yr=240.0))
    cap, export_cap = caps(regime)
    assert cap[0, 1] == pytest.approx(240.0 / 12.0 * 0.5)
    assert export_cap[0] == pytest.approx(50.0)


def test_same_instrument_keeps_its_start_month_a_new_one_restarts():
    regime = PolicyRegime()
    regime.set("CHN", "USA", "light", ExportPolicy("licence", 0.5, since_step=3))
    regime.set("CHN", "USA", "light", ExportPolicy("licence", 0.2, since_step=8))
    assert regime.get("CHN", "USA", "light") == ExportPolicy("licence", 0.2, since_step=3)
    regime.set("CHN", "USA", "light", ExportPolicy("ban", since_step=9))
    regime.set("CHN", "USA", "light", ExportPolicy("licence", 0.2, since_step=12))
    assert regime.get("CHN", "USA", "light").since_step == 12


def test_remove_clear_and_without():
    regime = PolicyRegime({("CHN", "USA", "light"): ExportPolicy("ban"),
                           ("CHN", "all", "light"): ExportPolicy("licence", 0.5),
                           ("USA", "JPN", "heavy"): ExportPolicy("ban")},
                          duties={("CHN", "light"): 0.25})
    regime.remove("CHN", "USA", "light")  # the link falls back to the licence toward all
    assert caps(regime)[0][0, 1] == pytest.approx(50.0)
    what_if = regime.without("CHN")
    assert [k for k, _ in what_if.items()] == [("USA", "JPN", "heavy")]
    assert len(regime) == 2                # the original is untouched
    assert what_if.duty("CHN", "light") == 0.25  # duties are not export caps: kept
    regime.clear("CHN")
    assert [k for k, _ in regime.items()] == [("USA", "JPN", "heavy")]
    regime.remove("CHN", "JPN", "light")   # nothing set: no error
    assert len(regime) == 1


def test_instruments_in_force_exclude_open():
    regime = PolicyRegime()
    regime.set("CHN", "USA", "light", ExportPolicy("licence", 0.5))
    regime.set("CHN", "JPN", "light", ExportPolicy("open"))
    regime.set("CHN", "JPN", "heavy", ExportPolicy("ban"))
    regime.set("CHN", "KOR", "light", ExportPolicy("open"))  # set, but restricts nothing
    assert regime.instruments("CHN", "light") == {"licence"}
    assert regime.instruments("CHN", "heavy") == {"ban"}
    assert regime.instruments("USA", "light") == set()
    assert regime.restricted_targets("CHN") == {"USA", "JPN"}


def test_duties_are_set_and_lifted():
    regime = PolicyRegime()
    assert regime.duty("CHN", "light") == 0.0
    regime.set_duty("CHN", "light", 0.25)
    assert regime.duty("CHN", "light") == 0.25
    assert regime.duty("CHN", "heavy") == 0.0
    regime.set_duty("CHN", "light", 0.0)
    assert regime.duty("CHN", "light") == 0.0
    regime.set_duty("CHN", "magnet", 0.0)  # lifting a duty never set is no error
    assert regime.duty("USA", "light") == 0.0
