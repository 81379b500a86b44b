"""benchmarks/bench_clearing.py, section 4 (warm start): its pairing and measures on known cases."""

import numpy as np
from _scripts import load_script

from abm import lp as _lp
from abm.market import MarketOrders

bench_clearing = load_script("benchmarks/bench_clearing.py")


def _lp_of(seed: int, n_sellers: int = 30):
    return _lp.build({"p": bench_clearing.random_orders(6, n_sellers, False, seed=seed)})


def test_an_lp_warm_started_from_its_own_optimum_needs_no_iteration_and_stays_put():
    # the same LP twice: the second starts at the first's optimal basis, so the simplex has
    # nothing to do and returns the same vertex (up to the rounding of a new factorisation)
    one = _lp_of(1)
    w = bench_clearing.warm_start([one, one], rounds=1)
    assert (w["months"], w["pairs"]) == (2, 1)
    assert w["warm_iters"] == 0
    assert w["cold_iters"] > 0
    assert w["flow_diff"] <= 1e-9 and w["price_diff"] <= 1e-9


def test_only_months_with_last_months_columns_and_rows_are_paired():
    a, b = _lp_of(1, 30), _lp_of(2, 31)  # one more supply step: another column count
    assert a.c.size != b.c.size
    assert bench_clearing.warm_start([a, b], rounds=1)["pairs"] == 0
    assert bench_clearing.warm_start([a, b, b, a], rounds=1)["pairs"] == 1


def test_the_model_and_the_benchmark_build_the_same_highs_problem():
    # _direct_model (used by the benchmark) is what the model's solve runs: same solution
    one = _lp_of(3)
    x, duals = _lp._solve_direct(one)
    h = _lp._direct_model(one)
    h.run()
    sol = h.getSolution()
    assert np.array_equal(np.asarray(sol.col_value), x)
    assert np.array_equal(np.asarray(sol.row_dual)[one.n_ub:], duals)
    assert isinstance(bench_clearing.random_orders(6, 30, False, seed=3), MarketOrders)
