"""Reports of a result directory: ensemble statistics, comparison tables, figures, sensitivity.

``python -m experiments report DIR`` writes to ``DIR/report/``:

* ``ensemble.csv``: per parameter point and metric, over the seeds that finished ok: ``n``,
  ``mean``, ``std``, ``ci_low``/``ci_high`` (95% confidence interval of the mean, Student t
  with n-1 degrees of freedom; empty for n = 1) and ``q025``/``q975`` (2.5% and 97.5%
  quantiles of the ensemble, i.e. the spread of single runs). Date metrics (``peak_date``,
  ``trough_date``) give the most frequent date in ``mode`` instead.
* ``comparison.csv`` and the table in ``report.md``: one row per point, each metric as
  "mean [ci_low, ci_high]".
* ``ts_<variable>.png``: monthly time series per variant: the mean over seeds and a band from
  the 2.5% to the 97.5% quantile of seeds. With more than 12 points (samplers) the figure
  shows the whole ensemble instead (mean and 2.5-97.5% band over all runs).
* Sobol and Morris designs: ``sensitivity.csv``, a table in ``report.md`` and
  ``sensitivity_<metric>.png`` bar charts. Sobol: first-order ``S1`` and total ``ST``
  indices with 95% bootstrap confidence, and with ``calc_second_order = true`` the
  second-order indices ``S2`` of every pair of parameters (``sensitivity_second_order.csv``);
  Morris: ``mu_star`` (mean absolute elementary effect, with 95% confidence), ``mu`` and
  ``sigma``. Each point's output is its mean over seeds, in the design order of the SALib
  sample.
* ``[report] contrast``: ``contrasts.csv`` and a table of paired differences to the baseline
  arm by seed (see :mod:`experiments.contrast`).
* failed runs: a table in ``report.md`` and their full tracebacks in ``failed_runs.txt``.

Every file is written atomically (complete or absent), so a report that fails half-way
(a full disk) leaves the previous report's files intact.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from experiments import store
from experiments.contrast import contrast_markdown, metric_columns, paired_contrasts
from experiments.errors import ExperimentError
from experiments.spec import Spec, load_result_spec
from experiments.store import load_results, load_timeseries

MAX_VARIANTS_PER_FIGURE = 12
MAX_TABLE_ROWS = 60
DATE_STATS = ("peak_date", "trough_date")


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """Return a GitHub-flavoured Markdown table of ``frame`` (no extra dependency)."""

    def fmt(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float | np.floating):
            return format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines)


def ensemble_stats(values: pd.Series) -> dict[str, float]:
    """Return n, mean, std, 95% t-interval of the mean and 2.5/97.5% quantiles of values."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    n = len(v)
    if n == 0:
        return dict(
            n=0,
            mean=math.nan,
            std=math.nan,
            ci_low=math.nan,
            ci_high=math.nan,
            q025=math.nan,
            q975=math.nan,
        )
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else math.nan
    if n > 1:
        half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        lo, hi = mean - half, mean + half
    else:
        lo = hi = math.nan
    return dict(
        n=n,
        mean=mean,
        std=std,
        ci_low=lo,
        ci_high=hi,
        q025=float(np.quantile(v, 0.025)),
        q975=float(np.quantile(v, 0.975)),
    )


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV file atomically."""
    store.atomic_write_text(path, frame.to_csv(index=False))


def save_figure(fig: Any, path: Path, dpi: int = 110) -> None:
    """Save a matplotlib figure as a PNG atomically, and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    store.atomic_write_bytes(path, buf.getvalue())


def _label(params: dict[str, Any]) -> str:
    if not params:
        return "all runs"
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(v: Any) -> str:
    return format(v, ".4g") if isinstance(v, float) else str(v)


def date_metrics(spec: Spec) -> list[str]:
    """Return the names of the spec's date metrics (peak_date, trough_date)."""
    return [m.name for m in spec.metrics if m.stat in DATE_STATS]


def point_table(runs: pd.DataFrame, spec: Spec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (long ensemble table, wide comparison table) per parameter point.

    Every numeric metric column is summarised, custom outcomes' ``<name>_<key>`` included.
    """
    params = list(spec.parameters)
    dates = date_metrics(spec)
    numeric = [m for m in metric_columns(runs, params) if m not in dates]
    names = list(dict.fromkeys([*(m.name for m in spec.metrics if m.name in runs), *numeric]))
    ok = runs[runs["status"] == "ok"]
    long_rows, wide_rows = [], []
    for pid, grp in ok.groupby("point_id", sort=True):
        p = {k: grp[k].iloc[0] for k in params}
        wide = {"point_id": pid, **p, "seeds_ok": len(grp)}
        for name in names:
            if name in dates:
                counts = grp[name].dropna().value_counts()
                mode = str(counts.index[0]) if len(counts) else None
                long_rows.append(
                    {"point_id": pid, **p, "metric": name,
                     "n": int(grp[name].notna().sum()), "mode": mode}
                )
                wide[name] = mode
                continue
            s = ensemble_stats(grp[name])
            long_rows.append({"point_id": pid, **p, "metric": name, **s})
            if s["n"] > 1:
                wide[name] = f"{s['mean']:.4g} [{s['ci_low']:.4g}, {s['ci_high']:.4g}]"
            else:
                wide[name] = f"{s['mean']:.4g}"
        wide_rows.append(wide)
    return pd.DataFrame(long_rows), pd.DataFrame(wide_rows)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def timeseries_figure(ts: pd.DataFrame, variable: str, spec: Spec, path: Path) -> None:
    """Plot one variable per variant (mean and 2.5-97.5% band over seeds) to a PNG."""
    plt = _plt()
    ts = ts.assign(month=pd.to_datetime(ts["date"].astype(str).str[:7], format="%Y-%m"))
    points = sorted(ts["point_id"].unique())
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if len(points) <= MAX_VARIANTS_PER_FIGURE:
        groups = [(pid, ts[ts["point_id"] == pid]) for pid in points]
    else:
        groups = [(None, ts)]
    params = list(spec.parameters)
    for pid, g in groups:
        agg = g.groupby("month")[variable]
        mean = agg.mean()
        lo, hi = agg.quantile(0.025), agg.quantile(0.975)
        if pid is None:
            label = f"all {g['run_id'].nunique()} runs"
        else:
            label = _label({k: g[k].iloc[0] for k in params if k in g.columns})
        (line,) = ax.plot(mean.index, mean.to_numpy(), label=label, lw=1.6)
        if g["run_id"].nunique() > 1:
            ax.fill_between(
                mean.index, lo.to_numpy(), hi.to_numpy(), color=line.get_color(), alpha=0.18, lw=0
            )
    ax.set_title(f"{spec.name}: {variable} (mean, 2.5-97.5% band over seeds)", fontsize=10)
    ax.set_xlabel("month")
    ax.set_ylabel(variable)
    ax.grid(alpha=0.3)
    if len(groups) > 1 or groups[0][0] is not None:
        ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    save_figure(fig, path)


def sensitivity(runs: pd.DataFrame, spec: Spec) -> tuple[pd.DataFrame, list[str]]:
    """Return Sobol or Morris indices per numeric metric and parameter, and notes.

    Each point's output is the mean of the metric over the seeds that finished ok. A metric
    with a missing point (all its seeds failed) or no variance is skipped with a note.
    Second-order Sobol indices are in ``attrs['second_order']`` (see
    :func:`second_order_table`).
    """
    notes: list[str] = []
    problem = spec.salib_problem()
    n_points = spec.n_points()
    rows, s2_rows = [], []
    ok = runs[runs["status"] == "ok"]
    seed = spec.root_seed if spec.sampler_seed is None else spec.sampler_seed
    dates = date_metrics(spec)
    for name in metric_columns(runs, list(spec.parameters)):
        if name in dates:
            continue
        y = ok.groupby("point_id")[name].mean().reindex(range(n_points))
        if y.isna().any():
            notes.append(
                f"{name}: {int(y.isna().sum())} of {n_points} points have no "
                "result; sensitivity skipped (rerun or --retry-failed)"
            )
            continue
        yv = y.to_numpy(dtype=float)
        if np.ptp(yv) == 0:
            notes.append(f"{name}: constant over the design; sensitivity skipped")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if spec.design == "sobol":
                from SALib.analyze import sobol

                res = sobol.analyze(
                    problem,
                    yv,
                    calc_second_order=spec.calc_second_order,
                    print_to_console=False,
                    seed=seed,
                )
                keys = ("S1", "S1_conf", "ST", "ST_conf")
            else:
                from SALib.analyze import morris

                res = morris.analyze(
                    problem,
                    spec.sample_matrix(),
                    yv,
                    num_levels=spec.levels,
                    print_to_console=False,
                    seed=seed,
                )
                keys = ("mu_star", "mu_star_conf", "mu", "sigma")
        rows += [{"metric": name, "parameter": p, **{k: res[k][i] for k in keys}}
                 for i, p in enumerate(problem["names"])]
        if spec.design == "sobol" and spec.calc_second_order:
            s2_rows += second_order_table(res, problem["names"], name)
    table = pd.DataFrame(rows)
    table.attrs["second_order"] = pd.DataFrame(
        s2_rows, columns=["metric", "parameter_1", "parameter_2", "S2", "S2_conf"])
    return table, notes


def second_order_table(res: Any, names: list[str], metric: str) -> list[dict[str, Any]]:
    """Rows of second-order Sobol indices (each pair once) from a SALib result."""
    return [
        {"metric": metric, "parameter_1": names[i], "parameter_2": names[j],
         "S2": float(res["S2"][i, j]), "S2_conf": float(res["S2_conf"][i, j])}
        for i in range(len(names)) for j in range(i + 1, len(names))
    ]


def sensitivity_figure(table: pd.DataFrame, metric: str, design: str, path: Path) -> None:
    """Bar chart of Sobol (S1, ST) or Morris (mu_star) indices of one metric."""
    plt = _plt()
    t = table[table["metric"] == metric]
    x = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(t) + 2), 3.8))
    if design == "sobol":
        w = 0.38
        ax.bar(x - w / 2, t["S1"], w, yerr=t["S1_conf"], capsize=3, label="S1 (first order)")
        ax.bar(x + w / 2, t["ST"], w, yerr=t["ST_conf"], capsize=3, label="ST (total)")
        ax.set_ylabel("Sobol index")
        ax.legend(fontsize=8)
    else:
        ax.bar(x, t["mu_star"], 0.6, yerr=t["mu_star_conf"], capsize=3)
        ax.set_ylabel("Morris mu* (units of the metric)")
    ax.set_xticks(x, t["parameter"], rotation=20, ha="right", fontsize=8)
    ax.set_title(f"{design} sensitivity of {metric}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def make_report(out: str | Path, report_dir: str | Path | None = None) -> Path:
    """Write the report of a result directory.

    Args:
        out: Result directory of ``python -m experiments run``.
        report_dir: Where to write (default ``out/report``).

    Returns:
        Path of ``report.md``.

    Raises:
        ExperimentError: ``out`` is not a result directory or holds no finished run.
    """
    out = Path(out)
    if not out.is_dir():
        raise ExperimentError(f"result directory not found: {out}")
    spec = load_result_spec(out)
    runs = load_results(out)
    if runs.empty:
        raise ExperimentError(f"{out} holds no finished run yet; run the experiment first")
    rdir = Path(report_dir) if report_dir else out / "report"
    rdir.mkdir(parents=True, exist_ok=True)
    exp = json.loads((out / "experiment.json").read_text())
    n_planned = exp.get("n_runs", len(runs))
    failed = runs[runs["status"] != "ok"]

    long, wide = point_table(runs, spec)
    write_csv(long, rdir / "ensemble.csv")
    write_csv(wide, rdir / "comparison.csv")
    figures = _timeseries_figures(out, spec, rdir) if (runs["status"] == "ok").any() else []
    sens_md = _sensitivity_section(runs, spec, rdir) if spec.design in ("sobol", "morris") \
        else ""
    contrast_md = _contrast_section(runs, spec, rdir) if spec.contrast else ""

    lines = _report_header(out, spec, runs, n_planned, wide)
    if figures:
        lines += ["## Time series (mean and 2.5-97.5% band over seeds)", ""]
        lines += [f"![{f}]({f})" for f in figures]
        lines.append("")
    if contrast_md:
        lines.append(contrast_md)
    if sens_md:
        lines.append(sens_md)
    if len(failed):
        lines += _failed_section(failed, rdir)
    missing = n_planned - len(runs)
    if missing > 0:
        lines.append(f"Note: {missing} planned runs have not finished; rerun `run` to finish.")
    path = rdir / "report.md"
    store.atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _timeseries_figures(out: Path, spec: Spec, rdir: Path) -> list[str]:
    """Draw one time-series figure per report variable; return their file names."""
    figures = []
    ts = load_timeseries(out, columns=spec.report_variables)
    for var in spec.report_variables:
        path = rdir / f"ts_{var}.png"
        timeseries_figure(ts, var, spec, path)
        figures.append(path.name)
    return figures


def _sensitivity_section(runs: pd.DataFrame, spec: Spec, rdir: Path) -> str:
    """Write the Sobol or Morris indices (CSV and figures); return the report's section."""
    table, notes = sensitivity(runs, spec)
    write_csv(table, rdir / "sensitivity.csv")
    s2 = table.attrs.get("second_order")
    parts = [f"## Sensitivity ({spec.design})", ""]
    if spec.design == "sobol":
        parts.append(
            "First-order (S1) and total (ST) Sobol indices of the seed-mean "
            "output, with 95% bootstrap confidence half-widths."
        )
    else:
        parts.append(
            "Morris elementary effects of the seed-mean output: mu* (mean "
            "absolute effect) with its 95% confidence half-width, mu and sigma."
        )
    parts.append("")
    if not table.empty:
        parts.append(markdown_table(table, ".3g"))
        for metric in table["metric"].unique():
            path = rdir / f"sensitivity_{metric}.png"
            sensitivity_figure(table, metric, spec.design, path)
            parts.append(f"\n![{metric}]({path.name})")
    if s2 is not None and spec.calc_second_order:
        write_csv(s2, rdir / "sensitivity_second_order.csv")
        parts += ["", "Second-order Sobol indices (interaction of each pair of parameters; "
                  "in `sensitivity_second_order.csv`):", "",
                  markdown_table(s2, ".3g") if len(s2) else "(none computed)"]
    parts.extend(f"- {n}" for n in notes)
    return "\n".join(parts) + "\n"


def _contrast_section(runs: pd.DataFrame, spec: Spec, rdir: Path) -> str:
    """Write the paired contrasts (``contrasts.csv``); return the report's section."""
    ctable = paired_contrasts(runs, spec.contrast, spec.baseline, list(spec.parameters))
    write_csv(ctable, rdir / "contrasts.csv")
    return "\n".join([
        f"## Paired contrasts: {spec.contrast} against {spec.contrast} = {spec.baseline!r}",
        "",
        "Difference arm - baseline per metric, paired by seed (common random numbers), "
        "with its 95% t interval over seeds and the share of seeds whose difference has "
        "the sign of the mean (all columns in `contrasts.csv`).",
        "",
        markdown_table(contrast_markdown(ctable, spec.contrast).head(MAX_TABLE_ROWS)),
        "",
    ])


def _report_header(out: Path, spec: Spec, runs: pd.DataFrame, n_planned: int,
                   wide: pd.DataFrame) -> list[str]:
    """The report's title, provenance lines and comparison table."""
    n_ok = int((runs["status"] == "ok").sum())
    n_failed = int((runs["status"] != "ok").sum())
    prov = json.loads((out / "provenance.json").read_text())
    git = prov.get("git", {})
    pk = prov.get("packages", {})
    sessions = prov.get("sessions", [])
    return [
        f"# Experiment report: {spec.name}",
        "",
        spec.description.strip() or "",
        "",
        f"- scenario: `{spec.scenario}`; horizon: "
        f"{spec.steps if spec.steps else 'scenario default'} months; design: {spec.design}; "
        f"{spec.n_points()} parameter point(s) x {len(spec.seeds)} seed(s) "
        f"(root seed {spec.root_seed})",
        f"- runs: {n_planned} planned, {len(runs)} finished, {n_ok} ok, {n_failed} failed",
        f"- git commit: {git.get('commit')} (dirty: {git.get('dirty')}); "
        + ", ".join(f"{k} {v}" for k, v in pk.items() if v),
        f"- sessions: {len(sessions)}; first start {sessions[0]['start'] if sessions else '-'}"
        f", last end {sessions[-1].get('end') if sessions else '-'}",
        "",
        "## Comparison (mean [95% CI of the mean] over seeds)",
        "",
        markdown_table(wide.head(MAX_TABLE_ROWS)) if len(wide) else "(no run finished ok)",
        "",
        f"(first {MAX_TABLE_ROWS} of {len(wide)} points; all in `comparison.csv`)"
        if len(wide) > MAX_TABLE_ROWS
        else "",
        "Full statistics (std, 2.5/97.5% quantiles over seeds) in `ensemble.csv`.",
        "",
    ]


def _failed_section(failed: pd.DataFrame, rdir: Path) -> list[str]:
    """The failed runs' table; their full tracebacks go to ``failed_runs.txt``."""
    lines = ["## Failed runs", ""]
    lines.append(markdown_table(failed[["run_id", "seed", "error"]].head(50)))
    if len(failed) > 50:
        lines.append(f"\n... and {len(failed) - 50} more (see load_results)")
    lines += ["", "Full tracebacks in `failed_runs.txt`.", ""]
    store.atomic_write_text(rdir / "failed_runs.txt", "\n".join(
        f"== {r.run_id} (seed {r.seed})\n{r.traceback or r.error}"
        for r in failed.itertuples()) + "\n")
    return lines
