"""How states learn: experience-weighted attraction and logit choice (bounded rationality)."""

from __future__ import annotations

import numpy as np

__all__ = ["ewa_update", "logit_choice"]


def ewa_update(att: dict[str, float], experience: dict[str, float], domain: str, chosen: str,
               payoffs: dict[str, float], phi: float, delta: float) -> None:
    """Experience-weighted attraction update (Camerer and Ho, Econometrica 1999), in place.

    ``N = phi * N_prev + 1`` and ``A_j = (phi * N_prev * A_j + (delta + (1 - delta) * [j ==
    chosen]) * r_j) / N``: the strategy played is reinforced with its payoff, the others with
    ``delta`` times their forgone payoff. Payoffs enter as ``r_j = payoff_j - min_k
    payoff_k``, measured from the period's worst strategy: EWA assumes payoffs of one sign,
    and with negative ones the played strategy's full weight would punish it more than a
    worse forgone strategy's partial weight (the worst strategy is reinforced with 0 either
    way, so the ordering of the period's payoffs is kept).
    """
    n_prev = experience.get(domain, 0.0)
    n_new = phi * n_prev + 1.0
    low = min(payoffs.get(j, 0.0) for j in att) if att else 0.0
    for j in att:
        weight = delta + (1.0 - delta) * (j == chosen)
        att[j] = (phi * n_prev * att[j] + weight * (payoffs.get(j, 0.0) - low)) / n_new
    experience[domain] = n_new


def logit_choice(att: dict[str, float], intensity: float, rng: np.random.Generator) -> str:
    """Pick a strategy with probability proportional to ``exp(intensity * A_j / scale)``.

    Attractions are divided by their spread (best minus worst), so ``intensity`` is
    dimensionless: the best strategy is ``exp(intensity)`` times as likely as the worst;
    0 chooses at random, large values choose the best almost surely.
    """
    keys = list(att)
    a = np.array([att[k] for k in keys])
    spread = float(a.max() - a.min())
    if spread <= 1e-12 * max(1.0, float(np.abs(a).max())):
        return keys[int(rng.integers(len(keys)))]
    z = intensity * (a - a.max()) / spread
    prob = np.exp(z)
    prob /= prob.sum()
    return keys[int(rng.choice(len(keys), p=prob))]
