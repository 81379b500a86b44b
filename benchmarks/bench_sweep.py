"""Benchmark of experiment sweeps: 2 workers versus 1, per-run overhead, the parent's memory.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_sweep.py [--runs 20] [--steps 36] [--repeat 3]

1. Speedup (issue 13 target: >= 1.8x): the same factorial sweep (``--runs`` runs of
   ``--steps`` months of the baseline scenario) run by the real command
   ``python -m experiments run SPEC --out DIR --workers N`` with N = 1 and N = 2, alternating,
   ``--repeat`` times; the best of each is kept. Two times per command:

   * the **sweep**: ``run_experiment``'s own wall time, which the command prints (spec check
     against the model, worker start-up, every run, writing and consolidating the store);
   * the **whole command**: the same plus the Python interpreter's start and the imports of
     pandas, pyarrow and the model (~1 s, paid once by any process, whatever the number of
     workers; it bounds the whole command's ratio by Amdahl's law).

   Results of both must be identical. Before each timing the script waits (up to
   ``--idle-wait`` s) for an idle CPU and records how busy it was.
2. Per-run overhead (target: < 5% of model time): every run of the same sweep, in this
   process, through the runner's whole per-run work (``run_task``: the code check, the model,
   the metrics, the record, the atomic Parquet write); overhead = the call's wall time minus
   the model-and-metrics time it records (``runtime_s``), relative to that time.
3. Worker utilisation: for every timed sweep, the model time of all runs over (workers x
   sweep time). Other load slows the runs and the sweep alike, so on a shared machine
   ``2 x utilisation(2 workers) / utilisation(1 worker)`` estimates the speedup an idle
   machine gives better than a wall-time ratio does.
4. Memory: a longer sweep (``--mem-runs`` short runs, 2 workers); the parent's resident set
   size (RSS) is sampled after every finished run. Runs stream to disk, so it must stay flat.

Writes ``benchmarks/out/bench_sweep.json`` and ``benchmarks/out/bench_sweep.png`` and prints a
Markdown summary.
"""

from __future__ import annotations

import os

# As `python -m experiments` does: one BLAS thread per process, set before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("JE_ARROW_MALLOC_CONF", "background_thread:false")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import experiments  # noqa: E402
from experiments.runner import run_task, simulate_run  # noqa: E402


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


def comparable(out: Path):
    runs = experiments.load_results(out)
    return runs.drop(columns=["runtime_s", "started", "finished", "worker"])


def speedup(args, tmp: Path) -> dict:
    spec = sweep_spec(args.runs, args.steps, "bench-speedup")
    n = len(spec.tasks())
    spec_file = tmp / "bench.toml"
    spec_file.write_text(spec.text)
    whole: dict[int, list[float]] = {1: [], 2: []}
    sweep: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}
    busy_share: dict[int, list[float]] = {1: [], 2: []}
    for rep in range(args.repeat):  # alternate 1 and 2 workers; keep the best of each
        for workers in (1, 2):
            dest = tmp / f"w{workers}-{rep}"
            cmd = [sys.executable, "-m", "experiments", "run", str(spec_file), "--out",
                   str(dest), "--workers", str(workers), "--no-progress"]
            busy[workers].append(wait_idle(args.idle_wait))
            t0 = time.perf_counter()
            res = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
            whole[workers].append(time.perf_counter() - t0)
            sweep[workers].append(float(re.search(r"; ([\d.]+) s with", res.stdout).group(1)))
            runs = experiments.load_results(dest)
            assert len(runs) == n and (runs["status"] == "ok").all()
            # share of the sweep's wall time the workers spent running the model: what a
            # shared machine cannot distort much (other load slows runs and sweep alike)
            busy_share[workers].append(float(runs["runtime_s"].sum()) / (workers * sweep[
                workers][-1]))
    same = comparable(tmp / "w1-0").equals(comparable(tmp / "w2-0"))
    best_w, best_s = {w: min(v) for w, v in whole.items()}, {w: min(v) for w, v in sweep.items()}
    return {
        "runs": n, "steps": args.steps, "command": " ".join(["python -m experiments run",
                                                              "SPEC --out DIR --workers N"]),
        "whole_s": whole, "sweep_s": sweep, "cpu_busy_pct_before_each": busy,
        "best_whole_1_s": best_w[1], "best_whole_2_s": best_w[2],
        "best_sweep_1_s": best_s[1], "best_sweep_2_s": best_s[2],
        "speedup_sweep": best_s[1] / best_s[2], "speedup_whole": best_w[1] / best_w[2],
        # each repetition's 1-worker and 2-worker runs follow each other: their ratio sees
        # about the same load, so the median of these ratios is robust to load changes
        "pair_ratios_sweep": [a / b for a, b in zip(sweep[1], sweep[2], strict=True)],
        "median_pair_ratio_sweep": statistics.median(a / b for a, b in
                                                     zip(sweep[1], sweep[2], strict=True)),
        "identical_results": bool(same),
        "worker_utilisation": busy_share,
    }


def overhead(args, tmp: Path) -> dict:
    """Per-run overhead measured inside one call: run_task's wall time minus its model time.

    ``runtime_s`` (recorded by run_task around the model and the metrics) and the call's wall
    time come from the same call, so other load on the machine slows both alike instead of
    showing up as overhead.
    """
    spec = sweep_spec(args.runs, args.steps, "bench-overhead")
    tasks = spec.tasks()
    out = tmp / "overhead"
    (out / "runs").mkdir(parents=True)
    simulate_run(tasks[0])  # warm-up
    model, extra = [], []
    for task in tasks:
        t0 = time.perf_counter()
        summary = run_task(task, str(out))
        wall = time.perf_counter() - t0
        model.append(summary["runtime_s"])
        extra.append(wall - summary["runtime_s"])
    shares = [e / m for e, m in zip(extra, model, strict=True)]
    return {
        "runs": len(tasks), "median_model_s": statistics.median(model),
        "median_overhead_s": statistics.median(extra),
        "overhead_share": statistics.median(shares),
        "total_overhead_share": sum(extra) / sum(model),
    }


def memory(args, tmp: Path) -> dict:
    proc = psutil.Process()
    mspec = sweep_spec(args.mem_runs, args.mem_steps, "bench-memory")
    samples: list[tuple[int, float]] = []

    def sample(_summary: dict) -> None:
        samples.append((len(samples) + 1, proc.memory_info().rss / 2**20))

    rss0 = proc.memory_info().rss / 2**20
    s = experiments.run_experiment(mspec, tmp / "mem", workers=2, progress=False,
                                   on_result=sample)
    k, rss = np.array(samples).T
    half = k >= k.max() / 2
    slope = float(np.polyfit(k[half], rss[half], 1)[0]) if half.sum() > 2 else 0.0
    return {
        "runs": int(k.max()), "steps": args.mem_steps, "rss_before_mb": rss0,
        "rss_at_10pct_mb": float(rss[int(0.1 * len(rss))]),
        "rss_at_50pct_mb": float(rss[int(0.5 * len(rss))]), "rss_at_end_mb": float(rss[-1]),
        "slope_second_half_mb_per_100_runs": 100 * slope, "wall_s": s.elapsed_s,
        "trace": [k.tolist(), rss.tolist()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=36)
    ap.add_argument("--repeat", type=int, default=3, help="alternating repetitions; best kept")
    ap.add_argument("--mem-runs", type=int, default=400)
    ap.add_argument("--mem-steps", type=int, default=6)
    ap.add_argument("--idle-wait", type=float, default=60.0,
                    help="max s to wait for an idle CPU per timing")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                               time.gmtime()),
        "load_before": os.getloadavg()[0], "argv": sys.argv[1:],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        result["speedup"] = speedup(args, tmp)
        result["overhead"] = overhead(args, tmp)
        result["memory"] = memory(args, tmp)
    (out / "bench_sweep.json").write_text(json.dumps(result, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sp, m = result["speedup"], result["memory"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    x = np.arange(2)
    a1.bar(x - 0.2, [sp["best_sweep_1_s"], sp["best_sweep_2_s"]], 0.4, label="sweep")
    a1.bar(x + 0.2, [sp["best_whole_1_s"], sp["best_whole_2_s"]], 0.4, label="whole command")
    a1.set_xticks(x, ["1 worker", "2 workers"])
    a1.set_ylabel("wall time (s)")
    a1.legend(fontsize=8)
    a1.set_title(f"{sp['runs']} runs x {sp['steps']} months: sweep {sp['speedup_sweep']:.2f}x, "
                 f"command {sp['speedup_whole']:.2f}x", fontsize=10)
    k, rss = m.pop("trace")
    a2.plot(k, rss, lw=1.2)
    a2.set_ylim(0, max(rss) * 1.3)
    a2.set_xlabel("runs finished")
    a2.set_ylabel("parent RSS (MiB)")
    a2.set_title(f"parent memory over {m['runs']} runs (2 workers)", fontsize=10)
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "bench_sweep.png", dpi=110)
    (out / "bench_sweep.json").write_text(json.dumps(result, indent=2) + "\n")

    ov = result["overhead"]
    print(f"| machine | {result['cpu_count']} cores, Python {result['python']}, "
          f"load average before {result['load_before']:.2f} |")
    print("|---|---|")
    print(f"| sweep | {sp['runs']} runs x {sp['steps']} months, baseline scenario |")
    print(f"| sweep time, 1 worker (best of {args.repeat}) | {sp['best_sweep_1_s']:.2f} s |")
    print(f"| sweep time, 2 workers | {sp['best_sweep_2_s']:.2f} s |")
    print(f"| **sweep speedup** | **{sp['speedup_sweep']:.2f}x** "
          f"(identical results: {sp['identical_results']}) |")
    print(f"| sweep speedup per alternating pair | "
          f"{', '.join(f'{r:.2f}x' for r in sp['pair_ratios_sweep'])} "
          f"(median {sp['median_pair_ratio_sweep']:.2f}x) |")
    print(f"| whole command, 1 / 2 workers | {sp['best_whole_1_s']:.2f} s / "
          f"{sp['best_whole_2_s']:.2f} s: {sp['speedup_whole']:.2f}x |")
    print(f"| all sweep times (s) | {sp['sweep_s']} |")
    print(f"| all command times (s) | {sp['whole_s']} |")
    print(f"| CPU busy before each (%) | {sp['cpu_busy_pct_before_each']} |")
    util = {w: [round(u, 3) for u in v] for w, v in sp["worker_utilisation"].items()}
    est = 2 * statistics.median(sp["worker_utilisation"][2]) / statistics.median(
        sp["worker_utilisation"][1])
    print(f"| worker utilisation (model time / workers x sweep time) | {util} |")
    print(f"| speedup from utilisation, 2 u2 / u1 (medians) | {est:.2f}x |")
    print(f"| model time per run (median) | {ov['median_model_s'] * 1000:.0f} ms |")
    print(f"| **per-run overhead** (median) | **{ov['median_overhead_s'] * 1000:.1f} ms = "
          f"{ov['overhead_share']:.1%}** of model time (total {ov['total_overhead_share']:.1%}) |")
    print(f"| parent RSS, {m['runs']} runs | {m['rss_at_10pct_mb']:.0f} MiB at 10%, "
          f"{m['rss_at_50pct_mb']:.0f} MiB at 50%, {m['rss_at_end_mb']:.0f} MiB at the end |")
    print(f"| RSS slope, second half | {m['slope_second_half_mb_per_100_runs']:.2f} "
          "MiB per 100 runs |")


if __name__ == "__main__":
    main()
