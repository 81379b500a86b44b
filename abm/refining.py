"""Separation (refining) capacity, projects under construction, and concentrate routing.

Refining is the chokepoint: concentrate from a mine is refined in its own refining country
while that country has room, otherwise in China (when the miner may ship there), where the
oxide counts as Chinese and falls under China's export policy. Refiners take the most valuable
feed first (highest revenue per kg REO). Units: t REO/month.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from abm.policy import OXIDES

__all__ = ["Project", "RefiningCapacity", "SupplyPlan", "route_concentrate"]


@dataclass
class Project:
    """Capacity under construction: t REO/yr that start producing at ``ready_step``."""

    tonnes_reo_per_yr: float
    ready_step: int
    kind: str = "mine"


class RefiningCapacity:
    """Separation capacity per country (t REO/month) and the projects that will add to it."""

    def __init__(self, countries: tuple[str, ...], tpm: np.ndarray):
        self.countries = countries
        self._cidx = {c: i for i, c in enumerate(countries)}
        self.tpm = np.asarray(tpm, dtype=float)
        self.pipeline: list[tuple[str, Project]] = []

    def grow(self, country: str, factor: float) -> None:
        """Multiply a country's capacity (China's separation grows with its mining quota)."""
        self.tpm[self._cidx[country]] *= factor

    def add(self, country: str, tpm: float) -> None:
        """Add capacity now, t REO/month."""
        self.tpm[self._cidx[country]] += tpm

    def commission(self, country: str, tonnes_reo_per_yr: float, ready_step: int,
                   kind: str) -> None:
        """Start building capacity that comes online at ``ready_step``."""
        self.pipeline.append((country, Project(tonnes_reo_per_yr, ready_step, kind)))

    def complete(self, month: int) -> list[tuple[str, Project]]:
        """Bring finished projects online; returns them (country, project)."""
        done = [(c, pr) for c, pr in self.pipeline if pr.ready_step <= month]
        for c, pr in done:
            self.add(c, pr.tonnes_reo_per_yr / 12.0)
            self.pipeline.remove((c, pr))
        return done


@dataclass
class SupplyPlan:
    """The month's mine output and where it is refined.

    Attributes:
        refined: product -> (N,) t of oxide refined at each node.
        refined_reo: (N,) t REO refined at each node.
        mined_by_host: host country -> t REO mined (in routing order).
        routes: miner id -> (t refined in its own refining country, t refined in China).
    """

    refined: dict[str, np.ndarray]
    refined_reo: np.ndarray
    mined_by_host: dict[str, float] = field(default_factory=dict)
    routes: dict[str, tuple[float, float]] = field(default_factory=dict)

    def output(self, mine_id: str) -> float:
        """T REO a miner produces under this plan."""
        home, china = self.routes.get(mine_id, (0.0, 0.0))
        return home + china


def route_concentrate(miners: list, capacity: np.ndarray, cidx: dict[str, int],
                      seller_price: dict[str, np.ndarray], record: bool) -> SupplyPlan:
    """Miners' output and its routing to refineries for one month.

    Args:
        miners: the miners (their ``margin_ratio`` and ``planned_output`` decide output).
        capacity: (N,) t REO/month of separation capacity per node (not modified).
        cidx: country code -> node index.
        seller_price: product -> (N,) US$/kg at each seller node (last month's).
        record: the real month (miners store margins); ``False`` for what-ifs.

    Returns:
        The plan; miners are not changed except for their margin history when ``record``.
    """
    n = len(capacity)
    chn = cidx["CHN"]
    refined = {p: np.zeros(n) for p in OXIDES}
    refined_reo = np.zeros(n)
    plan = SupplyPlan(refined, refined_reo)
    left = capacity.copy()
    ratios = {m.mine_id: m.margin_ratio(seller_price) for m in miners}
    for m in sorted(miners, key=lambda mm: -ratios[mm.mine_id] * mm.cost_usd_per_kg):
        node = cidx[m.refine_country]
        out = m.planned_output(ratios[m.mine_id], record)
        here = min(out, left[node])
        left[node] -= here
        to_china = 0.0
        if out - here > 0 and node != chn and m.china_route:
            to_china = min(out - here, left[chn])
            left[chn] -= to_china
        plan.routes[m.mine_id] = (here, to_china)
        plan.mined_by_host[m.country] = plan.mined_by_host.get(m.country, 0.0) + (
            here + to_china)
        refined_reo[node] += here
        refined_reo[chn] += to_china
        for p in OXIDES:
            refined[p][node] += here * m.shares[p]
            refined[p][chn] += to_china * m.shares[p]
    return plan
