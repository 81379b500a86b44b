"""Paired contrasts between the arms of a factorial experiment (common random numbers).

Every parameter point of a spec runs the same seeds, so seed i of two arms sees the same
random draws: the difference between them, seed by seed, removes most of the seed noise
that a comparison of two means keeps (a paired design). With ``[report] contrast = "P"``
(optional ``baseline = V``, default the first listed value of P), the report computes, for
each metric, each other value of P and each combination of the other swept parameters
(a *stratum*):

* ``n``: seeds finished ok in both arms (the pairs);
* ``baseline_mean``, ``arm_mean``: the two arms' means over those seeds;
* ``mean_diff``: mean of the paired differences ``arm - baseline``;
* ``ci_low``/``ci_high``: its 95% confidence interval, Student t with n-1 degrees of
  freedom (empty for n < 2);
* ``same_sign``: the share of seeds whose difference has the sign of ``mean_diff`` (how
  consistently the arm moves the metric; 1.0 = every seed agrees).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from experiments.store import RUN_COLUMNS

CONTRAST_COLUMNS = ["n", "baseline_mean", "arm_mean", "mean_diff", "ci_low", "ci_high",
                    "same_sign"]


def paired_difference(baseline: np.ndarray, arm: np.ndarray) -> dict[str, float]:
    """Statistics of the paired differences ``arm - baseline`` (see the module docstring).

    Args:
        baseline: Metric values of the baseline arm, one per seed.
        arm: Metric values of the other arm, for the same seeds in the same order.

    Returns:
        ``n, baseline_mean, arm_mean, mean_diff, ci_low, ci_high, same_sign``.
    """
    b, a = np.asarray(baseline, dtype=float), np.asarray(arm, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    d = a - b
    n = len(d)
    if n == 0:
        return dict.fromkeys(CONTRAST_COLUMNS, math.nan) | {"n": 0}
    mean = float(d.mean())
    if n > 1:
        half = float(stats.t.ppf(0.975, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
        lo, hi = mean - half, mean + half
    else:
        lo = hi = math.nan
    same = float(np.mean(np.sign(d) == np.sign(mean)))
    return {"n": n, "baseline_mean": float(b.mean()), "arm_mean": float(a.mean()),
            "mean_diff": mean, "ci_low": lo, "ci_high": hi, "same_sign": same}


def metric_columns(runs: pd.DataFrame, params: list[str]) -> list[str]:
    """Return the numeric metric columns of a results table (custom outcome keys included)."""
    skip = set(RUN_COLUMNS) | set(params) | {"traceback"}
    return [c for c in runs.columns
            if c not in skip and pd.api.types.is_numeric_dtype(runs[c])
            and not pd.api.types.is_bool_dtype(runs[c])]


def _same(a: Any, b: Any) -> bool:
    a = a.item() if hasattr(a, "item") else a
    b = b.item() if hasattr(b, "item") else b
    return type(a) is type(b) and a == b or (
        isinstance(a, float | int) and not isinstance(a, bool) and
        isinstance(b, float | int) and not isinstance(b, bool) and a == b)


def paired_contrasts(runs: pd.DataFrame, parameter: str, baseline: Any,
                     params: list[str]) -> pd.DataFrame:
    """Paired differences of every metric between each arm of ``parameter`` and the baseline.

    Args:
        runs: One row per run (:func:`experiments.load_results`).
        parameter: The contrasted parameter (a swept parameter of a factorial design).
        baseline: Its baseline value.
        params: All swept parameters (the others define the strata).

    Returns:
        One row per stratum, arm and metric: the other parameters' values, ``parameter``
        (the arm's value), ``baseline``, ``metric`` and :data:`CONTRAST_COLUMNS`.
    """
    ok = runs[runs["status"] == "ok"]
    others = [p for p in params if p != parameter]
    metrics = metric_columns(runs, params)
    rows = []
    groups = ok.groupby(others, sort=False, dropna=False) if others else [((), ok)]
    for key, stratum in groups:
        key = key if isinstance(key, tuple) else (key,)
        is_base = stratum[parameter].map(lambda v: _same(v, baseline))
        base = stratum[is_base].set_index("seed_index")
        arms = list(dict.fromkeys(stratum.loc[~is_base, parameter]))
        for value in arms:
            arm = stratum[stratum[parameter].map(lambda v, x=value: _same(v, x))]
            arm = arm.set_index("seed_index")
            seeds = base.index.intersection(arm.index)
            for m in metrics:
                s = paired_difference(base.loc[seeds, m].to_numpy(), arm.loc[seeds, m].to_numpy())
                rows.append({**dict(zip(others, key, strict=True)), parameter: value,
                             "baseline": baseline, "metric": m, **s})
    return pd.DataFrame(rows, columns=[*others, parameter, "baseline", "metric",
                                       *CONTRAST_COLUMNS])


def contrast_markdown(table: pd.DataFrame, parameter: str) -> pd.DataFrame:
    """Return the contrasts as a compact table for the Markdown report."""
    def fmt(r: pd.Series) -> str:
        if not r["n"]:
            return ""
        if r["n"] < 2:
            return f"{r['mean_diff']:+.4g}"
        return f"{r['mean_diff']:+.4g} [{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]"

    out = table.drop(columns=["baseline_mean", "arm_mean", "ci_low", "ci_high", "baseline"])
    out = out.assign(**{"difference [95% CI]": table.apply(fmt, axis=1),
                        "same sign": table["same_sign"].map(lambda v: f"{v:.0%}")})
    return out.drop(columns=["mean_diff", "same_sign"]).rename(columns={parameter:
                                                                        f"{parameter} (arm)"})
