"""Scenario discovery: which parameter regions lead to an outcome of interest?

``python -m experiments discover DIR --metric NAME (--above X | --below X)`` marks every run
of a result set as a *case* of interest (its metric above, or below, the threshold) and asks
two questions of the swept parameters, with EMA Workbench's analysis module (Kwakkel 2017,
doi:10.1016/j.envsoft.2017.06.054), installed with the ``ema`` extra
(``pip install 'rare-earth-abm[ema]'``):

* **PRIM** (patient rule induction, Friedman and Fisher 1999; as used for scenario discovery
  by Bryant and Lempert 2010): boxes (a range per parameter, a subset for categorical ones)
  that hold many cases. Each box is described by its *coverage* (share of all cases that fall
  inside it), *density* (share of the runs inside it that are cases) and *mass* (share of all
  runs inside it). PRIM peels the box step by step; of its peeling trajectory the box with the
  highest coverage among those with density >= ``threshold`` is chosen (the last box when
  none reaches it), and up to ``max_boxes`` boxes are found one after another (the runs in a
  box are removed before the next). Each restricted dimension has a quasi-p-value (the
  binomial probability of so dense a box by chance; small = the restriction matters);
* **feature scores**: the importance of each parameter for telling cases from the rest, from
  an extra-trees classifier (Jaxa-Rozen and Kwakkel 2018), with a fixed random state.

Outputs in ``DIR/report/``: ``discovery.md``, ``discovery_boxes.csv`` (limits per box and
parameter), ``discovery_trajectory.csv`` (the peeling trajectory of each box),
``feature_scores.csv`` and ``discovery_tradeoff.png`` (coverage against density).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.errors import ExperimentError

EMA_MISSING = (
    "scenario discovery needs EMA Workbench: pip install 'rare-earth-abm[ema]' "
    "(or pip install ema_workbench)"
)


def _ema() -> tuple[Any, Any]:
    """Import EMA Workbench's prim and feature_scoring quietly (one-line error if absent)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "ipyparallel not installed"
            from ema_workbench.analysis import feature_scoring, prim
    except ImportError:
        raise ExperimentError(EMA_MISSING) from None
    return prim, feature_scoring


@dataclass
class Box:
    """One PRIM box: its statistics and limits.

    Attributes:
        index: Box number (0 = first found).
        coverage: Share of all cases inside the box.
        density: Share of the runs inside the box that are cases.
        mass: Share of all runs inside the box.
        n_cases: Cases inside the box.
        n_runs: Runs inside the box.
        limits: One row per restricted parameter: ``parameter``, ``low``, ``high`` (numeric)
            or ``values`` (categorical), ``qp_low``/``qp_high`` (quasi-p-values).
        trajectory: The peeling trajectory (coverage, density, mass, res_dim per step).
        chosen: Index of the chosen step on the trajectory.
    """

    index: int
    coverage: float
    density: float
    mass: float
    n_cases: int
    n_runs: int
    limits: pd.DataFrame
    trajectory: pd.DataFrame
    chosen: int


@dataclass
class Discovery:
    """Result of :func:`discover`."""

    n_runs: int
    n_cases: int
    boxes: list[Box] = field(default_factory=list)
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)


def prepare_inputs(x: pd.DataFrame) -> pd.DataFrame:
    """Return the parameter table in the types PRIM handles (text becomes categorical)."""
    out = x.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = pd.Categorical(out[c].astype(str))
    return out


def _restricted(box_lim: pd.DataFrame, init: pd.DataFrame, qp: dict[str, list[float]]
                ) -> pd.DataFrame:
    rows = []
    for c in box_lim.columns:
        lo, hi = box_lim[c].iloc[0], box_lim[c].iloc[1]
        ilo, ihi = init[c].iloc[0], init[c].iloc[1]
        q = qp.get(c, [math.nan, math.nan])
        if isinstance(lo, set):
            if lo != ilo:
                rows.append({"parameter": c, "low": math.nan, "high": math.nan,
                             "values": ", ".join(sorted(map(str, lo))),
                             "qp_low": q[0], "qp_high": q[1]})
        elif lo > ilo or hi < ihi:
            rows.append({"parameter": c, "low": float(lo), "high": float(hi), "values": "",
                         "qp_low": q[0] if lo > ilo else math.nan,
                         "qp_high": q[1] if hi < ihi else math.nan})
    return pd.DataFrame(rows, columns=["parameter", "low", "high", "values", "qp_low",
                                       "qp_high"])


def discover(x: pd.DataFrame, y: np.ndarray, *, threshold: float = 0.8,
             peel_alpha: float = 0.05, mass_min: float = 0.05, max_boxes: int = 2,
             random_state: int = 0) -> Discovery:
    """PRIM boxes and feature scores of a binary outcome (see the module docstring).

    Args:
        x: One row per run, one column per parameter (numbers, booleans or text).
        y: True for the runs that are cases of interest.
        threshold: Minimum density of a chosen box (0-1).
        peel_alpha: Share of the remaining runs PRIM peels per step (0-0.5).
        mass_min: Smallest mass of a box (0-1).
        max_boxes: Most boxes to find, one after another.
        random_state: Seed of the extra-trees classifier.

    Returns:
        A :class:`Discovery`.

    Raises:
        ExperimentError: Bad options, or no case (or only cases) among the runs.
    """
    if not 0 < threshold <= 1:
        raise ExperimentError(f"--threshold must be in (0, 1], got {threshold}")
    if not 0 < peel_alpha < 0.5:
        raise ExperimentError(f"--peel-alpha must be in (0, 0.5), got {peel_alpha}")
    prim, feature_scoring = _ema()
    y = np.asarray(y, dtype=bool)
    n_cases = int(y.sum())
    if n_cases == 0 or n_cases == len(y):
        raise ExperimentError(
            f"{n_cases} of {len(y)} runs are cases: discovery needs both cases and non-cases; "
            "choose another threshold"
        )
    x = prepare_inputs(x.reset_index(drop=True))
    result = Discovery(n_runs=len(y), n_cases=n_cases)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = prim.Prim(x, y, peel_alpha=peel_alpha, mass_min=mass_min)
        init = p.box_init
        for k in range(max_boxes):
            box = p.find_box()
            if box is None:
                break
            traj = box.peeling_trajectory.reset_index(drop=True)
            good = traj.index[traj["density"] >= threshold]
            chosen = int(traj.loc[good, "coverage"].idxmax()) if len(good) else len(traj) - 1
            box.select(chosen)
            if box.density < threshold and k > 0:
                break
            uncs = [c for c in x.columns]
            try:
                qp = box._calculate_quasi_p(chosen, uncs)  # noqa: SLF001 - EMA's own p-values
            except Exception:  # noqa: BLE001 - p-values are a courtesy; the box stands
                qp = {}
            result.boxes.append(Box(
                index=k, coverage=float(box.coverage), density=float(box.density),
                mass=float(box.mass), n_cases=int(traj.loc[chosen, "k"]),
                n_runs=int(traj.loc[chosen, "n"]),
                limits=_restricted(box.box_lim, init, qp),
                trajectory=traj[["coverage", "density", "mass", "res_dim"]], chosen=chosen,
            ))
        scores, _ = feature_scoring.get_ex_feature_scores(x, y, random_state=random_state)
    result.scores = scores.iloc[:, 0].rename("score").rename_axis("parameter").reset_index()
    return result


def discover_dir(out: str | Path, metric: str, *, above: float | None = None,
                 below: float | None = None, threshold: float = 0.8, peel_alpha: float = 0.05,
                 report_dir: str | Path | None = None) -> Path:
    """Run :func:`discover` on a result directory and write ``report/discovery.md``.

    Args:
        out: Result directory of ``python -m experiments run``.
        metric: The metric (a column of :func:`experiments.load_results`).
        above: Cases are runs with the metric above this value.
        below: Cases are runs with the metric below this value (give one of the two).
        threshold: PRIM's minimum box density.
        peel_alpha: PRIM's peeling share.
        report_dir: Where to write (default ``out/report``).

    Returns:
        The path of ``discovery.md``.

    Raises:
        ExperimentError: Not a result directory, unknown or non-numeric metric, nothing
            swept, or no cases.
    """
    from experiments.report import markdown_table, save_figure, write_csv
    from experiments.spec import load_result_spec
    from experiments.store import load_results

    if (above is None) == (below is None):
        raise ExperimentError("give exactly one of --above X or --below X")
    out = Path(out)
    spec = load_result_spec(out)
    runs = load_results(out)
    if metric not in runs.columns or metric in spec.parameters:
        from experiments.contrast import metric_columns

        known = ", ".join(metric_columns(runs, list(spec.parameters))) or "none"
        raise ExperimentError(f"{out} has no metric {metric!r} (metrics: {known})")
    values = pd.to_numeric(runs[metric], errors="coerce")
    ok = (runs["status"] == "ok") & values.notna()
    if not pd.api.types.is_numeric_dtype(runs[metric]):
        raise ExperimentError(f"metric {metric!r} is not numeric (a date metric?)")
    params = [p for p in spec.parameters]
    if not params:
        raise ExperimentError(f"{out} sweeps no parameter: discovery needs a sweep")
    x = runs.loc[ok, params]
    side, value = (">", above) if above is not None else ("<", below)
    y = (values[ok] > above).to_numpy() if above is not None else (values[ok] < below).to_numpy()
    res = discover(x, y, threshold=threshold, peel_alpha=peel_alpha)

    rdir = Path(report_dir) if report_dir else out / "report"
    rdir.mkdir(parents=True, exist_ok=True)
    boxes = pd.concat(
        [b.limits.assign(box=b.index, coverage=b.coverage, density=b.density, mass=b.mass)
         for b in res.boxes], ignore_index=True) if res.boxes else pd.DataFrame()
    write_csv(boxes, rdir / "discovery_boxes.csv")
    write_csv(pd.concat([b.trajectory.assign(box=b.index, chosen=b.trajectory.index == b.chosen)
                         for b in res.boxes], ignore_index=True) if res.boxes
              else pd.DataFrame(), rdir / "discovery_trajectory.csv")
    write_csv(res.scores, rdir / "feature_scores.csv")
    if res.boxes:
        _tradeoff_figure(res, rdir / "discovery_tradeoff.png", save_figure)
    lines = [
        f"# Scenario discovery: {spec.name}",
        "",
        f"Cases of interest: runs with `{metric}` {side} {value:g}: **{res.n_cases} of "
        f"{res.n_runs}** runs that finished ok ({res.n_cases / res.n_runs:.0%}). Inputs: "
        f"{', '.join(f'`{p}`' for p in params)}.",
        "",
        f"PRIM (EMA Workbench; peel alpha {peel_alpha}, box density threshold {threshold}): "
        "coverage = share of all cases inside the box; density = share of the box's runs that "
        "are cases; mass = share of all runs inside the box; qp = quasi-p-value of each limit "
        "(small: the restriction matters).",
        "",
    ]
    for b in res.boxes:
        lines += [
            f"## Box {b.index + 1}: coverage {b.coverage:.2f}, density {b.density:.2f}, "
            f"mass {b.mass:.2f} ({b.n_cases} cases in {b.n_runs} runs)",
            "",
            markdown_table(b.limits, ".4g") if len(b.limits) else
            "(no parameter restricted: the cases are spread over the whole space)",
            "",
        ]
    lines += [
        "## Feature scores (extra trees)",
        "",
        "Importance of each parameter for telling cases from the other runs (they sum to 1).",
        "",
        markdown_table(res.scores, ".3f"),
        "",
        "![coverage and density along the peeling trajectory](discovery_tradeoff.png)"
        if res.boxes else "",
        "",
    ]
    from experiments import store

    path = rdir / "discovery.md"
    store.atomic_write_text(path, "\n".join(lines))
    return path


def _tradeoff_figure(res: Discovery, path: Path, save_figure: Any) -> None:
    from experiments.report import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for b in res.boxes:
        t = b.trajectory
        sc = ax.scatter(t["coverage"], t["density"], c=t["res_dim"], cmap="viridis", s=14,
                        label=f"box {b.index + 1}")
        ax.scatter([b.coverage], [b.density], marker="*", s=160, c="red", zorder=3)
    fig.colorbar(sc, ax=ax, label="restricted dimensions")
    ax.set_xlabel("coverage")
    ax.set_ylabel("density")
    ax.set_title("PRIM peeling trajectory (star: chosen box)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
