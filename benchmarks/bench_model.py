"""Cost of the model per firm and month, next to Mesa's BoltzmannWealth example, in one process.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_model.py [--rounds 2] [--quick]

Prints three Markdown tables:

1. **Per agent**: the baseline scenario's wall time per firm-month at ``n_firms`` = 1,000,
   10,000 and 100,000, next to Mesa 3.5's BoltzmannWealth example
   (``BoltzmannWealth(scenario=BoltzmannScenario(n=N, width=100, height=100, rng=1))``) per
   agent-step at the same agent counts, and their ratio (targets: <= 1.0 at 10,000; the
   model's cost per firm-month at 100,000 at most 1.2x that at 10,000).
2. **Per month** (issue 2): seconds per simulated month of the baseline at ``n_firms`` = 100,
   1,000 and 10,000, and how it grows with the number of firms.
3. **Whole run**: a 120-month baseline run at the default size (construction included) next
   to 120 steps of BoltzmannWealth with 1,000 agents (target: ratio <= 1.0), and the same run
   with the market cleared through ``scipy.optimize.linprog`` as before the optimisation.

Every timing is the best of ``--rounds`` rounds; the model and Mesa's example alternate within
each round, so both see the same load on a shared machine. Construction and one warm-up step
are excluded from the per-step numbers (they are included in the whole-run table).
"""

from __future__ import annotations

import argparse
import functools
import gc
import time

from _common import header, table
from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannScenario, BoltzmannWealth

import abm

#: timed steps per size (after one warm-up step): each block takes about a second or two
MODEL_STEPS = {100: 60, 1_000: 60, 10_000: 36, 100_000: 12}
BOLTZMANN_STEPS = {1_000: 60, 10_000: 8, 100_000: 2}


def _seconds_per_step(model, steps: int) -> float:
    """Seconds per ``model.step()`` over ``steps`` steps, after one warm-up step."""
    model.step()
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(steps):
        model.step()
    return (time.perf_counter() - t0) / steps


def per_step_model(n_firms: int, steps: int) -> float:
    """Seconds per month of the baseline scenario with ``n_firms`` firms (after a warm-up)."""
    return _seconds_per_step(abm.RareEarthModel(scenario="baseline", rng=1, n_firms=n_firms),
                             steps)


def per_step_boltzmann(n: int, steps: int) -> float:
    """Seconds per step of Mesa's BoltzmannWealth example with ``n`` agents (after a warm-up)."""
    return _seconds_per_step(
        BoltzmannWealth(scenario=BoltzmannScenario(n=n, width=100, height=100, rng=1)), steps)


def whole_model_run(solver: str = "auto") -> float:
    """Seconds for a whole 120-month baseline run at the default size (construction included).

    Args:
        solver: the clearing route (``"linprog"`` = the route before the optimisation).
    """
    orig = abm.model.clear_chain
    abm.model.clear_chain = functools.partial(orig, solver=solver)
    try:
        t0 = time.perf_counter()
        model = abm.RareEarthModel(scenario="baseline", rng=1)
        for _ in range(120):
            model.step()
        model.results_frame()
        return time.perf_counter() - t0
    finally:
        abm.model.clear_chain = orig


def whole_boltzmann_run() -> tuple[float, float]:
    """Seconds for 120 BoltzmannWealth steps with 1,000 agents: (steps only, with construction)."""
    t0 = time.perf_counter()
    model = BoltzmannWealth(scenario=BoltzmannScenario(n=1_000, width=100, height=100, rng=1))
    t1 = time.perf_counter()
    for _ in range(120):
        model.step()
    t2 = time.perf_counter()
    return t2 - t1, t2 - t0


def main() -> None:
    """Run the three benchmarks and print their tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="rounds; the best of each is kept")
    ap.add_argument("--quick", action="store_true", help="skip 100,000 (smoke test)")
    args = ap.parse_args()
    header("bench_model: cost per firm-month, per month and per run")
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    best_m: dict[int, float] = {}
    best_b: dict[int, float] = {}
    for _ in range(args.rounds):
        for n in [100, *sizes]:
            best_m[n] = min(best_m.get(n, float("inf")), per_step_model(n, MODEL_STEPS[n]))
            if n in BOLTZMANN_STEPS:
                best_b[n] = min(best_b.get(n, float("inf")),
                                per_step_boltzmann(n, BOLTZMANN_STEPS[n]))
    rows = []
    for n in sizes:
        m_us, b_us = best_m[n] / n * 1e6, best_b[n] / n * 1e6
        rows.append([f"{n:,}", f"{best_m[n] * 1e3:.1f}", f"{m_us:.3f}", f"{best_b[n] * 1e3:.1f}",
                     f"{b_us:.3f}", f"{m_us / b_us:.3f}"])
    print("## 1. Cost per agent: model per firm-month vs BoltzmannWealth per agent-step\n")
    print(table(["agents", "model ms/month", "model us/firm-month", "Boltzmann ms/step",
                 "Boltzmann us/agent-step", "ratio model/Boltzmann"], rows))
    if 100_000 in best_m:
        growth = (best_m[100_000] / 100_000) / (best_m[10_000] / 10_000)
        print(f"\nPer firm-month cost at 100,000 relative to 10,000: {growth:.3f}x "
              f"(target <= 1.2x: {'met' if growth <= 1.2 else 'NOT met'})")
    r10 = (best_m[10_000] / 10_000) / (best_b[10_000] / 10_000)
    print(f"Ratio at 10,000: {r10:.3f} (target <= 1.0: {'met' if r10 <= 1.0 else 'NOT met'})\n")

    print("## 2. Seconds per simulated month (issue 2), baseline\n")
    month = {n: best_m[n] for n in (100, 1_000, 10_000)}
    rows = []
    for n in sorted(month):
        rows.append([f"{n:,}", f"{month[n]:.4f}", f"{month[n] / month[100]:.2f}",
                     f"{month[n] / n * 1e6:.2f}"])
    print(table(["n_firms", "s/month", "x of n_firms=100", "us/firm-month"], rows))
    print(f"\nFrom 1,000 to 10,000 firms (10x) the month costs "
          f"{month[10_000] / month[1_000]:.2f}x; from 100 to 10,000 (100x) "
          f"{month[10_000] / month[100]:.2f}x.\n")

    print("## 3. Whole 120-month baseline run (default size) vs 120 BoltzmannWealth steps "
          "(1,000 agents)\n")
    run_m = run_lp = run_b = run_b_all = float("inf")
    for _ in range(max(args.rounds, 2)):
        run_m = min(run_m, whole_model_run())
        run_lp = min(run_lp, whole_model_run("linprog"))
        steps_b, all_b = whole_boltzmann_run()
        run_b, run_b_all = min(run_b, steps_b), min(run_b_all, all_b)
    print(table(["run", "seconds"], [
        ["model: baseline, 120 months, default n_firms, construction included", f"{run_m:.3f}"],
        ["same, clearing through scipy's linprog (before the optimisation)", f"{run_lp:.3f}"],
        ["BoltzmannWealth n=1,000: 120 steps", f"{run_b:.3f}"],
        ["BoltzmannWealth n=1,000: construction + 120 steps", f"{run_b_all:.3f}"],
    ]))
    print(f"\nRatio model run / 120 Boltzmann steps: {run_m / run_b:.3f} (target <= 1.0: "
          f"{'met' if run_m <= run_b else 'NOT met'}); against construction + steps: "
          f"{run_m / run_b_all:.3f}; before the optimisation (linprog route): "
          f"{run_lp / run_b:.3f}")


if __name__ == "__main__":
    main()
