"""Run an experiment: preflight, plan, execute on an executor, stream results to disk.

Runs go through a ``concurrent.futures`` executor:

* ``workers == 1`` and no scheduler: runs execute one after another in this process;
* ``workers > 1``: a ``ProcessPoolExecutor`` of persistent, warm workers. When this process
  has a single OS thread (the CLI) the workers are forked after the spec check, so they start
  at once with the model imported and warmed up; otherwise (a notebook, threads left by a Dask
  client) they come from a ``forkserver`` that preloads the model. Workers die with the
  process that owns the sweep, even on SIGKILL (see :mod:`experiments.workers`);
* ``scheduler="tcp://host:port"``: an existing Dask distributed cluster, through a
  :class:`DaskPool` on its client. Workers write result files themselves, so the result directory
  must be on a file system they can see. A Dask worker imports the ``abm`` of *its own*
  Python environment (an editable install points at whichever checkout was installed, not at
  the worker's current directory); every worker therefore checks the fingerprint of the code
  it imports against the submitter's and refuses to run on a mismatch (one line, the sweep
  stops).

Runs are submitted in chunks (a few runs per task, so inter-process traffic stays small
against the model's time), each worker writes its run files atomically (see
:mod:`experiments.store`) and returns small summaries, so the parent's memory stays flat
however many runs there are. Seeds come from the spec only, so results do not depend on the
executor, the chunking or the number of workers. A failed write to the store (a full disk)
stops the sweep after the runs in flight, with one line; finished runs are kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import importlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from abm.params import add_months
from experiments import store, workers
from experiments.errors import CodeMismatchError, ExperimentError, StoreError
from experiments.fingerprint import code_fingerprint, imported_code_fingerprint
from experiments.metrics import compute_metrics, months_between, resolve_function
from experiments.spec import RunTask, Spec, load_result_spec

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
#: most runs per submitted chunk (a chunk is one task of the executor)
MAX_CHUNK = 8
_RESOLVED: dict[str, Callable[..., Any]] = {}


def now() -> str:
    """Return the current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def resolve(path: str) -> Callable[..., Any]:
    """Import a ``"module:function"`` path (cached per process)."""
    fn = _RESOLVED.get(path)
    if fn is None:
        module, _, attr = path.partition(":")
        fn = getattr(importlib.import_module(module), attr or "simulate")
        _RESOLVED[path] = fn
    return fn


def first_line(exc: BaseException) -> str:
    """Return ``"Type: first line of the message"`` of an exception."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def simulate_run(task: RunTask) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run the model for one task; return its monthly frame and event log.

    With the default ``abm:simulate`` the model is built and stepped here, exactly as
    ``abm.simulate`` does, so the event log is available too. A ``--simulate`` hook is
    called as ``hook(scenario, steps=, rng=, **overrides)`` and may return a frame or a
    ``(frame, events)`` pair.
    """
    if task.simulate == DEFAULT_SIMULATE:
        import abm

        model = abm.RareEarthModel(scenario=task.scenario, rng=task.seed, **task.overrides)
        n = model.horizon if task.steps is None else task.steps
        for _ in range(n):
            model.step()
        return model.results_frame(), model.event_log_frame()
    out = resolve(task.simulate)(task.scenario, steps=task.steps, rng=task.seed,
                                 **task.overrides)
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None


def task_fingerprint(task: RunTask) -> str:
    """Return the fingerprint of the code this worker process imported for a task."""
    return imported_code_fingerprint(task.simulate, *task.code_inputs)


def _check_code(task: RunTask) -> None:
    """Refuse to run when this worker imports other code than the submitter (bug 2)."""
    if task.fingerprint is None:
        return
    mine = task_fingerprint(task)
    if mine != task.fingerprint:
        import abm

        raise CodeMismatchError(
            f"worker {socket.gethostname()}:{os.getpid()} imports other model code than the "
            f"submitter (fingerprint {mine[:12]} != {task.fingerprint[:12]}; its abm is "
            f"{Path(abm.__file__).resolve().parent}); start the workers from the same "
            "environment and checkout"
        )


def run_task(task: RunTask, out: str) -> dict[str, Any]:
    """Do one run and write its file atomically (executes on a worker).

    An exception raised by the model or a metric is recorded in the run file as a failed run
    with its traceback (the sweep goes on); a failure to write the file propagates.

    Args:
        task: The run.
        out: Absolute path of the result directory.

    Returns:
        A small summary: run_id, status, error, runtime_s.

    Raises:
        CodeMismatchError: This worker imports other code than the submitter.
        OSError: The run file cannot be written (disk full, permissions).
    """
    _check_code(task)
    started = now()
    t0 = time.perf_counter()
    frame = events = None
    metrics: dict[str, Any] = {}
    tb = None
    try:
        frame, events = simulate_run(task)
        metrics = compute_metrics(frame, task.metrics, events)
        status, error = "ok", None
    except Exception as exc:  # noqa: BLE001 - any model failure is recorded, the sweep goes on
        frame, status, error, tb = None, "failed", first_line(exc), traceback.format_exc()
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
        "traceback": tb,
        "runtime_s": round(time.perf_counter() - t0, 6),
        "started": started,
        "finished": now(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    guard = workers.owner_alive
    try:
        store.write_run(out, record, frame, events, columns=task.store_columns, guard=guard)
    except OSError:
        raise  # disk full, permissions: the run stays missing and a rerun retries it
    except Exception as exc:  # noqa: BLE001 - output the store cannot hold: record as failed
        record.update(status="failed", error=f"cannot store the output: {first_line(exc)}",
                      traceback=traceback.format_exc())
        store.write_run(out, record, None, None, guard=guard)
    return {k: record[k] for k in ("run_id", "status", "error", "runtime_s")}


def run_chunk(tasks: list[RunTask], out: str) -> list[dict[str, Any]]:
    """Do several runs in order (one executor task); return their summaries.

    A write failure propagates at once (the chunk's later runs are not started).
    """
    return [run_task(t, out) for t in tasks]


# -- provenance ------------------------------------------------------------------------------
def package_versions() -> dict[str, str | None]:
    """Return the installed versions of the packages results depend on."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        module = sys.modules.get(name.lower().replace("-", "_"))
        version = getattr(module, "__version__", None)  # imported already: no file scan
        if isinstance(version, str):
            out[name] = version
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state_async(path: str | Path | None = None) -> Callable[[], dict[str, Any]]:
    """Start asking git for the commit and dirty flag; return a function that waits for them.

    The two ``git`` processes run while the spec is checked (no thread is started, so the
    worker pool can still fork safely).
    """
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        procs = [
            subprocess.Popen(cmd, cwd=where, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
            for cmd in (["git", "rev-parse", "HEAD"],
                        ["git", "status", "--porcelain", "--untracked-files=no"])
        ]
    except OSError:
        return lambda: {"commit": None, "dirty": None}

    def result() -> dict[str, Any]:
        out = []
        for proc in procs:
            try:
                text, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                text = None
            out.append(text if proc.returncode == 0 else None)
        return {"commit": out[0].strip() if out[0] is not None else None,
                "dirty": bool(out[1].strip()) if out[1] is not None else None}

    return result


def git_state(path: str | Path | None = None) -> dict[str, Any]:
    """Return the git commit and dirty flag of the repository holding ``path``."""
    return git_state_async(path)()


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
        consolidated: Runs packed into the consolidated dataset at the end.
    """

    total: int
    skipped: int
    done: int
    failed: int
    lost: int
    elapsed_s: float
    workers: int
    consolidated: int = 0


def load_outcomes(spec: Spec) -> None:
    """Import every custom outcome of a spec.

    Raises:
        ExperimentError: One line naming the metric and the import problem.
    """
    for m in spec.metrics:
        if m.function:
            try:
                resolve_function(m.function)
            except (ImportError, AttributeError, TypeError) as exc:
                raise ExperimentError(
                    f"spec {spec.name!r}: metric {m.name!r}: cannot load {m.function}: "
                    f"{first_line(exc)}"
                ) from None


def spec_fingerprint(spec: Spec, simulate: str = DEFAULT_SIMULATE) -> str:
    """Return the code fingerprint of a spec's runs (see :mod:`experiments.fingerprint`).

    Raises:
        ExperimentError: A module cannot be imported or a file read (one line).
    """
    load_outcomes(spec)
    try:
        return code_fingerprint(simulate, *spec.code_inputs())
    except (ImportError, AttributeError, OSError) as exc:
        raise ExperimentError(f"cannot load the model ({simulate}): {first_line(exc)}") from None


def _validator(simulate: str) -> Callable[..., Any] | None:
    module = importlib.import_module(simulate.partition(":")[0])
    if simulate == DEFAULT_SIMULATE or module.__name__ == "abm":
        import abm

        return abm.load_scenario
    fn = getattr(module, "load_scenario", None)
    return fn if callable(fn) else None


def _run_dates(validator, scenario: str, steps: int | None, frame: pd.DataFrame
               ) -> tuple[str, str] | None:
    """Return the first and last month ``YYYY-MM`` of a run, when they can be known."""
    first = str(frame["date"].iloc[0])[:7] if len(frame) and "date" in frame else None
    n = steps
    if validator is not None:
        with contextlib.suppress(Exception):
            sc = validator(scenario)
            first = first or str(sc.start)
            n = n if n is not None else int(sc.horizon_months)
    if first is None or n is None:
        return None
    return first, add_months(first, n - 1)


def check_windows(spec: Spec, dates: tuple[str, str], scenario: str) -> None:
    """Refuse a metric whose window lies entirely outside the run (it would be all NaN).

    Args:
        spec: The spec.
        dates: First and last month of the run (``YYYY-MM``).
        scenario: The scenario the dates belong to (for the message).

    Raises:
        ExperimentError: One line naming the metric, its window and the run's months.
    """
    first, last = dates
    n_steps = months_between(first, last) + 1
    for m in spec.metrics:
        if m.start is None and m.end is None:
            continue
        lo = m.start if m.start is not None else (first if isinstance(m.end, str) else 0)
        hi = m.end if m.end is not None else (last if isinstance(m.start, str) else n_steps - 1)
        if isinstance(lo, str) != isinstance(hi, str):
            lo = lo if isinstance(lo, str) else add_months(first, lo)
            hi = hi if isinstance(hi, str) else add_months(first, hi)
        outside = (hi < first or lo > last) if isinstance(lo, str) else \
            (hi < 0 or lo > n_steps - 1)
        if outside:
            raise ExperimentError(
                f"spec {spec.name!r}: metric {m.name!r} reads {lo}..{hi}, outside the run of "
                f"{scenario!r} ({first}..{last}, steps 0..{n_steps - 1}): it would be empty"
            )


def preflight(spec: Spec, simulate: str = DEFAULT_SIMULATE) -> None:
    """Check a spec against the model before anything runs.

    Validates every parameter point with the model's ``abm.load_scenario(scenario,
    **point)`` (a hook module's own ``load_scenario`` when it has one), so unknown
    parameters, event fields (``event.<id>.<field>``) and out-of-range values are reported
    first; then runs one month of the first point of every scenario in the design, so
    metric columns, ``[store]`` columns and report variables the model does not output, custom
    outcomes that cannot be imported, and metric windows outside the run are reported before a
    result directory is created.

    Raises:
        ExperimentError: One line naming the problem.
    """
    try:
        fn = resolve(simulate)
        validator = _validator(simulate)
    except (ImportError, AttributeError) as exc:
        raise ExperimentError(f"cannot load the model ({simulate}): {first_line(exc)}") from None
    load_outcomes(spec)
    tasks = [t for t in spec.tasks(simulate) if t.seed_index == 0]
    if validator is not None:  # cheap check of every point's overrides, without running
        for task in tasks:
            try:
                validator(task.scenario, **task.overrides)
            except ValueError as exc:
                where = f"point {task.point_id} ({point_label(task.params)})"
                raise ExperimentError(
                    f"spec {spec.name!r}: the model rejects {where}: {first_line(exc)}"
                ) from None
    checked: set[str] = set()
    for task in tasks:
        if task.scenario in checked:
            continue
        checked.add(task.scenario)
        try:
            frame = fn(task.scenario, steps=1, rng=task.seed, **task.overrides)
            if isinstance(frame, tuple):
                frame = frame[0]
        except ValueError as exc:
            raise ExperimentError(
                f"spec {spec.name!r}: the model rejects it: {first_line(exc)}"
            ) from None
        except Exception as exc:  # noqa: BLE001
            raise ExperimentError(
                f"spec {spec.name!r}: a test run of scenario {task.scenario!r} failed: "
                f"{first_line(exc)}"
            ) from None
        _check_columns(spec, set(frame.columns))
        dates = _run_dates(validator, task.scenario, spec.steps, frame)
        if dates is not None:
            check_windows(spec, dates, task.scenario)


def _check_columns(spec: Spec, cols: set[str]) -> None:
    for m in spec.metrics:
        if m.column and m.column not in cols:
            raise ExperimentError(
                f"spec {spec.name!r}: metric {m.name!r} reads column {m.column!r}, "
                "which the model does not output"
            )
    for v in spec.report_variables:
        if v not in cols:
            raise ExperimentError(
                f"spec {spec.name!r}: [report] variable {v!r} is not a model column"
            )
    for c in spec.store_columns or []:
        if c not in cols:
            raise ExperimentError(f"spec {spec.name!r}: [store] column {c!r} is not a model column")
    kept = spec.stored_columns()
    if kept is not None:
        for v in spec.report_variables:
            if v not in kept:
                raise ExperimentError(
                    f"spec {spec.name!r}: [report] variable {v!r} is not kept by [store]; "
                    "add it to [store] columns (or drop it from [report] variables)"
                )


def point_label(params: dict[str, Any]) -> str:
    """Return ``"a=1, b=x"`` for a parameter point."""
    return ", ".join(f"{k}={v!r}" for k, v in params.items()) or "no swept parameters"


@contextlib.contextmanager
def lock_dir(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of a result directory (one sweep per directory).

    Raises:
        ExperimentError: Another process holds it.
    """
    fh = open(out / ".lock", "a+")  # noqa: SIM115 - held for the whole sweep
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExperimentError(f"{out} is in use by another experiment run") from None
        yield
    finally:
        fh.close()


_OWN_FILES = {"spec.toml", "design.csv", "provenance.json", "runs", ".lock", "dataset"}


def _read_experiment(out: Path) -> dict[str, Any] | None:
    exp_file = out / "experiment.json"
    if not exp_file.exists():
        return None
    try:
        return json.loads(exp_file.read_text())
    except (OSError, ValueError):
        raise ExperimentError(f"{exp_file} is unreadable; use a new --out") from None


def _check_out(out: Path, spec: Spec, model_fp: str | None, allow_model_change: bool) -> None:
    """Refuse a result directory that belongs to another spec or another model version."""
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"--out {out} exists and is not a directory")
    old = _read_experiment(out)
    if old is None:
        if out.is_dir():
            foreign = [
                p.name
                for p in out.iterdir()
                if p.name not in _OWN_FILES and not p.name.endswith(".tmp")
            ]
            if foreign:
                raise ExperimentError(f"--out {out} is not empty and holds no experiment")
        return
    if old.get("fingerprint") != spec.fingerprint():
        raise ExperimentError(
            f"{out} holds results of a different spec ({old.get('spec', {}).get('name')!r}); "
            "use a new --out directory"
        )
    if model_fp and old.get("model_fingerprint") not in (None, model_fp) and not (
        allow_model_change
    ):
        raise ExperimentError(
            f"the model's code or data changed since {out} was started (the abm package, the "
            "--simulate hook, a custom outcome's module or a scenario file), so results would "
            "mix model versions; use a new --out (or --allow-model-change)"
        )


def _design_rows(tasks: list[RunTask]) -> pd.DataFrame:
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
    return pd.DataFrame(rows)


def _prepare(spec: Spec, out: Path, tasks: list[RunTask], model_fp: str | None,
             git: Callable[[], dict[str, Any]] = git_state) -> bool:
    """Write a new directory's files, or update the editable parts of an existing one.

    Returns:
        True when the spec's editable parts (``[report]``, description) changed on resume.
    """
    exp_file = out / "experiment.json"
    old = _read_experiment(out)
    if old is not None:
        if (out / "spec.toml").read_text(encoding="utf-8") == spec.text:
            return False
        # same fingerprint (checked): only [report] or the description changed; keep them
        store.atomic_write_text(out / "spec.toml", spec.text)
        store.write_json(exp_file, {**old, "spec": spec.as_dict()})
        return True
    store.runs_dir(out).mkdir(parents=True, exist_ok=True)
    store.atomic_write_text(out / "spec.toml", spec.text)
    store.atomic_write_text(out / "design.csv", _design_rows(tasks).to_csv(index=False))
    store.write_json(
        out / "provenance.json",
        {
            "experiment": spec.name,
            "created": now(),
            "packages": package_versions(),
            "git": git(),
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
    return False


def _update_provenance(out: Path, session: dict[str, Any]) -> None:
    path = out / "provenance.json"
    prov = json.loads(path.read_text())
    sessions = [s for s in prov.get("sessions", []) if s.get("id") != session["id"]]
    sessions.append(session)
    prov["sessions"] = sessions
    store.write_json(path, prov)


def _noop() -> None:
    """Task used to start pool workers."""


def local_pool(n_workers: int, simulate: str) -> cf.ProcessPoolExecutor:
    """Start a pool of local workers that die with this process (see :mod:`.workers`).

    Call after the spec check, so forked workers inherit a warm model; when this process has
    other threads the workers come from a forkserver that preloads the model.
    """
    import multiprocessing

    fork = workers.can_fork()
    if fork:
        ctx = multiprocessing.get_context("fork")
    else:
        ctx = workers.start_forkserver(["experiments.runner", simulate.partition(":")[0]])
    pool = cf.ProcessPoolExecutor(
        max_workers=n_workers, mp_context=ctx, initializer=workers.worker_init,
        initargs=workers.owner_token(),
    )
    if fork:
        pool.submit(_noop).result()  # a fork pool starts all its workers now, still 1 thread
    return pool


class DaskPool(cf.Executor):
    """Chunks on a Dask cluster, waited on through the client's own futures.

    Dask's ``Client.get_executor()`` hands back ``concurrent.futures`` futures completed by a
    callback on the client's event loop; in a test run one such future stayed pending after
    its task had erred on the scheduler, and the sweep waited for ever. Here the sweep waits
    on the Dask futures themselves, and at most :attr:`poll_s` at a time, looking at each
    future's status in between, so a missed wake-up costs seconds, not the sweep.
    """

    #: seconds one wait lasts before the futures' statuses are read again
    poll_s = 2.0

    def __init__(self, client) -> None:
        self.client = client

    def submit(self, fn, /, *args, **kwargs):
        """Run ``fn(*args)`` on the cluster; a Dask future (``result``, ``cancel``, ...)."""
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def wait_first(self, futures) -> list:
        """The futures that are done, once at least one is."""
        from distributed import wait

        futures = list(futures)
        while True:
            done = [f for f in futures if f.done()]
            if done:
                return done
            with contextlib.suppress(TimeoutError):
                wait(futures, timeout=self.poll_s, return_when="FIRST_COMPLETED")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to stop: the cluster is the user's (the client is closed by the caller)."""


def _make_executor(
    n_workers: int, scheduler: str | None, simulate: str
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
                f"cannot connect to Dask scheduler {scheduler}: {first_line(exc)}"
            ) from None
        n = max(1, sum(client.nthreads().values()))
        return DaskPool(client), n, client
    if n_workers > 1 and not workers.can_fork():
        # imports the model in the server while this process checks the spec
        workers.start_forkserver(["experiments.runner", simulate.partition(":")[0]])
    return None, n_workers, None


def _writable(out: Path) -> None:
    """Refuse an ``--out`` that cannot be created or written, in one line."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-probe.{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ExperimentError(
            f"cannot write to --out {out}: {exc.strerror or first_line(exc)}"
        ) from None


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

    Rerunning with the same spec and directory does only what is missing. Edits to the
    spec's ``[report]`` section or description are taken over on resume.

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
        ExperimentError: Bad options, a spec the model rejects, a directory of another
            experiment or one that cannot be written, or workers that import other code;
            nothing is written in the first cases.
        StoreError: A write to the store failed mid-sweep (e.g. a full disk); finished runs
            are kept and a rerun resumes.
    """
    if workers is not None and workers < 1:
        raise ExperimentError(f"--workers must be at least 1, got {workers}")
    out = Path(out).resolve()
    _check_out(out, spec, None, allow_model_change)
    try:  # imports are start-up, not sweep: they happen before the clock starts
        resolve(simulate)
    except (ImportError, AttributeError) as exc:
        raise ExperimentError(f"cannot load the model ({simulate}): {first_line(exc)}") from None
    git = git_state_async() if _read_experiment(out) is None else git_state
    t_start = time.perf_counter()
    # Connect or start the executor before writing anything (a bad --scheduler leaves no DIR);
    # local workers import the model while the parent imports it too and checks the spec.
    executor, n_workers, client = _make_executor(
        workers or os.cpu_count() or 1, scheduler, simulate
    )
    counts = {"ok": 0, "failed": 0, "lost": 0}
    consolidated = 0
    try:
        model_fp = spec_fingerprint(spec, simulate)
        _check_out(out, spec, model_fp, allow_model_change)
        if check:
            preflight(spec, simulate)
        # workers (local or remote) check the code they import; runs in this process need not
        remote = scheduler is not None or n_workers > 1
        tasks = spec.tasks(simulate, fingerprint=model_fp if remote else None)
        _writable(out)
        with lock_dir(out):
            _check_out(out, spec, model_fp, allow_model_change)
            spec_updated = _store_call(out, _prepare, spec, out, tasks, model_fp, git)
            store.clean_temporary(out)
            finished = store.finished_run_ids(out)
            if retry_failed:
                finished = {r for r in finished if _status(out, r) == "ok"}
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
                "spec_updated": spec_updated,
            }
            _store_call(out, _update_provenance, out, session)
            if executor is None and n_workers > 1 and todo:
                executor = local_pool(n_workers, simulate)
            failure: BaseException | None = None
            try:
                _execute(todo, str(out), executor, n_workers, counts, progress, skipped,
                         len(tasks), on_result)
                if _should_consolidate(spec, out, counts):
                    params = [p for p in spec.parameters if p != "scenario"]
                    consolidated = _store_call(out, store.consolidate, out, params)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                session.update(
                    end=now(), done=counts["ok"], failed=counts["failed"], lost=counts["lost"],
                    error=first_line(failure) if failure else None,
                )
                try:
                    _update_provenance(out, session)
                except OSError:
                    if failure is None:
                        raise StoreError(f"cannot write {out / 'provenance.json'}") from None
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
        consolidated=consolidated,
    )


def _should_consolidate(spec: Spec, out: Path, counts: dict[str, int]) -> bool:
    """Whether to consolidate at the end of a sweep: always, never, or "auto".

    "auto" consolidates once :data:`experiments.store.CONSOLIDATE_MIN_RUNS` ok run files wait
    (below that, one file per run costs nothing worth the time).
    """
    if counts["lost"] or spec.consolidate is False:
        return False
    if spec.consolidate is True:
        return True
    d = store.runs_dir(out)
    return sum(1 for _ in d.glob("*.parquet")) >= store.CONSOLIDATE_MIN_RUNS if d.is_dir() \
        else False


def _status(out: Path, run_id: str) -> str | None:
    path = store.run_path(out, run_id)
    if path.exists():
        return store.read_record(path).get("status")
    return "ok"  # consolidated runs are ok runs


def _store_call(out: Path, fn: Callable[..., Any], *args: Any) -> Any:
    """Call a store operation; a failed write becomes a one-line :class:`StoreError`."""
    try:
        return fn(*args)
    except OSError as exc:
        raise store_error(out, exc) from None


def store_error(out: Path | str, exc: OSError) -> StoreError:
    """Return the one-line error of a failed write to a result directory."""
    where = exc.filename or out
    return StoreError(
        f"cannot write to the result store ({where}): {exc.strerror or first_line(exc)}; "
        "finished runs are kept, rerun the same command to resume once this is fixed"
    )


def _chunk_size(n_todo: int, n_workers: int) -> int:
    """Runs per submitted task: >= 8 chunks per worker for balance, at most MAX_CHUNK."""
    return max(1, min(MAX_CHUNK, n_todo // (8 * n_workers)))


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
            _run_serially(todo, out, counts, record)
        else:
            _run_pooled(todo, out, executor, n_workers, counts, record)
    finally:
        bar.close()


def _run_serially(todo: list[RunTask], out: str, counts: dict[str, int],
                  record: Callable[[dict[str, Any]], None]) -> None:
    """Run the tasks one by one in this process; a failed write stops the sweep."""
    for task in todo:
        try:
            record(run_task(task, out))
        except OSError as exc:
            counts["lost"] += len(todo) - sum(counts.values())
            raise store_error(Path(out), exc) from None


def _run_pooled(todo: list[RunTask], out: str, executor: cf.Executor, n_workers: int,
                counts: dict[str, int], record: Callable[[dict[str, Any]], None]) -> None:
    """Run the tasks in chunks on the executor, at most ``2 * n_workers`` chunks in flight.

    A broken pool ends the sweep with the rest counted as lost (a rerun finishes them); a
    code mismatch or a failed write stops it after the runs in flight and is raised; any other
    error of a chunk loses that chunk only.
    """
    size = _chunk_size(len(todo), n_workers)
    chunks = iter([todo[i:i + size] for i in range(0, len(todo), size)])
    window = 2 * n_workers
    pending: dict[cf.Future, list[RunTask]] = {}
    for chunk in chunks:
        pending[executor.submit(run_chunk, chunk, out)] = chunk
        if len(pending) >= window:
            break
    stop: BaseException | None = None
    while pending:
        try:
            if isinstance(executor, DaskPool):
                finished = executor.wait_first(pending)
            else:
                finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        except BaseException:  # e.g. Ctrl-C: drop queued runs, finished files are kept
            _cancel(pending)
            raise
        for fut in finished:
            chunk = pending.pop(fut)
            if fut.cancelled():
                continue
            try:
                error = _collect(fut, chunk, out, counts, record)
            except BrokenProcessPool:
                counts["lost"] += (len(chunk) + sum(len(c) for c in pending.values())
                                   + sum(len(c) for c in chunks))
                _cancel(pending)
                pending.clear()
                print(
                    "experiments: the worker pool broke (a worker died); "
                    "rerun the same command to finish the missing runs",
                    file=sys.stderr,
                )
                return
            stop = stop or error
            if stop is None:
                nxt = next(chunks, None)
                if nxt is not None:
                    pending[executor.submit(run_chunk, nxt, out)] = nxt
        if stop is not None:
            _cancel(pending)
    if stop is not None:
        counts["lost"] = len(todo) - counts["ok"] - counts["failed"]
        raise stop


def _collect(fut: cf.Future, chunk: list[RunTask], out: str, counts: dict[str, int],
             record: Callable[[dict[str, Any]], None]) -> BaseException | None:
    """Record a finished chunk's runs; return the error that must stop the sweep, if any.

    Raises:
        BrokenProcessPool: The pool died (the caller abandons the sweep).
    """
    try:
        for summary in fut.result():
            record(summary)
    except BrokenProcessPool:
        raise
    except CodeMismatchError as exc:
        return exc
    except OSError as exc:  # disk full, permissions: stop after the runs in flight
        return store_error(Path(out), exc)
    except Exception as exc:  # noqa: BLE001 - e.g. a Dask worker lost
        counts["lost"] += len(chunk)
        print(f"experiments: runs {chunk[0].run_id}..{chunk[-1].run_id} lost: "
              f"{first_line(exc)}", file=sys.stderr)
    return None


def _cancel(pending: dict[cf.Future, list[RunTask]]) -> None:
    for f in pending:
        f.cancel()


def consolidate_dir(out: str | Path) -> int:
    """Pack the finished ok run files of a result directory into its Parquet dataset.

    Returns:
        How many run files were packed.

    Raises:
        ExperimentError: ``out`` is not a result directory, or a sweep is running on it.
        StoreError: A write failed (nothing is lost; see :mod:`experiments.store`).
    """
    out = Path(out).resolve()
    spec = load_result_spec(out)
    if _read_experiment(out) is None:
        raise ExperimentError(f"{out} is not an experiment result directory")
    with lock_dir(out):
        store.clean_temporary(out)
        params = [p for p in spec.parameters if p != "scenario"]
        return _store_call(out, store.consolidate, out, params)
