"""Magnet makers: NdFeB magnet-making capacity per country, vectorised in one Mesa agent.

Magnet makers turn NdPr and Dy/Tb oxide into sintered NdFeB magnets (t of oxide per t of
magnet from ``abm/data/magnet_recipe.csv``) at a conversion cost, within their capacity
(``abm/data/magnet_capacity.csv``; China ~94% in 2024). They do so inside the monthly clearing
(:class:`abm.market.Conversion`): a converter buys oxide where it is and sells magnets, so
magnet prices are the oxide content at the converting node plus the conversion cost, plus a
scarcity rent when capacity binds. Makers plan capacity ahead of demand: when their plants'
utilisation, averaged over ``magnet_investment_window_months``, exceeds
``magnet_target_utilisation``, they commit ``magnet_expansion_share`` more capacity (at most once
a window), online after ``magnet_lead_months`` (a magnet plant takes ~3 years,
docs/sources.md). Units: t of magnet per month,
US$/kg of magnet.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.market import Conversion
from abm.policy import OXIDES

__all__ = ["MagnetMakers"]


class MagnetMakers(mesa.Agent):
    """All countries' magnet makers.

    Attributes:
        countries: country codes (market nodes).
        recipe: oxide -> t per t of magnet (empty when the world has no magnet stage).
        capacity_tpm: (C,) t of magnet per month each country can make.
        cost: (C,) US$/kg conversion cost besides the oxide.
        pipeline: [(node, t/month, ready month)] capacity under construction.
        rents: list of (C,) capacity utilisation of past months (newest last).
        made: (C,) t made last month.
        heavy_thrift: share of the Dy/Tb content engineered out of a magnet so far.
    """

    def __init__(self, model, countries: tuple[str, ...], recipe: dict[str, float],
                 capacity_tpm: np.ndarray, cost: np.ndarray):
        super().__init__(model)
        self.countries = countries
        self.recipe = dict(recipe)
        self.capacity_tpm = np.asarray(capacity_tpm, dtype=float)
        self.cost = np.asarray(cost, dtype=float)
        self.pipeline: list[tuple[int, float, int]] = []
        self.rents: list[np.ndarray] = []
        self.made = np.zeros(len(countries))
        self.base_recipe = dict(recipe)
        self.heavy_thrift = 0.0
        self._heavy_memory = 1.0

    @property
    def active(self) -> bool:
        """Whether the world has a magnet stage (a recipe)."""
        return bool(self.recipe)

    @property
    def oxide_per_magnet(self) -> float:
        """T of oxide (both oxides) in one t of magnet."""
        return float(sum(self.recipe.get(p, 0.0) for p in OXIDES))

    def conversion(self) -> Conversion | None:
        """This month's conversion for the clearing (``None`` without a magnet stage)."""
        if not self.active:
            return None
        return Conversion("magnet", dict(self.recipe), self.capacity_tpm.copy(), self.cost)

    def commission(self, country: str, tonnes_per_yr: float, ready_step: int) -> None:
        """Start building magnet capacity (t of magnet per year) ready at ``ready_step``."""
        self.pipeline.append((self.countries.index(country), tonnes_per_yr / 12.0, ready_step))

    def record(self, results: dict) -> None:
        """Remember the month's output and each country's capacity rent (US$/kg)."""
        if not self.active:
            return
        mag = results["magnet"]
        self.made = mag.converted_out.copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            use = np.where(self.capacity_tpm > 0, self.made / self.capacity_tpm, 0.0)
        self.rents = (self.rents + [use])[-self.model.sc.magnet_investment_window_months:]

    def thrift_heavy(self, heavy_price_world: float) -> None:
        """Engineer Dy/Tb out of magnets while its price stays high (grain-boundary diffusion).

        The remembered Dy/Tb price (EWMA, ``price_memory_weight``) above
        ``magnet_heavy_thrift_threshold`` x the reference price raises the thrift by
        ``magnet_heavy_thrift_rate_per_yr`` a year, up to ``magnet_heavy_thrift_max``; the
        know-how stays when prices fall.
        """
        if not self.active or "heavy" not in self.base_recipe:
            return
        sc = self.model.sc
        w = sc.price_memory_weight
        ratio = heavy_price_world / self.model.p_ref["heavy"]
        self._heavy_memory = (1 - w) * self._heavy_memory + w * ratio
        if self._heavy_memory > sc.magnet_heavy_thrift_threshold:
            self.heavy_thrift = min(self.heavy_thrift + sc.magnet_heavy_thrift_rate_per_yr / 12.0,
                                    sc.magnet_heavy_thrift_max)
        self.recipe["heavy"] = self.base_recipe["heavy"] * (1.0 - self.heavy_thrift)

    def invest(self) -> None:
        """Bring finished plants online; commit expansions where rents beat the hurdle."""
        if not self.active:
            return
        m, sc = self.model, self.model.sc
        for item in [x for x in self.pipeline if x[2] <= m.month]:
            node, tpm, _ready = item
            self.capacity_tpm[node] += tpm
            self.pipeline.remove(item)
            m.log_event(self.countries[node], "capacity_online",
                        f"{self.countries[node]}: +{tpm * 12:,.0f} t/yr magnet capacity online")
        if len(self.rents) < sc.magnet_investment_window_months:
            return
        mean_use = np.mean(self.rents, axis=0)
        # at most one commitment per node per window: capacity can grow by
        # magnet_expansion_share a window while plants run full
        recent = {node for node, _t, ready in self.pipeline
                  if ready - sc.magnet_lead_months > m.month - sc.magnet_investment_window_months}
        for node in np.nonzero(mean_use > sc.magnet_target_utilisation)[0]:
            if node in recent or self.capacity_tpm[node] <= 0:
                continue
            add = self.capacity_tpm[node] * sc.magnet_expansion_share
            ready = m.month + sc.magnet_lead_months
            self.pipeline.append((int(node), add, ready))
            m.log_event(self.countries[node], "invest",
                        f"{self.countries[node]}: magnet makers commit {add * 12:,.0f} t/yr, "
                        f"ready {m.month_date(ready)}")
