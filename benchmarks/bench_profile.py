"""A whole ``controls_2025`` run at the default size: wall time, where it goes, and its profile.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_profile.py [--rounds 3] [--top 20] [--scenario NAME]

Prints:

1. the wall time of a whole run (construction and the scenario's own horizon, best of
   ``--rounds``), split into model construction, market clearing (every
   ``abm.market.clear_chain`` call the model makes, what-if clearings of the states' game
   included) and the rest of the monthly step;
2. the same run's monthly step by phase (:data:`PHASES`: the functions ``model.step`` calls,
   timed where the model looks them up), ms per month;
3. the run's profile (``cProfile``): the top functions by own time and by cumulative time.

Mind that ``cProfile`` attributes time spent inside HiGHS (C++ called through pybind11) to
odd frames, such as the Python function that was running before, with impossible recursion
counts. The splits in tables 1 and 2 are measured with plain timers and are the reliable ones.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import mesa
from _common import header, table

import abm
import abm.model
import abm.reporting
from abm.agents.magnets import MagnetMakers
from abm.agents.miner import Miner
from abm.agents.state import State
from abm.agents.traders import Trader
from abm.model import RareEarthModel
from abm.network import AllianceNetwork

#: (owner, attribute, label) of the monthly step's phases, in the order ``model.step`` runs
#: them. Phases can nest (a state's ``decide`` runs what-if clearings, ``collect`` runs the
#: Louvain communities): a phase's time excludes the phases it calls.
PHASES = (
    (RareEarthModel, "apply_timeline", "scripted events"),
    (State, "decide", "states decide (their what-if clearings apart)"),
    (Miner, "invest", "miners invest"),
    (MagnetMakers, "invest", "magnet makers invest"),
    (RareEarthModel, "plan_month", "supply and firms' order plans"),
    (abm.model, "build_orders", "market orders"),
    (abm.model, "clear_chain", "market clearing"),
    (RareEarthModel, "settle", "settlement"),
    (Trader, "learn", "traders learn"),
    (State, "score", "states score the month"),
    (AllianceNetwork, "refresh", "alliance network"),
    (mesa.DataCollector, "collect", "data collection (reporters, Louvain apart)"),
    (abm.reporting, "louvain_communities", "trade communities (Louvain, in the reporters)"),
)


class PhaseTimer:
    """Wraps each phase's function where the model looks it up; adds up its own time.

    A phase called while another runs is timed apart and its time taken out of the caller's,
    so the phases' seconds add up to the time spent in any of them.
    """

    def __init__(self, phases=PHASES):
        self.phases = phases
        self.seconds = dict.fromkeys((label for *_x, label in phases), 0.0)
        self.calls = dict.fromkeys(self.seconds, 0)
        self._orig = [(owner, name, owner.__dict__[name]) for owner, name, _l in phases]
        self._inner = [0.0]  # time spent in nested phases, one entry per running phase

    def __enter__(self):
        for (owner, name, label), (_o, _n, orig) in zip(self.phases, self._orig, strict=True):
            setattr(owner, name, self._timed(orig, label))
        return self

    def _timed(self, orig, label):
        def timed(*args, **kwargs):
            self._inner.append(0.0)
            t0 = time.perf_counter()
            try:
                return orig(*args, **kwargs)
            finally:
                took = time.perf_counter() - t0
                self.seconds[label] += took - self._inner.pop()
                self._inner[-1] += took
                self.calls[label] += 1

        return timed

    def __exit__(self, *exc):
        for owner, name, orig in self._orig:
            setattr(owner, name, orig)


def run(scenario: str) -> dict:
    """Time one whole run: construction, the monthly phases and the rest, seconds."""
    with PhaseTimer() as pt:
        t0 = time.perf_counter()
        model = abm.RareEarthModel(scenario=scenario, rng=1)
        t1 = time.perf_counter()
        at_build, calls_at_build = dict(pt.seconds), pt.calls["market clearing"]
        while model.running:
            model.step()
        model.results_frame()
        t2 = time.perf_counter()
    phases = {k: v - at_build[k] for k, v in pt.seconds.items()}
    return {"total": t2 - t0, "build": t1 - t0, "months": model.month, "steps": t2 - t1,
            "phases": phases, "calls": pt.calls["market clearing"] - calls_at_build}


def main() -> None:
    """Run and profile the scenario; print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="controls_2025")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs; the best is kept")
    ap.add_argument("--top", type=int, default=20, help="functions listed per profile table")
    args = ap.parse_args()
    header(f"bench_profile: a whole {args.scenario} run at the default size")
    best = min((run(args.scenario) for _ in range(args.rounds)), key=lambda r: r["total"])
    months, phases = best["months"], best["phases"]
    clear = phases["market clearing"]
    rest = best["steps"] - clear
    print(f"## 1. Whole run: {months} months, best of {args.rounds}\n")
    print(table(["part", "seconds", "share", "ms per month"], [
        ["whole run", f"{best['total']:.3f}", "100%", f"{best['total'] / months * 1e3:.2f}"],
        ["construction (incl. warm-up clearing)", f"{best['build']:.3f}",
         f"{best['build'] / best['total']:.0%}", ""],
        [f"market clearing ({best['calls']} calls)", f"{clear:.3f}",
         f"{clear / best['total']:.0%}", f"{clear / months * 1e3:.2f}"],
        ["rest of the monthly step", f"{rest:.3f}", f"{rest / best['total']:.0%}",
         f"{rest / months * 1e3:.2f}"],
    ]))
    print("\n## 2. The monthly step by phase (same run; each phase without those it calls)\n")
    untimed = best["steps"] - sum(phases.values())
    rows = [[k, f"{v / months * 1e3:.2f}", f"{v / best['steps']:.0%}"] for k, v in phases.items()]
    rows.append(["other (Python between the phases, results frame)",
                 f"{untimed / months * 1e3:.2f}", f"{untimed / best['steps']:.0%}"])
    print(table(["phase", "ms per month", "share of the steps"], rows))
    prof = cProfile.Profile()
    prof.enable()
    abm.simulate(args.scenario, rng=1)
    prof.disable()
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(args.top)
        lines = out.getvalue().splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
        print(f"\n## 3. Profile (cProfile, under the profiler), top {args.top} by {title}\n")
        print("```")
        print("\n".join(ln for ln in lines[start:] if ln.strip()))
        print("```")


if __name__ == "__main__":
    main()
