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


@pytest.mark.slow
def test_random_sigkills_then_resume_give_exactly_the_full_set(tmp_path):
    """Fault injection: the sweep's process is SIGKILLed at random moments (seeded), then
    resumed each time; the end result equals an uninterrupted sweep's, run for run."""
    import random

    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SWEEP)
    spec = experiments.load_spec(spec_path)
    out = tmp_path / "out"
    rng = random.Random(20261129)
    cmd = [sys.executable, "-m", "experiments", "run", str(spec_path), "--out", str(out),
           "--workers", "2", "--no-progress"]
    progress = []
    for _ in range(4):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        parent = psutil.Process(proc.pid)
        time.sleep(rng.uniform(0.3, 3.5))
        kids = parent.children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        psutil.wait_procs(kids, timeout=10)
        progress.append(len(store.finished_run_ids(out)) if (out / "experiment.json").exists()
                        else 0)
    res = cli("run", str(spec_path), "--out", str(out), "--workers", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert store.finished_run_ids(out) == {t.run_id for t in spec.tasks()}
    assert not list(out.rglob("*.tmp")), "no temporary file left"
    ref = tmp_path / "ref"
    experiments.run_experiment(spec, ref, workers=1, progress=False)
    ra, ta = comparable(out)
    rb, tb = comparable(ref)
    pd.testing.assert_frame_equal(ra, rb)
    pd.testing.assert_frame_equal(ta, tb)
    assert progress == sorted(progress), "finished runs are never lost"


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_full_disk_stops_the_sweep_in_one_line_and_resumes_exactly(tmp_path, workers):
    """A disk that fills mid-sweep (ENOSPC injected by the store's test hook once the
    directory would exceed a byte budget): one line, exit 1, nothing partial; then resume."""
    from experiments.plan import plan_spec

    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SWEEP)
    spec = experiments.load_spec(spec_path)
    per_run = plan_spec(spec, timed_runs=1).run_file_bytes
    out = tmp_path / "out"
    budget = int(40_000 + 5.5 * per_run)  # the directory's own files and about 5 runs
    res = cli("run", str(spec_path), "--out", str(out), "--workers", workers, "--no-progress",
              env={store.DISK_BUDGET_ENV: f"{out}:{budget}"})
    assert res.returncode == 1, res.stdout + res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "No space left on device" in res.stderr and "rerun the same command" in res.stderr
    assert not list(out.rglob("*.tmp")), "a failed write leaves no temporary"
    done = store.finished_run_ids(out)
    assert 3 <= len(done) < 24, "the sweep stopped soon after the disk filled"
    experiments.load_results(out)  # every file that is there is complete
    res = cli("run", str(spec_path), "--out", str(out), "--workers", workers, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert f"{len(done)} already done" in res.stdout
    ref = tmp_path / "ref"
    experiments.run_experiment(spec, ref, workers=1, progress=False)
    ra, ta = comparable(out)
    rb, tb = comparable(ref)
    pd.testing.assert_frame_equal(ra, rb)
    pd.testing.assert_frame_equal(ta, tb)


def _unprivileged():
    """As root, run the CLI without the capabilities that ignore file permissions.

    Root bypasses permission bits through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; dropped
    from the bounding set before exec, the CLI (still uid 0, so it can read the venv) meets
    a read-only directory as any user would.
    """
    if os.geteuid() != 0:
        return None

    def drop() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP failed")

    return drop


def test_read_only_out_for_run_and_report_is_one_line(tmp_path):
    import shutil

    base = tmp_path / "ro-test"
    base.mkdir()
    try:
        spec_path = base / "spec.toml"
        spec_path.write_text(SWEEP.replace("seeds = 6", "seeds = 1").replace("steps = 14",
                                                                             "steps = 3"))
        ro = base / "ro"
        ro.mkdir(mode=0o555)
        ro.chmod(0o555)
        env = {"MPLCONFIGDIR": str(base / "mpl"), "PYTHONDONTWRITEBYTECODE": "1"}
        res = cli("run", str(spec_path), "--out", str(ro / "results"), "--workers", "1",
                  "--no-progress", env=env, preexec_fn=_unprivileged())
        assert res.returncode == 2, res.stdout + res.stderr
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
        assert "cannot write to --out" in res.stderr and "Permission denied" in res.stderr
        assert list(ro.iterdir()) == []
        # a finished result directory that became read-only: report cannot write report/
        done = base / "done"
        experiments.run_experiment(experiments.load_spec(spec_path), done, workers=1,
                                   progress=False)
        for p in [done, *done.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        res = cli("report", str(done), env=env, preexec_fn=_unprivileged())
        assert res.returncode == 2, res.stdout + res.stderr
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
        assert "Permission denied" in res.stderr and str(done / "report") in res.stderr
        assert not (done / "report").exists()
    finally:
        for p in [base, *base.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
