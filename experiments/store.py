"""Result store: one Parquet file per finished run, written atomically, plus provenance.

Layout of a result directory ``DIR``::

    DIR/spec.toml          the spec text, as given
    DIR/experiment.json    the parsed spec and its fingerprint (reruns must match it)
    DIR/design.csv         every planned run: run_id, point_id, seed_index, seed, scenario,
                           swept parameters
    DIR/provenance.json    package versions, git commit, host, and one entry per invocation
                           (command, workers, scheduler, start and end times, counts)
    DIR/runs/<run_id>.parquet

A run file holds the run's monthly time series (the frame ``abm.simulate`` returns, plus a
``run_id`` column) and, in the Parquet key-value metadata under ``experiments``, a JSON
record: run_id, point_id, seed_index, seed, scenario, steps, params, overrides, metrics,
status (``ok`` or ``failed``), error, runtime_s, started, finished, worker. A failed run has
an empty table and its error. Files are written to a temporary name in the same directory,
flushed to disk and renamed (``os.replace`` is atomic on POSIX), so a run file either exists
complete or not at all; a rerun deletes leftover temporary files. That makes a sweep killed at
any moment (even SIGKILL) resumable without losing or duplicating a run.

Load everything with :func:`load_results` (one row per run) and :func:`load_timeseries`
(one row per run and month).
"""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from experiments.errors import ExperimentError

META_KEY = b"experiments"
RUNS = "runs"
RUN_COLUMNS = [
    "run_id",
    "point_id",
    "seed_index",
    "seed",
    "scenario",
    "status",
    "error",
    "runtime_s",
    "started",
    "finished",
    "worker",
]


def runs_dir(out: str | Path) -> Path:
    """Return the directory that holds the run files of ``out``."""
    return Path(out) / RUNS


def run_path(out: str | Path, run_id: str) -> Path:
    """Return the path of one run's Parquet file."""
    return runs_dir(out) / f"{run_id}.parquet"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename).

    Args:
        path: Destination.
        data: Content.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text atomically (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (NaN written as null)."""
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _jsonable(obj.item())
    return obj


def write_run(out: str | Path, record: dict[str, Any], frame: pd.DataFrame | None) -> Path:
    """Write one run's file atomically.

    Args:
        out: Result directory.
        record: The run record (see the module docstring); must contain ``run_id``.
        frame: The monthly frame, or None for a failed run.

    Returns:
        The path written.
    """
    path = run_path(out, record["run_id"])
    if frame is None or frame.empty:
        table = pa.table({"run_id": pa.array([], pa.string())})
    else:
        frame = frame.reset_index(drop=True).copy()
        frame.insert(0, "run_id", record["run_id"])
        table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps(_jsonable(record)).encode("utf-8")
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    """Return the run record stored in a run file's metadata (reads only the footer)."""
    meta = pq.read_schema(path).metadata or {}
    if META_KEY not in meta:
        raise ExperimentError(f"{path} is not a run file of this package")
    return json.loads(meta[META_KEY])


def clean_temporary(out: str | Path) -> int:
    """Delete temporary files left by interrupted writes; return how many were removed."""
    n = 0
    for d in (Path(out), runs_dir(out)):
        if d.is_dir():
            for p in d.glob(".*.tmp"):
                p.unlink(missing_ok=True)
                n += 1
    return n


def finished_run_ids(out: str | Path) -> set[str]:
    """Return the ids of runs whose files exist (finished, ok or failed)."""
    d = runs_dir(out)
    if not d.is_dir():
        return set()
    return {p.stem for p in d.glob("*.parquet")}


def _run_files(out: str | Path) -> list[Path]:
    out = Path(out)
    if not (out / "experiment.json").is_file():
        raise ExperimentError(f"{out} is not an experiment result directory (no experiment.json)")
    return sorted(runs_dir(out).glob("*.parquet"))


def load_results(out: str | Path) -> pd.DataFrame:
    """Load the whole result set: one row per finished run.

    Args:
        out: Result directory written by ``python -m experiments run``.

    Returns:
        A DataFrame sorted by ``run_id`` with columns ``run_id, point_id, seed_index, seed,
        scenario, status, error, runtime_s, started, finished, worker``, one column per swept
        parameter and one per metric. ``attrs['spec']`` holds the parsed spec.
    """
    files = _run_files(out)
    rows = []
    for p in files:
        rec = read_record(p)
        row = {k: rec.get(k) for k in RUN_COLUMNS}
        row.update(rec.get("params") or {})
        row.update(rec.get("metrics") or {})
        rows.append(row)
    spec = json.loads((Path(out) / "experiment.json").read_text())["spec"]
    names = list(spec.get("parameters", {})) + [m["name"] for m in spec.get("metrics", [])]
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(RUN_COLUMNS + names)))
    for m in spec.get("metrics", []):
        if m["stat"] not in ("peak_date", "trough_date"):
            frame[m["name"]] = pd.to_numeric(frame[m["name"]], errors="coerce").astype(float)
    frame.attrs["spec"] = spec
    return frame.sort_values("run_id", kind="stable").reset_index(drop=True)


def load_timeseries(
    out: str | Path, columns: list[str] | None = None, status: str = "ok"
) -> pd.DataFrame:
    """Load the monthly time series of every run, in long form.

    Args:
        out: Result directory.
        columns: Model columns to load (``date`` and ``step`` are always loaded); None = all.
        status: Only runs with this status (``"ok"``; failed runs have no time series).

    Returns:
        A DataFrame with ``run_id, point_id, seed_index, seed, scenario``, the swept
        parameters, then ``date, step`` and the requested columns; sorted by run and step.
    """
    parts = []
    for p in _run_files(out):
        rec = read_record(p)
        if rec.get("status") != status:
            continue
        pf = pq.ParquetFile(p)
        names = pf.schema_arrow.names
        cols = None
        if columns is not None:
            missing = [c for c in columns if c not in names]
            if missing:
                raise ExperimentError(f"run {rec['run_id']} has no column {missing[0]!r}")
            cols = ["run_id", "date", "step", *[c for c in columns if c not in ("date", "step")]]
        frame = pf.read(columns=cols).to_pandas()
        for key in ("point_id", "seed_index", "seed", "scenario"):
            frame[key] = rec[key]
        for key, value in (rec.get("params") or {}).items():
            if key != "scenario":
                frame[key] = value
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=["run_id", "point_id", "seed_index", "seed", "date", "step"])
    frame = pd.concat(parts, ignore_index=True)
    spec = json.loads((Path(out) / "experiment.json").read_text())["spec"]
    lead = ["run_id", "point_id", "seed_index", "seed", "scenario"]
    params = [c for c in spec.get("parameters", {}) if c in frame.columns and c not in lead]
    rest = [c for c in frame.columns if c not in lead and c not in params]
    return frame[lead + params + rest].sort_values(["run_id", "step"]).reset_index(drop=True)
