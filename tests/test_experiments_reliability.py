"""Reliability of the experiments runner: killed sweeps, full disks, read-only directories.

Each test drives the real command line (``python -m experiments``) in a subprocess, the way a
researcher or a cluster scheduler would, and checks what is left on disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

import experiments
from experiments import store

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """
[experiment]
name = "kill-me"
scenario = "baseline"
steps = 14
root_seed = 42
seeds = 6

[fixed]
n_firms = 8

[sweep]
design = "factorial"

[sweep.parameters]
alliance = [true, false]
demand_elasticity = [0.1, 0.5]

[[metrics]]
name = "mean_price"
column = "price_light_world"
stat = "mean"
"""


def cli(*args: str, env: dict | None = None, timeout: float = 300, **kw):
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        **kw,
    )


def comparable(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = experiments.load_results(out).drop(
        columns=["runtime_s", "started", "finished", "worker", "traceback"], errors="ignore"
    )
    return runs, experiments.load_timeseries(out)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _run_files(out: Path) -> dict[str, float]:
    d = store.runs_dir(out)
    return {p.name: p.stat().st_mtime for p in d.glob("*.parquet")} if d.is_dir() else {}


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["cli", "forkserver"])
def test_sigkill_of_the_main_process_leaves_no_worker(tmp_path, start_method):
    """Kill only the CLI process (never its group): every worker must die with it at once."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SWEEP.replace("seeds = 6", "seeds = 30"))
    out = tmp_path / "out"
    env = {**os.environ}
    if start_method == "forkserver":  # a parent with threads gets its workers from a forkserver
        env["EXPERIMENTS_START_METHOD"] = "forkserver"
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments", "run", str(spec), "--out", str(out),
         "--workers", "2", "--no-progress"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    parent = psutil.Process(proc.pid)
    workers: list[psutil.Process] = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(_run_files(out)) < 4:
            time.sleep(0.05)
        assert len(_run_files(out)) >= 4, "the sweep did not start"
        workers = parent.children(recursive=True)
        assert len(workers) >= 2, "expected worker processes"
        os.kill(proc.pid, signal.SIGKILL)  # the main process only
        killed_at = time.time()
        proc.wait(timeout=30)
        gone_by = time.time() + 5
        while time.time() < gone_by and any(_alive(w) for w in workers):
            time.sleep(0.05)
        survivors = [w.pid for w in workers if _alive(w)]
        assert not survivors, f"workers outlived the killed sweep: {survivors}"
        after = _run_files(out)
        time.sleep(2.0)  # longer than a run: a surviving worker would write another file
        assert _run_files(out) == after
        late = [n for n, t in after.items() if t > killed_at + 0.5]
        assert not late, f"run files written after the kill: {late}"
    finally:
        for w in workers:  # never leave a stray process behind, whatever happened
            if _alive(w):
                w.kill()
