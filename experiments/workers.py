"""Local worker processes that die with the sweep that started them.

A sweep killed with SIGKILL cannot clean up, so each worker watches the process that owns the
sweep (the *owner*: the ``python -m experiments`` process, or the notebook that called
:func:`experiments.run_experiment`) by itself:

* Linux ``PR_SET_PDEATHSIG``: the kernel sends the worker SIGKILL when its parent dies. That
  parent is the owner when the pool forks from it (the CLI's case);
* when the pool's workers come from a ``forkserver`` (an owner with threads, e.g. a notebook),
  their parent is the server, not the owner, so each worker also runs a watchdog thread that
  checks every :data:`WATCH_INTERVAL_S` seconds that the owner still lives (same pid *and*
  start time, so a recycled pid does not fool it), and kills itself when it does not;
* before a worker publishes a run file it checks the owner once more
  (:func:`owner_alive`), so no run file appears after the owner is gone.

The start method: ``fork`` when the owner has exactly one OS thread (forking a process with
threads can deadlock), else ``forkserver``; the environment variable
``EXPERIMENTS_START_METHOD=forkserver`` forces the latter.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator

WATCH_INTERVAL_S = 0.1
PR_SET_PDEATHSIG = 1
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

_OWNER: tuple[int, str | None] | None = None


def process_start_time(pid: int) -> str | None:
    """Return the kernel's start time of a process (field 22 of /proc/PID/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def owner_token() -> tuple[int, str | None]:
    """Return (pid, start time) of this process, for workers to watch."""
    return os.getpid(), process_start_time(os.getpid())


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start is None:
        return True
    now = process_start_time(pid)
    if now is None:
        return not sys.platform.startswith("linux")
    if now != start:
        return False
    try:  # a zombie (killed, not yet reaped) is dead for our purpose
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
        return stat[stat.rfind(")") + 2:].split()[0] != "Z"
    except OSError:
        return False


def owner_alive() -> bool:
    """True unless this process is a pool worker whose owner has died."""
    return _OWNER is None or _alive(*_OWNER)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _watch(pid: int, start: str | None, stop: threading.Event) -> None:
    while not stop.wait(WATCH_INTERVAL_S):
        if not _alive(pid, start):
            _die()


def worker_init(owner_pid: int, owner_start: str | None) -> None:
    """Initializer of a pool worker: die with the owner (see the module docstring)."""
    global _OWNER
    _OWNER = (owner_pid, owner_start)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if not _alive(owner_pid, owner_start):  # the owner died before prctl took effect
        _die()
    if os.getppid() != owner_pid:  # forkserver child: the kernel watches the wrong parent
        threading.Thread(
            target=_watch, args=(owner_pid, owner_start, threading.Event()),
            name="experiments-owner-watchdog", daemon=True,
        ).start()


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


def can_fork() -> bool:
    """True when forking is safe: this process has exactly one OS thread (Linux).

    Native threads count too: e.g. the jemalloc background thread pyarrow starts on import
    (the CLI turns it off with ``JE_ARROW_MALLOC_CONF=background_thread:false``).
    """
    if os.environ.get("EXPERIMENTS_START_METHOD", "auto") == "forkserver":
        return False
    try:
        n_threads = len(os.listdir("/proc/self/task"))
    except OSError:
        return False
    return n_threads == 1 and "fork" in multiprocessing.get_all_start_methods()


def start_forkserver(preload: list[str]) -> multiprocessing.context.BaseContext:
    """Start (once) a forkserver that preloads ``preload`` with one BLAS thread; return it."""
    ctx = multiprocessing.get_context("forkserver")
    with single_threaded_env():  # the forkserver (and so every worker) starts with these
        ctx.set_forkserver_preload(preload)
        from multiprocessing import forkserver

        forkserver.ensure_running()  # returns at once; the server imports in the background
    return ctx
