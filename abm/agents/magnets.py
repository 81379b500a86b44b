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

Off by default (``magnet_stock_cover_months`` 0), the makers hold a stock of each oxide they
use: ``cover`` months of their use (an EWMA of last months' oxide use, weight
``price_memory_weight``; the stock starts full, at the warm-up month's use). They are then a
market participant (:class:`abm.exchange.Book`) at each node where they make magnets: the stock
is offered in :data:`STOCK_TRANCHES` equal pieces at ``r``, ``1.25 r``, ``1.5 r`` and ``1.75 r``
times the price they expect there (an EWMA of the node's price, the same weight; ``r`` =
``magnet_stock_release_ratio``), so a jump in the price draws it down, the last tonnes
reluctantly, and what it lacks of its target is bid for, ``inventory_adjust_rate`` of the gap a
month, at the expected price. What they draw is bought back in the clearing like any offer:
by their own conversion at the node, or by anyone who pays more. Units: t of oxide, US$/kg.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.errors import ConservationError
from abm.market import Conversion
from abm.policy import OXIDES

__all__ = ["MagnetMakers", "NodeStock", "STOCK_TRANCHES", "stock_ladder"]

#: pieces in which the makers offer their stock (each at a higher multiple of the release price)
STOCK_TRANCHES = 4


def stock_ladder(stock: float, target: float, expected: float, release_ratio: float,
                 adjust_rate: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """One node's stock orders: ([(t, ask)], [(t, limit)]), US$/kg.

    The stock is offered in :data:`STOCK_TRANCHES` equal pieces, piece ``j`` (from 0) at
    ``expected x release_ratio x (1 + j / STOCK_TRANCHES)``; ``adjust_rate`` of what it lacks
    of ``target`` is bid for at ``expected``. No orders of zero tonnes.
    """
    offers = []
    if stock > 0 and expected > 0:
        piece = stock / STOCK_TRANCHES
        offers = [(piece, expected * release_ratio * (1.0 + j / STOCK_TRANCHES))
                  for j in range(STOCK_TRANCHES)]
    gap = adjust_rate * (target - stock)
    bids = [(gap, expected)] if gap > 0 and expected > 0 else []
    return offers, bids


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
        n = len(countries)
        self.stock = {p: np.zeros(n) for p in OXIDES}  # t of oxide held (none by default)
        self.oxide_use = {p: np.zeros(n) for p in OXIDES}  # remembered use, t/month
        self.expected = {p: np.zeros(n) for p in OXIDES}  # remembered node price, US$/kg
        #: product -> ({node: offers}, {node: bids}) prepared after the last market
        self._orders: dict[str, tuple[dict, dict]] = {}

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

    # ---------------------------------------------------------------- stock of oxide (a lead)
    @property
    def holds_stock(self) -> bool:
        """Whether the makers keep a stock of oxide (``magnet_stock_cover_months`` > 0)."""
        return self.active and self.model.sc.magnet_stock_cover_months > 0

    def stock_of(self, product: str) -> float:
        """T of ``product`` the makers hold, all nodes (0 for magnets: they hold oxide only)."""
        return float(self.stock[product].sum()) if product in self.stock else 0.0

    def fill_stock(self, results: dict) -> None:
        """Start with a full stock: ``cover`` months of the oxide used in ``results``.

        Called once, with the warm-up clearing; remembers its node prices as expected.
        Nothing happens unless the makers hold a stock (:attr:`holds_stock`).
        """
        if not self.holds_stock:
            return
        made = results["magnet"].converted_out
        cover = self.model.sc.magnet_stock_cover_months
        for p in OXIDES:
            self.oxide_use[p] = made * self.recipe.get(p, 0.0)
            self.stock[p] = cover * self.oxide_use[p]
            self.expected[p] = np.asarray(results[p].price, dtype=float).copy()
        self._prepare()

    def remember_stock(self, results: dict) -> None:
        """After the month: remember the oxide used and the node prices; prepare orders.

        A node price of 0 (nobody bid there) is no news about the price: it is not remembered.
        Nothing happens unless the makers hold a stock (:attr:`holds_stock`).
        """
        if not self.holds_stock:
            return
        w = self.model.sc.price_memory_weight
        for p in OXIDES:
            use = self.made * self.recipe.get(p, 0.0)
            self.oxide_use[p] = (1 - w) * self.oxide_use[p] + w * use
            price = np.asarray(results[p].price, dtype=float)
            self.expected[p] = np.where(price > 0, (1 - w) * self.expected[p] + w * price,
                                        self.expected[p])
        self._prepare()

    def _prepare(self) -> None:
        sc = self.model.sc
        for p in OXIDES:
            offers: dict[int, list] = {}
            bids: dict[int, list] = {}
            for node in np.nonzero((self.capacity_tpm > 0) | (self.stock[p] > 0))[0]:
                o, b = stock_ladder(float(self.stock[p][node]),
                                    sc.magnet_stock_cover_months * float(self.oxide_use[p][node]),
                                    float(self.expected[p][node]), sc.magnet_stock_release_ratio,
                                    sc.inventory_adjust_rate)
                offers[int(node)] = [(int(node), q, ask) for q, ask in o]
                bids[int(node)] = [(int(node), q, limit) for q, limit in b]
            self._orders[p] = (offers, bids)

    def stock_orders(self, product: str, node: int) -> tuple[list, list]:
        """The stock's orders at a node this month: ([(node, t, ask)], [(node, t, limit)])."""
        offers, bids = self._orders.get(product, ({}, {}))
        return offers.get(node, []), bids.get(node, [])

    def stores(self) -> list[NodeStock]:
        """The makers' stock at each node, as market participants (none without a stock)."""
        if not self.holds_stock:
            return []
        return [NodeStock(self, node) for node in range(len(self.countries))]

    def add_stock(self, product: str, node: int, tonnes: float) -> None:
        """Change the stock at a node by ``tonnes`` (negative: drawn).

        Raises:
            ConservationError: the stock would go negative.
        """
        new = self.stock[product][node] + tonnes
        if new < -1e-9 * max(1.0, abs(tonnes)):
            raise ConservationError(f"magnet makers at {self.countries[node]}: stock of "
                                    f"{product} would go negative")
        self.stock[product][node] = max(new, 0.0)

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


class NodeStock:
    """The magnet makers' stock at one node, as a market participant (:class:`abm.exchange.Book`).

    Its orders are the ones :class:`MagnetMakers` prepared after the last market (reading them
    changes nothing); what it sells or buys changes the makers' stock at its node.
    """

    #: the stock is a one-off buffer: steady-state what-ifs leave it out
    speculative = True

    def __init__(self, makers: MagnetMakers, node: int):
        self.makers = makers
        self.node = node

    def offers(self, product: str) -> list[tuple[int, float, float]]:
        """Stock offered this month: [(node, t, ask US$/kg)]."""
        return self.makers.stock_orders(product, self.node)[0]

    def bids(self, product: str) -> list[tuple[int, float, float]]:
        """Refills bid for this month: [(node, t, limit US$/kg)]."""
        return self.makers.stock_orders(product, self.node)[1]

    def take_sales(self, product: str, tonnes: list[float]) -> None:
        """Hand over what was drawn from the stock (one value per offer)."""
        self.makers.add_stock(product, self.node, -float(sum(tonnes)))

    def take_purchases(self, product: str, tonnes: list[float]) -> None:
        """Receive the refills bought (one value per bid)."""
        self.makers.add_stock(product, self.node, float(sum(tonnes)))
