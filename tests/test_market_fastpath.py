"""The direct HiGHS route of clear_market gives the solution of scipy's linprog route.

``clear_market`` builds the LP's column-wise matrix itself and calls the HiGHS bindings bundled
with SciPy; ``solver="linprog"`` goes through ``scipy.optimize.linprog``. Both must return the
same allocations and prices (they hand HiGHS the same problem, so in practice bit for bit; the
tests allow 1e-9 relative).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_array

from abm import lp
from abm.market import ClearingError, MarketOrders, clear_market, price_grid

INF = np.inf
FIELDS = ("flows", "sold", "bought", "price", "seller_price")

pytestmark = pytest.mark.skipif(not lp.has_direct_solver(),
                                reason="this SciPy build has no bundled HiGHS bindings")


def assert_same(o: MarketOrders) -> None:
    a = clear_market(o, solver="linprog")
    b = clear_market(o, solver="direct")
    scale = max(1.0, float(o.supply_qty.sum()), float(o.demand_qty.sum()),
                float(o.demand_bid.max(initial=0.0)))
    for f in FIELDS:
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-9, atol=1e-9 * scale,
                                   err_msg=f)
    assert b.welfare == pytest.approx(a.welfare, rel=1e-9, abs=1e-9 * scale)
    # "auto" takes the direct route when the bindings exist
    c = clear_market(o)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(c, f), getattr(b, f))


def make(nodes, supply, bids, demand, cost=None, cap=None, export_cap=None):
    n = len(nodes)
    s_node, s_qty, s_ask = (np.array(x, dtype=float) for x in zip(*supply, strict=True))
    return MarketOrders(
        nodes=tuple(nodes), supply_node=s_node.astype(int), supply_qty=s_qty, supply_ask=s_ask,
        demand_bid=np.array(bids, dtype=float), demand_qty=np.array(demand, dtype=float),
        link_cost=np.zeros((n, n)) if cost is None else np.array(cost, dtype=float),
        link_cap=np.full((n, n), INF) if cap is None else np.array(cap, dtype=float),
        export_cap=np.full(n, INF) if export_cap is None else np.array(export_cap, dtype=float))


HAND_CASES = {
    "open, one price": make("AB", [(0, 100, 1)], [10, 5, 2], [[30, 30, 30], [30, 30, 30]]),
    "link cost": make("AB", [(0, 100, 1)], [10, 5, 2], [[30, 30, 30], [30, 30, 30]],
                      cost=[[0, 0.1], [0.1, 0]]),
    "binding link cap": make("AB", [(0, 100, 1)], [10, 5, 2], [[30, 30, 30], [30, 30, 30]],
                             cap=[[INF, 20], [INF, INF]]),
    "export cap": make("ABC", [(0, 80, 1)], [10, 5], [[30, 30], [20, 20], [20, 20]],
                       export_cap=[25, INF, INF]),
    "ban and a second seller": make("ABC", [(0, 100, 1), (2, 10, 2)], [10, 5],
                                    [[30, 30], [30, 30], [0, 0]],
                                    cap=[[INF, 0, INF], [INF, INF, INF], [INF, INF, INF]]),
    "no demand at all": make("AB", [(0, 4, 3)], [10, 5], [[0, 0], [0, 0]]),
    "no supply at all": make("AB", [(0, 0, 3)], [10, 5], [[5, 5], [5, 5]]),
    "shortage": make("AB", [(1, 10, 1)], [10, 5], [[40, 40], [0, 0]]),
    "equal asks everywhere (degenerate)": make(
        "ABC", [(0, 50, 2), (1, 50, 2), (2, 50, 2)], [9, 6, 3],
        [[20, 20, 20], [20, 20, 20], [20, 20, 20]], cost=np.full((3, 3), 0.5) - 0.5 * np.eye(3)),
}


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_direct_route_matches_linprog_on_hand_cases(name):
    assert_same(HAND_CASES[name])


def test_direct_route_solves_the_hand_case_right():
    r = clear_market(HAND_CASES["binding link cap"], solver="direct")
    np.testing.assert_allclose(r.flows, [[80, 20], [0, 0]], atol=1e-9)
    np.testing.assert_allclose(r.price, [2, 10], atol=1e-9)


def random_orders(seed: int, n: int, s: int, k: int, capped: bool) -> MarketOrders:
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0.0, 3.0, (n, n)) * (rng.random((n, n)) < 0.7)
    np.fill_diagonal(cost, 0.0)
    cap = np.full((n, n), INF)
    export_cap = np.full(n, INF)
    if capped:
        cap = np.where(rng.random((n, n)) < 0.3, rng.choice([0.0, 5.0, 40.0], (n, n)), INF)
        export_cap = np.where(rng.random(n) < 0.3, rng.uniform(0.0, 100.0, n), INF)
    return MarketOrders(
        nodes=tuple(f"C{i}" for i in range(n)), supply_node=rng.integers(0, n, s),
        supply_qty=rng.uniform(0.0, 100.0, s) * (rng.random(s) < 0.9),
        supply_ask=rng.choice([1.0, 2.0, rng.uniform(0.5, 50.0)], s),
        demand_bid=price_grid(20.0, k) if k > 1 else np.array([20.0]),
        demand_qty=rng.uniform(0.0, 30.0, (n, k)) * (rng.random((n, k)) < 0.8),
        link_cost=cost, link_cap=cap, export_cap=export_cap)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(1, 7), s=st.integers(1, 20),
       k=st.integers(1, 45))
def test_direct_route_matches_linprog_on_random_unconstrained_orders(seed, n, s, k):
    o = random_orders(seed, n, s, k, capped=False)
    assert o.unconstrained
    assert_same(o)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(1, 7), s=st.integers(1, 20),
       k=st.integers(1, 45))
def test_direct_route_matches_linprog_on_random_capped_orders(seed, n, s, k):
    assert_same(random_orders(seed, n, s, k, capped=True))


def test_model_month_orders_match():
    import abm

    model = abm.RareEarthModel(scenario="controls_2025", rng=3)
    for _ in range(30):  # into the licence period: caps in force
        model.step()
    from abm.exchange import build_orders

    orders = build_orders(model, model.plan_month(record=False), model.regime,
                          steady_state=False)
    assert not all(o.unconstrained for o, _book in orders.values())
    for o, _book in orders.values():
        assert_same(o)


def test_unknown_solver_is_a_clear_error():
    with pytest.raises(ClearingError, match="unknown solver"):
        clear_market(HAND_CASES["shortage"], solver="simplex")


def test_without_bundled_bindings_auto_falls_back_to_linprog(monkeypatch):
    o = HAND_CASES["binding link cap"]
    want = clear_market(o, solver="linprog")
    monkeypatch.setattr(lp, "_highs", None)
    got = clear_market(o)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f))
    with pytest.raises(ClearingError, match="no bundled HiGHS bindings"):
        clear_market(o, solver="direct")


def test_bindings_without_the_array_overload_solve_the_same_problem(monkeypatch):
    """HiGHS gets the same LP through a ``HighsLp`` when ``passModel`` takes no arrays."""
    calls = []

    class NoArrays(lp._highs._Highs):
        def passModel(self, *args):  # noqa: N802 - the bindings' name
            calls.append(len(args))
            if len(args) != 1:
                raise TypeError("no array overload in these bindings")
            return super().passModel(*args)

    for name, o in HAND_CASES.items():
        fast = clear_market(o, solver="direct")
        with monkeypatch.context() as m:
            m.setattr(lp._highs, "_Highs", NoArrays)
            slow = clear_market(o, solver="direct")
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(slow, f), getattr(fast, f), err_msg=name)
    assert calls and set(calls) == {1, 15}  # tried the arrays, then passed a HighsLp


def _array_overload_advertised() -> bool:
    """Whether the bindings list a 15-argument (array) ``passModel`` overload."""
    doc = lp._highs._Highs.passModel.__doc__ or ""
    return any(line.count(", arg") == 15 for line in doc.splitlines()
               if "passModel(" in line)


def test_bindings_with_the_array_overload_take_it_without_falling_back(monkeypatch):
    """The ``HighsLp`` fallback is for bindings without the array overload only.

    Where the bindings advertise it, a malformed array call (a wrong argument, a wrong dtype)
    raises ``TypeError``, which the fallback would hide at ~0.2 ms more per LP
    (benchmarks/bench_clearing.py); where they do not, the fallback must be taken.
    """
    used = []

    def spy(*args):
        used.append(True)
        if _array_overload_advertised():
            raise AssertionError("the HighsLp fallback was used")
        return real(*args)

    real = lp._highs_lp
    monkeypatch.setattr(lp, "_highs_lp", spy)
    for name, o in HAND_CASES.items():
        got = clear_market(o, solver="direct")
        want = clear_market(o, solver="linprog")
        for f in FIELDS:
            np.testing.assert_allclose(getattr(got, f), getattr(want, f), rtol=1e-9, atol=1e-9,
                                       err_msg=name)
    assert bool(used) != _array_overload_advertised()


@pytest.mark.skipif(not lp.has_direct_solver(), reason="needs SciPy's bundled HiGHS bindings")
def test_highs_gets_the_matrix_scipy_would_build_column_by_column_rows_ascending():
    # the reference: scipy's own CSC conversion of the same triplets (sorted indices), which is
    # what linprog hands HiGHS; a different row order inside a column is the same LP but can
    # lead the simplex to another vertex of a degenerate optimum
    for seed in range(5):
        problem = lp.build({"p": random_orders(seed, 5, 12, 9, capped=seed % 2 == 1)})
        m, n = problem.row_hi.size, problem.c.size
        ref = coo_array((problem.vals, (problem.rows, problem.cols)), shape=(m, n)).tocsc()
        ref.sort_indices()
        got = lp._direct_model(problem).getLp().a_matrix_
        assert list(got.start_) == ref.indptr.tolist()
        assert list(got.index_) == ref.indices.tolist()
        assert list(got.value_) == ref.data.tolist()
