"""Validation: replay the history scenarios and compare the model with observed history.

``python -m experiments validate [--seeds N] --out DIR`` runs each history scenario
(``quota_2010``: 2009-2017, ``controls_2025``: 2024-2030) for N seeds over its whole horizon
(through the normal, resumable runner: ``DIR/runs_<scenario>_<N>seeds/``), then compares the
ensemble with ``abm/data/observed_history.csv`` (columns ``date`` as ``YYYY`` or ``YYYY-MM``,
``variable``, ``value``, ``unit``, ``source``) and writes ``DIR/validation.md``,
``DIR/validation.csv`` (one row per observation and scenario) and figures
``DIR/validate_<variable>.png`` that overlay the model (mean and 2.5-97.5% band over seeds)
and the observations.

How an observation is matched with the model:

* the model column is the observed variable's name (or an alias in :data:`ALIASES`);
  observations without a model counterpart are listed, not scored;
* a ``YYYY-MM`` observation is compared with that month;
* a ``YYYY`` observation is compared with the mean over that year's months; if its unit is
  per year (``/yr``) and the model column is a monthly flow (t per month), with the sum over
  the year (only when the scenario covers all twelve months).

Errors per observation: model mean minus observed, and relative to the observed value; per
variable: mean absolute percentage error (MAPE), bias, and how many observations lie inside
the model's 2.5-97.5% band. Observations are single numbers from secondary sources (see their
``source``); treat errors of tens of percent on prices as order-of-magnitude agreement.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import targets
from experiments.errors import ExperimentError
from experiments.report import _plt, markdown_table
from experiments.runner import DEFAULT_SIMULATE, resolve, run_experiment
from experiments.spec import parse_spec
from experiments.store import atomic_write_text, load_timeseries

HISTORY_SCENARIOS = ("quota_2010", "controls_2025")
ROOT_SEED = 2026
ALIASES: dict[str, tuple[str, ...]] = {
    # China's export quota (t REO/yr): the model's quota in force, else its REO exports.
    "china_export_quota_t": ("china_export_quota_t", "china_export_quota", "china_exports_reo"),
}
FLOW_PREFIXES = ("production_", "consumption_", "china_exports_", "shortage_")
FIGURE_GROUPS = {
    "prices": ("price_light_world", "price_heavy_world"),
    "exports": ("china_exports_light", "china_exports_heavy", "china_export_quota_t"),
    "dependence": ("china_import_share_japan",),
}


def observed_history_path() -> Path:
    """Return the path of the observed-history CSV shipped with the model package."""
    import abm

    return Path(abm.__file__).resolve().parent / "data" / "observed_history.csv"


def load_observed(path: str | Path | None = None) -> pd.DataFrame:
    """Load and check the observed-history CSV.

    Raises:
        ExperimentError: The file is missing or malformed (one line naming the problem).
    """
    path = Path(path) if path else observed_history_path()
    if not path.is_file():
        raise ExperimentError(f"observed history not found: {path}")
    try:
        obs = pd.read_csv(path, dtype={"date": str})
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"cannot read {path}: {exc}") from None
    need = {"date", "variable", "value", "unit", "source"}
    if not need <= set(obs.columns):
        raise ExperimentError(f"{path}: missing columns {sorted(need - set(obs.columns))}")
    bad = ~obs["date"].astype(str).str.fullmatch(r"\d{4}(-(0[1-9]|1[0-2]))?")
    if bad.any():
        raise ExperimentError(f"{path}: bad date {obs.loc[bad, 'date'].iloc[0]!r}")
    obs["value"] = pd.to_numeric(obs["value"], errors="coerce")
    if obs["value"].isna().any():
        row = int(obs["value"].isna().to_numpy().argmax()) + 2
        raise ExperimentError(f"{path}: non-numeric value in line {row}")
    return obs


def _spec_text(scenario: str, seeds: int) -> str:
    return (
        "[experiment]\n"
        f'name = "validate-{scenario}"\n'
        f'description = "History replay of {scenario} for validation"\n'
        f'scenario = "{scenario}"\n'
        f"root_seed = {ROOT_SEED}\n"
        f"seeds = {seeds}\n\n"
        "[[metrics]]\n"
        'name = "mean_price_light_world"\n'
        'column = "price_light_world"\n'
        'stat = "mean"\n'
    )


def _model_column(variable: str, columns: set[str]) -> str | None:
    for c in ALIASES.get(variable, (variable,)):
        if c in columns:
            return c
    return None


def _per_run_value(ts: pd.DataFrame, col: str, date: str, unit: str) -> tuple[pd.Series, str]:
    months = ts["date"].astype(str).str[:7]
    if len(date) == 7:
        sel = ts[months == date]
        return sel.groupby("run_id")[col].mean(), f"month {date}"
    sel = ts[months.str[:4] == date]
    if sel.empty:
        return pd.Series(dtype=float), ""
    n_months = sel.groupby("run_id")["date"].nunique()
    per_year = "/yr" in unit or "per year" in unit
    if per_year and col.startswith(FLOW_PREFIXES):
        full = n_months[n_months == 12].index
        return sel[sel["run_id"].isin(full)].groupby("run_id")[col].sum(), f"sum over {date}"
    return sel.groupby("run_id")[col].mean(), f"mean over {date}"


def compare(obs: pd.DataFrame, ts: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Compare observations with one scenario's ensemble (see the module docstring).

    Args:
        obs: Observed history.
        ts: The scenario's time series (``load_timeseries``), all seeds.
        scenario: Scenario name (a column of the output).

    Returns:
        One row per observation inside the scenario's horizon.
    """
    columns = set(ts.columns)
    months = ts["date"].astype(str).str[:7]
    first, last = months.min(), months.max()
    rows = []
    for o in obs.itertuples(index=False):
        d = str(o.date)
        if not (first[: len(d)] <= d <= last[: len(d)]):
            continue
        row: dict[str, Any] = {
            "scenario": scenario,
            "variable": o.variable,
            "date": d,
            "observed": float(o.value),
            "unit": o.unit,
            "source": o.source,
        }
        col = _model_column(o.variable, columns)
        if col is None:
            rows.append({**row, "comparison": "no model counterpart"})
            continue
        vals, how = _per_run_value(ts, col, d, str(o.unit))
        vals = vals.dropna()
        if vals.empty:
            rows.append({**row, "model_column": col, "comparison": "not covered by the horizon"})
            continue
        mean = float(vals.mean())
        lo, hi = float(vals.quantile(0.025)), float(vals.quantile(0.975))
        err = mean - float(o.value)
        rows.append(
            {
                **row,
                "model_column": col,
                "comparison": how,
                "n_seeds": len(vals),
                "model_mean": mean,
                "model_q025": lo,
                "model_q975": hi,
                "error": err,
                "rel_error": err / o.value if o.value else math.nan,
                "inside_band": bool(lo <= o.value <= hi),
            }
        )
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Return per scenario and variable: n, MAPE, bias (mean relative error), band coverage."""
    if table.empty or "model_mean" not in table:
        return pd.DataFrame()
    t = table.dropna(subset=["model_mean"])
    out = []
    for (sc, var), g in t.groupby(["scenario", "variable"], sort=False):
        out.append(
            {
                "scenario": sc,
                "variable": var,
                "n": len(g),
                "mape_pct": float(100 * g["rel_error"].abs().mean()),
                "bias_pct": float(100 * g["rel_error"].mean()),
                "inside_band": f"{int(g['inside_band'].sum())}/{len(g)}",
            }
        )
    return pd.DataFrame(out)


def _figure(
    name: str,
    variables: tuple[str, ...],
    runs: dict[str, pd.DataFrame],
    obs: pd.DataFrame,
    path: Path,
) -> bool:
    plt = _plt()
    present = [
        v
        for v in variables
        if any(_model_column(v, set(ts.columns)) for ts in runs.values())
        or (obs["variable"] == v).any()
    ]
    if not present:
        return False
    fig, axes = plt.subplots(len(present), 1, figsize=(8.5, 3.2 * len(present)), squeeze=False)
    for ax, var in zip(axes[:, 0], present, strict=True):
        o = obs[obs["variable"] == var]
        per_year = o["unit"].astype(str).str.contains("/yr").any()
        for sc, ts in runs.items():
            col = _model_column(var, set(ts.columns))
            if col is None:
                continue
            label = f"model {sc}" + (f" ({col})" if col != var else "")
            if per_year and col.startswith(FLOW_PREFIXES):
                # yearly totals per run (full years only), then mean and band over runs
                year = ts["date"].astype(str).str[:4]
                months = ts.groupby([ts["run_id"], year])["date"].transform("nunique")
                full = ts[months == 12]
                totals = full.groupby([full["run_id"], year[months == 12]])[col].sum()
                agg = totals.groupby(level=1)
                x = pd.to_datetime([f"{y}-07-01" for y in agg.mean().index])
                label += ", yearly total"
            else:
                month = pd.to_datetime(ts["date"].astype(str).str[:7], format="%Y-%m")
                agg = ts[col].groupby(month)
                x = agg.mean().index
            mean = agg.mean()
            (line,) = ax.plot(x, mean.to_numpy(), marker="o" if len(mean) < 20 else None,
                              ms=3, label=label)
            ax.fill_between(
                x,
                agg.quantile(0.025).to_numpy(),
                agg.quantile(0.975).to_numpy(),
                color=line.get_color(),
                alpha=0.2,
                lw=0,
            )
        if not o.empty:
            x = [
                pd.Timestamp(f"{d}-07-01") if len(d) == 4 else pd.Timestamp(f"{d}-15")
                for d in o["date"].astype(str)
            ]
            ax.scatter(x, o["value"], color="black", marker="D", zorder=5, label="observed")
        ax.set_title(var, fontsize=10)
        ax.set_ylabel(str(o["unit"].iloc[0]) if not o.empty
                      else "t/month" if var.startswith(FLOW_PREFIXES) else var)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Validation: {name} (model mean and 2.5-97.5% band over seeds)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def validate(
    out: str | Path,
    *,
    seeds: int = 5,
    workers: int | None = None,
    scheduler: str | None = None,
    simulate: str = DEFAULT_SIMULATE,
    progress: bool = True,
    observed: str | Path | None = None,
    docs: str | Path | None = None,
) -> Path:
    """Run the history scenarios and write the validation report.

    Besides the per-observation comparison with ``observed_history.csv``, every calibration
    and validation target (:mod:`experiments.targets`) is scored; with ``docs``, the protocol
    page (``docs/validation.md``: its text above the generated marker is kept) gets the scored
    tables and the figures.

    Args:
        out: Output directory (runs are resumable like any experiment).
        seeds: Seeds per scenario.
        workers: Local worker processes.
        scheduler: Dask scheduler address.
        simulate: ``"module:function"`` of the simulate callable.
        progress: Show progress bars.
        observed: Observed-history CSV (default: the model package's data file).
        docs: Write the scored targets into this Markdown page (and its figures beside it).

    Returns:
        Path of ``validation.md``.
    """
    if seeds < 1:
        raise ExperimentError(f"--seeds must be at least 1, got {seeds}")
    obs = load_observed(observed)
    module = simulate.partition(":")[0]
    try:
        available = set(resolve(f"{module}:list_scenarios")())
    except (ImportError, AttributeError):
        available = set(HISTORY_SCENARIOS)
    scenarios = [s for s in HISTORY_SCENARIOS if s in available]
    if not scenarios:
        raise ExperimentError(f"the model has none of the history scenarios {HISTORY_SCENARIOS}")
    out = Path(out)
    runs: dict[str, pd.DataFrame] = {}
    for sc in scenarios:
        spec = parse_spec(_spec_text(sc, seeds))
        run_experiment(
            spec,
            out / f"runs_{sc}_{seeds}seeds",
            workers=workers,
            scheduler=scheduler,
            simulate=simulate,
            progress=progress,
        )
        runs[sc] = load_timeseries(out / f"runs_{sc}_{seeds}seeds")
    table = pd.concat([compare(obs, ts, sc) for sc, ts in runs.items()], ignore_index=True)
    atomic_write_text(out / "validation.csv", table.to_csv(index=False))
    summary = summarize(table)
    figures = []
    for name, variables in FIGURE_GROUPS.items():
        path = out / f"validate_{name}.png"
        if _figure(name, variables, runs, obs, path):
            figures.append(path.name)
    scored = table.dropna(subset=["model_mean"]) if "model_mean" in table else table.iloc[:0]
    unscored = table[
        table["comparison"].isin(["no model counterpart", "not covered by the horizon"])
    ]
    lines = [
        "# Validation against observed history",
        "",
        f"Scenarios {', '.join(scenarios)}; {seeds} seed(s) each (root seed {ROOT_SEED}); "
        "observations from `abm/data/observed_history.csv` (each row cites its source).",
        "",
        "## Error per variable",
        "",
        markdown_table(summary, ".3g") if not summary.empty else "(no scored observation)",
        "",
        "MAPE = mean absolute percentage error of the seed-mean; bias = mean signed "
        "percentage error; inside_band = observations inside the model's 2.5-97.5% band.",
        "",
        "## Each observation",
        "",
    ]
    if not scored.empty:
        cols = [
            "scenario",
            "variable",
            "date",
            "comparison",
            "observed",
            "model_mean",
            "model_q025",
            "model_q975",
            "rel_error",
            "unit",
        ]
        lines.append(markdown_table(scored[cols], ".4g"))
    if not unscored.empty:
        lines += ["", "Not scored:", ""]
        lines += [
            f"- {r.scenario} {r.variable} {r.date}: {r.comparison}" for r in unscored.itertuples()
        ]
    scored_targets = targets.score(targets.load_targets(), runs)
    scored_targets.to_csv(out / "targets.csv", index=False)
    body = targets.markdown(scored_targets, seeds)
    lines += ["", "## Calibration and validation targets", "", body]
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    path = out / "validation.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    if docs is not None:
        _write_docs(Path(docs), body, figures, out, seeds, scenarios)
    return path


#: the line of docs/validation.md below which the page is generated
GENERATED_MARKER = "<!-- generated by python -m experiments validate: do not edit below -->"


def _write_docs(page: Path, body: str, figures: list[str], out: Path, seeds: int,
                scenarios: list[str]) -> None:
    """Replace the generated part of the protocol page and copy the figures beside it."""
    import shutil

    text = page.read_text(encoding="utf-8") if page.is_file() else ""
    head = text.split(GENERATED_MARKER)[0].rstrip() + "\n\n" if text else ""
    command = f"python -m experiments validate --seeds {seeds} --out DIR --docs {page.name}"
    gen = [GENERATED_MARKER, "", f"Generated by `{command}` (scenarios {', '.join(scenarios)}, "
           f"root seed {ROOT_SEED}; model mean over seeds, 95% interval over seeds).", "",
           body, "## Figures", ""]
    for f in figures:
        shutil.copyfile(out / f, page.parent / f)
        gen.append(f"![{f}]({f})")
    atomic_write_text(page, head + "\n".join(gen) + "\n")


__all__ = ["compare", "load_observed", "summarize", "validate"]
