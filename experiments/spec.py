"""Experiment specs: a TOML file that defines a batch of model runs.

A spec names a scenario and horizon, the seeds, fixed overrides, the swept parameters and
the outcome metrics computed per run. Example specs, one per kind of design, live in
``experiments/specs/``. The format (this example is a valid spec; the tests run it)::

    [experiment]
    name = "alliance-factorial"     # required; used in reports
    description = "..."             # optional
    scenario = "controls_2025"      # required: a name from abm.list_scenarios() or a TOML path
    steps = 24                      # optional; months; default the scenario's own horizon
    root_seed = 2026                # optional (default 0); every run seed derives from it
    seeds = 5                       # a count (derived from root_seed) or a list of integers

    [fixed]                         # optional; overrides applied to every run: any name in
    n_firms = 30                    # abm.PARAMS, or an event field "event.<id>.<field>"

    [[events]]                      # optional; an event added to the scenario's own in every
    id = "licences_magnets"         # run (the fields of a scenario file's [[events]]; its
    date = "2025-04"                # fields can be swept as "event.<id>.<field>")
    actor = "CHN"
    action = "export"
    instrument = "licence"
    product = "magnet"

    [sweep]                         # optional; without it the spec is one parameter point
    design = "factorial"            # factorial | latin | sobol | morris

    [sweep.parameters]              # factorial: lists of values (full factorial)
    alliance = [true, false]
    demand_elasticity = [0.1, 0.4]  # |elasticity|, within its abm.PARAMS range [0, 2]

    [[metrics]]                     # one table per outcome metric
    name = "mean_price_light"       # identifier (letters, digits, _)
    column = "price_light_world"    # a column of abm.simulate's monthly frame
    stat = "mean"                   # see experiments.metrics.STATS
    start = "2024-07"               # optional window start, "YYYY-MM" or a step number
    end = "2025-12"                 # optional window end (inclusive)

    [[metrics]]                     # a custom outcome: a function of the run
    name = "restrictions"
    function = "experiments.outcomes:count_events"   # "module:callable"
    args = { action = "export" }    # optional keyword arguments of the callable

    [report]                        # optional
    variables = ["price_light_world", "shortage_usa"]   # time-series figures
    contrast = "alliance"           # paired differences to a baseline arm, by seed
    baseline = false                # the baseline arm (default: the parameter's first value)

    [store]                         # optional: what each run keeps besides its metrics
    columns = ["price_light_world", "shortage_usa"]     # (date and step always); or
    # metrics_only = true           # no time series at all
    consolidate = "auto"            # pack run files into a dataset at the end: "auto"
                                    # (from 200 runs), true or false

Sampler designs (``latin``, ``sobol``, ``morris``) give each parameter a range instead of a
list, ``demand_elasticity = { min = 0.05, max = 0.6 }`` (``type = "int"`` for integers),
and take ``samples`` (latin: points; sobol: base N, a power of 2, giving N*(2D+2) points with
``calc_second_order = true`` and N*(D+2) without; morris: trajectories, N*(D+1) points),
``sampler_seed`` (default root_seed), ``calc_second_order`` (sobol) and ``levels`` (morris,
default 4).

Parameters: any scalar in ``abm.PARAMS`` (payoff weights included), ``scenario`` (factorial
only, to compare scenarios), and scripted events' fields as ``"event.<id>.<field>"`` (quote
the key, or write it as nested tables: ``[fixed.event.quota_2011]`` ``tonnes_per_yr = 2e4``);
``python -m abm events SCENARIO`` lists the ids and fields a scenario offers. Every point is
checked with ``abm.load_scenario(scenario, **point)`` before anything runs.

Custom metrics: ``function = "module:callable"`` is called as ``callable(frame, events,
**args)`` with the run's monthly frame and its event log (both cut to the metric's window when
``start``/``end`` are given) and returns a number, or a dict of numbers that become metrics
``<name>_<key>``. The callable's module is part of the model fingerprint: edit it and a
resumed sweep refuses to mix results.

Seeds: with ``seeds = N`` the run seeds are ``SeedSequence(root_seed, spawn_key=(i,))``
reduced to one 32-bit integer, for i = 0..N-1. Seed i is shared by every parameter point
(common random numbers), so differences between points are not seed noise. A seed depends
only on (root_seed, i): never on the worker, the order of execution or the number of workers.

A ``[game]`` section (see :mod:`experiments.game`) turns the spec into a normal-form game
for ``python -m experiments game``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.errors import SpecError
from experiments.metrics import STATS

DESIGNS = ("factorial", "latin", "sobol", "morris")
SAMPLERS = ("latin", "sobol", "morris")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SECTIONS = {"experiment", "fixed", "events", "sweep", "metrics", "report", "store", "game"}
_EXPERIMENT_KEYS = {"name", "description", "scenario", "steps", "root_seed", "seeds"}
_SWEEP_KEYS = {"design", "samples", "sampler_seed", "calc_second_order", "levels", "parameters"}
_METRIC_KEYS = {"name", "column", "stat", "start", "end", "threshold", "function", "args"}
_REPORT_KEYS = {"variables", "contrast", "baseline"}
_STORE_KEYS = {"columns", "metrics_only", "consolidate"}
_FUNCTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
EVENT_PREFIX = "event."
STRATEGY_PREFIX = "strategy."
MAX_RUNS = 1_000_000


@dataclass(frozen=True)
class Metric:
    """One outcome metric computed from a run's monthly frame.

    Either a column statistic (``column`` and ``stat``) or a custom outcome (``function``).

    Attributes:
        name: Identifier of the metric (a column of the results table).
        column: Column of the monthly frame it reads ("" for a custom outcome).
        stat: Statistic (a key of :data:`experiments.metrics.STATS`; "" for a custom outcome).
        start: Inclusive window start, ``"YYYY-MM"`` or a step number; None = first month.
        end: Inclusive window end, ``"YYYY-MM"`` or a step number; None = last month.
        threshold: Threshold for ``months_above``.
        function: ``"module:callable"`` of a custom outcome, called with the run's monthly
            frame and event log; it returns a number or a dict of numbers.
        args: Keyword arguments of the custom outcome's callable (as sorted pairs).
    """

    name: str
    column: str
    stat: str
    start: str | int | None = None
    end: str | int | None = None
    threshold: float | None = None
    function: str | None = None
    args: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Range:
    """A parameter range sampled by Latin hypercube, Sobol or Morris.

    Attributes:
        name: Override name.
        low: Lower bound.
        high: Upper bound.
        kind: ``"float"`` or ``"int"`` (sampled values are rounded to integers; the
            Morris analysis uses the unrounded sample).
    """

    name: str
    low: float
    high: float
    kind: str = "float"


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to do one run (picklable, small).

    Attributes:
        run_id: Stable identifier ``p<point>-s<seed index>``; also the result file name.
        point_id: Index of the parameter point in the design.
        seed_index: Index of the seed in the spec's seed list.
        seed: Integer seed passed to the model as ``rng``.
        scenario: Scenario name.
        steps: Horizon in months, or None for the scenario's own.
        overrides: Fixed overrides merged with the point's parameters.
        params: The point's swept parameters only.
        metrics: Metrics to compute.
        simulate: ``"module:function"`` of the simulate callable (default ``abm:simulate``).
        store_columns: Model columns the run file keeps (None = all; () = metrics only).
        fingerprint: The submitter's code fingerprint; a worker whose imported code differs
            refuses the run (None = no check).
        code_inputs: (scenarios, functions) the fingerprint covers (see
            :func:`experiments.fingerprint.code_fingerprint`).
    """

    run_id: str
    point_id: int
    seed_index: int
    seed: int
    scenario: str
    steps: int | None
    overrides: dict[str, Any]
    params: dict[str, Any]
    metrics: tuple[Metric, ...]
    simulate: str = "abm:simulate"
    store_columns: tuple[str, ...] | None = None
    fingerprint: str | None = None
    code_inputs: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


@dataclass
class Spec:
    """A parsed and validated experiment spec (see the module docstring for the format)."""

    name: str
    scenario: str
    description: str = ""
    steps: int | None = None
    root_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    seeds_derived: bool = True
    fixed: dict[str, Any] = field(default_factory=dict)
    design: str = "factorial"
    parameters: dict[str, list[Any] | Range] = field(default_factory=dict)
    samples: int | None = None
    sampler_seed: int | None = None
    calc_second_order: bool = False
    levels: int = 4
    metrics: list[Metric] = field(default_factory=list)
    report_variables: list[str] = field(default_factory=list)
    contrast: str | None = None
    baseline: Any = None
    store_columns: list[str] | None = None
    metrics_only: bool = False
    consolidate: bool | str = "auto"
    game: dict[str, Any] | None = None
    extra_events: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""

    # -- design -----------------------------------------------------------------------------
    def salib_problem(self) -> dict[str, Any]:
        """Return the SALib problem dict for a sampler design."""
        ranges = [p for p in self.parameters.values() if isinstance(p, Range)]
        return {
            "num_vars": len(ranges),
            "names": [r.name for r in ranges],
            "bounds": [[r.low, r.high] for r in ranges],
        }

    def sample_matrix(self) -> np.ndarray:
        """Return the raw SALib sample (points x parameters) for a sampler design.

        Deterministic in ``sampler_seed`` (default ``root_seed``); the report recomputes it
        to run the Sobol or Morris analysis in the same point order.
        """
        problem = self.salib_problem()
        seed = self.root_seed if self.sampler_seed is None else self.sampler_seed
        if self.design == "latin":
            from SALib.sample import latin

            return latin.sample(problem, self.samples, seed=seed)
        if self.design == "sobol":
            from SALib.sample import sobol

            return sobol.sample(
                problem, self.samples, calc_second_order=self.calc_second_order, seed=seed
            )
        if self.design == "morris":
            from SALib.sample import morris

            return morris.sample(problem, self.samples, num_levels=self.levels, seed=seed)
        raise SpecError(f"design {self.design!r} has no sample matrix")

    def points(self) -> list[dict[str, Any]]:
        """Return the parameter points of the design, in design order."""
        if not self.parameters:
            return [{}]
        if self.design == "factorial":
            names = list(self.parameters)
            values = [self.parameters[n] for n in names]
            return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
        ranges = list(self.parameters.values())
        matrix = self.sample_matrix()
        points = []
        for row in matrix:
            point = {}
            for r, x in zip(ranges, row, strict=True):
                point[r.name] = int(round(float(x))) if r.kind == "int" else float(x)
            points.append(point)
        return points

    def n_points(self) -> int:
        """Return the number of parameter points without sampling."""
        if not self.parameters:
            return 1
        d = len(self.parameters)
        if self.design == "factorial":
            return math.prod(len(v) for v in self.parameters.values())
        if self.design == "latin":
            return self.samples
        if self.design == "sobol":
            return self.samples * ((2 * d + 2) if self.calc_second_order else (d + 2))
        return self.samples * (d + 1)

    def resolve_paths(self, base: Path) -> None:
        """Make scenario TOML paths absolute (relative to the spec's folder ``base``, or cwd).

        A relative path is taken from ``base`` when the file is there, else from the current
        directory. Workers may run elsewhere (a Dask cluster), and the scenario file is part of the
        fingerprint, so the path must not depend on the current directory.
        """

        def fix(v: Any) -> Any:
            if not isinstance(v, str) or not v.endswith(".toml"):
                return v
            p = Path(v)
            if p.is_absolute():
                return v
            return str((base / p).resolve() if (base / p).exists() else p.resolve())

        self.scenario = fix(self.scenario)
        values = self.parameters.get("scenario")
        if isinstance(values, list):
            self.parameters["scenario"] = [fix(v) for v in values]

    def scenarios(self) -> list[str]:
        """Return the scenarios the design runs (names or TOML paths), in design order."""
        values = self.parameters.get("scenario")
        if isinstance(values, list):
            return list(dict.fromkeys(str(v) for v in values))
        return [self.scenario]

    def code_inputs(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return (scenarios, custom outcome functions) the code fingerprint covers."""
        return (tuple(sorted(set(self.scenarios()))),
                tuple(sorted({m.function for m in self.metrics if m.function})))

    def stored_columns(self) -> tuple[str, ...] | None:
        """Return the model columns each run file keeps: None = all, () = metrics only."""
        if self.metrics_only:
            return ()
        if self.store_columns is None:
            return None
        return tuple(dict.fromkeys(["date", "step", *self.store_columns]))

    def tasks(self, simulate: str = "abm:simulate", fingerprint: str | None = None
              ) -> list[RunTask]:
        """Return every run of the experiment (points x seeds), point-major.

        Args:
            simulate: ``"module:function"`` path of the simulate callable used by workers.
            fingerprint: Code fingerprint workers check before running (None = no check).

        Returns:
            The run tasks, with seeds and run ids that depend only on the spec.
        """
        metrics = tuple(self.metrics)
        store_columns = self.stored_columns()
        code_inputs = self.code_inputs()
        out = []
        for pid, point in enumerate(self.points()):
            scenario = point.get("scenario", self.scenario)
            params = dict(point)
            overrides = {**self.fixed, **{k: v for k, v in point.items() if k != "scenario"}}
            if self.extra_events:
                overrides["extra_events"] = [dict(e) for e in self.extra_events]
            for si, seed in enumerate(self.seeds):
                out.append(
                    RunTask(
                        run_id=f"p{pid:05d}-s{si:03d}",
                        point_id=pid,
                        seed_index=si,
                        seed=int(seed),
                        scenario=scenario,
                        steps=self.steps,
                        overrides=overrides,
                        params=params,
                        metrics=metrics,
                        simulate=simulate,
                        store_columns=store_columns,
                        fingerprint=fingerprint,
                        code_inputs=code_inputs,
                    )
                )
        return out

    def fingerprint(self) -> str:
        """Return a SHA-256 of the spec's content (comments and layout do not count).

        The description and the ``[report]`` section do not count: they can be edited between
        resumes (the report then uses the new ones).
        """
        content = {k: v for k, v in self.as_dict().items() if k not in ("description", "report")}
        blob = json.dumps(content, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        """Return the spec as plain data (for provenance)."""
        params: dict[str, Any] = {}
        for name, p in self.parameters.items():
            params[name] = (
                {"min": p.low, "max": p.high, "type": p.kind} if isinstance(p, Range) else list(p)
            )
        return {
            "name": self.name,
            "description": self.description,
            "scenario": self.scenario,
            "steps": self.steps,
            "root_seed": self.root_seed,
            "seeds": list(self.seeds),
            "fixed": dict(self.fixed),
            "design": self.design,
            "parameters": params,
            "samples": self.samples,
            "sampler_seed": self.sampler_seed,
            "calc_second_order": self.calc_second_order,
            "levels": self.levels,
            "metrics": [
                {**m.__dict__, "args": dict(m.args)} if m.function else
                {k: v for k, v in m.__dict__.items() if k not in ("function", "args")}
                for m in self.metrics
            ],
            "report": {
                "variables": list(self.report_variables),
                "contrast": self.contrast,
                "baseline": self.baseline,
            },
            **({"store": {"columns": self.store_columns, "metrics_only": self.metrics_only,
                          "consolidate": self.consolidate}}
               if (self.store_columns, self.metrics_only, self.consolidate) != (None, False, "auto")
               else {}),
            **({"game": self.game} if self.game is not None else {}),
            **({"events": [dict(e) for e in self.extra_events]} if self.extra_events else {}),
        }

    def metric_names(self) -> list[str]:
        """Return the declared metric names (custom outcomes may add ``<name>_<key>``)."""
        return [m.name for m in self.metrics]


def derive_seeds(root_seed: int, n: int) -> list[int]:
    """Derive ``n`` run seeds from one root seed.

    Args:
        root_seed: Non-negative root seed.
        n: Number of seeds.

    Returns:
        ``n`` integers in [0, 2**32): seed i is ``SeedSequence(root_seed, spawn_key=(i,))``
        reduced to one 32-bit word; it depends only on (root_seed, i).
    """
    return [
        int(np.random.SeedSequence(root_seed, spawn_key=(i,)).generate_state(1, np.uint32)[0])
        for i in range(n)
    ]


# -- parsing -----------------------------------------------------------------------------------
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _scalar(x: Any) -> bool:
    return isinstance(x, bool | int | float | str)


def _unknown(where: str, keys: set[str], allowed: set[str]) -> None:
    extra = sorted(keys - allowed)
    if extra:
        raise SpecError(
            f"{where}: unknown key {extra[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file.

    Args:
        path: Path of a TOML spec.

    Returns:
        The validated spec.

    Raises:
        SpecError: One line naming the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec {path}: {exc}") from None
    try:
        spec = parse_spec(text)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    spec.resolve_paths(path.parent)
    return spec


def load_result_spec(out: str | Path) -> Spec:
    """Return the spec of a result directory (``DIR/spec.toml``, as last updated).

    Raises:
        SpecError: ``out`` is not a result directory.
    """
    spec_file = Path(out) / "spec.toml"
    if not spec_file.is_file():
        raise SpecError(f"{out} is not an experiment result directory (no spec.toml)")
    return parse_spec(spec_file.read_text(encoding="utf-8"))


def parse_spec(text: str) -> Spec:
    """Parse and validate spec text (see the module docstring for the format).

    Args:
        text: TOML text.

    Returns:
        The validated spec.

    Raises:
        SpecError: One line naming the problem.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"malformed TOML: {exc}") from None
    _unknown("spec", set(data), _SECTIONS)
    exp = data.get("experiment")
    if not isinstance(exp, dict):
        raise SpecError("missing [experiment] table")
    _unknown("[experiment]", set(exp), _EXPERIMENT_KEYS)
    head = _parse_experiment(exp)
    seeds, derived = _parse_seeds(exp.get("seeds", 1), head["root_seed"])
    spec = Spec(**head, seeds=seeds, seeds_derived=derived,
                fixed=_parse_fixed(data.get("fixed", {})),
                extra_events=_parse_events(data.get("events", [])), text=text)
    _parse_sweep(data.get("sweep"), spec)
    _parse_game_section(data, spec)
    metrics = data.get("metrics")
    if spec.game is not None:  # each player's payoff is a metric of every profile
        metrics = _game_metrics(spec.game, metrics)
    _parse_metrics(metrics, spec)
    _parse_report(data.get("report"), spec)
    _parse_store(data.get("store"), spec)
    _keep_stored_report_variables(data.get("report"), spec)
    n_runs = spec.n_points() * len(spec.seeds)
    if n_runs > MAX_RUNS:
        raise SpecError(f"the spec asks for {n_runs} runs (max {MAX_RUNS})")
    return spec


def _parse_experiment(exp: dict[str, Any]) -> dict[str, Any]:
    """The [experiment] fields but the seeds: name, description, scenario, steps, root_seed."""
    name = exp.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError("[experiment] name must be a non-empty string")
    description = exp.get("description", "")
    if not isinstance(description, str):
        raise SpecError("[experiment] description must be a string")
    scenario = exp.get("scenario")
    if not isinstance(scenario, str) or not scenario:
        raise SpecError("[experiment] scenario must be a scenario name (string)")
    steps = exp.get("steps")
    if steps is not None and (not _is_int(steps) or steps < 1):
        raise SpecError(f"[experiment] steps must be a positive integer, got {steps!r}")
    root_seed = exp.get("root_seed", 0)
    if not _is_int(root_seed) or root_seed < 0:
        raise SpecError(f"[experiment] root_seed must be a non-negative integer, got {root_seed!r}")
    return {"name": name.strip(), "description": description, "scenario": scenario,
            "steps": steps, "root_seed": root_seed}


def _parse_seeds(seeds_raw: Any, root_seed: int) -> tuple[list[int], bool]:
    """The run seeds and whether they derive from the root seed (a count) or were listed."""
    if _is_int(seeds_raw):
        if seeds_raw < 1:
            raise SpecError(f"[experiment] seeds must be at least 1, got {seeds_raw}")
        if seeds_raw > 100_000:
            raise SpecError(f"[experiment] seeds = {seeds_raw} is too many (max 100000)")
        return derive_seeds(root_seed, seeds_raw), True
    if isinstance(seeds_raw, list) and seeds_raw:
        if not all(_is_int(s) and 0 <= s < 2**63 for s in seeds_raw):
            raise SpecError("[experiment] seeds list must hold non-negative integers")
        if len(set(seeds_raw)) != len(seeds_raw):
            raise SpecError("[experiment] seeds list has duplicates")
        return list(seeds_raw), False
    raise SpecError("[experiment] seeds must be a positive count or a non-empty list of ints")


def _parse_fixed(fixed: Any) -> dict[str, Any]:
    """The [fixed] overrides as dotted names -> finite scalars."""
    if not isinstance(fixed, dict):
        raise SpecError("[fixed] must be a table of override = value")
    fixed = _flatten("[fixed]", fixed, is_leaf=_scalar)
    for k, v in fixed.items():
        _check_override_name("[fixed]", k)
        if not _scalar(v):
            raise SpecError(f"[fixed] {k} must be a scalar (number, bool or string)")
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(f"[fixed] {k} must be finite, got {v!r}")
    if "scenario" in fixed or "rng" in fixed or "steps" in fixed:
        bad = next(k for k in ("scenario", "rng", "steps") if k in fixed)
        raise SpecError(f"[fixed] {bad} is not an override; set it in [experiment]")
    return dict(fixed)


def _parse_events(events: Any) -> list[dict[str, Any]]:
    """The ``[[events]]`` tables: events added to the scenario's own in every run.

    Their fields are those of a scenario file's ``[[events]]``; the model checks them (with
    the points) before anything runs. Here: an array of tables of scalars.
    """
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise SpecError("[[events]] must be an array of tables (date, actor, action and the "
                        "action's fields, as in a scenario file)")
    for i, ev in enumerate(events, start=1):
        bad = next((k for k, v in ev.items() if not _scalar(v)), None)
        if bad is not None:
            raise SpecError(f"[[events]] {i}: {bad} must be a scalar (number, bool or string)")
    return [dict(e) for e in events]


def _parse_game_section(data: dict[str, Any], spec: Spec) -> None:
    """Read the optional [game] table into ``spec.game`` (it excludes [sweep])."""
    game = data.get("game")
    if game is None:
        return
    if not isinstance(game, dict):
        raise SpecError("[game] must be a table")
    if "sweep" in data:
        raise SpecError("[game] and [sweep] exclude each other: the game's profiles are "
                        "its sweep")
    spec.game = _parse_game(game, spec)


def _keep_stored_report_variables(report: Any, spec: Spec) -> None:
    """Default figures show only the columns the runs keep (``[store] columns``)."""
    kept = spec.stored_columns()
    if kept is not None and not (isinstance(report, dict) and report.get("variables")):
        spec.report_variables = [v for v in spec.report_variables if v in kept]


def _parse_sweep(sweep: Any, spec: Spec) -> None:
    if sweep is None:
        return
    if not isinstance(sweep, dict):
        raise SpecError("[sweep] must be a table")
    _unknown("[sweep]", set(sweep), _SWEEP_KEYS)
    design = sweep.get("design", "factorial")
    if design not in DESIGNS:
        raise SpecError(f"[sweep] design must be one of {', '.join(DESIGNS)}, got {design!r}")
    spec.design = design
    params = sweep.get("parameters")
    if not isinstance(params, dict) or not params:
        raise SpecError("[sweep.parameters] must list at least one parameter")
    params = _flatten("[sweep.parameters]", params, is_leaf=_is_range_or_list)
    _check_swept_names(params, spec)
    if design == "factorial":
        _parse_factorial(sweep, params, spec)
        return
    if "scenario" in params:
        raise SpecError("scenario can be swept only in a factorial design")
    _parse_sampler_options(sweep, design, spec)
    for pname, rng in params.items():
        spec.parameters[pname] = _parse_range(pname, rng, design)


def _check_swept_names(params: dict[str, Any], spec: Spec) -> None:
    """Swept names are overrides (or ``scenario``), neither fixed nor ``rng``/``steps``."""
    for pname in params:
        if pname != "scenario":
            _check_override_name("[sweep.parameters]", pname)
        if pname in spec.fixed:
            raise SpecError(f"parameter {pname!r} is both fixed and swept")
        if pname in ("rng", "steps"):
            raise SpecError(f"[sweep.parameters] {pname} cannot be swept")


def _parse_factorial(sweep: dict[str, Any], params: dict[str, Any], spec: Spec) -> None:
    """A factorial design: every parameter lists its distinct scalar values."""
    for k in ("samples", "sampler_seed", "calc_second_order", "levels"):
        if k in sweep:
            raise SpecError(f"[sweep] {k} applies only to latin, sobol or morris designs")
    for pname, values in params.items():
        if not isinstance(values, list) or not values:
            raise SpecError(
                f"[sweep.parameters] {pname} must be a non-empty list of values "
                "for a factorial design"
            )
        if not all(_scalar(v) for v in values):
            raise SpecError(f"[sweep.parameters] {pname} values must be scalars")
        if len(set(map(repr, values))) != len(values):
            raise SpecError(f"[sweep.parameters] {pname} has duplicate values")
        if pname == "scenario" and not all(isinstance(v, str) for v in values):
            raise SpecError("[sweep.parameters] scenario values must be scenario names")
        spec.parameters[pname] = list(values)


def _parse_sampler_options(sweep: dict[str, Any], design: str, spec: Spec) -> None:
    """Samples, sampler seed, Sobol's second order and Morris's levels of a sampled design."""
    samples = sweep.get("samples")
    if not _is_int(samples) or samples < 1:
        raise SpecError(f"[sweep] samples must be a positive integer for design {design!r}")
    spec.samples = samples
    sseed = sweep.get("sampler_seed")
    if sseed is not None and (not _is_int(sseed) or sseed < 0):
        raise SpecError("[sweep] sampler_seed must be a non-negative integer")
    spec.sampler_seed = sseed
    cso = sweep.get("calc_second_order", False)
    if not isinstance(cso, bool):
        raise SpecError("[sweep] calc_second_order must be true or false")
    if "calc_second_order" in sweep and design != "sobol":
        raise SpecError("[sweep] calc_second_order applies only to the sobol design")
    spec.calc_second_order = cso
    levels = sweep.get("levels", 4)
    if "levels" in sweep and design != "morris":
        raise SpecError("[sweep] levels applies only to the morris design")
    if not _is_int(levels) or levels < 2 or levels % 2:
        raise SpecError("[sweep] levels must be an even integer >= 2")
    spec.levels = levels
    if design == "sobol" and samples & (samples - 1):
        raise SpecError(f"[sweep] samples must be a power of 2 for sobol, got {samples}")
    if design == "latin" and samples < 2:
        raise SpecError("[sweep] samples must be at least 2 for latin")


def _parse_range(pname: str, rng: Any, design: str) -> Range:
    """A sampled parameter's ``{min, max, type}`` table."""
    if not isinstance(rng, dict):
        raise SpecError(
            f"[sweep.parameters] {pname} must be a range {{min = .., max = ..}} "
            f"for design {design!r}"
        )
    _unknown(f"[sweep.parameters.{pname}]", set(rng), {"min", "max", "type"})
    low, high, kind = rng.get("min"), rng.get("max"), rng.get("type", "float")
    if not _is_num(low) or not _is_num(high):
        raise SpecError(f"[sweep.parameters] {pname} needs numeric min and max")
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise SpecError(f"[sweep.parameters] {pname}: min must be below max")
    if kind not in ("float", "int"):
        raise SpecError(f"[sweep.parameters] {pname}: type must be 'float' or 'int'")
    return Range(pname, float(low), float(high), kind)


def _is_range_or_list(v: Any) -> bool:
    return not isinstance(v, dict) or "min" in v or "max" in v or not v


def _flatten(where: str, table: dict[str, Any], *, is_leaf) -> dict[str, Any]:
    """Flatten nested TOML tables into dotted keys (``event.x.y``), keeping the order."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and not is_leaf(value):
            for sub, v in _flatten(where, value, is_leaf=is_leaf).items():
                out[f"{key}.{sub}"] = v
        else:
            if key in out:
                raise SpecError(f"{where} {key} is given twice")
            out[key] = value
    return out


def _check_override_name(where: str, name: str) -> None:
    """Check the shape of an override name; the model checks that it exists."""
    if name.startswith(EVENT_PREFIX):
        parts = name.split(".")
        if len(parts) != 3 or not all(parts[1:]):
            raise SpecError(f"{where} {name!r}: an event field is named 'event.<id>.<field>'")
    elif name.startswith(STRATEGY_PREFIX):
        parts = name.split(".")
        if len(parts) != 3 or not all(parts[1:]):
            raise SpecError(
                f"{where} {name!r}: a pinned strategy is named 'strategy.<STATE>.<domain>'"
            )
    elif not _NAME.match(name):
        raise SpecError(f"{where} {name!r} is not a parameter name")


def _window_value(where: str, key: str, v: Any) -> str | int | None:
    if v is None:
        return None
    if _is_int(v) and v >= 0:
        return v
    if isinstance(v, str) and _DATE.match(v):
        return v
    raise SpecError(f"{where} {key} must be 'YYYY-MM' or a step number, got {v!r}")


def _parse_metrics(metrics: Any, spec: Spec) -> None:
    if metrics is None:
        raise SpecError("no [[metrics]]: define at least one outcome metric")
    if not isinstance(metrics, list) or not all(isinstance(m, dict) for m in metrics):
        raise SpecError("[[metrics]] must be an array of tables")
    seen: set[str] = set()
    for i, m in enumerate(metrics, 1):
        where = f"metric #{i}"
        _unknown(where, set(m), _METRIC_KEYS)
        name, column, stat = m.get("name"), m.get("column"), m.get("stat")
        if not isinstance(name, str) or not _NAME.match(name):
            raise SpecError(f"{where}: name must be an identifier (letters, digits, _)")
        where = f"metric {name!r}"
        if name in seen:
            raise SpecError(f"{where} is defined twice")
        if name in spec.parameters or name in spec.fixed:
            raise SpecError(f"{where} has the name of a parameter")
        seen.add(name)
        if "function" in m:
            spec.metrics.append(_custom_metric(where, m))
            continue
        if "args" in m:
            raise SpecError(f"{where}: args applies only to a custom outcome (function = ...)")
        if not isinstance(column, str) or not column:
            raise SpecError(f"{where}: column must be a column name")
        if stat not in STATS:
            raise SpecError(f"{where}: stat must be one of {', '.join(STATS)}, got {stat!r}")
        start = _window_value(where, "start", m.get("start"))
        end = _window_value(where, "end", m.get("end"))
        if type(start) is type(end) and start is not None and start > end:
            raise SpecError(f"{where}: start {start!r} is after end {end!r}")
        threshold = m.get("threshold")
        if stat == "months_above":
            if not _is_num(threshold):
                raise SpecError(f"{where}: months_above needs a numeric threshold")
            threshold = float(threshold)
        elif threshold is not None:
            raise SpecError(f"{where}: threshold applies only to stat 'months_above'")
        spec.metrics.append(Metric(name, column, stat, start, end, threshold))


#: output-column names of the states (``payoff_<name>``), the model's scheme
COUNTRY_SLUGS = {"CHN": "china", "USA": "usa", "JPN": "japan", "EU": "eu", "AUS": "australia",
                 "ROW": "row"}
GAME_DOMAINS = ("export", "stockpile", "alliance")
_GAME_KEYS = {"players", "strategies", "start", "end", "qre_lambdas", "compare_scenario"}


def payoff_column(code: str) -> str:
    """Output column of a state's payoff (US$ million/month): ``payoff_<country>``."""
    return f"payoff_{COUNTRY_SLUGS.get(code, code.lower())}"


def _parse_game(game: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """Check a [game] section; its profiles become a factorial over strategy overrides."""
    _unknown("[game]", set(game), _GAME_KEYS)
    players = game.get("players")
    if not isinstance(players, list) or len(players) < 2 or not all(
            isinstance(p, str) and p for p in players):
        raise SpecError("[game] players must list two or more state codes, e.g. ['CHN', 'USA']")
    if len(set(players)) != len(players):
        raise SpecError("[game] players has duplicates")
    strategies = game.get("strategies")
    if not isinstance(strategies, dict):
        raise SpecError("[game.strategies.<STATE>] tables must give each player's strategies")
    _unknown("[game.strategies]", set(strategies), set(players))
    parsed: dict[str, dict[str, list[str]]] = {}
    for p in players:
        table = strategies.get(p)
        if not isinstance(table, dict) or not table:
            raise SpecError(f"[game.strategies.{p}] must map a domain ({', '.join(GAME_DOMAINS)}) "
                            "to a list of strategy names")
        _unknown(f"[game.strategies.{p}]", set(table), set(GAME_DOMAINS))
        for domain, names in table.items():
            if not isinstance(names, list) or len(names) < 1 or not all(
                    isinstance(n, str) and n for n in names):
                raise SpecError(f"[game.strategies.{p}] {domain} must be a list of strategy names")
            if len(set(names)) != len(names):
                raise SpecError(f"[game.strategies.{p}] {domain} has duplicates")
            key = f"{STRATEGY_PREFIX}{p}.{domain}"
            if key in spec.fixed:
                raise SpecError(f"{key} is both fixed and played in [game]")
            spec.parameters[key] = list(names)
        parsed[p] = {d: list(v) for d, v in table.items()}
        if all(len(v) == 1 for v in table.values()):
            raise SpecError(f"[game] player {p} has a single strategy: nothing to choose")
    where = "[game]"
    start = _window_value(where, "start", game.get("start"))
    end = _window_value(where, "end", game.get("end"))
    if type(start) is type(end) and start is not None and start > end:
        raise SpecError(f"[game] start {start!r} is after end {end!r}")
    lambdas = game.get("qre_lambdas")
    if lambdas is not None and (not isinstance(lambdas, list) or not lambdas or not all(
            _is_num(v) and math.isfinite(v) and v >= 0 for v in lambdas)):
        raise SpecError("[game] qre_lambdas must be a list of non-negative numbers")
    compare = game.get("compare_scenario", "strategic")
    if not isinstance(compare, str):
        raise SpecError("[game] compare_scenario must be a scenario name ('' = no comparison)")
    spec.design = "factorial"
    return {"players": list(players), "strategies": parsed, "start": start, "end": end,
            "qre_lambdas": [float(v) for v in lambdas] if lambdas else None,
            "compare_scenario": compare}


def _game_metrics(game: dict[str, Any], metrics: Any) -> list[dict[str, Any]]:
    """The spec's metrics plus each player's mean payoff over the game's window."""
    extra = []
    for p in game["players"]:
        m: dict[str, Any] = {"name": payoff_column(p), "column": payoff_column(p),
                             "stat": "mean"}
        if game["start"] is not None:
            m["start"] = game["start"]
        if game["end"] is not None:
            m["end"] = game["end"]
        extra.append(m)
    own = metrics if isinstance(metrics, list) else ([] if metrics is None else metrics)
    if not isinstance(own, list):
        return own
    names = {m.get("name") for m in own if isinstance(m, dict)}
    clash = names & {m["name"] for m in extra}
    if clash:
        raise SpecError(f"metric {sorted(clash)[0]!r} is reserved for the game's payoffs")
    return [*extra, *own]


def _custom_metric(where: str, m: dict[str, Any]) -> Metric:
    function = m["function"]
    if not isinstance(function, str) or not _FUNCTION.match(function):
        raise SpecError(f"{where}: function must be 'module:callable', got {function!r}")
    for key in ("column", "stat", "threshold"):
        if key in m:
            raise SpecError(f"{where}: {key} does not apply to a custom outcome (function)")
    args = m.get("args", {})
    if not isinstance(args, dict):
        raise SpecError(f"{where}: args must be a table of keyword arguments")
    for k, v in args.items():
        if not _NAME.match(k):
            raise SpecError(f"{where}: args key {k!r} is not an identifier")
        if not (_scalar(v) or isinstance(v, list) and all(_scalar(x) for x in v)):
            raise SpecError(f"{where}: args {k} must be a scalar or a list of scalars")
    start = _window_value(where, "start", m.get("start"))
    end = _window_value(where, "end", m.get("end"))
    if type(start) is type(end) and start is not None and start > end:
        raise SpecError(f"{where}: start {start!r} is after end {end!r}")
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items()))
    return Metric(m["name"], "", "", start, end, None, function, frozen)


def _parse_store(store: Any, spec: Spec) -> None:
    if store is None:
        return
    if not isinstance(store, dict):
        raise SpecError("[store] must be a table")
    _unknown("[store]", set(store), _STORE_KEYS)
    columns = store.get("columns")
    only = store.get("metrics_only", False)
    consolidate = store.get("consolidate", "auto")
    if not isinstance(only, bool):
        raise SpecError("[store] metrics_only must be true or false")
    if not isinstance(consolidate, bool) and consolidate != "auto":
        raise SpecError("[store] consolidate must be true, false or \"auto\"")
    if columns is not None:
        if only:
            raise SpecError("[store] give either columns or metrics_only = true, not both")
        if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
            raise SpecError("[store] columns must be a list of model column names")
        spec.store_columns = list(dict.fromkeys(columns))
    spec.metrics_only = only
    spec.consolidate = consolidate


def _parse_report(report: Any, spec: Spec) -> None:
    if report is None:
        variables: list[str] = []
    else:
        if not isinstance(report, dict):
            raise SpecError("[report] must be a table")
        _unknown("[report]", set(report), _REPORT_KEYS)
        variables = report.get("variables", [])
        if not isinstance(variables, list) or not all(isinstance(v, str) and v for v in variables):
            raise SpecError("[report] variables must be a list of column names")
        _parse_contrast(report, spec)
    if not variables:
        variables = list(dict.fromkeys(m.column for m in spec.metrics if m.column))
    spec.report_variables = list(dict.fromkeys(variables))


def _parse_contrast(report: dict[str, Any], spec: Spec) -> None:
    contrast = report.get("contrast")
    if contrast is None:
        if "baseline" in report:
            raise SpecError("[report] baseline needs contrast = \"<parameter>\"")
        return
    if not isinstance(contrast, str):
        raise SpecError("[report] contrast must name a swept parameter")
    values = spec.parameters.get(contrast)
    if values is None:
        raise SpecError(f"[report] contrast {contrast!r} is not a swept parameter")
    if not isinstance(values, list):
        raise SpecError(
            f"[report] contrast {contrast!r} needs a factorial design (arms with shared seeds)"
        )
    if len(values) < 2:
        raise SpecError(f"[report] contrast {contrast!r} needs at least two values")
    baseline = report.get("baseline", values[0])
    if not any(type(v) is type(baseline) and v == baseline for v in values):
        raise SpecError(
            f"[report] baseline {baseline!r} is not one of the values of {contrast!r}: "
            f"{', '.join(map(repr, values))}"
        )
    spec.contrast, spec.baseline = contrast, baseline
