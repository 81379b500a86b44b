"""Time of one market clearing versus the number of sellers and countries.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_clearing.py [--repeat 20]

Prints two Markdown tables:

1. one clearing (``abm.market.clear_market``) of random orders with ``N`` countries, ``S``
   supply steps (sellers) and ``K`` = 42 demand steps per country (the model's grid), open
   trade and with caps (a ban, a link quota and an export quota), with HiGHS called directly
   (the default) and through ``scipy.optimize.linprog`` (the route before the optimisation),
   whose solutions are checked to be identical;
2. a whole 120-month baseline run (default size) with each route, alternated, and the
   DataFrames checked to be equal;
3. how the LP reaches HiGHS on the direct route: the bindings' array overload of
   ``passModel`` (the default) against a ``HighsLp`` whose fields pybind11 converts element
   by element (the fallback for bindings without the overload), on every LP of a baseline
   run, interleaved, solutions checked to be bit-identical;
4. a warm start of each month's LP from the previous month's optimal basis against the cold
   start the model uses: HiGHS time, simplex iterations, and how far the solution moves.

Times are the best (and median) of ``--repeat`` clearings, the two routes interleaved so
both see the same load (best of two rounds for whole runs).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import time

import numpy as np
from _common import header, table

import abm
import abm.model
from abm import lp as _lp
from abm.market import MarketOrders, clear_market, price_grid

K_STEPS = 42


def random_orders(n: int, s: int, capped: bool, seed: int = 0) -> MarketOrders:
    """Random but realistic orders: ``n`` countries, ``s`` supply steps, 42 demand steps."""
    rng = np.random.default_rng(seed)
    bid = price_grid(60.0, K_STEPS)
    demand = rng.uniform(0.0, 50.0, (n, K_STEPS)) * (rng.random((n, K_STEPS)) < 0.8)
    link_cost = rng.uniform(0.5, 3.0, (n, n))
    np.fill_diagonal(link_cost, 0.0)
    cap = np.full((n, n), np.inf)
    export_cap = np.full(n, np.inf)
    if capped:
        cap[0, 1] = 0.0  # a ban
        cap[0, 2 % n] = 25.0  # a link quota
        export_cap[1 % n] = 100.0  # an export quota over all destinations
    return MarketOrders(
        nodes=tuple(f"C{i}" for i in range(n)), supply_node=rng.integers(0, n, s),
        supply_qty=rng.uniform(5.0, 200.0, s), supply_ask=rng.uniform(5.0, 80.0, s),
        demand_bid=bid, demand_qty=demand, link_cost=link_cost, link_cap=cap,
        export_cap=export_cap)


def best_ms(orders: MarketOrders, repeat: int) -> dict[str, float]:
    """Best and median wall time of one clearing per route, ms, the routes interleaved."""
    times: dict[str, list[float]] = {"direct": [], "linprog": []}
    for _ in range(repeat):
        for solver, out in times.items():
            t0 = time.perf_counter()
            clear_market(orders, solver=solver)
            out.append(time.perf_counter() - t0)
    return {f"{k}_{stat.__name__}": stat(v) * 1e3 for k, v in times.items()
            for stat in (min, statistics.median)}


def same(a, b) -> bool:
    """Whether two clearing results are identical (bit for bit)."""
    return all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("flows", "sold", "bought", "price", "seller_price"))


def whole_run(solver: str):
    """(seconds, DataFrame) of a 120-month baseline run with the given clearing route."""
    orig = abm.model.clear_chain  # the model clears every product together
    abm.model.clear_chain = functools.partial(orig, solver=solver)
    try:
        t0 = time.perf_counter()
        df = abm.simulate("baseline", steps=120, rng=1)
        return time.perf_counter() - t0, df
    finally:
        abm.model.clear_chain = orig


class _NoArrayOverload(_lp._highs._Highs if _lp._highs is not None else object):
    """HiGHS bindings as if ``passModel`` took no arrays (the direct route's fallback)."""

    def passModel(self, *args):  # noqa: N802 - the bindings' name
        if len(args) != 1:
            raise TypeError("no array overload")
        return super().passModel(*args)


def baseline_lps() -> list:
    """Every LP a 120-month baseline run (seed 1) solves, in order."""
    lps, orig = [], _lp.solve

    def keep(problem, direct=True):
        lps.append(problem)
        return orig(problem, direct)

    _lp.solve = keep
    try:
        abm.simulate("baseline", steps=120, rng=1)
    finally:
        _lp.solve = orig
    return lps


def highs_input(lps: list, rounds: int = 3) -> tuple[float, float, int, bool]:
    """(ms per LP with arrays, ms with a HighsLp, LPs, bit-identical) over a baseline run."""
    best = {"arrays": float("inf"), "HighsLp": float("inf")}
    same_all = True
    for _ in range(rounds):
        for route in best:
            highs, t0 = _lp._highs._Highs, time.perf_counter()
            if route == "HighsLp":
                _lp._highs._Highs = _NoArrayOverload
            try:
                out = [_lp._solve_direct(p) for p in lps]
            finally:
                _lp._highs._Highs = highs
            best[route] = min(best[route], time.perf_counter() - t0)
            if route == "arrays":
                ref = out
            else:
                same_all &= all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                                for a, b in zip(ref, out, strict=True))
    n = len(lps)
    return best["arrays"] / n * 1e3, best["HighsLp"] / n * 1e3, n, same_all


def warm_start(lps: list, rounds: int = 3) -> dict:
    """A warm start from the previous month's optimal basis, against the cold start (now).

    Only months whose LP has the same columns and rows as the month before can take the old
    basis. For those: HiGHS's ``run`` time (best of ``rounds``), simplex iterations, and how far
    the solution moves (flows, t; prices = duals of the balance rows, US$/kg).
    """
    pairs = [(a, b) for a, b in itertools.pairwise(lps)
             if a.c.size == b.c.size and np.array_equal(a.rows, b.rows)
             and np.array_equal(a.cols, b.cols) and a.n_ub == b.n_ub]
    cold_t = warm_t = float("inf")
    for _ in range(rounds):
        t_cold = t_warm = 0.0
        its_cold = its_warm = 0
        flow_diff = price_diff = 0.0
        for before, now in pairs:
            h0 = _lp._direct_model(before)
            h0.run()
            basis = h0.getBasis()
            cold, warm = _lp._direct_model(now), _lp._direct_model(now)
            warm.setBasis(basis)
            t0 = time.perf_counter()
            cold.run()
            t1 = time.perf_counter()
            warm.run()
            t2 = time.perf_counter()
            t_cold, t_warm = t_cold + t1 - t0, t_warm + t2 - t1
            its_cold += cold.getInfo().simplex_iteration_count
            its_warm += warm.getInfo().simplex_iteration_count
            sc, sw = cold.getSolution(), warm.getSolution()
            flow_diff = max(flow_diff, float(np.abs(np.subtract(sc.col_value,
                                                                sw.col_value)).max()))
            price_diff = max(price_diff, float(np.abs(np.subtract(
                sc.row_dual, sw.row_dual))[now.n_ub:].max()))
        cold_t, warm_t = min(cold_t, t_cold), min(warm_t, t_warm)
    n = max(len(pairs), 1)
    return {"months": len(lps), "pairs": len(pairs), "cold_ms": cold_t / n * 1e3,
            "warm_ms": warm_t / n * 1e3, "cold_iters": its_cold / n, "warm_iters": its_warm / n,
            "flow_diff": flow_diff, "price_diff": price_diff}


def main() -> None:
    """Run the clearing benchmark and print its tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="clearings per timing (median)")
    args = ap.parse_args()
    header("bench_clearing: one market clearing vs sellers and countries")
    rows = []
    for n in (6, 10, 20, 40):
        for s in (10, 50, 200, 1000):
            for capped in (False, True):
                o = random_orders(n, s, capped, seed=n * 10_000 + s)
                if not same(clear_market(o, solver="direct"), clear_market(o, solver="linprog")):
                    raise SystemExit(f"direct and linprog solutions differ at N={n}, S={s}")
                t = best_ms(o, args.repeat)
                d, lp = t["direct_min"], t["linprog_min"]
                n_var = s + n * n + n * K_STEPS
                rows.append([n, s, K_STEPS, "caps" if capped else "open", f"{n_var:,}",
                             f"{d:.2f}", f"{t['direct_median']:.2f}", f"{lp:.2f}",
                             f"{t['linprog_median']:.2f}", f"{lp / d:.1f}x"])
    print(f"## 1. One clearing (ms, best and median of {args.repeat}, routes interleaved); "
          "solutions identical on every row\n")
    print(table(["countries N", "sellers S", "steps K", "policy", "LP columns <=",
                 "direct best", "direct median", "linprog best", "linprog median",
                 "speed-up (best)"], rows))

    print("\n## 2. Whole 120-month baseline run (default size), each clearing route\n")
    best = {"direct": float("inf"), "linprog": float("inf")}
    frames = {}
    for _ in range(2):
        for solver in ("linprog", "direct"):
            sec, frames[solver] = whole_run(solver)
            best[solver] = min(best[solver], sec)
    import pandas.testing as pdt

    pdt.assert_frame_equal(frames["direct"], frames["linprog"], check_exact=False, rtol=1e-9)
    exact = frames["direct"].equals(frames["linprog"])
    print(table(["clearing route", "seconds per run"],
                [["linprog (before)", f"{best['linprog']:.3f}"],
                 ["direct HiGHS (now)", f"{best['direct']:.3f}"]]))
    print(f"\nGain: {best['linprog'] / best['direct']:.2f}x; DataFrames equal "
          f"(rtol 1e-9): yes; bit-identical: {'yes' if exact else 'no'}")

    if _lp.has_direct_solver():
        lps = baseline_lps()
        arrays, highs_lp, n, identical = highs_input(lps)
        print("\n## 3. How the LP reaches HiGHS (direct route, every LP of a baseline run)\n")
        print(table(["input", "ms per LP (best of 3 passes)"],
                    [["array overload of passModel (now)", f"{arrays:.3f}"],
                     ["HighsLp, converted field by field (fallback)", f"{highs_lp:.3f}"]]))
        print(f"\n{n} LPs; saved {highs_lp - arrays:.3f} ms per LP ({highs_lp / arrays:.2f}x); "
              f"solutions bit-identical: {'yes' if identical else 'no'}")
        w = warm_start(lps)
        print("\n## 4. Warm start from last month's basis (not used; same baseline run)\n")
        print(table(["start", "HiGHS run, ms per LP (best of 3)", "simplex iterations per LP"],
                    [["cold (now)", f"{w['cold_ms']:.3f}", f"{w['cold_iters']:.1f}"],
                     ["warm, last month's basis", f"{w['warm_ms']:.3f}",
                      f"{w['warm_iters']:.1f}"]]))
        print(f"\n{w['pairs']} of {w['months']} LPs have last month's columns and rows (the "
              "others cannot take its basis); on those the warm start moves the solution: "
              f"flows by up to {w['flow_diff']:.2g} t, prices by up to {w['price_diff']:.3g} "
              "US$/kg (a degenerate LP has more than one optimal price; which one HiGHS "
              "returns depends on where it starts)")


if __name__ == "__main__":
    main()
