"""Market clearing: orders in, flows and nodal prices out (pure functions).

The market is a small network. Every country is a node that can sell (refined oxide offered by
its refiners, producers' stocks, state stockpile releases, traders' stocks) and buy (its firms'
aggregated demand curve plus state and trader purchases). A seller-country -> buyer-country
*link* carries a product at a link cost (US$/kg) and up to a cap (t/month) from export policy:
``inf`` = open, ``0`` = ban, a finite number = quota or licensed volume. A seller may also have an
aggregate export cap over all its foreign links (an export quota that names no destination).

Two refinements of the links (both optional):

- **sticky sourcing**: a foreign link carries its *relationship* volume (``sticky_cap``, e.g.
  a share of its normal flow) at the link cost, and anything beyond at an extra
  ``switch_cost``: buyers keep their usual suppliers unless a price difference covers the cost of
  switching, so trade does not flip wholesale on a 1% cost difference (a piecewise-linear
  version of Armington-style sourcing with sticky contracts);
- **unrecorded (grey) trade**: tranches of capacity between countries outside every policy cap
  and export cap, at costs that rise tranche by tranche (smuggling, mislabelled goods): they
  carry more as the price gap between two nodes grows, and are reported apart from the flows.

Several products can clear together with a :class:`Conversion`: at each node a processing
capacity turns fixed amounts of input products into an output product (oxide into NdFeB
magnets) at a cost. Clearing maximises welfare (value of demand served minus asks, link and
conversion costs) under every cap, as one linear programme solved with HiGHS
(:mod:`abm.lp`); the dual of each balance row is a nodal price (US$/kg), so prices emerge: with
open trade they differ by link costs, a binding cap splits them into two tiers, and a magnet's
price is its oxide content at the converting node plus the conversion cost (plus a scarcity
rent when capacity binds). A node's sales and purchases are split over its steps in merit
order, which conserves every tonne by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abm import lp as _lp

__all__ = ["MarketOrders", "GreyTranche", "Conversion", "ClearingResult", "ClearingError",
           "clear_market", "clear_chain", "price_grid", "NOISE_SHARE", "MIN_PRICE_FRAC"]

#: flows below this share of the month's traded volume are solver noise
NOISE_SHARE = 1e-12
#: a price below this share of the product's reference price is taken as no price (a
#: numerical guard for agents that divide by prices: expectations, returns)
MIN_PRICE_FRAC = 1e-9


class ClearingError(ValueError):
    """Raised when orders are malformed or the clearing problem cannot be solved."""


@dataclass(frozen=True)
class GreyTranche:
    """Unrecorded trade capacity between countries, outside policy and export caps.

    Attributes:
        cap: (N, N) t/month each link can carry in this tranche (0 = none).
        cost: (N, N) US$/kg to ship in this tranche (link cost plus the risk premium).
    """

    cap: np.ndarray
    cost: np.ndarray


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
        sticky_cap: (N, N) t/month of a foreign link's relationship tranche, or ``None`` (no
            switching cost).
        switch_cost: (N, N) US$/kg extra beyond the relationship tranche.
        grey: unrecorded trade tranches.
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
    sticky_cap: np.ndarray | None = None
    switch_cost: np.ndarray | None = None
    grey: tuple[GreyTranche, ...] = ()

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
        for name in ("link_cost", "link_cap", "sticky_cap", "switch_cost"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n, n):
                raise ClearingError(f"{name} must have shape ({n}, {n})")
        if (self.sticky_cap is None) != (self.switch_cost is None):
            raise ClearingError("sticky_cap and switch_cost go together")
        if self.export_cap.shape != (n,):
            raise ClearingError(f"export_cap must have shape ({n},)")
        # one vectorised check of every value first (the common case: all fine); only when it
        # fails do the per-array checks below run, to name the array at fault
        finite = [self.supply_qty, self.supply_ask, self.demand_bid, self.demand_qty.ravel(),
                  self.link_cost.ravel()]
        finite += [t.cost.ravel() for t in self.grey]
        if self.switch_cost is not None:
            finite.append(self.switch_cost.ravel())
        values = np.concatenate(finite)
        caps = np.concatenate([self.link_cap.ravel(), self.export_cap]
                              + [t.cap.ravel() for t in self.grey]
                              + ([self.sticky_cap.ravel()] if self.sticky_cap is not None
                                 else []))
        if not (np.isfinite(values).all() and values.min(initial=0.0) >= 0
                and caps.min(initial=0.0) >= 0 and not np.isnan(caps).any()):
            self._name_bad_values()
        if k[0] > 1 and np.any(np.diff(self.demand_bid) >= 0):
            raise ClearingError("demand_bid must be strictly decreasing")

    def _name_bad_values(self) -> None:
        """Raise :class:`ClearingError` naming the first array with a bad value."""
        named = [(n, getattr(self, n)) for n in
                 ("supply_qty", "supply_ask", "demand_bid", "demand_qty", "link_cost",
                  "switch_cost")]
        named += [(f"grey[{i}].cost", t.cost) for i, t in enumerate(self.grey)]
        for name, arr in named:
            if arr is None:
                continue
            if not np.all(np.isfinite(arr)):
                raise ClearingError(f"{name} contains NaN or infinity")
            if np.any(arr < 0):
                raise ClearingError(f"{name} contains a negative value")
        caps = [("link_cap", self.link_cap), ("export_cap", self.export_cap),
                ("sticky_cap", self.sticky_cap)]
        caps += [(f"grey[{i}].cap", t.cap) for i, t in enumerate(self.grey)]
        for name, arr in caps:
            if arr is not None and (np.any(np.isnan(arr)) or np.any(arr < 0)):
                raise ClearingError(f"{name} contains NaN or a negative value")

    @property
    def unconstrained(self) -> bool:
        """True when no link cap and no export cap exists, so no cap can bind."""
        off = ~np.eye(len(self.nodes), dtype=bool)
        return bool(np.all(np.isinf(self.link_cap[off])) and np.all(np.isinf(self.export_cap)))


@dataclass(frozen=True)
class Conversion:
    """Processing at the nodes: input products into an output product.

    Attributes:
        output: the product made (e.g. ``magnet``).
        inputs: product -> t of it per t of output (e.g. NdPr oxide per t of magnet).
        capacity: (N,) t of output per month each node can make.
        cost: (N,) US$/kg of output, the conversion cost besides the inputs.
    """

    output: str
    inputs: dict[str, float]
    capacity: np.ndarray
    cost: np.ndarray

    def validate(self, products, n: int) -> None:
        """Check the conversion against the products cleared and the node count.

        Raises:
            ClearingError: naming the problem.
        """
        if self.output not in products or any(p not in products for p in self.inputs):
            raise ClearingError("conversion names a product that is not cleared")
        if self.output in self.inputs:
            raise ClearingError("a conversion cannot use its own output")
        if self.capacity.shape != (n,) or self.cost.shape != (n,):
            raise ClearingError(f"conversion capacity and cost must have shape ({n},)")
        vals = np.concatenate([self.capacity, self.cost, list(self.inputs.values())])
        if not np.isfinite(vals).all() or vals.min(initial=0.0) < 0:
            raise ClearingError("conversion capacity, cost and inputs must be finite and >= 0")


@dataclass(frozen=True)
class ClearingResult:
    """Allocation and prices of one product for one month.

    Attributes:
        flows: (N, N) t shipped on recorded links from seller node (row) to buyer (column).
        sold: (S,) t sold from each supply step.
        bought: (N, K) t bought on each demand step.
        price: (N,) US$/kg, the buyer-node price (the dual of the node's buying balance).
        seller_price: (N,) US$/kg, the seller-node price (what a seller there receives).
        welfare: US$ thousand (t x US$/kg): value served minus asks, link (and, for a
            conversion's output, conversion) costs.
        method: the algorithm that solved it (``"lp"``).
        grey_flows: (N, N) t shipped unrecorded.
        converted_in: (N,) t of this product used by conversion at each node.
        converted_out: (N,) t of this product made by conversion at each node.
        node_purchases: (N,) t bought by each node's buyers, as booked (see :attr:`purchases`).
        node_sales: (N,) t sold from each node's supply steps, as booked.
    """

    flows: np.ndarray
    sold: np.ndarray
    bought: np.ndarray
    price: np.ndarray
    seller_price: np.ndarray
    welfare: float
    method: str
    grey_flows: np.ndarray | None = None
    converted_in: np.ndarray | None = None
    converted_out: np.ndarray | None = None
    node_purchases: np.ndarray | None = None
    node_sales: np.ndarray | None = None

    @property
    def all_flows(self) -> np.ndarray:
        """(N, N) recorded plus unrecorded flows."""
        return self.flows if self.grey_flows is None else self.flows + self.grey_flows

    @property
    def purchases(self) -> np.ndarray:
        """(N,) t bought by each node's buyers (inflows less what converters used)."""
        if self.node_purchases is not None:
            return self.node_purchases
        return self.all_flows.sum(axis=0)

    @property
    def sales(self) -> np.ndarray:
        """(N,) t sold from each node's supply steps (outflows less what conversion made)."""
        if self.node_sales is not None:
            return self.node_sales
        return self.all_flows.sum(axis=1)

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


def clear_market(orders: MarketOrders, *, validate: bool = True,
                 solver: str = "auto") -> ClearingResult:
    """Clear one product's market: welfare-maximising flows under link and export caps.

    Args:
        orders: the month's supply steps, demand steps, link costs and caps.
        validate: check the orders first (guard clauses at the market boundary).
        solver: ``"auto"`` (HiGHS called directly when SciPy bundles its bindings, else
            ``linprog``), ``"direct"`` or ``"linprog"``. Both give the same solution.

    Returns:
        The allocation and nodal prices.

    Raises:
        ClearingError: malformed orders, an unknown solver, or the solver failed.
    """
    return clear_chain({"product": orders}, validate=validate, solver=solver)["product"]


def clear_chain(orders: dict[str, MarketOrders], conversion: Conversion | None = None, *,
                validate: bool = True, solver: str = "auto") -> dict[str, ClearingResult]:
    """Clear several products together, with an optional conversion between them.

    Args:
        orders: product -> its orders (the same nodes for every product).
        conversion: processing of some products into another at the nodes, or ``None``.
        validate: check the orders first.
        solver: as in :func:`clear_market`.

    Returns:
        product -> its allocation and nodal prices.

    Raises:
        ClearingError: malformed orders, an unknown solver, or the solver failed.
    """
    if solver not in ("auto", "direct", "linprog"):
        raise ClearingError(f"unknown solver {solver!r}: use 'auto', 'direct' or 'linprog'")
    if solver == "direct" and not _lp.has_direct_solver():
        raise ClearingError("this SciPy build has no bundled HiGHS bindings; use 'linprog'")
    if not orders:
        raise ClearingError("no products to clear")
    nodes = next(iter(orders.values())).nodes
    if validate:
        for o in orders.values():
            if o.nodes != nodes:
                raise ClearingError("every product must have the same nodes")
            o.validate()
        if conversion is not None:
            conversion.validate(orders, len(nodes))
    problem = _lp.build(orders, conversion)
    try:
        x, duals = _lp.solve(problem, direct=solver != "linprog")
    except _lp.SolveError as exc:
        raise ClearingError(str(exc)) from None
    return _results(orders, conversion, problem, x, duals)


def _results(orders, conversion, problem, x, duals) -> dict[str, ClearingResult]:
    """Flows, step quantities, prices and welfare of every product from the LP solution."""
    n = len(next(iter(orders.values())).nodes)
    made = np.zeros(n)
    if problem.conv_nodes.size:
        made[problem.conv_nodes] = np.clip(x[problem.conv_cols], 0.0, None)
    raw = {}
    for p, o in orders.items():
        blk = problem.blocks[p]
        vals = np.clip(x[blk.links], 0.0, None)
        # tranches of one link add up (in column order, as np.add.at would)
        cell = blk.link_s * n + blk.link_b
        flows = np.bincount(cell[~blk.grey], vals[~blk.grey], n * n).reshape(n, n)
        grey = np.bincount(cell[blk.grey], vals[blk.grey], n * n).reshape(n, n)
        own = made if conversion is not None and p == conversion.output else None
        raw[p] = _clean_flows(o, flows, grey, own)
    if conversion is not None:
        made = _feasible_conversion(made, conversion, raw)
        # trimming the output may leave a node shipping a hair more than it now made
        o = orders[conversion.output]
        raw[conversion.output] = _clean_flows(o, *raw[conversion.output], made)
        # a converting node with no stock of the output sells exactly what it made
        bare = np.bincount(o.supply_node, weights=o.supply_qty, minlength=n) <= 0
        f, g = raw[conversion.output]
        made = np.where(bare & (made > 0), f.sum(axis=1) + g.sum(axis=1), made)
    out = {}
    for p, o in orders.items():
        blk = problem.blocks[p]
        flows, grey = raw[p]
        conv_in = conv_out = None
        sales, purchases = flows.sum(axis=1) + grey.sum(axis=1), flows.sum(axis=0) + grey.sum(
            axis=0)
        if conversion is not None:
            conv_out = made if p == conversion.output else np.zeros(n)
            sales = np.clip(sales - conv_out, 0.0, None)
            # buyers take what the converters did not; a node without demand steps buys
            # nothing, and a solver-noise remainder there is the converters' too
            inflow = purchases
            purchases = np.clip(inflow - made * conversion.inputs.get(p, 0.0), 0.0, None)
            noise = NOISE_SHARE * max(float(inflow.sum()), 1.0)
            purchases[(o.demand_qty.sum(axis=1) <= 0) | (purchases < noise)] = 0.0
            conv_in = inflow - purchases
        eq = blk.seller_row - problem.n_ub
        seller_price = np.clip(duals[eq:eq + n], 0.0, None)
        price = np.clip(duals[eq + n:eq + 2 * n], 0.0, None)
        price, seller_price = _fill_idle_prices(o, price, seller_price, blk.seller_has,
                                                blk.buyer_has)
        sold, bought = _distribute(o, sales, purchases)
        # welfare: value served - asks - the cost of every link tranche used (- conversion)
        link_cost = float((np.clip(x[blk.links], 0.0, None) * problem.c[blk.links]).sum())
        welfare = float((bought * o.demand_bid[None, :]).sum() - (sold * o.supply_ask).sum()
                        - link_cost)
        if conversion is not None and p == conversion.output:
            welfare -= float((made * conversion.cost).sum())
        out[p] = ClearingResult(flows, sold, bought, price, seller_price, welfare, "lp",
                                grey if o.grey else None, conv_in, conv_out,
                                purchases if conversion is not None else None,
                                sales if conversion is not None else None)
    return out


def _clean_flows(o: MarketOrders, flows: np.ndarray, grey: np.ndarray,
                 made: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Remove solver noise from the flows and keep every seller within what it offered.

    The threshold is relative to the volume actually traded this month (not to the largest
    demand step, which at high elasticity can be many orders of magnitude larger than any
    trade). A seller node whose shipments exceed its supply (plus what it converted) by solver
    tolerance is scaled back, so that no tonne is shipped that was not offered.
    """
    total = float(flows.sum() + grey.sum())
    if total <= 0.0:
        return np.zeros_like(flows), np.zeros_like(grey)
    flows = np.where(flows < NOISE_SHARE * total, 0.0, flows)
    grey = np.where(grey < NOISE_SHARE * total, 0.0, grey)
    n = len(o.nodes)
    supply = np.bincount(o.supply_node, weights=o.supply_qty, minlength=n)
    if made is not None:
        supply = supply + made
    sales = flows.sum(axis=1) + grey.sum(axis=1)
    over = sales > supply
    if over.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(over, supply / sales, 1.0)
        flows, grey = flows * factor[:, None], grey * factor[:, None]
    return flows, grey


def _feasible_conversion(made: np.ndarray, conversion: Conversion, raw) -> np.ndarray:
    """Conversion output within what the node shipped and what its inputs allow.

    Solver tolerance can leave either side a hair off; trimming the output to both keeps the
    books of every product in balance.
    """
    flows, grey = raw[conversion.output]
    made = np.minimum(made, flows.sum(axis=1) + grey.sum(axis=1))
    for p, a in conversion.inputs.items():
        if a > 0:
            f, g = raw[p]
            made = np.minimum(made, (f.sum(axis=0) + g.sum(axis=0)) / a)
    return np.clip(np.minimum(made, conversion.capacity), 0.0, None)


def _fill_idle_prices(o, price, seller_price, seller_has, buyer_has):
    """Give nodes that neither buy nor sell a well-defined arbitrage price.

    A node with no demand has the price at which it would just start to buy: the cheapest
    delivered price from a seller it may buy from. A node with no supply has the price its
    sellers would get: the best buyer price net of link cost.
    """
    price = price.copy()
    seller_price = seller_price.copy()
    cap = o.link_cap.copy()
    np.fill_diagonal(cap, np.inf)
    open_ = cap > 0
    for b in np.nonzero(~buyer_has)[0]:
        cand = (seller_price + o.link_cost[:, b])[open_[:, b] & seller_has]
        price[b] = cand.min() if cand.size else 0.0
    for s in np.nonzero(~seller_has)[0]:
        cand = (price - o.link_cost[s, :])[open_[s, :] & buyer_has]
        seller_price[s] = max(cand.max(), 0.0) if cand.size else 0.0
    return price, seller_price


def _distribute(o: MarketOrders, sales: np.ndarray,
                purchases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split each node's sales and purchases over its steps in merit order, exactly.

    A node's sales come from its cheapest supply steps first and its purchases fill its
    highest bids first, as in the LP optimum; unlike the LP's step values (which differ from
    the flow sums by solver tolerance) the split adds up to the flows by construction, so the
    accounting conserves every tonne. The flows are the accounting truth.

    Returns:
        (sold, bought): (S,) t per supply step and (N, K) t per node and demand step.
    """
    sold = np.zeros(o.supply_qty.size)
    order = np.lexsort((np.arange(o.supply_qty.size), o.supply_ask, o.supply_node))
    n = sales.size
    count = np.bincount(o.supply_node, minlength=n)
    sellers = np.flatnonzero((sales > 0) & (count > 0))
    if sellers.size:
        # each selling node's steps in merit order, as a row padded with empty steps
        first = np.concatenate(([0], np.cumsum(count)[:-1]))
        width = count[sellers]
        col = np.arange(width.max())
        inside = col[None, :] < width[:, None]
        steps = order[np.where(inside, first[sellers][:, None] + col[None, :], 0)]
        capacity = np.where(inside, o.supply_qty[steps], 0.0)
        take = _fill_in_order(capacity, sales[sellers], width)
        sold[steps[inside]] = take[inside]
    bought = np.zeros_like(o.demand_qty)
    buyers = np.flatnonzero(purchases > 0)
    if buyers.size:
        k = o.demand_bid.size
        bought[buyers] = _fill_in_order(o.demand_qty[buyers], purchases[buyers],
                                        np.full(buyers.size, k))
    return sold, bought


def _fill_in_order(capacity: np.ndarray, amount: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Fill each row's steps in order with its amount; the last step used takes the rest.

    Args:
        capacity: (R, W) t each step can take, row by row; a row's steps beyond its
            ``width`` are padding (0).
        amount: (R,) t to place in each row.
        width: (R,) number of real steps in each row (at least 1).

    Returns:
        (R, W): each row sums to its amount exactly (up to one rounding) and is never
        negative: the remainder is put on the last step used, and when the steps hold less
        than the amount (steps the solver filled within tolerance) the excess goes on the
        last real step.
    """
    cum = np.cumsum(capacity, axis=1)
    take = np.clip(amount[:, None] - (cum - capacity), 0.0, capacity)
    # the first step whose cumulative capacity reaches the amount (cum is non-decreasing)
    used = np.minimum((cum < amount[:, None]).sum(axis=1), width - 1)
    take[np.arange(capacity.shape[1])[None, :] > used[:, None]] = 0.0
    for r, u in enumerate(used.tolist()):
        # the rest, never below zero (the steps before may sum to a hair above the amount)
        take[r, u] = max(amount[r] - take[r, :u].sum(), 0.0)
    return take
