"""Benchmark of experiment sweeps: 2 workers versus 1, and the parent's memory.

Usage (from the repository root; 120 months = the baseline scenario's own horizon):

    .venv/bin/python benchmarks/bench_sweep.py [--runs 40] [--steps 120] [--mem-runs 400]

1. Speedup: the same factorial sweep (``--runs`` runs of ``--steps`` months of the baseline
   scenario) with 1 worker and with 2 workers, in this session: wall time of the whole
   command ``python -m experiments run SPEC --out DIR --workers N`` (interpreter start,
   imports, spec check, pool start-up and every run). Results of both must be identical.
   Alternating repetitions (``--repeat``, default 2), best time of each kept. Before each
   timing the script waits (up to ``--idle-wait`` s) until the CPU is idle and records how
   busy it was: other processes on the cores distort the ratio.
2. Memory: a longer sweep (``--mem-runs`` short runs, 2 workers); the parent's resident set
   size (RSS) is sampled after every finished run. Runs stream to disk, so it must stay flat.

Writes ``benchmarks/out/bench_sweep.json`` and ``benchmarks/out/bench_sweep.png`` and prints a
Markdown summary.
"""

from __future__ import annotations

import os

# As `python -m experiments` does: one BLAS thread per process, set before numpy loads, so
# the 1-worker and 2-worker runs both use one thread per run.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("JE_ARROW_MALLOC_CONF", "background_thread:false")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import experiments  # noqa: E402


def sweep_spec(n_runs: int, steps: int, name: str) -> experiments.Spec:
    """A factorial sweep of exactly n_runs runs: 2 alliance x k elasticities x 5 seeds."""
    seeds = 5
    points = max(1, n_runs // seeds)
    k = max(1, points // 2)
    elasticities = ", ".join(f"{0.05 + 0.9 * i / max(1, k - 1):.4f}" for i in range(k))
    text = f"""
[experiment]
name = "{name}"
scenario = "baseline"
steps = {steps}
root_seed = 99
seeds = {seeds}

[sweep]
design = "factorial"

[sweep.parameters]
alliance = [true, false]
demand_elasticity = [{elasticities}]

[[metrics]]
name = "mean_price"
column = "price_light_world"
stat = "mean"

[[metrics]]
name = "cum_shortage_japan"
column = "shortage_japan"
stat = "sum"
"""
    return experiments.parse_spec(text)


def wait_idle(max_wait: float, threshold: float = 15.0) -> float:
    """Wait (up to max_wait s) until other processes use < threshold % CPU; return the %."""
    deadline = time.monotonic() + max_wait
    while True:
        pct = psutil.cpu_percent(interval=1.0)
        if pct < threshold or time.monotonic() > deadline:
            return pct


def comparable(out: Path) -> pd.DataFrame:
    runs = experiments.load_results(out)
    return runs.drop(columns=["runtime_s", "started", "finished", "worker"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=2, help="alternating repetitions; best kept")
    ap.add_argument("--mem-runs", type=int, default=400)
    ap.add_argument(
        "--idle-wait", type=float, default=60.0, help="max s to wait for an idle CPU per timing"
    )
    ap.add_argument("--mem-steps", type=int, default=6)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    proc = psutil.Process()
    result: dict = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = sweep_spec(args.runs, args.steps, "bench-speedup")
        n = len(spec.tasks())
        times: dict[int, list[float]] = {1: [], 2: []}
        busy: dict[int, list[float]] = {1: [], 2: []}
        result["load_before"] = os.getloadavg()[0]
        spec_file = tmp / "bench.toml"
        spec_file.write_text(spec.text)
        for rep in range(args.repeat):  # alternate 1 and 2 workers; keep the best of each
            for workers in (1, 2):
                dest = tmp / f"w{workers}-{rep}"
                cmd = [
                    sys.executable,
                    "-m",
                    "experiments",
                    "run",
                    str(spec_file),
                    "--out",
                    str(dest),
                    "--workers",
                    str(workers),
                    "--no-progress",
                ]
                busy[workers].append(wait_idle(args.idle_wait))
                t0 = time.perf_counter()
                subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
                times[workers].append(time.perf_counter() - t0)
                runs = experiments.load_results(dest)
                assert len(runs) == n and (runs["status"] == "ok").all()
        result["all_times_s"] = times
        result["cpu_busy_pct_before_each"] = busy
        times = {w: min(t) for w, t in times.items()}
        same = comparable(tmp / "w1-0").equals(comparable(tmp / "w2-0"))
        mean_run = float(experiments.load_results(tmp / "w1-0")["runtime_s"].mean())
        result["speedup"] = {
            "runs": n,
            "steps": args.steps,
            "mean_run_s": mean_run,
            "wall_1_worker_s": times[1],
            "wall_2_workers_s": times[2],
            "speedup": times[1] / times[2],
            "identical_results": bool(same),
        }

        mspec = sweep_spec(args.mem_runs, args.mem_steps, "bench-memory")
        samples: list[tuple[int, float]] = []

        def sample(_summary: dict) -> None:
            samples.append((len(samples) + 1, proc.memory_info().rss / 2**20))

        rss0 = proc.memory_info().rss / 2**20
        s = experiments.run_experiment(
            mspec, tmp / "mem", workers=2, progress=False, on_result=sample
        )
        k, rss = np.array(samples).T
        half = k >= k.max() / 2
        slope = float(np.polyfit(k[half], rss[half], 1)[0]) if half.sum() > 2 else 0.0
        result["memory"] = {
            "runs": int(k.max()),
            "steps": args.mem_steps,
            "rss_before_mb": rss0,
            "rss_at_10pct_mb": float(rss[int(0.1 * len(rss))]),
            "rss_at_50pct_mb": float(rss[int(0.5 * len(rss))]),
            "rss_at_end_mb": float(rss[-1]),
            "slope_second_half_mb_per_100_runs": 100 * slope,
            "wall_s": s.elapsed_s,
        }

    (out / "bench_sweep.json").write_text(json.dumps(result, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sp = result["speedup"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.bar(
        ["1 worker", "2 workers"],
        [sp["wall_1_worker_s"], sp["wall_2_workers_s"]],
        color=["#888", "#2a7"],
    )
    a1.set_ylabel("wall time (s)")
    a1.set_title(
        f"{sp['runs']} runs x {sp['steps']} months: speedup {sp['speedup']:.2f}x", fontsize=10
    )
    a2.plot(k, rss, lw=1.2)
    a2.set_ylim(0, max(rss) * 1.3)
    a2.set_xlabel("runs finished")
    a2.set_ylabel("parent RSS (MiB)")
    a2.set_title(f"parent memory over {int(k.max())} runs (2 workers)", fontsize=10)
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "bench_sweep.png", dpi=110)

    m = result["memory"]
    print(
        f"| machine | {result['cpu_count']} cores, Python {result['python']}, "
        f"load average before {result['load_before']:.2f} |"
    )
    print("|---|---|")
    print(
        f"| sweep | {sp['runs']} runs x {sp['steps']} months (mean run {sp['mean_run_s']:.2f} s) |"
    )
    print(f"| 1 worker | {sp['wall_1_worker_s']:.1f} s |")
    print(f"| 2 workers | {sp['wall_2_workers_s']:.1f} s |")
    print(f"| speedup | {sp['speedup']:.2f}x (identical results: {sp['identical_results']}) |")
    print(f"| all timings (s) | {result['all_times_s']} |")
    print(f"| CPU busy before each (%) | {result['cpu_busy_pct_before_each']} |")
    print(
        f"| parent RSS, {m['runs']} runs | {m['rss_at_10pct_mb']:.0f} MiB at 10%, "
        f"{m['rss_at_50pct_mb']:.0f} MiB at 50%, {m['rss_at_end_mb']:.0f} MiB at the end |"
    )
    print(
        f"| RSS slope, second half | {m['slope_second_half_mb_per_100_runs']:.2f} "
        "MiB per 100 runs |"
    )


if __name__ == "__main__":
    main()
