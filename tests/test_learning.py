"""EWA and logit choice, hand-solved beyond tests/test_game.py's cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abm.learning import ewa_update, logit_choice


def test_ewa_decays_experience_by_phi_and_reads_missing_payoffs_as_zero():
    att = {"a": 4.0, "b": 2.0}
    experience = {"d": 2.0}
    # "b" has no payoff this period: it counts 0, which is also the period's worst
    ewa_update(att, experience, "d", "a", {"a": 6.0}, phi=0.25, delta=0.2)
    n = 0.25 * 2.0 + 1.0
    assert experience["d"] == pytest.approx(n)
    assert att["a"] == pytest.approx((0.25 * 2.0 * 4.0 + 1.0 * 6.0) / n)
    assert att["b"] == pytest.approx((0.25 * 2.0 * 2.0 + 0.2 * 0.0) / n)


def test_ewa_domains_keep_their_own_experience():
    experience = {"export": 3.0}
    ewa_update({"x": 0.0}, experience, "stockpile", "x", {"x": 1.0}, phi=0.5, delta=0.0)
    assert experience == {"export": 3.0, "stockpile": 1.0}


def test_ewa_with_no_strategies_only_counts_experience():
    experience: dict[str, float] = {}
    att: dict[str, float] = {}
    ewa_update(att, experience, "d", "a", {}, phi=0.5, delta=0.5)
    assert att == {} and experience == {"d": 1.0}


def test_ewa_delta_one_reinforces_played_and_forgone_alike():
    att = {"a": 0.0, "b": 0.0, "c": 0.0}
    ewa_update(att, {}, "d", "c", {"a": 3.0, "b": 1.0, "c": 2.0}, phi=0.9, delta=1.0)
    assert att == pytest.approx({"a": 2.0, "b": 0.0, "c": 1.0})  # measured from the worst, 1


def test_logit_probabilities_match_the_formula_draw_for_draw():
    # exp(intensity * (A_j - max) / spread), normalised; the same seed draws the same index
    att = {"low": 1.0, "mid": 2.0, "high": 5.0}
    intensity = 2.0
    z = np.array([intensity * (v - 5.0) / 4.0 for v in att.values()])
    prob = np.exp(z) / np.exp(z).sum()
    total = math.exp(-2.0) + math.exp(-1.5) + 1.0  # z = 2 x (-4/4, -3/4, 0)
    assert prob == pytest.approx([math.exp(-2.0) / total, math.exp(-1.5) / total, 1.0 / total])
    ours = np.random.default_rng(7)
    reference = np.random.default_rng(7)
    keys = list(att)
    for _ in range(200):
        assert logit_choice(att, intensity, ours) == keys[int(reference.choice(3, p=prob))]


def test_logit_with_equal_attractions_picks_uniformly_without_dividing_by_zero():
    att = {"a": 7.0, "b": 7.0, "c": 7.0}
    ours = np.random.default_rng(3)
    reference = np.random.default_rng(3)
    for _ in range(100):
        assert logit_choice(att, 50.0, ours) == "abc"[int(reference.integers(3))]


def test_logit_spread_is_relative_to_the_attractions_size():
    # a spread of 1e-4 on attractions of 1e9 is round-off (uniform); 1e-6 on attractions of 1
    # is real: intensity 50 then picks the best every time
    big = {"a": 1e9, "b": 1e9 + 1e-4}  # spread 1e-4 < 1e-12 x 1e9
    rng = np.random.default_rng(0)
    picks = {logit_choice(big, 50.0, rng) for _ in range(60)}
    assert picks == {"a", "b"}
    small = {"a": 1.0, "b": 1.0 + 1e-6}
    rng = np.random.default_rng(0)
    assert {logit_choice(small, 50.0, rng) for _ in range(60)} == {"b"}


def test_logit_spread_threshold_is_inclusive_and_at_least_1e_12():
    # attractions below 1 in size: the threshold is 1e-12 (not scaled down); a spread of
    # exactly 1e-12 is still round-off (uniform), 1.5e-12 is not (the best, almost surely)
    rng = np.random.default_rng(1)
    at = {logit_choice({"a": 0.0, "b": 1e-12}, 50.0, rng) for _ in range(60)}
    assert at == {"a", "b"}
    rng = np.random.default_rng(1)
    above = {logit_choice({"a": 0.0, "b": 1.5e-12}, 50.0, rng) for _ in range(60)}
    assert above == {"b"}
