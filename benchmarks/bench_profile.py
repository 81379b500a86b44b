"""A whole ``controls_2025`` run at the default size: wall time, where it goes, and its profile.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_profile.py [--rounds 3] [--top 20] [--scenario NAME]

Prints:

1. the wall time of a whole run (construction and the scenario's own horizon, best of
   ``--rounds``), split into model construction, market clearing (every
   ``abm.market.clear_chain`` call the model makes, what-if clearings of the states' game
   included) and the rest of the monthly step;
2. the run's profile (``cProfile``): the top functions by own time and by cumulative time.

Mind that ``cProfile`` attributes time spent inside HiGHS (C++ called through pybind11) to
odd frames, such as the Python function that was running before, with impossible recursion
counts. The split in table 1 is measured with plain timers and is the reliable one.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

from _common import header, table

import abm
import abm.model


class ClearingTimer:
    """Wraps ``clear_chain`` where the model looks it up and adds up the time it takes."""

    def __init__(self):
        self.seconds = 0.0
        self.calls = 0
        self._orig = abm.model.clear_chain

    def __enter__(self):
        orig = self._orig

        def timed_clear(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return orig(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1

        abm.model.clear_chain = timed_clear  # every clearing (what-ifs too) calls model.clear
        return self

    def __exit__(self, *exc):
        abm.model.clear_chain = self._orig


def run(scenario: str) -> dict[str, float]:
    """Time one whole run: construction, clearing and the rest, seconds."""
    with ClearingTimer() as ct:
        t0 = time.perf_counter()
        model = abm.RareEarthModel(scenario=scenario, rng=1)
        t1 = time.perf_counter()
        built_clear = ct.seconds
        while model.running:
            model.step()
        model.results_frame()
        t2 = time.perf_counter()
    return {"total": t2 - t0, "build": t1 - t0, "months": model.month,
            "clear": ct.seconds - built_clear, "calls": ct.calls, "steps": t2 - t1}


def main() -> None:
    """Run and profile the scenario; print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="controls_2025")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs; the best is kept")
    ap.add_argument("--top", type=int, default=20, help="functions listed per profile table")
    args = ap.parse_args()
    header(f"bench_profile: a whole {args.scenario} run at the default size")
    best = min((run(args.scenario) for _ in range(args.rounds)), key=lambda r: r["total"])
    months = best["months"]
    rest = best["steps"] - best["clear"]
    print(f"## 1. Whole run: {months} months, best of {args.rounds}\n")
    print(table(["part", "seconds", "share", "ms per month"], [
        ["whole run", f"{best['total']:.3f}", "100%", f"{best['total'] / months * 1e3:.2f}"],
        ["construction (incl. warm-up clearing)", f"{best['build']:.3f}",
         f"{best['build'] / best['total']:.0%}", ""],
        [f"market clearing ({best['calls']} calls)", f"{best['clear']:.3f}",
         f"{best['clear'] / best['total']:.0%}", f"{best['clear'] / months * 1e3:.2f}"],
        ["rest of the monthly step", f"{rest:.3f}", f"{rest / best['total']:.0%}",
         f"{rest / months * 1e3:.2f}"],
    ]))
    prof = cProfile.Profile()
    prof.enable()
    abm.simulate(args.scenario, rng=1)
    prof.disable()
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(args.top)
        lines = out.getvalue().splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
        print(f"\n## 2. Profile (cProfile, under the profiler), top {args.top} by {title}\n")
        print("```")
        print("\n".join(ln for ln in lines[start:] if ln.strip()))
        print("```")


if __name__ == "__main__":
    main()
