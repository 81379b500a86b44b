"""A bridge that lets EMA Workbench drive the rare-earth model.

EMA Workbench (Kwakkel 2017) samples uncertainties and policy levers, runs a model for each
experiment and analyses the outcomes (scenario discovery, robust decision making, MORDM).
This module wraps the model as the two kinds of Python model EMA knows, with the outcomes
defined exactly as the metrics of an experiment spec (``experiments.spec.Metric``):

* :func:`function_model`: an ``ema_workbench.Model``; each experiment is one run with one
  seed (the constant ``rng``, or a sampled ``rng`` uncertainty);
* :func:`replicator_model`: an ``ema_workbench.ReplicatorModel``; each experiment runs once
  per seed (replications ``[{"rng": seed}, ...]``, seeds derived from a root seed as in a
  spec), and every outcome is an array over the seeds;
* :func:`parameters` turns names of ``abm.PARAMS`` into EMA parameters with the model's own
  types and ranges (``RealParameter``, ``IntegerParameter``, ``BooleanParameter``);
* :func:`from_spec` builds either model from a spec: its sampler ranges become
  uncertainties, its ``[fixed]`` values constants, its seeds the replications.

Example (four Latin-hypercube experiments, two seeds each)::

    from ema_workbench import SequentialEvaluator, perform_experiments
    from experiments import ema
    from experiments.spec import Metric

    model = ema.replicator_model(
        "rareearth", scenario="controls_2025", steps=36, seeds=2,
        uncertainties=ema.parameters(["demand_elasticity", "licence_share"]),
        metrics=[Metric("mean_price", "price_light_world", "mean")],
        constants={"n_firms": 60},
    )
    with SequentialEvaluator(model) as evaluator:
        experiments_df, outcomes = perform_experiments(model, scenarios=4,
                                                       evaluator=evaluator)
    outcomes["mean_price"].shape      # (4, 2): experiments x seeds

Runs go through the same code as ``python -m experiments run`` (the model, the metrics,
custom outcomes), so a number from EMA equals the number a spec gives for the same
parameters and seed. EMA's ``MultiprocessingEvaluator`` works too: the model function is a
picklable object. Note that EMA registers outcome names per Python process with their kind:
a metric used as a scalar outcome (function model) cannot have the same name as an array
outcome (replicator model) in the same session.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from experiments.errors import ExperimentError
from experiments.spec import Metric, Range, RunTask, Spec, derive_seeds

_NAME_OK = "letters, digits and underscores"


def _ema() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import ema_workbench
    except ImportError:
        from experiments.discovery import EMA_MISSING

        raise ExperimentError(EMA_MISSING) from None
    return ema_workbench


class ModelFunction:
    """The model as a function of keyword arguments, returning outcome values (picklable).

    Called by EMA with one keyword per uncertainty, lever and constant (and ``rng`` for a
    replication or a seed constant); returns ``{metric name: value}``.

    Args:
        scenario: Scenario name or TOML path.
        steps: Months per run (None = the scenario's horizon).
        metrics: The outcomes, as spec metrics (numbers only: no date statistics).
        simulate: ``"module:function"`` of the simulate callable.
    """

    def __init__(self, scenario: str, steps: int | None, metrics: Sequence[Metric],
                 simulate: str = "abm:simulate"):
        self.scenario = scenario
        self.steps = steps
        self.metrics = tuple(metrics)
        self.simulate = simulate

    def __call__(self, **kwargs: Any) -> dict[str, float]:
        """Run the model once with these overrides and seed; return the outcomes."""
        from experiments.metrics import compute_metrics
        from experiments.runner import simulate_run

        seed = int(kwargs.pop("rng", 0))
        overrides = {k: _plain(v) for k, v in kwargs.items()}
        task = RunTask(run_id="ema", point_id=0, seed_index=0, seed=seed,
                       scenario=self.scenario, steps=self.steps, overrides=overrides,
                       params=overrides, metrics=self.metrics, simulate=self.simulate)
        frame, events = simulate_run(task)
        return compute_metrics(frame, self.metrics, events)


def _plain(v: Any) -> Any:
    """Numpy scalars (as EMA passes them) to Python ones, which the model's checks expect."""
    return v.item() if hasattr(v, "item") else v


def parameters(names: Iterable[str], ranges: dict[str, tuple[float, float]] | None = None
               ) -> list[Any]:
    """EMA parameters for names of ``abm.PARAMS``, with the model's types and ranges.

    Args:
        names: Parameter names.
        ranges: Narrower ``(low, high)`` ranges for some names (within the model's range).

    Returns:
        ``RealParameter``/``IntegerParameter``/``BooleanParameter`` objects.

    Raises:
        ExperimentError: An unknown name, a text parameter or a range outside the model's.
    """
    import abm

    ema = _ema()
    out = []
    for name in names:
        p = abm.PARAMS.get(name)
        if p is None:
            raise ExperimentError(f"unknown model parameter {name!r}")
        if p.type is bool:
            out.append(ema.BooleanParameter(name))
            continue
        if p.type not in (int, float):
            raise ExperimentError(f"parameter {name!r} is text: use a CategoricalParameter")
        lo, hi = (ranges or {}).get(name, (p.lo, p.hi))
        if lo is None or hi is None or (p.lo is not None and lo < p.lo) or (
                p.hi is not None and hi > p.hi) or lo >= hi:
            raise ExperimentError(
                f"range of {name!r} must lie within the model's [{p.lo}, {p.hi}], got {lo}-{hi}"
            )
        cls = ema.IntegerParameter if p.type is int else ema.RealParameter
        out.append(cls(name, int(lo) if p.type is int else lo, int(hi) if p.type is int else hi))
    return out


def _outcomes(metrics: Sequence[Metric], replicated: bool) -> list[Any]:
    """ScalarOutcome per metric; ArrayOutcome (one value per seed) for a replicator model."""
    ema = _ema()
    for m in metrics:
        if m.stat in ("peak_date", "trough_date"):
            raise ExperimentError(f"metric {m.name!r}: EMA outcomes must be numbers, not dates")
    cls = ema.ArrayOutcome if replicated else ema.ScalarOutcome
    return [cls(m.name) for m in metrics]


def _build(cls: Any, name: str, fn: ModelFunction, uncertainties: Sequence[Any],
           levers: Sequence[Any], constants: dict[str, Any] | None) -> Any:
    ema = _ema()
    if not name.replace("_", "").isalnum():
        raise ExperimentError(f"EMA model name {name!r}: use {_NAME_OK}")
    model = cls(name, function=fn)
    model.uncertainties = list(uncertainties)
    model.levers = list(levers)
    model.constants = [ema.Constant(k, v) for k, v in (constants or {}).items()]
    model.outcomes = _outcomes(fn.metrics, cls is ema.ReplicatorModel)
    return model


def function_model(name: str, *, scenario: str, steps: int | None, metrics: Sequence[Metric],
                   uncertainties: Sequence[Any] = (), levers: Sequence[Any] = (),
                   constants: dict[str, Any] | None = None, seed: int = 0,
                   simulate: str = "abm:simulate") -> Any:
    """An ``ema_workbench.Model``: one run per experiment, with seed ``seed``.

    Args:
        name: EMA model name (letters, digits, underscores).
        scenario: Scenario name or TOML path.
        steps: Months per run (None = the scenario's horizon).
        metrics: Outcomes (spec metrics; numbers only).
        uncertainties: EMA parameters sampled as uncertainties (see :func:`parameters`).
        levers: EMA parameters sampled as policy levers.
        constants: Fixed overrides (``{"n_firms": 60}``).
        seed: The model's seed (``rng``) in every experiment, unless ``rng`` is an
            uncertainty.
        simulate: ``"module:function"`` of the simulate callable.
    """
    names = {p.name for p in [*uncertainties, *levers]}
    consts = dict(constants or {})
    if "rng" not in names:
        consts.setdefault("rng", seed)
    fn = ModelFunction(scenario, steps, metrics, simulate)
    return _build(_ema().Model, name, fn, uncertainties, levers, consts)


def replicator_model(name: str, *, scenario: str, steps: int | None, metrics: Sequence[Metric],
                     seeds: int | Sequence[int], root_seed: int = 0,
                     uncertainties: Sequence[Any] = (), levers: Sequence[Any] = (),
                     constants: dict[str, Any] | None = None,
                     simulate: str = "abm:simulate") -> Any:
    """An ``ema_workbench.ReplicatorModel``: every experiment runs once per seed.

    Args:
        name: EMA model name.
        scenario: Scenario name or TOML path.
        steps: Months per run.
        metrics: Outcomes (each becomes an array over the seeds).
        seeds: A count (seeds derived from ``root_seed`` exactly as a spec's ``seeds = N``)
            or a list of seeds.
        root_seed: Root of derived seeds.
        uncertainties: EMA parameters sampled as uncertainties.
        levers: EMA parameters sampled as policy levers.
        constants: Fixed overrides.
        simulate: ``"module:function"`` of the simulate callable.
    """
    seed_list = derive_seeds(root_seed, seeds) if isinstance(seeds, int) else list(seeds)
    fn = ModelFunction(scenario, steps, metrics, simulate)
    model = _build(_ema().ReplicatorModel, name, fn, uncertainties, levers, constants)
    model.replications = [{"rng": int(s)} for s in seed_list]
    return model


def from_spec(spec: Spec, *, replicate: bool = True, name: str | None = None,
              simulate: str = "abm:simulate") -> Any:
    """Build an EMA model from a spec with a sampler design.

    The spec's ranges become uncertainties (``type = "int"`` as ``IntegerParameter``), its
    ``[fixed]`` overrides constants, its metrics outcomes and (with ``replicate``) its seeds
    the replications; without ``replicate`` the first seed is used.

    Raises:
        ExperimentError: The spec has list-valued (factorial) parameters.
    """
    ema = _ema()
    uncs = []
    for pname, p in spec.parameters.items():
        if not isinstance(p, Range):
            raise ExperimentError(
                f"parameter {pname!r} is a list: EMA samples ranges (latin/sobol/morris specs)"
            )
        cls = ema.IntegerParameter if p.kind == "int" else ema.RealParameter
        lo, hi = (int(p.low), int(p.high)) if p.kind == "int" else (p.low, p.high)
        uncs.append(cls(pname, lo, hi))
    model_name = name or "".join(ch if ch.isalnum() else "_" for ch in spec.name)
    metrics = [m for m in spec.metrics if m.stat not in ("peak_date", "trough_date")]
    common = dict(scenario=spec.scenario, steps=spec.steps, metrics=metrics,
                  uncertainties=uncs, constants=dict(spec.fixed), simulate=simulate)
    if replicate:
        return replicator_model(model_name, seeds=list(spec.seeds), **common)
    return function_model(model_name, seed=spec.seeds[0], **common)
