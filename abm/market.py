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

Speed: the LP is small (a few hundred columns), so ``scipy.optimize.linprog``'s Python-side
work (input cleaning, sparse-matrix conversions, option checks and a per-column loop over the
basis) costs about twice the solve itself. :func:`clear_market` therefore builds the
column-wise constraint matrix directly with numpy and hands it to the HiGHS bindings bundled
with SciPy (``scipy.optimize._highspy``), with exactly the options ``linprog(method="highs")``
uses. The solver sees the same problem, so the solution is bit-for-bit the one ``linprog``
returns (``tests/test_market_fastpath.py`` checks this); where the private bindings are missing
(another SciPy layout) the public ``linprog`` is used instead. ``clear_market(...,
solver="linprog")`` forces the public route.

All functions here are pure: they read their arguments and return new objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

try:  # HiGHS bindings bundled with SciPy >= 1.15 (private; fall back to linprog without them)
    from scipy.optimize._highspy import _core as _highs

    for _name in ("HighsLp", "HighsOptions", "HighsStatus", "HighsModelStatus",
                  "MatrixFormat", "_Highs", "kHighsInf"):
        getattr(_highs, _name)
except (ImportError, AttributeError):  # pragma: no cover - depends on the SciPy build
    _highs = None

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
        # one vectorised check of every value first (the common case: all fine); only when it
        # fails do the per-array checks below run, to name the array at fault
        values = np.concatenate([self.supply_qty, self.supply_ask, self.demand_bid,
                                 self.demand_qty.ravel(), self.link_cost.ravel()])
        caps = np.concatenate([self.link_cap.ravel(), self.export_cap])
        if not (np.isfinite(values).all() and values.min(initial=0.0) >= 0
                and caps.min(initial=0.0) >= 0):
            self._name_bad_values()
        if k[0] > 1 and np.any(np.diff(self.demand_bid) >= 0):
            raise ClearingError("demand_bid must be strictly decreasing")

    def _name_bad_values(self) -> None:
        """Raise :class:`ClearingError` naming the first array with a bad value."""
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
    if solver not in ("auto", "direct", "linprog"):
        raise ClearingError(f"unknown solver {solver!r}: use 'auto', 'direct' or 'linprog'")
    if solver == "direct" and _highs is None:
        raise ClearingError("this SciPy build has no bundled HiGHS bindings; use 'linprog'")
    if validate:
        orders.validate()
    return _clear_lp(orders, direct=solver != "linprog" and _highs is not None)


def _clear_lp(o: MarketOrders, direct: bool = True) -> ClearingResult:
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

    # Objective: asks + link costs - bid values (minimise).
    c = np.concatenate([o.supply_ask, o.link_cost[link_s, link_b], -np.tile(o.demand_bid, n)])
    bounds_hi = np.concatenate([o.supply_qty, cap[link_s, link_b], o.demand_qty.ravel()])
    # Rows: aggregate export caps first (<=), then 2n equality rows:
    #   rows 0..n-1: seller balance  sum(q at s) - sum(x out of s) = 0
    #   rows n..2n-1: buyer balance sum(x into b) - sum(d at b) = 0
    capped = np.nonzero(np.isfinite(o.export_cap))[0]
    if direct:
        x, marg = _solve_direct(o, n, k, link_s, link_b, capped, c, bounds_hi)
    else:
        x, marg = _solve_linprog(o, n, k, link_s, link_b, capped, c, bounds_hi)
    flows = np.zeros((n, n))
    np.add.at(flows, (link_s, link_b), np.clip(x[n_s : n_s + n_l], 0.0, None))
    flows = _clean_flows(o, flows)
    seller_price = np.clip(marg[:n], 0.0, None)
    price = np.clip(marg[n:], 0.0, None)
    # Nodes without a live balance row have an arbitrary dual: price them by arbitrage.
    price, seller_price = _fill_idle_prices(o, price, seller_price, seller_has, buyer_has, cap)
    sold, bought = _distribute(o, flows)
    return ClearingResult(flows, sold, bought, price, seller_price, _welfare(o, sold, bought,
                                                                            flows), "lp")


#: flows below this share of the month's traded volume are solver noise
NOISE_SHARE = 1e-12


def _clean_flows(o: MarketOrders, flows: np.ndarray) -> np.ndarray:
    """Remove solver noise from the flows and keep every seller within its supply.

    The threshold is relative to the volume actually traded this month (not to the largest
    demand step, which at high elasticity can be many orders of magnitude larger than any
    trade). A seller node whose flows exceed its supply by solver tolerance is scaled back to
    its supply, so that no tonne is shipped that was not offered.
    """
    total = float(flows.sum())
    if total <= 0.0:
        return np.zeros_like(flows)
    flows = np.where(flows < NOISE_SHARE * total, 0.0, flows)
    n = len(o.nodes)
    supply = np.bincount(o.supply_node, weights=o.supply_qty, minlength=n)
    sales = flows.sum(axis=1)
    over = sales > supply
    if over.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(over, supply / sales, 1.0)
        flows = flows * factor[:, None]
    return flows


def _solve_linprog(o, n, k, link_s, link_b, capped, c, bounds_hi):
    """Solve with the public ``scipy.optimize.linprog``; returns (x, equality-row duals)."""
    n_s, n_l = o.supply_qty.size, link_s.size
    n_var = c.size
    bounds = np.column_stack([np.zeros(n_var), np.where(np.isinf(bounds_hi), None, bounds_hi)])
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
    return res.x, res.eqlin.marginals


def _highs_options():
    """The options ``linprog(method="highs")`` passes to HiGHS with its defaults."""
    opt = _highs.HighsOptions()
    opt.presolve = "on"
    opt.highs_debug_level = 0  # kHighsDebugLevelNone
    opt.log_to_console = False
    opt.output_flag = False
    opt.simplex_strategy = 1  # kSimplexStrategyDual
    return opt


try:
    _HIGHS_OPTIONS = _highs_options() if _highs is not None else None
except (AttributeError, TypeError):  # pragma: no cover - another bindings layout: use linprog
    _HIGHS_OPTIONS = _highs = None


def _solve_direct(o, n, k, link_s, link_b, capped, c, bounds_hi):
    """Solve with HiGHS directly; returns (x, equality-row duals).

    The column-wise (CSC) matrix is written down directly: every column has its nonzeros in
    increasing row order, as ``csc_array(vstack((A_ub, A_eq)))`` in ``linprog`` would give, so
    HiGHS receives the identical problem. Rows: ``m_ub`` export-cap rows, then the ``2n``
    balance rows.
    """
    n_s, n_l = o.supply_qty.size, link_s.size
    n_d = n * k
    m_ub = capped.size
    inf = _highs.kHighsInf
    # export-cap row of each link column (-1 = none): foreign links out of a capped seller
    cap_row = np.full(n, -1)
    cap_row[capped] = np.arange(m_ub)
    link_ub = np.where(link_s != link_b, cap_row[link_s], -1)
    has_ub = link_ub >= 0
    # nonzeros per column: supply 1, link 2 (+1 with a cap row), demand 1
    per_col = np.concatenate([np.ones(n_s, np.int32), 2 + has_ub.astype(np.int32),
                              np.ones(n_d, np.int32)])
    indptr = np.zeros(per_col.size + 1, np.int32)
    np.cumsum(per_col, out=indptr[1:])
    nnz = int(indptr[-1])
    index = np.empty(nnz, np.int32)
    value = np.empty(nnz)
    # supply columns: +1 on the seller balance row
    index[:n_s] = m_ub + o.supply_node
    value[:n_s] = 1.0
    # link columns: [+1 cap row], -1 seller row, +1 buyer row
    start = indptr[n_s : n_s + n_l]
    off = has_ub.astype(np.int32)
    index[start[has_ub]] = link_ub[has_ub]
    value[start[has_ub]] = 1.0
    index[start + off] = m_ub + link_s
    value[start + off] = -1.0
    index[start + off + 1] = m_ub + n + link_b
    value[start + off + 1] = 1.0
    # demand columns: -1 on the buyer balance row
    index[nnz - n_d :] = m_ub + n + np.repeat(np.arange(n), k)
    value[nnz - n_d :] = -1.0

    m = m_ub + 2 * n
    lhs = np.zeros(m)
    rhs = np.zeros(m)
    lhs[:m_ub] = -inf
    rhs[:m_ub] = o.export_cap[capped]
    ub = np.where(np.isinf(bounds_hi), inf, bounds_hi)

    lp = _highs.HighsLp()
    lp.num_col_ = c.size
    lp.num_row_ = m
    lp.a_matrix_.num_col_ = c.size
    lp.a_matrix_.num_row_ = m
    lp.a_matrix_.format_ = _highs.MatrixFormat.kColwise
    lp.col_cost_ = c
    lp.col_lower_ = np.zeros(c.size)
    lp.col_upper_ = ub
    lp.row_lower_ = lhs
    lp.row_upper_ = rhs
    # integer vectors go through pybind11's sequence protocol: a list converts ~3x faster
    lp.a_matrix_.start_ = indptr.tolist()
    lp.a_matrix_.index_ = index.tolist()
    lp.a_matrix_.value_ = value
    h = _highs._Highs()
    h.passOptions(_HIGHS_OPTIONS)
    if h.passModel(lp) == _highs.HighsStatus.kError:
        raise ClearingError("market clearing failed: HiGHS rejected the model")
    h.run()
    status = h.getModelStatus()
    if status != _highs.HighsModelStatus.kOptimal:
        raise ClearingError(f"market clearing failed: {h.modelStatusToString(status)}")
    sol = h.getSolution()
    return np.asarray(sol.col_value), np.asarray(sol.row_dual)[m_ub:]


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


def _distribute(o: MarketOrders, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split each node's sales and purchases over its steps in merit order, exactly.

    A node's sales come from its cheapest supply steps first and its purchases fill its
    highest bids first, as in the LP optimum; unlike the LP's step values (which differ from
    the flow sums by solver tolerance) the split adds up to the flows by construction, so the
    accounting conserves every tonne. The flows are the accounting truth.

    Returns:
        (sold, bought): (S,) t per supply step and (N, K) t per node and demand step.
    """
    sold = np.zeros(o.supply_qty.size)
    sales = flows.sum(axis=1)
    order = np.lexsort((np.arange(o.supply_qty.size), o.supply_ask, o.supply_node))
    for node in np.nonzero(sales > 0)[0]:
        steps = order[o.supply_node[order] == node]
        sold[steps] = _fill_in_order(o.supply_qty[steps], sales[node])
    purchases = flows.sum(axis=0)
    bought = np.zeros_like(o.demand_qty)
    for node in np.nonzero(purchases > 0)[0]:
        bought[node] = _fill_in_order(o.demand_qty[node], purchases[node])
    return sold, bought


def _fill_in_order(capacity: np.ndarray, amount: float) -> np.ndarray:
    """Fill ``capacity`` steps in the given order with ``amount``; the last step takes the rest.

    The result sums to ``amount`` exactly (up to one rounding): the remainder is put on the
    last step used, and when the steps hold less than the amount (demand steps that the solver
    filled within tolerance) the excess goes on the last step too.
    """
    cum = np.cumsum(capacity)
    take = np.clip(amount - (cum - capacity), 0.0, capacity)
    used = int(np.searchsorted(cum, amount, side="left"))
    used = min(used, capacity.size - 1)
    take[used + 1:] = 0.0
    take[used] = amount - take[:used].sum()
    return take


def _welfare(o: MarketOrders, sold, bought, flows) -> float:
    return float(
        (bought * o.demand_bid[None, :]).sum()
        - (sold * o.supply_ask).sum()
        - (flows * o.link_cost).sum()
    )
