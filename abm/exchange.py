"""The bridge between agents and the clearing: orders in, settlement and market memory out.

Each month the :class:`Exchange` turns the agents' plans (refined supply, producers' stocks,
stockpile releases, firms' order curves, stockpile purchases) and a policy regime into one
:class:`abm.market.MarketOrders` per product, and after the clearing it settles the sellers'
side and remembers prices, flows and each link's normal flow. The buyers' side is settled by
the firms and states themselves. :func:`build_orders` is a pure function of the plan, the
regime and the demand mode, so states can value what-if policies with it.

Units: t and t/month, US$/kg oxide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from abm.errors import ConservationError
from abm.market import ClearingResult, GreyTranche, MarketOrders, price_grid
from abm.policy import PRODUCTS, PolicyRegime
from abm.refining import SupplyPlan
from abm.strategies import aggregate_orders, demand_factor

__all__ = ["Exchange", "MonthPlan", "build_orders", "perceived_risk", "price_panic", "sellable",
           "GRID_STEPS", "GRID_SPAN"]

#: demand steps per product and month (numerical resolution of the demand curves)
GRID_STEPS = 41

#: the grid spans last month's world price x/÷ this ratio (a crisis can reach 25x in a month)
GRID_SPAN = 25.0

#: t; a sellable stock this far below zero is rounding (a contract's delivery summed in another
#: order than the refined output it came from), read as 0; anything lower is left to the
#: clearing's checks, which name it
ROUNDING_TONNES = 1e-6


@dataclass
class MonthPlan:
    """Everything the agents bring to one month's market.

    Attributes:
        supply: miners' output and its refining (:class:`abm.refining.SupplyPlan`).
        firm_coeffs: product -> firms' order-curve coefficients
            (:meth:`abm.agents.FirmPopulation.order_plan`).
    """

    supply: SupplyPlan
    firm_coeffs: dict


@dataclass
class Book:
    """What settling one product's market needs besides the clearing result.

    Besides producers and firms, any *participant* (states, traders) may offer stock and place
    limit orders: an object with ``offers(product) -> [(node, t, ask)]``,
    ``bids(product) -> [(node, t, limit)]``, ``take_sales(product, tonnes)`` (one value per
    offer) and ``take_purchases(product, tonnes)`` (one per bid). Offers and bids are read
    without changing the participant, so what-if clearings can call them freely. A participant
    whose ``speculative`` attribute is true (traders) holds a one-off buffer, not a sustained
    supply or demand: steady-state what-ifs leave it out.

    Attributes:
        stock: (N,) t offered by producers at each node (stock carried over + refined).
        offers: [(participant, supply step indices)] of participants' offers.
        bids: [(participant, node, t, limit US$/kg)] of participants' limit orders, in order.
        duty: (N, N) export duty per kg on recorded foreign links (included in link costs).
    """

    stock: np.ndarray
    offers: list[tuple[object, list[int]]]
    bids: list[tuple[object, int, float, float]]
    duty: np.ndarray


def link_costs(model, plan: MonthPlan) -> dict[str, np.ndarray]:
    """Per product (N, N) link costs, US$/kg: shipping plus the discount allies give.

    Two countries are allied when their states share a bloc, or when a miner refined in the
    seller country has an offtake tie to the buyer state and produces this month; links
    between non-allies cost ``ally_preference_frac`` x the reference price more.
    """
    n = len(model.countries)
    allied = np.eye(n, dtype=bool)
    blocs = [model.states[c].bloc for c in model.countries]
    for i in range(n):
        for j in range(n):
            if blocs[i] and blocs[i] == blocs[j]:
                allied[i, j] = True
    for m in model.miners:
        if m.bloc in model.cidx and plan.supply.output(m.mine_id) > 0:
            allied[model.cidx[m.refine_country], model.cidx[m.bloc]] = True
    frac = model.exchange.link_frac
    return {p: frac * model.p_ref[p] + np.where(
        allied, 0.0, model.sc.ally_preference_frac * model.p_ref[p]) for p in PRODUCTS}


def demand_grid(model, product: str) -> np.ndarray:
    """Demand-step prices: fine around last month's world price, capped at the choke price.

    The centre never falls below the reference price / ``GRID_SPAN``: after a month that
    cleared at zero (a glut with zero reserve prices) the grid still spans real prices.
    """
    choke = model.sc.choke_price_ratio * model.p_ref[product]
    center = max(min(model.exchange.world_price[product], choke), model.p_ref[product] / GRID_SPAN)
    grid = price_grid(center, GRID_STEPS, GRID_SPAN)
    return np.concatenate([[choke], grid[grid < choke]])


def build_orders(model, plan: MonthPlan, regime: PolicyRegime, *, steady_state: bool,
                 sourcing: bool = True) -> dict[str, tuple[MarketOrders, Book]]:
    """Every product's market orders for the month (changes nothing in the model).

    Args:
        model: read-only source of the agents' stocks, prices and parameters.
        plan: the month's supply and demand plans.
        regime: the export policies to clear under (the model's, or a what-if).
        steady_state: value demand once firms' price expectations have adapted.
        sourcing: sticky sourcing and unrecorded trade on (off for the warm-up month, which
            has no trade history yet).

    Returns:
        product -> (orders, book).
    """
    costs = link_costs(model, plan)
    out = {}
    active = [w for w in model.participants
              if not (steady_state and getattr(w, "speculative", False))]
    for p in PRODUCTS:
        steps, grid, bids = _demand_steps(model, plan, p, steady_state, active)
        stock = sellable(model.exchange.producer_stock[p],
                         plan.supply.refined.get(p, np.zeros(len(model.countries))),
                         plan.supply.contracted.get(p, 0.0))
        sup_node, sup_qty, sup_ask, offers = _supply_steps(model, p, stock, active)
        cap, export_cap = regime.link_caps(
            p, model.countries, model.exchange.normal_flow[p],
            lambda s, p=p: model.export_mix(s, p, plan.supply), model.month,
            model.sc.licence_delay_months)
        duty = _duties(model, regime, p)
        # unrecorded trade matters only where recorded trade is restricted (a link cap, an
        # export cap or a duty); elsewhere the recorded link is always cheaper
        restricted = np.isfinite(cap) | np.isfinite(export_cap)[:, None] | (duty > 0)
        extras = _sourcing(model, p, costs[p], restricted) if sourcing else {}
        orders = MarketOrders(
            nodes=model.countries, supply_node=np.array(sup_node, dtype=int),
            supply_qty=np.array(sup_qty, dtype=float), supply_ask=np.array(sup_ask),
            demand_bid=grid, demand_qty=steps, link_cost=costs[p] + duty, link_cap=cap,
            export_cap=export_cap, **extras)
        out[p] = (orders, Book(stock, offers, bids, duty))
    return out


def _demand_steps(model, plan: MonthPlan, p: str, steady_state: bool, active: list):
    """(N, K) demand steps on the price grid: firms' curves plus participants' limit orders."""
    sc, firms = model.sc, model.firms
    grid = demand_grid(model, p)
    f_grid = demand_factor(grid, model.p_ref[p], sc.demand_elasticity)
    ck, kk, bk, _, _ = plan.firm_coeffs[p]
    h_grid = f_grid[None, :] * firms.price_patience(grid[None, :], p, steady_state)
    cum = aggregate_orders(firms.country, ck, kk, bk, f_grid, h_grid, len(model.countries))
    bids = [(who, i, q, limit) for who in active for i, q, limit in who.bids(p)]
    if bids:  # each bid adds its t at every grid price up to its limit, bid after bid
        _w, node, qty, limit = zip(*bids, strict=True)
        b, k = np.nonzero(grid[None, :] <= np.array(limit)[:, None])
        np.add.at(cum, (np.array(node)[b], k), np.array(qty, dtype=float)[b])
    return np.diff(cum, axis=1, prepend=0.0).clip(min=0.0), grid, bids


def _supply_steps(model, p: str, stock: np.ndarray, active: list):
    """Producers' stock at their reserve price, then participants' offers."""
    n = len(model.countries)
    sup_node, sup_qty = list(range(n)), list(stock)
    sup_ask = [model.sc.seller_reserve_frac * model.p_ref[p]] * n
    offers = []
    for who in active:
        mine = who.offers(p)
        if mine:
            offers.append((who, list(range(len(sup_qty), len(sup_qty) + len(mine)))))
            for node, q, ask in mine:
                sup_node.append(node)
                sup_qty.append(q)
                sup_ask.append(ask)
    return sup_node, sup_qty, sup_ask, offers


def _duties(model, regime: PolicyRegime, p: str) -> np.ndarray:
    """(N, N) export duty per kg on recorded foreign links, US$/kg.

    Ad valorem duties are charged on the exporter's price of last month (its seller price),
    so the duty per kg is fixed within the month and the clearing stays linear.
    """
    n = len(model.countries)
    duty = np.zeros((n, n))
    for s, code in enumerate(model.countries):
        rate = regime.duty(code, p)
        if rate > 0:
            duty[s, :] = rate * model.exchange.seller_price[p][s]
            duty[s, s] = 0.0
    return duty


#: unrecorded trade comes in this many tranches, each costing twice the one before
LEAK_TRANCHES = 4


def _sourcing(model, p: str, cost: np.ndarray, restricted: np.ndarray) -> dict:
    """Sticky sourcing tranches and unrecorded (grey) trade tranches for one product.

    Buyers take ``sourcing_stickiness`` x each link's normal flow at the link cost and pay
    ``switching_cost_frac`` x the reference price more beyond it. Every exporter can ship up
    to ``leakage_capacity_share`` x (1 - its enforcement) of each link's normal flow outside
    policy caps and duties, in tranches whose premium starts at ``leakage_premium`` x the
    reference price and doubles tranche by tranche, on links where recorded trade is
    ``restricted`` ((N, N) bool).
    """
    sc, ref = model.sc, model.p_ref[p]
    normal = model.exchange.normal_flow[p]
    n = len(model.countries)
    out = {}
    switching = sc.magnet_switching_cost_frac if p == "magnet" else sc.switching_cost_frac
    if switching > 0:
        out["sticky_cap"] = sc.sourcing_stickiness * normal
        out["switch_cost"] = np.full((n, n), switching * ref)
    if sc.leakage_capacity_share > 0:
        enforce = np.array([model.states[c].domestic.enforcement for c in model.countries])
        cap = (sc.leakage_capacity_share / LEAK_TRANCHES) * (1.0 - enforce)[:, None] * normal
        cap = np.where(restricted, cap, 0.0)
        np.fill_diagonal(cap, 0.0)
        if cap.max(initial=0.0) > 0:
            out["grey"] = tuple(GreyTranche(cap, cost + sc.leakage_premium * ref * 2.0 ** k)
                                for k in range(LEAK_TRANCHES))
    return out


def sellable(stock: np.ndarray, refined: np.ndarray, contracted) -> np.ndarray:
    """What producers at each node may sell this month, t: stock + refined - contracted.

    Contracted deliveries never exceed what was refined, but the two are summed in different
    orders, so the difference can come out a few 1e-13 t below zero; within
    :data:`ROUNDING_TONNES` of zero it is 0.
    """
    out = stock + refined - contracted
    return np.where((out < 0) & (out > -ROUNDING_TONNES), 0.0, out)


def perceived_risk(prev: np.ndarray, orders: dict[str, MarketOrders],
                   normal_flow: dict[str, np.ndarray], shortage: dict[str, np.ndarray],
                   planned: dict[str, np.ndarray], memory: float,
                   shortage_factor: float) -> np.ndarray:
    """Perceived supply risk per country (0-1): an EWMA of the month's strongest signal.

    The signals are the share of the country's normal imports cut by export restrictions
    (weighted by how far caps fall below normal flows) and its physical shortage (the share of
    planned use not served, times ``shortage_factor``, capped at 1). Price rises alone do not
    count, or hoarding would feed on itself.
    """
    n = prev.size
    signal = np.zeros(n)
    for p, o in orders.items():
        ref = normal_flow[p].copy()
        np.fill_diagonal(ref, 0.0)
        # a cap over a vanishing flow overflows to inf: no restriction, severity 0 (clipped)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # severity of each link's restriction: 1 - cap / normal flow (ban = 1)
            sev = np.where(ref > 0, np.clip(1.0 - o.link_cap / ref, 0.0, 1.0), 0.0)
            exports = ref.sum(axis=1)
            sev_x = np.where(exports > 0, np.clip(1.0 - o.export_cap / exports, 0, 1), 0)
            sev = np.maximum(sev, sev_x[:, None])
            imports = ref.sum(axis=0)
            share = np.where(imports > 0, (ref * sev).sum(axis=0) / imports, 0.0)
            short = np.where(planned[p] > 0, shortage[p] / planned[p], 0.0)
        signal = np.maximum.reduce([signal, share, np.clip(shortage_factor * short, 0, 1)])
    return memory * prev + (1 - memory) * signal


def price_panic(price_history: dict[str, list[np.ndarray]], products, lookback: int,
                start_ratio: float, full_ratio: float) -> np.ndarray:
    """(N,) 0-1 signal of a fast price rise at each node (precautionary buying on momentum).

    For each product the node's price now against ``lookback`` months ago: no signal below a
    rise of ``start_ratio``, a full one from ``full_ratio``, linear in log price between (a
    step at ``start_ratio`` when ``full_ratio`` is not above it); the node's signal is its
    strongest over ``products``. Without ``lookback`` months of history, or where either price
    is 0, 0.
    """
    sizes = [price_history[p][-1].size for p in products if price_history[p]]
    signal = np.zeros(sizes[0] if sizes else 0)
    start, span = np.log(start_ratio), np.log(full_ratio / start_ratio)
    for p in products:
        hist = price_history[p]
        if len(hist) <= lookback:
            continue
        now, then = hist[-1], hist[-1 - lookback]
        # a node price of 0 (nobody bid there) carries no information: no rise from or to it
        seen = (now > 0) & (then > 0)
        rise = np.log(np.where(seen, now, 1.0) / np.where(seen, then, 1.0))
        level = ((rise - start) / span if span > 0
                 else np.where(rise >= start, 1.0, 0.0))
        signal = np.maximum(signal, np.clip(level, 0.0, 1.0))
    return signal


class Exchange:
    """The market's state between months: producers' stocks, prices, flows, normal flows.

    Attributes:
        producer_stock: product -> (N,) unsold oxide held by producers at each node, t.
        price: product -> (N,) last buyer-node prices, US$/kg.
        seller_price: product -> (N,) last seller-node prices, US$/kg.
        world_price: product -> quantity-weighted price paid outside China, US$/kg.
        price_history: product -> list of (N,) buyer prices, one per month.
        normal_flow: product -> (N, N) each link's normal flow (EWMA while open), t/month.
        last_flows: product -> DataFrame of last month's flows (seller rows, buyer columns).
        blocked_links: product -> {(seller, buyer)} closed by policy last month.
        link_cost: product -> (N, N) last month's link costs, US$/kg.
        link_frac: (N, N) shipping cost as a share of the reference price.
    """

    def __init__(self, countries: tuple[str, ...], p_ref: dict[str, float],
                 link_frac: np.ndarray):
        n = len(countries)
        self.countries = countries
        self._index = pd.Index(countries)  # reused: building it costs ~0.1 ms
        self._chn = countries.index("CHN")
        self.link_frac = link_frac
        self.producer_stock = {p: np.zeros(n) for p in PRODUCTS}
        self.price = {p: np.full(n, p_ref[p]) for p in PRODUCTS}
        self.seller_price = {p: np.full(n, p_ref[p]) for p in PRODUCTS}
        self.world_price = dict(p_ref)
        self.price_history: dict[str, list[np.ndarray]] = {p: [] for p in PRODUCTS}
        self.normal_flow = {p: np.zeros((n, n)) for p in PRODUCTS}
        # last month's flows and link caps; their frame and set views are built when read
        self._flows = {p: np.zeros((n, n)) for p in PRODUCTS}
        self._link_cap = {p: np.full((n, n), np.inf) for p in PRODUCTS}
        self._views: dict[str, dict] = {}
        self.link_cost = {p: np.zeros((n, n)) for p in PRODUCTS}

    @property
    def last_flows(self) -> dict[str, pd.DataFrame]:
        """Product -> DataFrame of last month's flows, t (seller rows, buyer columns)."""
        if "flows" not in self._views:
            self._views["flows"] = {p: pd.DataFrame(f, index=self._index, columns=self._index)
                                    for p, f in self._flows.items()}
        return self._views["flows"]

    @property
    def blocked_links(self) -> dict[str, set[tuple[str, str]]]:
        """Product -> {(seller, buyer)} foreign links closed by policy last month."""
        if "blocked" not in self._views:
            self._views["blocked"] = {
                p: {(self.countries[i], self.countries[j])
                    for i, j in zip(*np.nonzero(cap <= 0), strict=True) if i != j}
                for p, cap in self._link_cap.items()}
        return self._views["blocked"]

    def settle_sellers(self, product: str, book: Book, result: ClearingResult) -> None:
        """Producers keep what they did not sell; participants hand over what they sold."""
        n = len(self.countries)
        stock = book.stock - result.sold[:n]
        if np.any(stock < -1e-6):
            raise ConservationError(f"producer stock of {product} went negative")
        self.producer_stock[product] = stock.clip(min=0.0)
        for who, steps in book.offers:
            who.take_sales(product, [float(result.sold[k]) for k in steps])

    def remember(self, product: str, orders: MarketOrders, result: ClearingResult,
                 flow_weight: float) -> None:
        """Store the month's prices, flows, closed links and update links' normal flows."""
        r = result
        self.price[product] = r.price
        self.seller_price[product] = r.seller_price
        outside = r.purchases.copy()
        outside[self._chn] = 0.0
        mask = np.arange(len(self.countries)) != self._chn
        self.world_price[product] = float(
            (r.price * outside).sum() / outside.sum() if outside.sum() > 0
            else r.price[mask].mean())
        self.price_history[product].append(r.price.copy())
        self._flows[product] = r.flows
        self._link_cap[product] = orders.link_cap
        self._views.clear()
        self.link_cost[product] = orders.link_cost
        open_links = np.isinf(orders.link_cap)
        self.normal_flow[product] = np.where(
            open_links, (1 - flow_weight) * self.normal_flow[product] + flow_weight * r.flows,
            self.normal_flow[product])

    def warm_up(self, results: dict[str, ClearingResult]) -> None:
        """Set each link's normal flow to an open-trade month cleared without settling it."""
        for p in PRODUCTS:
            self.normal_flow[p] = results[p].flows.copy()
