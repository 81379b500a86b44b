"""``python -m experiments plan SPEC``: the size of an experiment before it runs.

Checks the spec against the model (as ``run`` does), counts points, seeds and runs (and,
with ``--out DIR`` of an earlier run, how many are still missing), then times a few real
runs spread over the design (first, middle and last points) in this process and serialises
their results in memory, exactly as the store would, to estimate:

* the time per run (mean of the timed runs, and their range: runs of a sampler design
  differ) and the wall time with N workers, ``ceil(todo / N) x time per run`` plus the
  measured start-up (the spec check);
* the storage: the bytes of one run file (with the spec's ``[store]`` choice) times the
  runs, and the size once consolidated into the Parquet dataset.

Nothing is written: no result directory, no cache, no figure.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from experiments import store
from experiments.errors import ExperimentError
from experiments.metrics import compute_metrics
from experiments.runner import DEFAULT_SIMULATE, preflight, simulate_run
from experiments.spec import RunTask, Spec


@dataclass
class Plan:
    """The size of an experiment (see the module docstring); times in s, sizes in bytes."""

    name: str
    design: str
    scenarios: list[str]
    steps: int | None
    points: int
    seeds: int
    runs: int
    done: int
    workers: int
    check_s: float
    run_s: list[float] = field(default_factory=list)
    run_file_bytes: float = 0.0
    consolidated_fixed_bytes: float = 0.0
    consolidated_bytes_per_run: float = 0.0

    @property
    def todo(self) -> int:
        """Runs still to do."""
        return self.runs - self.done

    @property
    def mean_run_s(self) -> float:
        """Mean wall time of one timed run (model, metrics, serialisation), s."""
        return sum(self.run_s) / len(self.run_s) if self.run_s else math.nan

    def wall_s(self, workers: int) -> float:
        """Expected wall time with ``workers`` workers, s (start-up + rounds of runs)."""
        return self.check_s + math.ceil(self.todo / workers) * self.mean_run_s

    @property
    def run_files_bytes(self) -> float:
        """Expected size of the run files of the runs still to do."""
        return self.todo * self.run_file_bytes

    @property
    def dataset_bytes(self) -> float:
        """Expected size of the whole result set once consolidated, bytes.

        Parts hold at most :data:`experiments.store.PART_MAX_RUNS` runs each.
        """
        parts = math.ceil(self.runs / store.PART_MAX_RUNS)
        return (parts * self.consolidated_fixed_bytes
                + self.runs * self.consolidated_bytes_per_run)


def _spread(tasks: list[RunTask], k: int) -> list[RunTask]:
    """Up to k tasks of seed 0 spread evenly over the design's points."""
    first = [t for t in tasks if t.seed_index == 0]
    if len(first) <= k:
        return first
    idx = sorted({round(i * (len(first) - 1) / max(1, k - 1)) for i in range(k)})
    return [first[i] for i in idx]


def _consolidated(tables: list[pa.Table]) -> tuple[float, float]:
    """Fixed bytes per part and bytes per run of the consolidated dataset.

    A Parquet file's size is about F + k v for k runs (F: footer and per-column metadata);
    one run alone and all timed runs together give F and v.
    """
    def part(ts: list[pa.Table]) -> int:
        series = pa.concat_tables([t.replace_schema_metadata(None) for t in ts],
                                  promote_options="permissive")
        meta = [t.schema.metadata for t in ts]
        records = pa.table({
            "run_id": [json.loads(m[store.META_KEY])["run_id"] for m in meta],
            "record": [m[store.META_KEY].decode() for m in meta],
            "events": [m[store.EVENTS_KEY].decode() for m in meta],
        })
        return _parquet_size(series) + _parquet_size(records)

    many = tables if len(tables) > 1 else tables * 2
    one, k = part(many[:1]), part(many)
    per_run = (k - one) / (len(many) - 1)
    return max(0.0, one - per_run), per_run


def _parquet_size(table: pa.Table) -> int:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.tell()


def plan_spec(spec: Spec, *, workers: int | None = None, timed_runs: int = 3,
              out: str | Path | None = None, simulate: str = DEFAULT_SIMULATE) -> Plan:
    """Measure an experiment's size without writing anything.

    Args:
        spec: The experiment.
        workers: Local workers to plan for (default: the number of cores).
        timed_runs: How many runs to time (spread over the design).
        out: Result directory of an earlier run of the same spec: plan only what is missing.
        simulate: ``"module:function"`` of the simulate callable.

    Returns:
        The :class:`Plan`.

    Raises:
        ExperimentError: The spec does not pass the model's check, or ``out`` holds another
            experiment.
    """
    import os

    t0 = time.perf_counter()
    preflight(spec, simulate)
    check_s = time.perf_counter() - t0
    tasks = spec.tasks(simulate)
    done = 0
    if out is not None and (Path(out) / "experiment.json").is_file():
        from experiments.runner import _check_out

        _check_out(Path(out).resolve(), spec, None, allow_model_change=True)
        done = len(store.finished_run_ids(out) & {t.run_id for t in tasks})
    plan = Plan(
        name=spec.name, design=spec.design if spec.parameters else "single point",
        scenarios=spec.scenarios(), steps=spec.steps, points=spec.n_points(),
        seeds=len(spec.seeds), runs=len(tasks), done=done,
        workers=workers or os.cpu_count() or 1, check_s=check_s,
    )
    tables, sizes = [], []
    for task in _spread(tasks, timed_runs):
        t1 = time.perf_counter()
        try:
            frame, events = simulate_run(task)
            metrics = compute_metrics(frame, task.metrics, events)
        except Exception as exc:  # noqa: BLE001 - a run that fails is worth knowing about now
            raise ExperimentError(
                f"spec {spec.name!r}: timed run {task.run_id} failed: "
                f"{type(exc).__name__}: {exc}".splitlines()[0]
            ) from None
        record = {"run_id": task.run_id, "point_id": task.point_id,
                  "seed_index": task.seed_index, "seed": task.seed, "scenario": task.scenario,
                  "steps": task.steps, "params": task.params, "overrides": task.overrides,
                  "metrics": metrics, "status": "ok", "error": None, "traceback": None,
                  "runtime_s": 0.0, "started": "", "finished": "", "worker": ""}
        tables.append(store.run_table(record, frame, events, task.store_columns))
        sizes.append(_parquet_size(tables[-1]))
        plan.run_s.append(time.perf_counter() - t1)
    if tables:
        plan.run_file_bytes = sum(sizes) / len(sizes)
        plan.consolidated_fixed_bytes, plan.consolidated_bytes_per_run = _consolidated(tables)
    return plan

def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def format_plan(plan: Plan) -> str:
    """Return the plan as the lines ``python -m experiments plan`` prints."""
    steps = f"{plan.steps} months" if plan.steps else "the scenario's horizon"
    lo, hi = (min(plan.run_s), max(plan.run_s)) if plan.run_s else (math.nan, math.nan)
    lines = [
        f"plan of {plan.name!r}: {plan.design} design, {', '.join(plan.scenarios)}, {steps}",
        f"  runs: {plan.runs} = {plan.points} point(s) x {plan.seeds} seed(s); "
        f"{plan.done} already done, {plan.todo} to do",
        f"  time per run: {plan.mean_run_s:.3g} s (mean of {len(plan.run_s)} timed run(s), "
        f"{lo:.3g}-{hi:.3g} s)",
        f"  expected time: {_duration(plan.wall_s(plan.workers))} with {plan.workers} "
        f"worker(s); {_duration(plan.wall_s(1))} with 1 (start-up {plan.check_s:.2f} s)",
        f"  storage: {_size(plan.run_files_bytes)} of run files "
        f"({_size(plan.run_file_bytes)} each), {_size(plan.dataset_bytes)} once consolidated",
        "  nothing was written",
    ]
    return "\n".join(lines)
