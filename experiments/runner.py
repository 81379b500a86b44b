"""Run an experiment: preflight, plan, execute on an executor, stream results to disk.

Runs go through a ``concurrent.futures`` executor:

* ``workers == 1`` and no scheduler: runs execute one after another in this process;
* ``workers > 1``: a ``ProcessPoolExecutor``. When the parent has a single OS thread (the
  CLI) its workers are forked after the spec check, so they start at once with the model
  imported and warmed up; otherwise (e.g. in a notebook, or threads left by a Dask client)
  they come from a ``forkserver`` that preloads the model, so no fork ever copies a process
  with other threads.
  Workers die with the parent (Linux ``PR_SET_PDEATHSIG``). The CLI gives every process
  one BLAS thread (``OMP_NUM_THREADS=1`` unless set), and so does the forkserver;
* ``scheduler="tcp://host:port"``: an existing Dask distributed cluster, through
  ``Client.get_executor()`` (a ``concurrent.futures.Executor``). Workers write result files
  themselves, so the result directory must be on a file system they can see (a laptop's
  LocalCluster, or a cluster's shared file system).

Each worker writes its run file atomically (see :mod:`experiments.store`) and returns only a
small summary, so the parent's memory stays flat however many runs there are; at most
``2 * workers + 2`` runs are in flight at once. Seeds come from the spec only, so results do
not depend on the executor or the number of workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import hashlib
import importlib
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import store
from experiments.errors import ExperimentError
from experiments.metrics import compute_metrics
from experiments.spec import RunTask, Spec

DEFAULT_SIMULATE = "abm:simulate"
PACKAGES = (
    "rare-earth-abm",
    "mesa",
    "numpy",
    "pandas",
    "scipy",
    "networkx",
    "pyarrow",
    "SALib",
    "dask",
    "distributed",
    "matplotlib",
)
_RESOLVED: dict[str, Callable[..., pd.DataFrame]] = {}


def now() -> str:
    """Return the current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def resolve(path: str) -> Callable[..., pd.DataFrame]:
    """Import a ``"module:function"`` path (cached per process)."""
    fn = _RESOLVED.get(path)
    if fn is None:
        module, _, attr = path.partition(":")
        fn = getattr(importlib.import_module(module), attr or "simulate")
        _RESOLVED[path] = fn
    return fn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_task(task: RunTask, out: str) -> dict[str, Any]:
    """Do one run and write its file atomically (executes on a worker).

    An exception raised by the model or a metric is recorded in the run file as a failed run
    (the sweep goes on); only a failure to write the file propagates.

    Args:
        task: The run.
        out: Absolute path of the result directory.

    Returns:
        A small summary: run_id, status, error, runtime_s.
    """
    started = now()
    t0 = time.perf_counter()
    frame = None
    metrics: dict[str, Any] = {}
    try:
        simulate = resolve(task.simulate)
        frame = simulate(task.scenario, steps=task.steps, rng=task.seed, **task.overrides)
        metrics = compute_metrics(frame, task.metrics)
        status, error = "ok", None
    except Exception as exc:  # noqa: BLE001 - any model failure is recorded, the sweep goes on
        frame, status, error = None, "failed", _first_line(exc)
    record = {
        "run_id": task.run_id,
        "point_id": task.point_id,
        "seed_index": task.seed_index,
        "seed": task.seed,
        "scenario": task.scenario,
        "steps": task.steps,
        "params": task.params,
        "overrides": task.overrides,
        "metrics": metrics,
        "status": status,
        "error": error,
        "runtime_s": round(time.perf_counter() - t0, 6),
        "started": started,
        "finished": now(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    try:
        store.write_run(out, record, frame)
    except OSError:
        raise  # disk full, permissions: the run stays missing and a rerun retries it
    except Exception as exc:  # noqa: BLE001 - output the store cannot hold: record as failed
        record.update(status="failed", error=f"cannot store the output: {_first_line(exc)}")
        store.write_run(out, record, None)
    return {k: record[k] for k in ("run_id", "status", "error", "runtime_s")}


def _worker_init() -> None:
    """Make a pool worker die with its parent (Linux), so a killed sweep leaves no orphans."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


# -- provenance ------------------------------------------------------------------------------
def package_versions() -> dict[str, str | None]:
    """Return the installed versions of the packages results depend on."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(path: str | Path | None = None) -> dict[str, Any]:
    """Return the git commit and dirty flag of the repository holding ``path``."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=where, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {
        "commit": commit.stdout.strip() if commit.returncode == 0 else None,
        "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None,
    }


# -- orchestration ---------------------------------------------------------------------------
@dataclass
class RunSummary:
    """What one invocation of :func:`run_experiment` did.

    Attributes:
        total: Runs in the experiment.
        skipped: Runs already finished before this invocation.
        done: Runs finished now with status ok.
        failed: Runs finished now with status failed.
        lost: Runs not finished because of an executor failure (rerun to finish them).
        elapsed_s: Wall time of the invocation in seconds (executor start-up, spec check
            and runs).
        workers: Number of workers used.
    """

    total: int
    skipped: int
    done: int
    failed: int
    lost: int
    elapsed_s: float
    workers: int


def preflight(spec: Spec, simulate: str = DEFAULT_SIMULATE) -> None:
    """Check a spec against the model before anything runs.

    Validates every parameter point with the model's ``load_scenario`` (when the simulate
    module has one), then runs one month of the first point of every scenario in the design,
    so unknown scenarios or overrides, ill-typed or out-of-range values and metric columns the
    model does not output are reported before a result directory is created.

    Raises:
        ExperimentError: One line naming the problem.
    """
    try:
        fn = resolve(simulate)
    except (ImportError, AttributeError) as exc:
        raise ExperimentError(f"cannot load the model ({simulate}): {_first_line(exc)}") from None
    tasks = spec.tasks(simulate)
    module = importlib.import_module(simulate.partition(":")[0])
    validator = getattr(module, "load_scenario", None)
    if callable(validator):  # cheap check of every point's overrides, without running
        for task in tasks:
            if task.seed_index:
                continue
            try:
                validator(task.scenario, **task.overrides)
            except ValueError as exc:
                where = f"point {task.point_id} ({_point_label(task.params)})"
                raise ExperimentError(
                    f"spec {spec.name!r}: the model rejects {where}: {exc}"
                ) from None
    checked: set[str] = set()
    for task in tasks:
        if task.scenario in checked:
            continue
        checked.add(task.scenario)
        try:
            frame = fn(task.scenario, steps=1, rng=task.seed, **task.overrides)
        except ValueError as exc:
            raise ExperimentError(f"spec {spec.name!r}: the model rejects it: {exc}") from None
        except Exception as exc:  # noqa: BLE001
            raise ExperimentError(
                f"spec {spec.name!r}: a test run of scenario {task.scenario!r} failed: "
                f"{_first_line(exc)}"
            ) from None
        cols = set(frame.columns)
        for m in spec.metrics:
            if m.column not in cols:
                raise ExperimentError(
                    f"spec {spec.name!r}: metric {m.name!r} reads column {m.column!r}, "
                    "which the model does not output"
                )
        for v in spec.report_variables:
            if v not in cols:
                raise ExperimentError(
                    f"spec {spec.name!r}: [report] variable {v!r} is not a model column"
                )


def _point_label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items()) or "no swept parameters"


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    fh = open(out / ".lock", "a+")  # noqa: SIM115 - held for the whole sweep
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExperimentError(f"{out} is in use by another experiment run") from None
        yield
    finally:
        fh.close()


_OWN_FILES = {"spec.toml", "design.csv", "provenance.json", "runs", ".lock"}


def model_fingerprint(simulate: str = DEFAULT_SIMULATE) -> str:
    """Return a SHA-256 over the source and data files of the model package.

    Hashes every ``.py``, ``.toml`` and ``.csv`` file of the package that holds the simulate
    function (or the module file itself), so a resumed sweep can tell whether the model
    changed since it started.
    """
    module = importlib.import_module(simulate.partition(":")[0])
    path = Path(module.__file__ or "").resolve()
    root = path.parent if path.name == "__init__.py" else path
    files = (
        [root]
        if root.is_file()
        else sorted(
            p
            for p in root.rglob("*")
            if p.suffix in (".py", ".toml", ".csv") and "__pycache__" not in p.parts
        )
    )
    digest = hashlib.sha256()
    for p in files:
        digest.update(str(p.relative_to(root.parent)).encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()


def _check_out(out: Path, spec: Spec, model_fp: str | None, allow_model_change: bool) -> None:
    """Refuse a result directory that belongs to another spec or another model version."""
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"--out {out} exists and is not a directory")
    exp_file = out / "experiment.json"
    if not exp_file.exists():
        if out.is_dir():
            foreign = [
                p.name
                for p in out.iterdir()
                if p.name not in _OWN_FILES and not p.name.endswith(".tmp")
            ]
            if foreign:
                raise ExperimentError(f"--out {out} is not empty and holds no experiment")
        return
    try:
        old = json.loads(exp_file.read_text())
    except (OSError, ValueError):
        raise ExperimentError(f"{exp_file} is unreadable; use a new --out") from None
    if old.get("fingerprint") != spec.fingerprint():
        raise ExperimentError(
            f"{out} holds results of a different spec ({old.get('spec', {}).get('name')!r}); "
            "use a new --out directory"
        )
    if (
        model_fp
        and old.get("model_fingerprint") not in (None, model_fp)
        and not (allow_model_change)
    ):
        raise ExperimentError(
            f"the model's code or data changed since {out} was started, so results would mix "
            "model versions; use a new --out (or --allow-model-change)"
        )


def _prepare(spec: Spec, out: Path, tasks: list[RunTask], model_fp: str | None) -> None:
    if (out / "experiment.json").exists():
        return
    exp_file = out / "experiment.json"
    store.runs_dir(out).mkdir(parents=True, exist_ok=True)
    store.atomic_write_text(out / "spec.toml", spec.text)
    rows = []
    for t in tasks:
        row = {
            "run_id": t.run_id,
            "point_id": t.point_id,
            "seed_index": t.seed_index,
            "seed": t.seed,
            "scenario": t.scenario,
        }
        row.update({k: v for k, v in t.params.items() if k != "scenario"})
        rows.append(row)
    store.atomic_write_text(out / "design.csv", pd.DataFrame(rows).to_csv(index=False))
    store.write_json(
        out / "provenance.json",
        {
            "experiment": spec.name,
            "created": now(),
            "packages": package_versions(),
            "git": git_state(),
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "sessions": [],
        },
    )
    # experiment.json last: its presence marks a fully prepared directory.
    store.write_json(
        exp_file,
        {
            "fingerprint": spec.fingerprint(),
            "model_fingerprint": model_fp,
            "n_runs": len(tasks),
            "spec": spec.as_dict(),
        },
    )


def _update_provenance(out: Path, session: dict[str, Any]) -> None:
    path = out / "provenance.json"
    prov = json.loads(path.read_text())
    sessions = [s for s in prov.get("sessions", []) if s.get("id") != session["id"]]
    sessions.append(session)
    prov["sessions"] = sessions
    store.write_json(path, prov)


THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@contextlib.contextmanager
def single_threaded_env() -> Iterator[None]:
    """Set the BLAS/OpenMP thread variables to 1 (unless set by the user) for new processes.

    Runs are parallel across processes; BLAS threads inside each worker would oversubscribe
    the cores (N workers x N threads on N cores). The model's linear algebra is small, so one
    thread costs nothing (measured on 2 cores: 0.19 s per 36-month baseline run with one
    thread, 0.20 s with the default two).
    """
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    for k in THREAD_VARS:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _can_fork() -> bool:
    """True when forking is safe: this process has exactly one OS thread (Linux).

    Native threads count too: e.g. the jemalloc background thread pyarrow starts on import
    (the CLI turns it off with ``JE_ARROW_MALLOC_CONF=background_thread:false``). Elsewhere,
    or with any other thread, workers come from a forkserver instead.
    """
    try:
        n_threads = len(os.listdir("/proc/self/task"))
    except OSError:
        return False
    return n_threads == 1 and "fork" in multiprocessing.get_all_start_methods()


def _start_forkserver(simulate: str) -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    module = simulate.partition(":")[0]
    with single_threaded_env():  # the forkserver (and so every worker) starts with these
        ctx.set_forkserver_preload(["experiments.runner", module])
        from multiprocessing import forkserver

        forkserver.ensure_running()  # returns at once; the server imports in the background
    return ctx


def _noop() -> None:
    """Task used to start pool workers."""


def _local_pool(workers: int, simulate: str) -> cf.ProcessPoolExecutor:
    """Start a pool of local workers (call after the spec check, so forks inherit a warm model).

    Forked workers start at once with the model imported and warmed up; when the parent has
    other threads the workers come from a forkserver that preloads the model.
    """
    fork = _can_fork()
    ctx = multiprocessing.get_context("fork") if fork else _start_forkserver(simulate)
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
    if fork:
        pool.submit(_noop).result()  # a fork pool starts all its workers now, still 1 thread
    return pool


def _make_executor(
    workers: int, scheduler: str | None, simulate: str
) -> tuple[cf.Executor | None, int, Any]:
    """Return (executor or None, workers, Dask client or None); local pools start later."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ExperimentError("--scheduler needs dask[distributed] installed") from None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExperimentError(
                f"cannot connect to Dask scheduler {scheduler}: {_first_line(exc)}"
            ) from None
        n = max(1, sum(client.nthreads().values()))
        return client.get_executor(pure=False), n, client
    if workers > 1 and not _can_fork():
        _start_forkserver(simulate)  # imports the model while the parent checks the spec
    return None, workers, None


def run_experiment(
    spec: Spec,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    simulate: str = DEFAULT_SIMULATE,
    progress: bool = True,
    retry_failed: bool = False,
    allow_model_change: bool = False,
    check: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> RunSummary:
    """Run every missing run of an experiment and write results to ``out``.

    Rerunning with the same spec and directory does only what is missing.

    Args:
        spec: The experiment.
        out: Result directory (created if needed).
        workers: Local worker processes (default: the number of cores); ignored with a
            scheduler.
        scheduler: Address of an existing Dask scheduler, e.g. ``tcp://127.0.0.1:8786``.
        simulate: ``"module:function"`` of the simulate callable (default ``abm:simulate``).
        progress: Show a progress bar with ETA on stderr.
        retry_failed: Also redo runs recorded as failed.
        allow_model_change: Resume even if the model's code or data changed since the
            directory was started (each session records the model fingerprint).
        check: Run :func:`preflight` first.
        on_result: Called in the parent with each run's summary (e.g. to sample memory).

    Returns:
        A :class:`RunSummary`.

    Raises:
        ExperimentError: Bad options, a spec the model rejects, or a directory of another
            experiment; nothing is written in that case.
    """
    if workers is not None and workers < 1:
        raise ExperimentError(f"--workers must be at least 1, got {workers}")
    out = Path(out).resolve()
    _check_out(out, spec, None, allow_model_change)
    t_start = time.perf_counter()
    # Connect or start the executor before writing anything (a bad --scheduler leaves no DIR);
    # local workers import the model while the parent imports it too and checks the spec.
    executor, n_workers, client = _make_executor(
        workers or os.cpu_count() or 1, scheduler, simulate
    )
    counts = {"ok": 0, "failed": 0, "lost": 0}
    try:
        try:
            model_fp = model_fingerprint(simulate)
        except (ImportError, AttributeError, OSError) as exc:
            raise ExperimentError(
                f"cannot load the model ({simulate}): {_first_line(exc)}"
            ) from None
        _check_out(out, spec, model_fp, allow_model_change)
        if check:
            preflight(spec, simulate)
        tasks = spec.tasks(simulate)
        out.mkdir(parents=True, exist_ok=True)
        with _lock(out):
            _check_out(out, spec, model_fp, allow_model_change)
            _prepare(spec, out, tasks, model_fp)
            store.clean_temporary(out)
            finished = store.finished_run_ids(out)
            if retry_failed:
                finished = {
                    r
                    for r in finished
                    if store.read_record(store.run_path(out, r)).get("status") == "ok"
                }
            todo = [t for t in tasks if t.run_id not in finished]
            skipped = len(tasks) - len(todo)
            session = {
                "id": uuid.uuid4().hex,
                "command": sys.argv if sys.argv and sys.argv[0] else None,
                "start": now(),
                "end": None,
                "workers": n_workers,
                "scheduler": scheduler,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "todo": len(todo),
                "skipped": skipped,
                "model_fingerprint": model_fp,
            }
            _update_provenance(out, session)
            if executor is None and n_workers > 1 and todo:
                executor = _local_pool(n_workers, simulate)
            try:
                _execute(
                    todo,
                    str(out),
                    executor,
                    n_workers,
                    counts,
                    progress,
                    skipped,
                    len(tasks),
                    on_result,
                )
            finally:
                session.update(
                    end=now(), done=counts["ok"], failed=counts["failed"], lost=counts["lost"]
                )
                _update_provenance(out, session)
    finally:
        if isinstance(executor, cf.ProcessPoolExecutor):
            executor.shutdown(wait=True, cancel_futures=True)
        elif executor is not None:
            executor.shutdown(wait=True)
        if client is not None:
            client.close()
    return RunSummary(
        total=len(tasks),
        skipped=skipped,
        done=counts["ok"],
        failed=counts["failed"],
        lost=counts["lost"],
        elapsed_s=time.perf_counter() - t_start,
        workers=n_workers,
    )


def _execute(
    todo: list[RunTask],
    out: str,
    executor: cf.Executor | None,
    n_workers: int,
    counts: dict[str, int],
    progress: bool,
    skipped: int,
    total: int,
    on_result: Callable[[dict[str, Any]], None] | None,
) -> None:
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: pool workers may be forked later
    bar = tqdm(
        total=total,
        initial=skipped,
        disable=not progress,
        unit="run",
        desc="runs",
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.1,
    )

    def record(summary: dict[str, Any]) -> None:
        counts[summary["status"]] += 1
        bar.update(1)
        if counts["failed"]:
            bar.set_postfix(failed=counts["failed"])
        if on_result is not None:
            on_result(summary)

    try:
        if executor is None:
            for task in todo:
                record(run_task(task, out))
            return
        window = 2 * n_workers + 2
        queue = iter(todo)
        pending: dict[cf.Future, RunTask] = {}
        for task in queue:
            pending[executor.submit(run_task, task, out)] = task
            if len(pending) >= window:
                break
        while pending:
            try:
                finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            except BaseException:  # e.g. Ctrl-C: drop queued runs, finished files are kept
                for f in pending:
                    f.cancel()
                raise
            for fut in finished:
                task = pending.pop(fut)
                try:
                    record(fut.result())
                except BrokenProcessPool:
                    counts["lost"] += 1 + len(pending)
                    for f in pending:
                        f.cancel()
                    pending.clear()
                    counts["lost"] += sum(1 for _ in queue)
                    print(
                        "experiments: the worker pool broke (a worker died); "
                        "rerun the same command to finish the missing runs",
                        file=sys.stderr,
                    )
                    return
                except Exception as exc:  # noqa: BLE001 - e.g. the file could not be written
                    counts["lost"] += 1
                    print(
                        f"experiments: run {task.run_id} lost: {_first_line(exc)}", file=sys.stderr
                    )
                nxt = next(queue, None)
                if nxt is not None:
                    pending[executor.submit(run_task, nxt, out)] = nxt
    finally:
        bar.close()
