"""Result store: run files written atomically, consolidated into a partitioned Parquet dataset.

Layout of a result directory ``DIR``::

    DIR/spec.toml          the spec text, as given (the [report] part follows edits)
    DIR/experiment.json    the parsed spec and its fingerprints (reruns must match them)
    DIR/design.csv         every planned run: run_id, point_id, seed_index, seed, scenario,
                           swept parameters
    DIR/provenance.json    package versions, git commit, host, and one entry per invocation
                           (command, workers, scheduler, start and end times, counts)
    DIR/runs/<run_id>.parquet            runs not yet consolidated (and failed runs)
    DIR/dataset/manifest.json            which runs each consolidated part holds
    DIR/dataset/timeseries/part=N/data.parquet   monthly rows of the runs of part N
    DIR/dataset/records/part=N/data.parquet      one row per run: run_id, record, events

A run file holds the run's monthly time series (the model's frame, or the columns the spec's
``[store]`` keeps, plus a ``run_id`` column; no rows with ``metrics_only``) and, in the Parquet
key-value metadata, a JSON record under ``experiments`` (run_id, point_id, seed_index, seed,
scenario, steps, params, overrides, metrics, status ``ok`` or ``failed``, error (one line),
traceback, runtime_s, started, finished, worker) and the run's event log under
``experiments.events``.

Atomicity: every file is written to a temporary name in its directory, flushed to disk and
renamed (``os.replace`` is atomic on POSIX); a failed write removes its temporary, and a
rerun deletes temporaries left by a killed process. Consolidation (:func:`consolidate`; at the
end of a sweep with ``[store] consolidate`` true, or "auto" from :data:`CONSOLIDATE_MIN_RUNS`
waiting run files; or ``python -m experiments consolidate DIR``) packs finished ok runs into
a new part: it writes the part's two files, then the manifest (the
commit point), then deletes the packed run files. Killed before the manifest, the part is an
orphan that the next consolidation deletes (the run files are still there); killed after it,
leftover run files of packed runs are deleted. So a sweep killed at any moment (SIGKILL
included) resumes to exactly the full set: no run lost, none twice.

The consolidated dataset is plain hive-partitioned Parquet (``part=N`` folders): besides
:func:`load_results` and :func:`load_timeseries` it opens with ``pyarrow.dataset``, DuckDB or
polars; its time series carry ``run_id``, ``point_id``, ``seed_index``, ``seed`` and the
swept parameters as columns.
"""

from __future__ import annotations

import errno
import json
import math
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from experiments.errors import ExperimentError

META_KEY = b"experiments"
EVENTS_KEY = b"experiments.events"
RUNS = "runs"
DATASET = "dataset"
MANIFEST = "manifest.json"
PART_MAX_RUNS = 2000
#: with ``[store] consolidate = "auto"`` (the default) a sweep consolidates at its end once
#: this many ok run files wait: below it, one file per run costs nothing worth the time
CONSOLIDATE_MIN_RUNS = 200
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
EVENT_COLUMNS = ["date", "step", "actor", "action", "detail", "source"]
#: Test hook (never set it otherwise): ``DIR:BYTES`` makes every write below DIR fail with
#: ENOSPC once the files under DIR would exceed BYTES, as a disk that fills up would.
DISK_BUDGET_ENV = "EXPERIMENTS_TEST_DISK_BUDGET"


def runs_dir(out: str | Path) -> Path:
    """Return the directory that holds the run files of ``out``."""
    return Path(out) / RUNS


def run_path(out: str | Path, run_id: str) -> Path:
    """Return the path of one run's Parquet file."""
    return runs_dir(out) / f"{run_id}.parquet"


def dataset_dir(out: str | Path) -> Path:
    """Return the directory of the consolidated dataset of ``out``."""
    return Path(out) / DATASET


# -- atomic writes ---------------------------------------------------------------------------
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


def _disk_budget_check(path: Path, size: int) -> None:
    """The test hook of :data:`DISK_BUDGET_ENV` (a no-op unless it is set)."""
    spec = os.environ.get(DISK_BUDGET_ENV)
    if not spec:
        return
    root, _, budget = spec.rpartition(":")
    root_path = Path(root).resolve()
    if not path.resolve().is_relative_to(root_path):
        return
    used = sum(p.stat().st_size for p in root_path.rglob("*") if p.is_file())
    if used + size > int(budget):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def publish(path: Path, write: Callable[[IO[bytes]], None],
            guard: Callable[[], bool] | None = None) -> None:
    """Write a file atomically: temporary name, fsync, rename; never a partial file.

    Args:
        path: Destination.
        write: Writes the content to the open binary file.
        guard: Checked just before the rename; when it returns False the temporary is
            removed and the process exits at once (a pool worker whose sweep was killed).

    Raises:
        OSError: The write failed (disk full, permissions); the temporary is removed.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            _disk_budget_check(path, fh.tell())
            os.fsync(fh.fileno())
        if guard is not None and not guard():
            tmp.unlink(missing_ok=True)
            os._exit(1)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    publish(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write text atomically (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (NaN written as null)."""
    atomic_write_text(path, json.dumps(jsonable(obj), indent=2, sort_keys=False) + "\n")


def jsonable(obj: Any) -> Any:
    """Return ``obj`` as plain JSON data (numpy scalars unwrapped, NaN and inf as None)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return jsonable(obj.item())
    return obj


# -- run files -------------------------------------------------------------------------------
def _events_json(events: pd.DataFrame | None) -> bytes:
    if events is None or events.empty:
        return b"[]"
    cols = [c for c in EVENT_COLUMNS if c in events.columns]
    return json.dumps(jsonable(events[cols].to_dict("records"))).encode("utf-8")


def run_table(record: dict[str, Any], frame: pd.DataFrame | None,
              events: pd.DataFrame | None = None,
              columns: Iterable[str] | None = None) -> pa.Table:
    """Return the Arrow table of one run file (time series, record and events in metadata).

    Args:
        record: The run record (see the module docstring); must contain ``run_id``.
        frame: The monthly frame, or None for a failed run.
        events: The run's event log, or None.
        columns: Model columns to keep (``date``/``step`` included); None = all, empty =
            none (metrics only).
    """
    keep = None if columns is None else list(columns)
    if frame is None or frame.empty or keep == []:
        table = pa.table({"run_id": pa.array([], pa.string())})
    else:
        cols = list(frame.columns) if keep is None else [c for c in keep if c in frame.columns]
        arrays = {"run_id": pa.array([record["run_id"]] * len(frame), pa.string())}
        for c in cols:  # column by column: half the cost of Table.from_pandas
            values = frame[c].to_numpy()
            arrays[str(c)] = pa.array(values, from_pandas=True) if values.dtype == object \
                else pa.array(values)
        table = pa.table(arrays)
    meta = {
        META_KEY: json.dumps(jsonable(record)).encode("utf-8"),
        EVENTS_KEY: _events_json(events),
    }
    return table.replace_schema_metadata(meta)  # no pandas metadata: ~10 KB less per file


def write_run(out: str | Path, record: dict[str, Any], frame: pd.DataFrame | None,
              events: pd.DataFrame | None = None, *, columns: Iterable[str] | None = None,
              guard: Callable[[], bool] | None = None) -> Path:
    """Write one run's file atomically.

    Args:
        out: Result directory.
        record: The run record (see the module docstring); must contain ``run_id``.
        frame: The monthly frame, or None for a failed run.
        events: The run's event log, or None.
        columns: Model columns to keep (see :func:`run_table`).
        guard: See :func:`publish`.

    Returns:
        The path written.
    """
    path = run_path(out, record["run_id"])
    table = run_table(record, frame, events, columns)
    publish(path, lambda fh: pq.write_table(table, fh), guard)
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    """Return the run record stored in a run file's metadata (reads only the footer)."""
    meta = pq.read_schema(path).metadata or {}
    if META_KEY not in meta:
        raise ExperimentError(f"{path} is not a run file of this package")
    return json.loads(meta[META_KEY])


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Return the event log stored in a run file's metadata (a list of rows)."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(EVENTS_KEY, b"[]"))


def clean_temporary(out: str | Path) -> int:
    """Delete temporary files left by interrupted writes; return how many were removed."""
    n = 0
    out = Path(out)
    dirs = [out, runs_dir(out), dataset_dir(out)]
    for sub in ("timeseries", "records"):
        d = dataset_dir(out) / sub
        if d.is_dir():
            dirs += [p for p in d.iterdir() if p.is_dir()]
    for d in dirs:
        if d.is_dir():
            for p in d.glob(".*.tmp"):
                p.unlink(missing_ok=True)
                n += 1
    return n


# -- the consolidated dataset ----------------------------------------------------------------
def read_manifest(out: str | Path) -> dict[str, Any]:
    """Return the dataset manifest: ``{"parts": [{"part": N, "runs": [run_id, ...]}]}``."""
    path = dataset_dir(out) / MANIFEST
    if not path.is_file():
        return {"parts": []}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise ExperimentError(f"{path} is unreadable") from None


def consolidated_run_ids(out: str | Path) -> set[str]:
    """Return the ids of runs packed into the consolidated dataset."""
    return {r for part in read_manifest(out)["parts"] for r in part["runs"]}


def _part_dirs(out: Path, part: int) -> tuple[Path, Path]:
    base = dataset_dir(out)
    return base / "timeseries" / f"part={part:05d}", base / "records" / f"part={part:05d}"


def _remove_orphans(out: Path, manifest: dict[str, Any]) -> None:
    """Delete parts no manifest entry names (a consolidation killed before its commit)."""
    known = {p["part"] for p in manifest["parts"]}
    for sub in ("timeseries", "records"):
        d = dataset_dir(out) / sub
        if not d.is_dir():
            continue
        for part_dir in d.iterdir():
            if part_dir.name.startswith("part=") and int(part_dir.name[5:]) not in known:
                for p in part_dir.iterdir():
                    p.unlink(missing_ok=True)
                part_dir.rmdir()


def consolidate(out: str | Path, params: list[str] | None = None,
                max_runs: int = PART_MAX_RUNS) -> int:
    """Pack finished ok run files into new parts of the dataset; return how many were packed.

    Call with the result directory's lock held (``run`` does, at the end of a sweep). Failed
    runs stay as run files (``--retry-failed`` rewrites them).

    Args:
        out: Result directory.
        params: Swept parameter names, added as columns of the time series.
        max_runs: Most runs per part (bounds the memory used).

    Raises:
        OSError: A write failed; the dataset is unchanged (see the module docstring).
    """
    out = Path(out)
    manifest = read_manifest(out)
    _remove_orphans(out, manifest)
    packed = consolidated_run_ids(out)
    files = sorted(runs_dir(out).glob("*.parquet")) if runs_dir(out).is_dir() else []
    for p in files:  # killed after the manifest's commit: these are already packed
        if p.stem in packed:
            p.unlink(missing_ok=True)
    todo = []
    for p in files:
        if p.stem in packed or not p.exists():
            continue
        if read_record(p).get("status") == "ok":
            todo.append(p)
    n = 0
    for i in range(0, len(todo), max_runs):
        batch = todo[i:i + max_runs]
        part = max([q["part"] for q in manifest["parts"]], default=-1) + 1
        _write_part(out, part, batch, params or [])
        manifest = {"parts": [*manifest["parts"],
                              {"part": part, "runs": [p.stem for p in batch]}]}
        write_json(dataset_dir(out) / MANIFEST, manifest)  # the commit point
        for p in batch:
            p.unlink(missing_ok=True)
        _fsync_dir(runs_dir(out))
        n += len(batch)
    return n


def _write_part(out: Path, part: int, files: list[Path], params: list[str]) -> None:
    ts_dir, rec_dir = _part_dirs(out, part)
    ts_dir.mkdir(parents=True, exist_ok=True)
    rec_dir.mkdir(parents=True, exist_ok=True)
    tables, records = [], {"run_id": [], "record": [], "events": []}
    for p in files:
        pf = pq.ParquetFile(p)
        meta = pf.schema_arrow.metadata or {}
        rec = json.loads(meta[META_KEY])
        records["run_id"].append(rec["run_id"])
        records["record"].append(meta[META_KEY].decode("utf-8"))
        records["events"].append(meta.get(EVENTS_KEY, b"[]").decode("utf-8"))
        table = pf.read()
        if table.num_rows:
            extra = {"point_id": rec["point_id"], "seed_index": rec["seed_index"],
                     "seed": rec["seed"]}
            for k in params:
                if k in (rec.get("params") or {}):
                    extra[k] = rec["params"][k]
            for i, (k, v) in enumerate(extra.items(), start=1):
                table = table.add_column(i, k, pa.array([v] * table.num_rows))
            tables.append(table.replace_schema_metadata(None))
    if tables:
        ts = pa.concat_tables(tables, promote_options="permissive")
        publish(ts_dir / "data.parquet", lambda fh: pq.write_table(ts, fh))
    rec_table = pa.table(records)
    publish(rec_dir / "data.parquet", lambda fh: pq.write_table(rec_table, fh))


def finished_run_ids(out: str | Path) -> set[str]:
    """Return the ids of finished runs (ok or failed): run files and consolidated runs."""
    d = runs_dir(out)
    files = {p.stem for p in d.glob("*.parquet")} if d.is_dir() else set()
    return files | consolidated_run_ids(out)


def _check_dir(out: str | Path) -> Path:
    out = Path(out)
    if not (out / "experiment.json").is_file():
        raise ExperimentError(f"{out} is not an experiment result directory (no experiment.json)")
    return out


def iter_records(out: str | Path, with_events: bool = False):
    """Yield ``(record, events or None, source)`` for every finished run, in run-id order.

    ``source`` is the run file's path, or ``None`` for a run in the consolidated dataset. A
    run file takes precedence over a packed copy (a crash between the two steps of
    consolidation leaves both, with the same content).
    """
    out = _check_dir(out)
    files = {p.stem: p for p in sorted(runs_dir(out).glob("*.parquet"))} \
        if runs_dir(out).is_dir() else {}
    items: list[tuple[str, Any, Any, Path | None]] = []
    for part in read_manifest(out)["parts"]:
        _, rec_dir = _part_dirs(out, part["part"])
        cols = ["run_id", "record", "events"] if with_events else ["run_id", "record"]
        table = pq.read_table(rec_dir / "data.parquet", columns=cols).to_pydict()
        for i, run_id in enumerate(table["run_id"]):
            if run_id not in files:
                ev = table["events"][i] if with_events else None
                items.append((run_id, table["record"][i], ev, None))
    for run_id, p in files.items():
        items.append((run_id, None, None, p))
    items.sort(key=lambda x: x[0])
    for _run_id, rec_text, ev_text, path in items:
        if path is not None:
            yield read_record(path), (read_events(path) if with_events else None), path
        else:
            yield json.loads(rec_text), (json.loads(ev_text) if with_events else None), None


def load_results(out: str | Path) -> pd.DataFrame:
    """Load the whole result set: one row per finished run.

    Args:
        out: Result directory written by ``python -m experiments run``.

    Returns:
        A DataFrame sorted by ``run_id`` with columns ``run_id, point_id, seed_index, seed,
        scenario, status, error, runtime_s, started, finished, worker``, one column per swept
        parameter, one per metric (custom outcomes returning a dict give ``<name>_<key>``)
        and ``traceback`` (the full traceback of a failed run). ``attrs['spec']`` holds the
        parsed spec.
    """
    out = _check_dir(out)
    rows = []
    extra: dict[str, None] = {}
    for rec, _ev, _src in iter_records(out):
        row = {k: rec.get(k) for k in RUN_COLUMNS}
        row.update(rec.get("params") or {})
        metrics = rec.get("metrics") or {}
        row.update(metrics)
        extra.update(dict.fromkeys(metrics))
        row["traceback"] = rec.get("traceback")
        rows.append(row)
    spec = json.loads((out / "experiment.json").read_text())["spec"]
    declared = [m["name"] for m in spec.get("metrics", [])]
    names = list(spec.get("parameters", {})) + declared + [k for k in extra if k not in declared]
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(RUN_COLUMNS + names + ["traceback"])))
    date_metrics = {m["name"] for m in spec.get("metrics", [])
                    if m.get("stat") in ("peak_date", "trough_date")}
    for name in dict.fromkeys(declared + list(extra)):
        if name not in date_metrics and name in frame.columns:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    frame.attrs["spec"] = spec
    return frame.sort_values("run_id", kind="stable").reset_index(drop=True)


def load_events(out: str | Path) -> pd.DataFrame:
    """Load the event logs of every finished run, in long form.

    Returns:
        A DataFrame with ``run_id, point_id, seed_index, seed, scenario``, the swept
        parameters, then ``date, step, actor, action, detail, source``.
    """
    rows = []
    params: dict[str, None] = {}
    for rec, events, _src in iter_records(out, with_events=True):
        base = {k: rec.get(k) for k in ("run_id", "point_id", "seed_index", "seed", "scenario")}
        p = {k: v for k, v in (rec.get("params") or {}).items() if k != "scenario"}
        params.update(dict.fromkeys(p))
        for ev in events or []:
            rows.append({**base, **p, **ev})
    cols = ["run_id", "point_id", "seed_index", "seed", "scenario", *params, *EVENT_COLUMNS]
    return pd.DataFrame(rows, columns=cols)


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
        Runs stored with ``metrics_only`` contribute no rows.

    Raises:
        ExperimentError: A requested column was not stored.
    """
    out = _check_dir(out)
    spec = json.loads((out / "experiment.json").read_text())["spec"]
    want = None if columns is None else \
        ["run_id", "date", "step", *[c for c in columns if c not in ("date", "step")]]
    parts = []
    by_id: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    for rec, _ev, src in iter_records(out):
        if rec.get("status") != status:
            continue
        by_id[rec["run_id"]] = rec
        if src is not None:
            files[rec["run_id"]] = src
    packed = {r for r in by_id if r not in files}
    for part in read_manifest(out)["parts"]:
        ids = [r for r in part["runs"] if r in packed]
        if not ids:
            continue
        ts_dir, _ = _part_dirs(out, part["part"])
        path = ts_dir / "data.parquet"
        if not path.is_file():
            continue
        pf = pq.ParquetFile(path)
        _check_columns(want, pf.schema_arrow.names, ids[0])
        table = pf.read(columns=want)
        frame = table.to_pandas()
        parts.append(frame[frame["run_id"].isin(ids)])
    for run_id, p in files.items():
        pf = pq.ParquetFile(p)
        if pf.metadata.num_rows == 0:
            continue
        _check_columns(want, pf.schema_arrow.names, run_id)
        parts.append(pf.read(columns=want).to_pandas())
    if not parts:
        return pd.DataFrame(columns=["run_id", "point_id", "seed_index", "seed", "date", "step"])
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[[c for c in frame.columns
                   if c not in ("point_id", "seed_index", "seed") and c not in
                   spec.get("parameters", {})]]
    recs = pd.DataFrame(
        [{"run_id": r, "point_id": rec["point_id"], "seed_index": rec["seed_index"],
          "seed": rec["seed"], "scenario": rec["scenario"],
          **{k: v for k, v in (rec.get("params") or {}).items() if k != "scenario"}}
         for r, rec in by_id.items()]
    )
    frame = frame.merge(recs, on="run_id", how="left")
    lead = ["run_id", "point_id", "seed_index", "seed", "scenario"]
    params = [c for c in spec.get("parameters", {}) if c in frame.columns and c not in lead]
    rest = [c for c in frame.columns if c not in lead and c not in params]
    return frame[lead + params + rest].sort_values(["run_id", "step"]).reset_index(drop=True)


def _check_columns(want: list[str] | None, names: list[str], run_id: str) -> None:
    if want is None:
        return
    missing = [c for c in want if c not in names]
    if missing:
        raise ExperimentError(f"run {run_id} has no column {missing[0]!r} (not stored)")
