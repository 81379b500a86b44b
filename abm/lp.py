"""The clearing's linear programme: assembly, and its solution by HiGHS.

:func:`build` turns the orders of one or more products (and an optional conversion of some
products into another at the nodes) into one LP in a column-wise layout:

- columns, product by product: supply steps, link tranches (legal ones and unrecorded
  ``grey`` ones), demand steps; then one conversion column per node that can convert;
- rows: first every product's aggregate export caps (``<=``), then for every product ``N``
  seller balances (supply + conversion output - shipments out = 0) and ``N`` buyer balances
  (shipments in - demand - conversion input = 0).

The objective is to minimise asks + link costs + conversion costs - bid values (the negative
of welfare). The duals of the balance rows are the nodal seller and buyer prices.

:func:`solve` calls the HiGHS bindings bundled with SciPy directly (the problem and options
``scipy.optimize.linprog(method="highs", options={"presolve": False})`` would pass; see
``tests/test_market_fastpath.py``)
or, with ``direct=False`` or without the bindings, ``linprog`` itself. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

__all__ = ["LP", "ProductBlock", "build", "solve", "has_direct_solver"]


class SolveError(ValueError):
    """The solver could not solve the problem (raised as a ClearingError by the market)."""


@dataclass
class ProductBlock:
    """Where one product's variables and rows sit in the LP.

    Attributes:
        link_s, link_b: (L,) seller and buyer node of each link-tranche column.
        grey: (L,) whether a link column is unrecorded (outside policy caps).
        links: slice of the link columns.
        seller_row: index of the product's first seller-balance row (then ``N`` rows).
        buyer_row: index of the first buyer-balance row.
        seller_has, buyer_has: (N,) whether the node's balance row is live.
    """

    link_s: np.ndarray
    link_b: np.ndarray
    grey: np.ndarray
    links: slice
    seller_row: int
    buyer_row: int
    seller_has: np.ndarray
    buyer_has: np.ndarray


@dataclass
class LP:
    """An assembled LP: ``min c x`` s.t. ``row_lo <= A x <= row_hi``, ``0 <= x <= ub``."""

    c: np.ndarray
    ub: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    n_ub: int
    blocks: dict[str, ProductBlock] = field(default_factory=dict)
    conv_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    conv_cols: slice = slice(0, 0)


def _link_table(o, seller_has, buyer_has):
    """Link-tranche columns of one product: (seller, buyer, cost, cap, exported, grey)."""
    n = len(o.nodes)
    cap = o.link_cap.copy()
    np.fill_diagonal(cap, np.inf)
    live = seller_has[:, None] & buyer_has[None, :]
    s, b = np.nonzero((cap > 0) & live)
    cost, top = o.link_cost[s, b], cap[s, b]
    exported = s != b
    if o.sticky_cap is None:
        parts = [(s, b, cost, top, exported, np.zeros(s.size, bool))]
    else:
        # the relationship tranche at the link cost, the rest at the switching cost; the LP
        # fills the cheaper tranche first, so the policy cap splits between them in order
        first = np.where(exported, np.minimum(top, o.sticky_cap[s, b]), top)
        rest = np.zeros(s.size)
        rest[exported] = top[exported] - first[exported]
        more = rest > 0
        parts = [(s, b, cost, first, exported, np.zeros(s.size, bool)),
                 (s[more], b[more], cost[more] + o.switch_cost[s[more], b[more]], rest[more],
                  np.ones(more.sum(), bool), np.zeros(more.sum(), bool))]
        keep = first > 0
        parts[0] = tuple(a[keep] for a in parts[0])
    for tranche in o.grey:
        gs, gb = np.nonzero((tranche.cap > 0) & live & ~np.eye(n, dtype=bool))
        parts.append((gs, gb, tranche.cost[gs, gb], tranche.cap[gs, gb],
                      np.zeros(gs.size, bool), np.ones(gs.size, bool)))
    return tuple(np.concatenate(col) for col in zip(*parts, strict=True))


def build(orders: dict, conversion=None) -> LP:
    """Assemble the LP of several products' orders and an optional conversion.

    Args:
        orders: product -> :class:`abm.market.MarketOrders` (same nodes for all).
        conversion: :class:`abm.market.Conversion` or ``None``.
    """
    products = list(orders)
    n = len(orders[products[0]].nodes)
    conv_cap = conversion.capacity if conversion is not None else np.zeros(n)
    conv_nodes = np.nonzero(conv_cap > 0)[0]
    c_parts, ub_parts, trip = [], [], []
    col = 0
    n_ub = sum(int(np.isfinite(orders[p].export_cap).sum()) for p in products)
    ub_row, eq_row = 0, n_ub
    blocks = {}
    for p in products:
        o = orders[p]
        k = o.demand_bid.size
        seller_has = np.bincount(o.supply_node, weights=o.supply_qty, minlength=n) > 0
        buyer_has = o.demand_qty.sum(axis=1) > 0
        if conversion is not None and conv_nodes.size:
            if p == conversion.output:
                seller_has[conv_nodes] = True
            if p in conversion.inputs:
                buyer_has[conv_nodes] = True
        ls, lb, lcost, lcap, lexp, lgrey = _link_table(o, seller_has, buyer_has)
        # steps with nothing to sell or buy cannot enter the solution: leave them out
        s_keep = np.flatnonzero(o.supply_qty > 0)
        d_qty = o.demand_qty.ravel()
        d_keep = np.flatnonzero(d_qty > 0)
        n_s, n_l, n_d = s_keep.size, ls.size, d_keep.size
        sup = np.arange(col, col + n_s)
        lnk = np.arange(col + n_s, col + n_s + n_l)
        dem = np.arange(col + n_s + n_l, col + n_s + n_l + n_d)
        srow, brow = eq_row, eq_row + n
        trip += [(srow + o.supply_node[s_keep], sup, np.ones(n_s)),
                 (srow + ls, lnk, -np.ones(n_l)), (brow + lb, lnk, np.ones(n_l)),
                 (brow + d_keep // k, dem, -np.ones(n_d))]
        capped = np.nonzero(np.isfinite(o.export_cap))[0]
        if capped.size:
            cap_row = np.full(n, -1)
            cap_row[capped] = ub_row + np.arange(capped.size)
            on = lexp & (cap_row[ls] >= 0)
            trip.append((cap_row[ls[on]], lnk[on], np.ones(int(on.sum()))))
            ub_row += capped.size
        c_parts += [o.supply_ask[s_keep], lcost, -np.tile(o.demand_bid, n)[d_keep]]
        ub_parts += [o.supply_qty[s_keep], lcap, d_qty[d_keep]]
        blocks[p] = ProductBlock(ls, lb, lgrey, slice(col + n_s, col + n_s + n_l), srow, brow,
                                 seller_has, buyer_has)
        col += n_s + n_l + n_d
        eq_row += 2 * n
    conv_cols = slice(col, col + conv_nodes.size)
    if conv_nodes.size:
        zc = np.arange(col, col + conv_nodes.size)
        out = blocks[conversion.output]
        trip.append((out.seller_row + conv_nodes, zc, np.ones(zc.size)))
        for p, a in conversion.inputs.items():
            trip.append((blocks[p].buyer_row + conv_nodes, zc, -a * np.ones(zc.size)))
        c_parts.append(conversion.cost[conv_nodes])
        ub_parts.append(conv_cap[conv_nodes])
    rows, cols, vals = (np.concatenate(x) for x in zip(*trip, strict=True))
    row_hi = np.zeros(eq_row)
    row_hi[:n_ub] = np.concatenate([orders[p].export_cap[np.isfinite(orders[p].export_cap)]
                                    for p in products]) if n_ub else []
    row_lo = np.zeros(eq_row)
    row_lo[:n_ub] = -np.inf
    return LP(np.concatenate(c_parts), np.concatenate(ub_parts), rows.astype(np.int32),
              cols.astype(np.int32), vals.astype(float), row_lo, row_hi, n_ub, blocks,
              conv_nodes, conv_cols)


def has_direct_solver() -> bool:
    """Whether SciPy bundles the HiGHS bindings used by the direct route."""
    return _highs is not None and _HIGHS_OPTIONS is not None


def solve(lp: LP, direct: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Solve the LP; returns (x, duals of the equality rows).

    Raises:
        SolveError: the solver failed or found no optimum.
    """
    if lp.c.size == 0:  # nothing to sell or to buy: no trade, and no price from the solver
        return np.zeros(0), np.zeros(lp.row_hi.size - lp.n_ub)
    if direct and has_direct_solver():
        return _solve_direct(lp)
    return _solve_linprog(lp)


def _solve_linprog(lp: LP):
    n_var, m = lp.c.size, lp.row_hi.size
    bounds = np.column_stack([np.zeros(n_var), np.where(np.isinf(lp.ub), None, lp.ub)])
    a = coo_matrix((lp.vals, (lp.rows, lp.cols)), shape=(m, n_var)).tocsr()
    kw = {"A_eq": a[lp.n_ub:], "b_eq": np.zeros(m - lp.n_ub)}
    if lp.n_ub:
        kw |= {"A_ub": a[:lp.n_ub], "b_ub": lp.row_hi[:lp.n_ub]}
    res = linprog(lp.c, bounds=bounds, method="highs", options={"presolve": False}, **kw)
    if res.status != 0:
        raise SolveError(f"market clearing failed: {res.message}")
    return res.x, res.eqlin.marginals


def _highs_options():
    """The options ``linprog(method="highs", options={"presolve": False})`` passes to HiGHS.

    Presolve is off: on these small LPs (a few hundred to a few thousand columns, ~60 rows)
    it costs more than it saves (measured: a month's clearing takes half the time without it).
    """
    opt = _highs.HighsOptions()
    opt.presolve = "off"
    opt.highs_debug_level = 0  # kHighsDebugLevelNone
    opt.log_to_console = False
    opt.output_flag = False
    opt.simplex_strategy = 1  # kSimplexStrategyDual
    return opt


try:
    _HIGHS_OPTIONS = _highs_options() if _highs is not None else None
except (AttributeError, TypeError):  # pragma: no cover - another bindings layout: use linprog
    _HIGHS_OPTIONS = _highs = None


def _solve_direct(lp: LP):
    """HiGHS on the column-wise matrix.

    Nonzeros are sorted by column, then row, as linprog's ``csc_array(vstack((A_ub, A_eq)))``
    would give, so HiGHS receives the identical problem. The arrays go to HiGHS through the
    bindings' array overload of ``passModel`` (one copy in C++); a bindings layout without it
    gets a ``HighsLp`` instead, whose fields pybind11 converts element by element (~0.2 ms
    more per LP: benchmarks/bench_clearing.py, section 3).
    """
    h = _direct_model(lp)
    h.run()
    status = h.getModelStatus()
    if status != _highs.HighsModelStatus.kOptimal:
        raise SolveError(f"market clearing failed: {h.modelStatusToString(status)}")
    sol = h.getSolution()
    return np.asarray(sol.col_value), np.asarray(sol.row_dual)[lp.n_ub:]


def _direct_model(lp: LP):
    """A HiGHS instance holding the LP, options set, not yet run (a cold start each time).

    Raises:
        SolveError: HiGHS rejected the model.
    """
    n_var, m = lp.c.size, lp.row_hi.size
    order = np.argsort(lp.cols.astype(np.int64) * m + lp.rows, kind="stable")  # column, row
    index = lp.rows[order].astype(np.int32)
    value = np.ascontiguousarray(lp.vals[order], dtype=float)
    start = np.zeros(n_var, np.int32)  # column j's first nonzero (HiGHS appends the count)
    np.cumsum(np.bincount(lp.cols, minlength=n_var)[:-1], out=start[1:])
    inf = _highs.kHighsInf
    arrays = (np.ascontiguousarray(lp.c, dtype=float), np.zeros(n_var),
              np.where(np.isinf(lp.ub), inf, lp.ub), np.where(np.isinf(lp.row_lo), -inf, lp.row_lo),
              np.ascontiguousarray(lp.row_hi, dtype=float))
    h = _highs._Highs()
    h.passOptions(_HIGHS_OPTIONS)
    try:
        status = h.passModel(n_var, m, index.size, _COLWISE, _MINIMIZE, 0.0, *arrays, start,
                             index, value, np.zeros(n_var, np.int32))  # all columns continuous
    except TypeError:  # bindings without the array overload (tests/test_market_fastpath.py)
        status = h.passModel(_highs_lp(n_var, m, arrays, start, index, value))
    if status == _highs.HighsStatus.kError:
        raise SolveError("market clearing failed: HiGHS rejected the model")
    return h


#: HiGHS's codes for a column-wise matrix and for minimisation (MatrixFormat, ObjSense)
_COLWISE, _MINIMIZE = 1, 1


def _highs_lp(n_var: int, m: int, arrays: tuple, start, index, value):
    """The same problem as a ``HighsLp`` (for bindings without the array ``passModel``)."""
    cost, lower, upper, row_lower, row_upper = arrays
    h_lp = _highs.HighsLp()
    h_lp.num_col_ = n_var
    h_lp.num_row_ = m
    h_lp.a_matrix_.num_col_ = n_var
    h_lp.a_matrix_.num_row_ = m
    h_lp.a_matrix_.format_ = _highs.MatrixFormat.kColwise
    h_lp.col_cost_ = cost
    h_lp.col_lower_ = lower
    h_lp.col_upper_ = upper
    h_lp.row_lower_ = row_lower
    h_lp.row_upper_ = row_upper
    # integer vectors go through pybind11's sequence protocol: a list converts ~3x faster
    h_lp.a_matrix_.start_ = [*start.tolist(), index.size]
    h_lp.a_matrix_.index_ = index.tolist()
    h_lp.a_matrix_.value_ = value
    return h_lp
