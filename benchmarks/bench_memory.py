"""Peak memory of the model at 100,000 firms (and, for scale, 10,000 and 1,000 firms).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_memory.py [--sizes 1000,10000,100000] [--months 12]

Each size runs in a fresh child process (so one size's peak does not hide another's): it
imports everything, records its resident set size (RSS), builds the baseline model with
``n_firms`` firms, runs ``--months`` months and collects the DataFrame. Reported:

- peak RSS of the process (``ru_maxrss``: interpreter, libraries and model; target < 1 GiB at
  100,000 firms) and the part added by the model (peak minus RSS after imports);
- the peak of memory allocated through Python and numpy (``tracemalloc``, measured in a second
  child, since tracing slows the run), i.e. the model's own data;
- the number of Mesa agents (one thin ``Firm`` view per firm, plus states and miners).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from _common import header, table

MIB = 2**20


def child(n_firms: int, months: int, trace: bool) -> dict:
    """Measure one size in this process (called in a fresh child)."""
    import tracemalloc

    import abm

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    model = abm.RareEarthModel(scenario="baseline", rng=1, n_firms=n_firms)
    t1 = time.perf_counter()
    for _ in range(months):
        model.step()
    model.results_frame()
    t2 = time.perf_counter()
    out = {"n_firms": n_firms, "base_rss": base_rss,
           "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "agents": len(model.agents), "build_s": t1 - t0, "month_s": (t2 - t1) / max(months, 1)}
    if trace:
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out


def measure(n_firms: int, months: int, trace: bool) -> dict:
    """Run :func:`child` in a fresh interpreter and return its measurements."""
    cmd = [sys.executable, __file__, "--child", str(n_firms), "--months", str(months)]
    if trace:
        cmd.append("--trace")
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure every size and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.months, args.trace)))
        return
    header("bench_memory: peak memory vs number of firms")
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        plain = measure(n, args.months, trace=False)
        traced = measure(n, args.months, trace=True)
        rows.append([f"{n:,}", f"{plain['agents']:,}", f"{plain['peak_rss'] / MIB:.0f}",
                     f"{(plain['peak_rss'] - plain['base_rss']) / MIB:.0f}",
                     f"{traced['traced_peak'] / MIB:.1f}", f"{plain['build_s']:.2f}",
                     f"{plain['month_s'] * 1e3:.1f}"])
        verdict = plain["peak_rss"] < 2**30
        if n == 100_000:
            print(f"At 100,000 firms: peak RSS {plain['peak_rss'] / MIB:.0f} MiB "
                  f"(target < 1024 MiB: {'met' if verdict else 'NOT met'})\n")
    print(f"Baseline scenario, {args.months} months after construction; each size in a fresh "
          "process.\n")
    print(table(["n_firms", "Mesa agents", "peak RSS MiB", "added by model MiB",
                 "traced peak MiB (Python+numpy)", "build s", "ms/month"], rows))


if __name__ == "__main__":
    main()
