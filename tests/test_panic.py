"""Precautionary buying on price momentum (``panic_*`` parameters; off by default).

The signal is worked out by hand on short price histories; in the model, switching it on must
raise the perceived risk (and so the firms' stock targets) while prices run up, and leave
everything as it was when it is off.
"""

import math

import numpy as np
import pytest

import abm
from abm.exchange import price_panic


def _history(*prices):
    return {"light": [np.array(p, dtype=float) for p in prices]}


def test_the_signal_is_linear_in_log_price_between_the_start_and_the_full_rise():
    # two nodes; over 3 months node 0 doubles (full signal), node 1 rises 1.5x:
    # (ln 1.5 - ln 1.414) / (ln 2 - ln 1.414) = 0.05904 / 0.34673 = 0.1703
    hist = _history([10, 10], [11, 11], [12, 12], [20, 15])
    got = price_panic(hist, ["light"], 3, 1.414, 2.0)
    assert got[0] == 1.0
    assert got[1] == pytest.approx(math.log(1.5 / 1.414) / math.log(2.0 / 1.414))
    assert got[1] == pytest.approx(0.1703, abs=1e-4)


def test_no_signal_below_the_start_after_a_fall_or_without_enough_history():
    assert price_panic(_history([10], [11], [12], [13]), ["light"], 3, 1.414, 2.0)[0] == 0.0
    assert price_panic(_history([20], [15], [12], [10]), ["light"], 3, 1.414, 2.0)[0] == 0.0
    assert price_panic(_history([10], [40]), ["light"], 3, 1.414, 2.0).tolist() == [0.0]
    assert price_panic(_history(), ["light"], 3, 1.414, 2.0).size == 0
    # a price of 0 (nobody bid at the node) is no information, neither before nor now
    assert price_panic(_history([0, 10], [5, 0]), ["light"], 1, 1.414, 2.0).tolist() == [0, 0]
    # prices below 1 US$/kg are prices like any other: 0.2 -> 0.5 is a 2.5x rise
    assert price_panic(_history([0.2], [0.5]), ["light"], 1, 1.414, 2.0).tolist() == [1.0]


def test_the_node_takes_its_strongest_product_and_a_step_when_full_is_not_above_start():
    hist = {"light": [np.array([10.0]), np.array([12.0])],
            "heavy": [np.array([100.0]), np.array([300.0])]}
    assert price_panic(hist, ["light", "heavy"], 1, 1.414, 2.0)[0] == 1.0  # Dy tripled
    assert price_panic(hist, ["light"], 1, 1.414, 2.0)[0] == 0.0  # NdPr +20% only
    assert price_panic(hist, ["light"], 1, 1.2, 1.2)[0] == 1.0  # a step at +20%
    assert price_panic(hist, ["light"], 1, 1.3, 1.1)[0] == 0.0
    # a product without history yet leaves the others' signal as it is
    hist["magnet"] = []
    assert price_panic(hist, ["magnet", "heavy"], 1, 1.414, 2.0).tolist() == [1.0]


def test_switched_on_it_raises_risk_while_prices_run_up_and_off_it_changes_nothing():
    base = abm.simulate("quota_2010", rng=0, steps=30)
    off = abm.simulate("quota_2010", rng=0, steps=30, panic_weight=0.0)
    assert off.equals(base)
    on = abm.simulate("quota_2010", rng=0, steps=30, panic_weight=0.7)
    # 2010-07 to 2011-06: the quota cut sends prices up fast; Japan's buyers feel more risk
    window = (base["date"] >= "2010-07") & (base["date"] <= "2011-06")
    assert on.loc[window, "risk_japan"].max() > base.loc[window, "risk_japan"].max() + 0.05
    assert (on["risk_japan"] >= 0).all() and (on["risk_japan"] <= 1).all()
    # before the cut prices barely move: no panic, the same path
    calm = base["date"] < "2010-01"
    assert np.allclose(on.loc[calm, "price_light_world"], base.loc[calm, "price_light_world"])
