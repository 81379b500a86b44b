"""Traders: speculative storage with heterogeneous expectations, as market participants.

A :class:`Trader` is a trading desk at one market node that holds oxide of each product to sell
later. It follows the theory of competitive storage (Deaton and Laroque 1992, *Review of
Economic Studies* 59; 1996, *Journal of Political Economy* 104): a tonne is worth holding when
the price expected at the end of the holding horizon, discounted and net of storage, exceeds
today's price; storers buy when the price is low against that value and sell when it is high,
which lowers peaks and lifts troughs. Which price a desk expects is a mix of forecasting rules
whose population shares evolve with the rules' realised profits (Brock and Hommes 1998,
*Journal of Economic Dynamics and Control* 22): fundamentalists expect the price to return to a
long moving average, chartists extrapolate the recent trend.

Per desk and product, each month (units: t, US$/kg oxide, months):

- forecasts over the horizon ``H`` (``trader_horizon_months``): fundamentalist ``E_f = p*`` (an
  EWMA of the node's price with weight ``trader_fundamental_weight``, starting at the
  reference price; weight 0 keeps the reference price); chartist ``E_c = max(0, p + g H d)``
  with ``d`` an EWMA of monthly price changes (``trader_trend_weight``) and ``g`` =
  ``trader_trend_extrapolation``; the desk expects ``E = sum_h n_h E_h``;
- carrying value of a tonne: ``V = E (1 + r)^(-H/12) - s p_ref H/12`` (:func:`carry_value`;
  ``r`` = ``trader_interest_rate_per_yr``, ``s`` = ``trader_storage_cost_per_yr``);
- the desk values the tonne at share ``z`` (0-1) of its position limit at ``R(z) = V (1 - m z)
  + Y (1 - z)`` (:func:`reservation`): a marginal convenience yield ``Y = y p H/12``
  (``trader_convenience_yield_per_yr``) that falls to zero at the limit (Kaldor 1939; Working
  1949, *American Economic Review* 39; Brennan 1958, *American Economic Review* 48), so that
  stocks are held in calm times too, less a risk premium that rises to ``m`` x the value at the
  limit (``trader_risk_premium``; mean-variance demand as in Brock and Hommes), so positions
  change gradually with expectations. The limit is ``Z = capital / p`` t, what its capital
  finances at last month's node price ``p``;
- orders (:func:`storage_ladder`): the position ``[0, Z]`` is cut into :data:`TRANCHES` pieces
  and at the stock ``S``; each piece at or below ``S`` is offered at ``R`` of its midpoint, each
  piece above ``S`` is bid for at ``R`` of its midpoint, and stock above ``Z`` is offered at
  ``R(1)``. At a clearing price ``P`` the desk ends near ``z*(P) Z`` with ``z*(P) = clip((V + Y
  - P) / (Y + m V), 0, 1)`` (:func:`position_share`); with ``Y = m = 0`` it buys to the limit
  below ``V`` and sells everything above (the competitive-storage arbitrage condition);
- learning after the market (:meth:`Trader.learn`): rule ``h``'s realised return on capital is
  ``pi_h = z_h (p_t - p_{t-1} - c) / p_{t-1}`` where ``z_h`` is the position share (0-1) rule ``h``
  wanted last month and ``c`` one month's interest and storage; its fitness ``U_h = eta U_h +
  pi_h`` (``trader_fitness_memory``) and shares ``n_h = exp(beta U_h) / sum_k exp(beta U_k)``
  (``trader_choice_intensity``; :func:`rule_shares`).

Capital (``trader_capital_share``) is the value at reference prices of that share of a year's
world use of each product; ``trader_china_share`` of it sits at China's node and the rest at
the other consuming nodes in proportion to their use. With ``trader_capital_share = 0`` desks
neither bid nor offer (their beliefs still evolve, so the ``chartist_share`` columns stay
defined).

Desks are market participants (:class:`abm.exchange.Book`): :meth:`Trader.offers` and
:meth:`Trader.bids` return orders prepared after last month's market and change nothing, so
what-if clearings may call them freely; being ``speculative``, they sit out the steady-state
what-ifs with which states value a policy kept for months (their stock is a one-off buffer).
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.errors import ConservationError
from abm.market import MIN_PRICE_FRAC
from abm.policy import OXIDES

__all__ = ["Trader", "RULES", "TRANCHES", "carry_value", "forecasts", "rule_shares",
           "reservation", "position_share", "storage_ladder", "desks"]

#: the forecasting rules, in the order of every per-rule array
RULES = ("fundamentalist", "chartist")
#: pieces of a desk's position limit (resolution of its storage-demand schedule)
TRANCHES = 4
#: quantities below this many t are not offered or bid (solver noise)
MIN_TONNES = 1e-9


def carry_value(expected: float, months: float, interest_per_yr: float,
                storage_per_yr: float, p_ref: float) -> float:
    """Value today of a tonne held ``months`` and sold at ``expected``, US$/kg.

    ``expected * (1 + interest)^(-months/12) - storage * p_ref * months / 12``: the resale
    price discounted at the interest rate, less storage (a share of the reference price per
    year).
    """
    return (expected * (1.0 + interest_per_yr) ** (-months / 12.0)
            - storage_per_yr * p_ref * months / 12.0)


def forecasts(price: float, fundamental: float, trend: float, months: float,
              extrapolation: float) -> np.ndarray:
    """Each rule's expected price after ``months`` (in :data:`RULES` order), US$/kg.

    Args:
        price: last month's price.
        fundamental: the fundamental price fundamentalists expect to return to.
        trend: the recent price change per month chartists see, US$/kg/month.
        months: the forecast horizon.
        extrapolation: how much of the trend chartists extrapolate (``g``).
    """
    return np.array([fundamental, max(price + extrapolation * months * trend, 0.0)])


def rule_shares(fitness: np.ndarray, intensity: float) -> np.ndarray:
    """Brock-Hommes discrete choice: ``n_h = exp(beta U_h) / sum_k exp(beta U_k)``.

    Computed with the largest exponent subtracted, so any intensity is finite.
    """
    u = np.asarray(fitness, dtype=float)
    w = np.exp(intensity * (u - u.max()))
    return w / w.sum()


def reservation(value: float, convenience: float, risk: float, z: float) -> float:
    """What a holder pays for (or asks on) the tonne at share ``z`` (0-1) of its limit, US$/kg.

    ``R(z) = value (1 - risk z) + convenience (1 - z)``: the carrying value, plus a marginal
    convenience yield that falls to 0 at the limit, less a risk premium that rises to ``risk``
    x the value at the limit (mean-variance demand: the larger the position, the larger the
    expected gain a holder requires).
    """
    return value * (1.0 - risk * z) + convenience * (1.0 - z)


def position_share(value: float, convenience: float, risk: float, price: float) -> float:
    """Share (0-1) of its position limit a holder wants at ``price``: ``R(z) = price``.

    With neither convenience yield nor risk premium it is all (1) below ``value`` and nothing
    at or above it (the competitive-storage arbitrage condition).
    """
    span = convenience + risk * value
    if span <= 0:
        return 1.0 if price < value else 0.0
    gap = value + convenience - price
    # clipped before dividing: a vanishing span would overflow the ratio
    return 0.0 if gap <= 0 else 1.0 if gap >= span else gap / span


def storage_ladder(value: float, convenience: float, risk: float, limit: float,
                   stock: float, tranches: int = TRANCHES) -> tuple[list, list]:
    """A holder's offers and bids for one product: ([(t, ask)], [(t, limit price)]).

    The position ``[0, limit]`` is cut into ``tranches`` equal pieces and at ``stock``. A piece
    at or below the stock is offered at :func:`reservation` of its midpoint, a piece above it
    is bid for at the reservation price of its midpoint; stock above the limit is offered at
    ``R(1)``. Prices are floored at 0. Asks are never below limit prices, so a holder never
    gains by trading with itself.

    Args:
        value: carrying value of a tonne (:func:`carry_value`), US$/kg.
        convenience: marginal convenience yield at zero stock over the horizon, US$/kg.
        risk: risk premium at the full position, share of the value.
        limit: position limit, t.
        stock: t held.
        tranches: pieces of the limit.
    """
    limit, stock = max(limit, 0.0), max(stock, 0.0)
    cuts = [limit * k / tranches for k in range(tranches + 1)] if limit > 0 else [0.0]
    if 0.0 < stock < limit and stock not in cuts:
        cuts = sorted([*cuts, stock])
    offers, bids = [], []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b - a <= MIN_TONNES:
            continue
        price = max(reservation(value, convenience, risk, 0.5 * (a + b) / limit), 0.0)
        (offers if b <= stock else bids).append((float(b - a), float(price)))
    if stock - limit > MIN_TONNES:
        offers.append((float(stock - limit),
                       float(max(reservation(value, convenience, risk, 1.0), 0.0))))
    return offers, bids


class Trader(mesa.Agent):
    """A trading desk at one node: stock, capital and evolving beliefs per product.

    Attributes:
        speculative: its stock is a one-off buffer: steady-state what-ifs leave the desk out
            (:func:`abm.exchange.build_orders`).
        code: the node's country code.
        capital: product -> capital, US$ (position limit ``capital / price`` t).
        stock: product -> t held.
        fundamental: product -> the fundamental price (EWMA of the node price), US$/kg.
        trend: product -> EWMA of monthly price changes at the node, US$/kg/month.
        last_price: product -> last month's node price, US$/kg.
        fitness: product -> (rules,) Brock-Hommes fitness ``U_h`` (return on capital).
        shares: product -> (rules,) population share of each rule (sums to 1).
        positions: product -> (rules,) position share (0-1) each rule wants into next month.
    """

    speculative = True

    def __init__(self, model, code: str, capital: dict[str, float]):
        super().__init__(model)
        self.code = code
        self.capital = {p: float(capital[p]) for p in OXIDES}
        price = model.exchange.price
        i = model.cidx[code]
        self.last_price = {p: float(price[p][i]) for p in OXIDES}
        self.fundamental = {p: float(model.p_ref[p]) for p in OXIDES}
        self.trend = dict.fromkeys(OXIDES, 0.0)
        self.fitness = {p: np.zeros(len(RULES)) for p in OXIDES}
        self.shares = {p: rule_shares(self.fitness[p], model.sc.trader_choice_intensity)
                       for p in OXIDES}
        self.positions = {p: self._rule_positions(p) for p in OXIDES}
        risk = model.sc.trader_risk_premium
        self.stock = {p: self.limit(p) * position_share(self.value(p), self.convenience(p),
                                                        risk, self.last_price[p])
                      for p in OXIDES}
        self._orders = {p: self._prepare(p) for p in OXIDES}

    # ---------------------------------------------------------------- beliefs and values
    @property
    def index(self) -> int:
        """The desk's node index in the market."""
        return self.model.cidx[self.code]

    def rule_forecasts(self, product: str) -> np.ndarray:
        """Each rule's expected price at the horizon (:data:`RULES` order), US$/kg."""
        sc = self.model.sc
        return forecasts(self.last_price[product], self.fundamental[product],
                         self.trend[product], sc.trader_horizon_months,
                         sc.trader_trend_extrapolation)

    def rule_share(self, product: str, rule: str) -> float:
        """The population share (0-1) of one of :data:`RULES` on this desk's product."""
        return float(self.shares[product][RULES.index(rule)])

    def expected_price(self, product: str) -> float:
        """The desk's expected price at the horizon: rules' forecasts weighted by shares."""
        return float(self.shares[product] @ self.rule_forecasts(product))

    def _carry(self, product: str, expected: float) -> float:
        sc = self.model.sc
        return carry_value(expected, sc.trader_horizon_months, sc.trader_interest_rate_per_yr,
                           sc.trader_storage_cost_per_yr, self.model.p_ref[product])

    def value(self, product: str) -> float:
        """Carrying value of a tonne at the desk's expected price (:func:`carry_value`)."""
        return self._carry(product, self.expected_price(product))

    def convenience(self, product: str) -> float:
        """Marginal convenience yield of the first tonne over the horizon, US$/kg."""
        sc = self.model.sc
        return (sc.trader_convenience_yield_per_yr * self.last_price[product]
                * sc.trader_horizon_months / 12.0)

    def limit(self, product: str) -> float:
        """Position limit: the tonnes the desk's capital buys at last month's price."""
        return self.capital[product] / (1e3 * self.last_price[product])

    def _rule_positions(self, product: str) -> np.ndarray:
        y, p = self.convenience(product), self.last_price[product]
        risk = self.model.sc.trader_risk_premium
        return np.array([position_share(self._carry(product, e), y, risk, p)
                         for e in self.rule_forecasts(product)])

    def _prepare(self, product: str) -> tuple[list, list]:
        node = self.index
        offers, bids = storage_ladder(self.value(product), self.convenience(product),
                                      self.model.sc.trader_risk_premium, self.limit(product),
                                      self.stock[product])
        return ([(node, q, ask) for q, ask in offers], [(node, q, lim) for q, lim in bids])

    # ---------------------------------------------------------------- market orders
    def offers(self, product: str) -> list[tuple[int, float, float]]:
        """The desk's sell orders this month: [(node, t, ask US$/kg)] (changes nothing).

        Desks trade the oxides only (speculators held oxides and metals, not magnets).
        """
        return self._orders[product][0] if product in self._orders else []

    def bids(self, product: str) -> list[tuple[int, float, float]]:
        """The desk's buy orders this month: [(node, t, limit US$/kg)] (changes nothing)."""
        return self._orders[product][1] if product in self._orders else []

    def take_sales(self, product: str, tonnes: list[float]) -> None:
        """Hand over what the desk sold (one value per offer)."""
        self._add(product, -float(sum(tonnes)))

    def take_purchases(self, product: str, tonnes: list[float]) -> None:
        """Receive what the desk bought (one value per bid)."""
        self._add(product, float(sum(tonnes)))

    def _add(self, product: str, tonnes: float) -> None:
        new = self.stock[product] + tonnes
        if new < -1e-9 * max(1.0, abs(tonnes)):
            raise ConservationError(f"trader {self.code}: stock of {product} would go negative")
        self.stock[product] = max(new, 0.0)

    # ---------------------------------------------------------------- learning
    def learn(self) -> None:
        """After the market: score the rules, update shares and memories, prepare orders.

        A node price of 0 (nobody at the node bid for the product this month) carries no
        information: the desk keeps its memories and beliefs for that product.
        """
        i = self.index
        for p in OXIDES:
            now = float(self.model.exchange.price[p][i])
            if now > 0:
                self._observe(p, now)
            self._orders[p] = self._prepare(p)

    def _observe(self, product: str, now: float) -> None:
        sc, p = self.model.sc, product
        prev = self.last_price[p]
        cost = (prev * ((1.0 + sc.trader_interest_rate_per_yr) ** (1.0 / 12.0) - 1.0)
                + sc.trader_storage_cost_per_yr * self.model.p_ref[p] / 12.0)
        # a return on a price of (next to) nothing is no information: fitness is kept
        if prev > MIN_PRICE_FRAC * self.model.p_ref[p]:
            ret = (now - prev - cost) / prev
            self.fitness[p] = (sc.trader_fitness_memory * self.fitness[p]
                               + self.positions[p] * ret)
            self.shares[p] = rule_shares(self.fitness[p], sc.trader_choice_intensity)
        w_t, w_f = sc.trader_trend_weight, sc.trader_fundamental_weight
        self.trend[p] = (1 - w_t) * self.trend[p] + w_t * (now - prev)
        self.fundamental[p] = (1 - w_f) * self.fundamental[p] + w_f * now
        self.last_price[p] = now
        self.positions[p] = self._rule_positions(p)


def desks(model) -> list[Trader]:
    """Create the trading desks of ``model``: one at China's node, one at each other user.

    Capital per product is ``trader_capital_share`` x the world's yearly use x the reference
    price; China's desk holds ``trader_china_share`` of it, the other consuming nodes the rest
    in proportion to their use of the product.
    """
    sc = model.sc
    use = model.demand_tpm
    chn = model.cidx["CHN"]
    nodes = [c for i, c in enumerate(model.countries)
             if i == chn or any(use[p][i] > 0 for p in OXIDES)]
    out = []
    for code in nodes:
        i = model.cidx[code]
        capital = {}
        for p in OXIDES:
            total = sc.trader_capital_share * 12.0 * float(use[p].sum()) * model.p_ref[p]
            foreign = float(use[p].sum() - use[p][chn])
            share = (sc.trader_china_share if i == chn else
                     (1 - sc.trader_china_share) * use[p][i] / foreign if foreign > 0 else 0.0)
            capital[p] = total * share * 1e3  # US$/kg x t -> US$
        out.append(Trader(model, code, capital))
    return out
