"""Batch experiments for the rare-earth model: sweeps, seeds, sensitivity, reports.

Command line (see ``python -m experiments --help``)::

    python -m experiments run SPEC.toml --out DIR [--workers N] [--scheduler ADDRESS]
    python -m experiments report DIR
    python -m experiments validate [--seeds N] --out DIR

In Python::

    import experiments
    spec = experiments.load_spec("experiments/specs/factorial.toml")
    experiments.run_experiment(spec, "out/factorial", workers=2)
    runs = experiments.load_results("out/factorial")        # one row per run
    ts = experiments.load_timeseries("out/factorial")       # one row per run and month
"""

from experiments.errors import ExperimentError, SpecError
from experiments.runner import RunSummary, run_experiment
from experiments.spec import Spec, derive_seeds, load_spec, parse_spec
from experiments.store import load_results, load_timeseries

__all__ = [
    "ExperimentError",
    "RunSummary",
    "Spec",
    "SpecError",
    "derive_seeds",
    "load_results",
    "load_spec",
    "load_timeseries",
    "parse_spec",
    "run_experiment",
]
