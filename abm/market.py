"""Market clearing for one product: orders in, flows and nodal prices out.

The market is a small network. Every country is a node that can sell (refined oxide offered by
its refiners, producers' stocks and state stockpile releases) and buy (its firms' aggregated
demand curve plus state stockpile purchases). A seller-country -> buyer-country *link* carries
oxide at a small link cost (US$/kg) and up to a cap (t/month) that comes from export policy:
``inf`` = open, ``0`` = ban, a finite number = quota or licensed volume. A seller may also have an
aggregate export cap over all foreign links (an export quota that does not name a destination).

Clearing maximises welfare (value of the demand served minus asks and link costs) under those
caps. It is a linear programme solved with HiGHS; the dual of each node's balance row is the
node's price (US$/kg), so nodal prices emerge: with open trade they differ only by link costs,
and a binding cap splits them into two tiers (low inside the exporter, high outside).

All functions here are pure: they read their arguments and return new objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

__all__ = ["MarketOrders", "ClearingResult", "ClearingError", "clear_market", "price_grid"]


class ClearingError(ValueError):
    """Raised when orders are malformed or the clearing problem cannot be solved."""


@dataclass(frozen=True)
class MarketOrders:
    """Everything the clearing of one product needs for one month.

    Attributes:
        nodes: country codes; index ``i`` in every array refers to ``nodes[i]``.
        supply_node: (S,) node index of each supply step.
        supply_qty: (S,) t offered by each supply step this month.
        supply_ask: (S,) US$/kg below which the step is not sold.
        demand_bid: (K,) US$/kg, strictly decreasing limit prices of the demand steps.
        demand_qty: (N, K) t each node wants at the matching limit price (step quantities,
            not cumulative).
        link_cost: (N, N) US$/kg to ship from seller node (row) to buyer node (column).
        link_cap: (N, N) t/month per link; ``inf`` = open, ``0`` = closed. The diagonal
            (domestic trade) is always open.
        export_cap: (N,) t/month over all foreign links of a seller; ``inf`` = none.
    """

    nodes: tuple[str, ...]
    supply_node: np.ndarray
    supply_qty: np.ndarray
    supply_ask: np.ndarray
    demand_bid: np.ndarray
    demand_qty: np.ndarray
    link_cost: np.ndarray
    link_cap: np.ndarray
    export_cap: np.ndarray

    def validate(self) -> None:
        """Check shapes, signs and finiteness at the market boundary.

        Raises:
            ClearingError: naming the first problem found.
        """
        n = len(self.nodes)
        s = self.supply_qty.shape
        if self.supply_node.shape != s or self.supply_ask.shape != s or len(s) != 1:
            raise ClearingError("supply_node, supply_qty and supply_ask must be 1-D and equal")
        if s[0] and (self.supply_node.min() < 0 or self.supply_node.max() >= n):
            raise ClearingError("supply_node refers to a node that does not exist")
        k = self.demand_bid.shape
        if len(k) != 1 or self.demand_qty.shape != (n, k[0]):
            raise ClearingError(f"demand_qty must have shape ({n}, {k[0] if k else '?'})")
        if self.link_cost.shape != (n, n) or self.link_cap.shape != (n, n):
            raise ClearingError(f"link_cost and link_cap must have shape ({n}, {n})")
        if self.export_cap.shape != (n,):
            raise ClearingError(f"export_cap must have shape ({n},)")
        for name in ("supply_qty", "supply_ask", "demand_bid", "demand_qty", "link_cost"):
            arr = getattr(self, name)
            if not np.all(np.isfinite(arr)):
                raise ClearingError(f"{name} contains NaN or infinity")
            if np.any(arr < 0):
                raise ClearingError(f"{name} contains a negative value")
        for name in ("link_cap", "export_cap"):
            arr = getattr(self, name)
            if np.any(np.isnan(arr)) or np.any(arr < 0):
                raise ClearingError(f"{name} contains NaN or a negative value")
        if k[0] > 1 and np.any(np.diff(self.demand_bid) >= 0):
            raise ClearingError("demand_bid must be strictly decreasing")

    @property
    def unconstrained(self) -> bool:
        """True when no link cap and no export cap exists, so no cap can bind."""
        off = ~np.eye(len(self.nodes), dtype=bool)
        return bool(np.all(np.isinf(self.link_cap[off])) and np.all(np.isinf(self.export_cap)))


@dataclass(frozen=True)
class ClearingResult:
    """Allocation and prices of one product for one month.

    Attributes:
        flows: (N, N) t shipped from seller node (row) to buyer node (column).
        sold: (S,) t sold from each supply step.
        bought: (N, K) t bought on each demand step.
        price: (N,) US$/kg, the buyer-node price (the dual of the node's buying balance).
        seller_price: (N,) US$/kg, the seller-node price (what a seller there receives).
        welfare: US$ thousand (t x US$/kg): value served minus asks minus link costs.
        method: the algorithm that solved it (``"lp"``).
    """

    flows: np.ndarray
    sold: np.ndarray
    bought: np.ndarray
    price: np.ndarray
    seller_price: np.ndarray
    welfare: float
    method: str

    @property
    def purchases(self) -> np.ndarray:
        """(N,) t bought by each node."""
        return self.flows.sum(axis=0)

    @property
    def sales(self) -> np.ndarray:
        """(N,) t sold by each node's sellers."""
        return self.flows.sum(axis=1)

    def unmet(self, orders: MarketOrders, price_floor: float = 0.0) -> np.ndarray:
        """(N,) t of demand bid at or above ``price_floor`` that was not served."""
        mask = orders.demand_bid >= price_floor
        return (orders.demand_qty[:, mask] - self.bought[:, mask]).sum(axis=1).clip(min=0.0)


def price_grid(center: float, n_steps: int = 41, span: float = 25.0, sharpness: float = 4.0):
    """Limit prices for demand steps, fine near ``center`` and coarse far from it.

    The grid runs from ``center * span`` down to ``center / span`` (US$/kg). Spacing in log
    price follows a sinh curve, so steps are ~2% apart near the centre (last month's price) and
    wider in the tails: prices move smoothly month to month yet a crisis can reach 25x.

    Args:
        center: price the grid is centred on, US$/kg (> 0).
        n_steps: number of demand steps (odd keeps ``center`` on the grid).
        span: ratio between the top of the grid and the centre.
        sharpness: how strongly the steps bunch near the centre (0 < sharpness).

    Returns:
        (n_steps,) strictly decreasing prices, US$/kg.
    """
    z = np.linspace(1.0, -1.0, n_steps)
    log_ratio = np.log(span) * np.sinh(sharpness * z) / np.sinh(sharpness)
    return center * np.exp(log_ratio)


def clear_market(orders: MarketOrders, *, validate: bool = True) -> ClearingResult:
    """Clear one product's market: welfare-maximising flows under link and export caps.

    Args:
        orders: the month's supply steps, demand steps, link costs and caps.
        validate: check the orders first (guard clauses at the market boundary).

    Returns:
        The allocation and nodal prices.

    Raises:
        ClearingError: malformed orders, or the solver failed.
    """
    if validate:
        orders.validate()
    return _clear_lp(orders)


def _clear_lp(o: MarketOrders) -> ClearingResult:
    """Solve the capped problem as an LP with HiGHS (see module docstring)."""
    n = len(o.nodes)
    n_s = o.supply_qty.size
    k = o.demand_bid.size
    cap = o.link_cap.copy()
    np.fill_diagonal(cap, np.inf)
    seller_has = np.bincount(o.supply_node, weights=o.supply_qty, minlength=n) > 0
    buyer_has = o.demand_qty.sum(axis=1) > 0
    link_s, link_b = np.nonzero((cap > 0) & seller_has[:, None] & buyer_has[None, :])
    n_l = link_s.size
    n_var = n_s + n_l + n * k

    # Objective: asks + link costs - bid values (minimise).
    c = np.concatenate([o.supply_ask, o.link_cost[link_s, link_b], -np.tile(o.demand_bid, n)])
    bounds_hi = np.concatenate([o.supply_qty, cap[link_s, link_b], o.demand_qty.ravel()])
    bounds = np.column_stack([np.zeros(n_var), np.where(np.isinf(bounds_hi), None, bounds_hi)])

    # Equality rows 0..n-1: seller balance  sum(q at s) - sum(x out of s) = 0
    # Equality rows n..2n-1: buyer balance sum(x into b) - sum(d at b) = 0
    rows = np.concatenate([o.supply_node, link_s, n + link_b, n + np.repeat(np.arange(n), k)])
    cols = np.concatenate([
        np.arange(n_s),
        n_s + np.arange(n_l),
        n_s + np.arange(n_l),
        n_s + n_l + np.arange(n * k),
    ])
    vals = np.concatenate([np.ones(n_s), -np.ones(n_l), np.ones(n_l), -np.ones(n * k)])
    a_eq = coo_matrix((vals, (rows, cols)), shape=(2 * n, n_var)).tocsr()
    b_eq = np.zeros(2 * n)

    # Inequality rows: aggregate export caps.
    capped = np.nonzero(np.isfinite(o.export_cap))[0]
    a_ub = b_ub = None
    if capped.size:
        foreign = link_s != link_b
        r, cc = [], []
        for i, s in enumerate(capped):
            sel = np.nonzero(foreign & (link_s == s))[0]
            r.extend([i] * sel.size)
            cc.extend((n_s + sel).tolist())
        a_ub = coo_matrix((np.ones(len(r)), (r, cc)), shape=(capped.size, n_var)).tocsr()
        b_ub = o.export_cap[capped]

    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        raise ClearingError(f"market clearing failed: {res.message}")
    x = np.clip(res.x, 0.0, None)
    flows = np.zeros((n, n))
    np.add.at(flows, (link_s, link_b), x[n_s : n_s + n_l])
    marg = res.eqlin.marginals
    seller_price = np.clip(marg[:n], 0.0, None)
    price = np.clip(marg[n:], 0.0, None)
    # Nodes without a live balance row have an arbitrary dual: price them by arbitrage.
    price, seller_price = _fill_idle_prices(o, price, seller_price, seller_has, buyer_has, cap)
    sold, bought = _distribute(o, flows, x[:n_s], x[n_s + n_l :].reshape(n, k))
    return ClearingResult(flows, sold, bought, price, seller_price, _welfare(o, sold, bought,
                                                                            flows), "lp")


def _fill_idle_prices(o, price, seller_price, seller_has, buyer_has, cap):
    """Give nodes that neither buy nor sell a well-defined arbitrage price.

    A node with no demand has the price at which it would just start to buy: the cheapest
    delivered price from a seller it may buy from. A node with no supply has the price its
    sellers would get: the best buyer price net of link cost.
    """
    price = price.copy()
    seller_price = seller_price.copy()
    open_ = cap > 0
    for b in np.nonzero(~buyer_has)[0]:
        cand = (seller_price + o.link_cost[:, b])[open_[:, b] & seller_has]
        price[b] = cand.min() if cand.size else 0.0
    for s in np.nonzero(~seller_has)[0]:
        cand = (price - o.link_cost[s, :])[open_[s, :] & buyer_has]
        seller_price[s] = max(cand.max(), 0.0) if cand.size else 0.0
    return price, seller_price


def _distribute(o: MarketOrders, flows, sold_lp, bought_lp):
    """Make step quantities add up exactly to the flows (conservation by construction).

    The LP's step values can differ from the flow sums by solver tolerance; the flows are the
    accounting truth, so the steps are rescaled to them within each node.
    """
    n = len(o.nodes)
    sales = flows.sum(axis=1)
    purchases = flows.sum(axis=0)
    sold = sold_lp.clip(min=0.0)
    tot_sold = np.bincount(o.supply_node, weights=sold, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(tot_sold > 0, sales / tot_sold, 0.0)
    sold = np.minimum(sold * scale[o.supply_node], o.supply_qty)
    bought = bought_lp.clip(min=0.0)
    tot_b = bought.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        bscale = np.where(tot_b > 0, purchases / tot_b, 0.0)
    bought = bought * bscale[:, None]
    return sold, bought


def _welfare(o: MarketOrders, sold, bought, flows) -> float:
    return float(
        (bought * o.demand_bid[None, :]).sum()
        - (sold * o.supply_ask).sum()
        - (flows * o.link_cost).sum()
    )
