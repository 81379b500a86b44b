"""Downstream firms (magnet, EV, wind and electronics makers), vectorised in one Mesa agent.

Firms are many, so their state lives in numpy arrays (one entry per firm) on a single
:class:`FirmPopulation` agent; its methods work on whole arrays. Each firm has price-elastic
demand, an inventory with a target cover that rises with perceived supply risk (precautionary
buying) and shrinks when the price is above what it expected, and sticky thrifting after
sustained high prices. Units: t, t/month, US$/kg oxide.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.errors import ConservationError
from abm.market import MIN_PRICE_FRAC
from abm.policy import PRODUCTS
from abm.strategies import demand_factor, firm_order_params, firm_orders_at

#: most a firm's inventory target grows when prices are far below what it expected (a
#: numerical guard: at inventory_price_elasticity 10 the factor would reach 1e60)
_MAX_PATIENCE = 1e3

__all__ = ["FirmPopulation"]


class FirmPopulation(mesa.Agent):
    """All firms' state as arrays, and their monthly behaviour.

    Attributes:
        countries: country codes; ``country`` holds indices into it.
        country: (F,) int country index, sorted ascending.
        base_demand: product -> (F,) t/month consumed at the reference price in the start year.
        inventory: product -> (F,) t held.
        cover_scale: (F,) multiplier on the inventory cover all firms of a country target.
        sub_threshold: (F,) remembered price ratio (to reference) above which the firm thrifts.
        substitution: product -> (F,) share of demand substituted (0 .. substitution_max).
        price_memory: product -> (F,) smoothed price ratio the firm remembers.
        expected_price: product -> (C,) US$/kg the firms of each country expect (EWMA).
        origin: (F,) country index where each firm started (firms can move into China).
        relocation_threshold: (F,) home/China input-price ratio that pushes a firm to move.
        mobile: (F,) whether the firm can move production at all.
        pressure: (F,) months the ratio has been above the firm's threshold (net).
        last_shortage, last_planned, last_destroyed, last_consumed: product -> (C,) t of this
            month's unserved use, planned use, use given up to a price rise, and consumption.
    """

    def __init__(self, model, countries: tuple[str, ...], country: np.ndarray,
                 base_demand: dict[str, np.ndarray], cover_scale: np.ndarray,
                 sub_threshold: np.ndarray, base_cover_months: float, p_ref: dict[str, float]):
        super().__init__(model)
        n = len(countries)
        self.countries = countries
        self.country = country
        self.base_demand = base_demand
        self.inventory = {p: base_demand[p] * base_cover_months for p in PRODUCTS}
        self.cover_scale = cover_scale
        self.sub_threshold = sub_threshold
        self.substitution = {p: np.zeros(country.size) for p in PRODUCTS}
        self.price_memory = {p: np.ones(country.size) for p in PRODUCTS}
        self.expected_price = {p: np.full(n, p_ref[p]) for p in PRODUCTS}
        self.last_shortage = {p: np.zeros(n) for p in PRODUCTS}
        self.last_planned = {p: np.zeros(n) for p in PRODUCTS}
        self.last_destroyed = {p: np.zeros(n) for p in PRODUCTS}
        self.last_consumed = {p: np.zeros(n) for p in PRODUCTS}
        self.origin = country.copy()
        self.relocation_threshold = np.full(country.size, np.inf)
        self.mobile = np.zeros(country.size, dtype=bool)
        self.pressure = np.zeros(country.size)

    @property
    def size(self) -> int:
        """Number of firms."""
        return int(self.country.size)

    @classmethod
    def generate(cls, model, n_firms: int, countries: tuple[str, ...],
                 demand_tpm: dict[str, np.ndarray], p_ref: dict[str, float],
                 sc) -> FirmPopulation:
        """Create ``n_firms`` firms sized from consumption data, with the model's rng.

        Firms are spread over consuming countries in proportion to their consumption (at least
        one per consuming country); sizes are lognormal (``firm_size_sigma``) and rescaled so
        each country's total demand equals the data exactly, whatever ``n_firms`` is. Target
        cover and thrifting thresholds vary around their country's (``firm_cover_sigma``,
        ``firm_threshold_sigma``).

        Args:
            model: the Mesa model that owns the agent (its ``rng`` draws the firms).
            n_firms: number of firms (raised to the number of consuming countries).
            countries: country codes.
            demand_tpm: product -> (C,) t/month consumed per country at reference prices.
            p_ref: product -> reference price, US$/kg.
            sc: the scenario (parameters).
        """
        rng = model.rng
        weight = sum(demand_tpm[p] / max(demand_tpm[p].sum(), 1e-12) for p in PRODUCTS)
        consuming = np.nonzero(weight > 0)[0]
        n_firms = max(int(n_firms), consuming.size)
        share = weight[consuming] / weight[consuming].sum()
        counts = np.ones(consuming.size, dtype=int)
        extra = n_firms - consuming.size
        if extra:
            alloc = np.floor(share * extra).astype(int)
            rem = extra - alloc.sum()
            order = np.argsort(-(share * extra - alloc), kind="stable")
            alloc[order[:rem]] += 1
            counts += alloc
        country = np.repeat(consuming, counts)
        size = rng.lognormal(0.0, sc.firm_size_sigma, n_firms)
        tot = np.bincount(country, weights=size, minlength=len(countries))
        base = {p: size / tot[country] * demand_tpm[p][country] for p in PRODUCTS}
        cover_scale = rng.lognormal(0.0, sc.firm_cover_sigma, n_firms)
        n_in = np.bincount(country, minlength=len(countries))
        mean = np.bincount(country, weights=cover_scale, minlength=len(countries))
        cover_scale /= (mean / np.maximum(n_in, 1))[country]
        threshold = sc.substitution_threshold * rng.lognormal(0.0, sc.firm_threshold_sigma,
                                                              n_firms)
        pop = cls(model, countries, country, base, cover_scale, threshold,
                  sc.base_cover_months, p_ref)
        # thresholds above 1 (a firm never moves to pay more): 1 + (median - 1) x lognormal
        pop.relocation_threshold = 1.0 + (sc.relocation_threshold - 1.0) * rng.lognormal(
            0.0, sc.relocation_sigma, n_firms)
        # firms able to move at all (not defence suppliers, not tied to home customers)
        pop.mobile = rng.random(n_firms) < sc.relocation_mobile_share
        return pop

    def by_country(self, values: np.ndarray) -> np.ndarray:
        """(C,) sum of a per-firm array over each country's firms."""
        return np.bincount(self.country, weights=values, minlength=len(self.countries))

    def inventory_by_country(self, product: str) -> np.ndarray:
        """(C,) t of inventory held by firms of each country."""
        return self.by_country(self.inventory[product])

    # ---------------------------------------------------------------- ordering
    def order_plan(self, month: int, risk: np.ndarray, price: dict[str, np.ndarray]) -> dict:
        """Each firm's order-curve coefficients for this month, per product.

        Returns:
            product -> (c, k, b, need_ref, f_last): the order curve ``max(0, c f(p) + k h(p)
            - b)`` (see :func:`abm.strategies.firm_order_params`), use at the reference
            price after growth and thrift, and the demand factor at last month's price.
        """
        sc, p_ref = self.model.sc, self.model.p_ref
        years = month / 12.0
        cover = self.cover_scale * (sc.base_cover_months
                                    + sc.hoarding_sensitivity * risk[self.country])
        plan = {}
        for p in PRODUCTS:
            need_ref = (self.base_demand[p] * (1.0 + sc.demand_growth_per_yr) ** years
                        * (1.0 - self.substitution[p]))
            ck, kk, bk = firm_order_params(self.inventory[p], need_ref, cover,
                                           sc.inventory_adjust_rate)
            f_last = demand_factor(price[p][self.country], p_ref[p], sc.demand_elasticity)
            plan[p] = (ck, kk, bk, need_ref, f_last)
        return plan

    def price_patience(self, prices: np.ndarray, product: str, steady_state: bool) -> np.ndarray:
        """(C, K) or (1, C) factor ``(price / expected price) ** -inventory_price_elasticity``.

        ``prices`` is either a (1, K) grid (result per country and grid price) or a (C,) vector
        of node prices (result (1, C)). ``steady_state`` values demand once expectations have
        adapted (factor 1), as states do when they value a policy kept for months.
        """
        eps = 0.0 if steady_state else self.model.sc.inventory_price_elasticity
        # a product nobody bought last month can clear at 0: expect a tiny price, never 0
        exp = np.maximum(self.expected_price[product], MIN_PRICE_FRAC * self.model.p_ref[product])
        ratio = prices / exp[:, None] if prices.ndim == 2 else (prices / exp)[None, :]
        return np.minimum(np.maximum(ratio, 1e-6) ** (-eps), _MAX_PATIENCE)

    # ---------------------------------------------------------------- settling
    def receive(self, product: str, price: np.ndarray, purchases: np.ndarray, coeffs,
                bids: list) -> list[float]:
        """Book a node's purchases to its firms and other bidders pro rata, then consume.

        Args:
            product: ``light`` or ``heavy``.
            price: (C,) clearing price at each buyer node, US$/kg.
            purchases: (C,) t bought at each node.
            coeffs: this product's :meth:`order_plan` entry.
            bids: (participant, node, t, limit price) limit orders of other buyers.

        Returns:
            t delivered on each bid (0 where the price was above its limit).
        """
        sc, n = self.model.sc, len(self.countries)
        ck, kk, bk, need_ref, f_last = coeffs
        f_now = demand_factor(price, self.model.p_ref[product], sc.demand_elasticity)
        h_now = f_now * self.price_patience(price, product, False)[0]
        f_firm = f_now[self.country]
        firm_order = firm_orders_at(ck, kk, bk, f_firm, h_now[self.country])
        st_q = np.zeros(n)
        live = [q if price[i] <= limit * (1 + 1e-9) else 0.0 for _w, i, q, limit in bids]
        for (_w, i, _q, _limit), q in zip(bids, live, strict=True):
            st_q[i] += q
        tot = self.by_country(firm_order) + st_q
        # A node can buy on a grid step whose price lies just above where the firms'
        # continuous curves reach zero (step discretisation): book it to the firms in
        # proportion to their needs so that no tonne goes unbooked.
        orphan = (purchases > 0) & (tot <= 0)
        if orphan.any():
            if np.any(orphan & (self.by_country(need_ref) <= 0)):
                raise ConservationError(f"{product}: purchases with no buyer to book them to")
            firm_order = np.where(orphan[self.country], need_ref, firm_order)
            tot = self.by_country(firm_order) + st_q
        with np.errstate(invalid="ignore", divide="ignore"):
            fill = np.where(tot > 0, purchases / tot, 0.0)
        self.inventory[product] = self.inventory[product] + firm_order * fill[self.country]
        self._consume(product, need_ref, f_firm, f_last)
        return [q * fill[i] for (_w, i, _q, _limit), q in zip(bids, live, strict=True)]

    def take_delivery(self, product: str, tonnes: np.ndarray) -> None:
        """Add oxide delivered outside the market (offtake contracts) to firms' inventories.

        Each country's (C,) t are shared among its firms in proportion to their base demand
        (a country whose firms use none of the product must receive none).
        """
        for node in np.flatnonzero(tonnes > 0):
            weight = self._delivery_weights(product, int(node))
            self.inventory[product] = self.inventory[product] + tonnes[node] * weight

    def _delivery_weights(self, product: str, node: int) -> np.ndarray:
        """Shares of a delivery to a country among firms.

        Its firms that use the product; else its firms by their use of anything; else the
        firms that came from it (and moved away).
        """
        for weight in (np.where(self.country == node, self.base_demand[product], 0.0),
                       np.where(self.country == node, sum(self.base_demand.values()), 0.0),
                       np.where(self.origin == node, sum(self.base_demand.values()), 0.0)):
            if weight.sum() > 0:
                return weight / weight.sum()
        raise ConservationError(f"{product}: a delivery to {self.countries[node]}, where no "
                                "firm is or was")

    def _consume(self, product: str, need_ref, f_firm, f_last) -> None:
        """Firms use what they want at this month's demand factor (``f_firm``, per firm)."""
        want = need_ref * f_firm
        consumed = np.minimum(self.inventory[product], want)
        self.inventory[product] = self.inventory[product] - consumed
        # shortage: consumption wanted at this month's price that stock could not cover
        self.last_shortage[product] = self.by_country(want - consumed)
        # demand given up because the price rose above last month's (not a shortage)
        self.last_destroyed[product] = self.by_country(
            np.clip(need_ref * (f_last - f_firm), 0.0, None))
        self.last_planned[product] = self.by_country(want)
        self.last_consumed[product] = self.by_country(consumed)

    def relocate(self, price: dict[str, np.ndarray]) -> int:
        """Firms facing input prices far above China's for long move production into China.

        A firm compares the value of its inputs at its node with their value at China's
        prices; while the ratio exceeds its threshold its pressure grows by a month (and
        shrinks by one otherwise); at ``relocation_delay_months`` it moves: from then on it
        buys, holds and consumes in China. Firms never move back (plants are sunk).

        Returns:
            The number of firms that moved this month.
        """
        if "CHN" not in self.countries:
            return 0
        chn = self.countries.index("CHN")
        home = sum(self.base_demand[p] * price[p][self.country] for p in PRODUCTS)
        china = sum(self.base_demand[p] * price[p][chn] for p in PRODUCTS)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(china > 0, home / china, 1.0)
        over = (ratio > self.relocation_threshold) & (self.country != chn) & self.mobile
        self.pressure = np.where(over, self.pressure + 1.0, np.maximum(self.pressure - 1.0, 0.0))
        moving = over & (self.pressure >= self.model.sc.relocation_delay_months)
        if not moving.any():
            return 0
        self.country = np.where(moving, chn, self.country)
        self._sort_by_country()
        return int(moving.sum())

    def _sort_by_country(self) -> None:
        """Keep firms sorted by country (the demand aggregation relies on it)."""
        order = np.argsort(self.country, kind="stable")
        for name in ("country", "origin", "cover_scale", "sub_threshold",
                     "relocation_threshold", "pressure", "mobile"):
            setattr(self, name, getattr(self, name)[order])
        for d in (self.base_demand, self.inventory, self.substitution, self.price_memory):
            for p in d:
                d[p] = d[p][order]

    def relocated_share(self, origin: int) -> float:
        """Share of a country's firms' base demand (value at reference prices) now in China."""
        return float(self.relocated_shares()[origin])

    def relocated_shares(self) -> np.ndarray:
        """(C,) :meth:`relocated_share` of every country of origin (0 without firms)."""
        p_ref = self.model.p_ref
        value = sum(self.base_demand[p] * p_ref[p] for p in PRODUCTS)
        n = len(self.countries)
        total = np.bincount(self.origin, weights=value, minlength=n)
        moved = np.bincount(self.origin, weights=np.where(self.country != self.origin, value,
                                                          0.0), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, moved / np.where(total > 0, total, 1.0), 0.0)

    def learn(self, product: str, price: np.ndarray) -> None:
        """Update price expectations, remembered price level and thrifting after the market."""
        sc, p_ref = self.model.sc, self.model.p_ref
        w_e = sc.price_expectation_weight
        self.expected_price[product] = (1 - w_e) * self.expected_price[product] + w_e * price
        w_m = sc.price_memory_weight
        ratio = price[self.country] / p_ref[product]
        self.price_memory[product] = (1 - w_m) * self.price_memory[product] + w_m * ratio
        high = self.price_memory[product] > self.sub_threshold
        s = self.substitution[product]
        self.substitution[product] = np.where(
            high, np.minimum(s + sc.substitution_rate_per_yr / 12.0, sc.substitution_max),
            s * (1.0 - sc.substitution_decay_per_yr / 12.0))
