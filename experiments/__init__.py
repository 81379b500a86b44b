"""Batch experiments for the rare-earth model: sweeps, seeds, sensitivity, games, reports.

Command line (see ``python -m experiments --help``)::

    python -m experiments run SPEC.toml --out DIR [--workers N] [--scheduler ADDRESS]
    python -m experiments plan SPEC.toml                 # runs, storage, time; writes nothing
    python -m experiments report DIR                     # tables, figures, contrasts
    python -m experiments discover DIR --metric NAME --above X   # PRIM scenario discovery
    python -m experiments game SPEC.toml --out DIR       # normal-form game and its equilibria
    python -m experiments validate [--seeds N] --out DIR

In Python::

    import experiments
    spec = experiments.load_spec("experiments/specs/factorial.toml")
    experiments.run_experiment(spec, "out/factorial", workers=2)
    runs = experiments.load_results("out/factorial")        # one row per run
    ts = experiments.load_timeseries("out/factorial")       # one row per run and month

The names below are imported on first use, so ``python -m experiments`` can set the thread
environment of its worker processes before pandas and pyarrow load (see ``__main__``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ExperimentError": "experiments.errors",
    "SpecError": "experiments.errors",
    "StoreError": "experiments.errors",
    "RunSummary": "experiments.runner",
    "run_experiment": "experiments.runner",
    "Spec": "experiments.spec",
    "derive_seeds": "experiments.spec",
    "load_spec": "experiments.spec",
    "parse_spec": "experiments.spec",
    "load_results": "experiments.store",
    "load_timeseries": "experiments.store",
    "load_events": "experiments.store",
    "make_report": "experiments.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
