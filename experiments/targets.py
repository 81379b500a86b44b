"""Calibration and validation targets, scored against an ensemble of history runs.

Two sets are kept apart (pattern-oriented modelling, Grimm et al. 2005, Science 310):

* **calibration** targets (``abm/data/observed_history.csv``): the 2009 and 2024 levels the
  data files were set from (world output, shares, reference prices, Japan's 2009 dependence);
* **validation** targets (``abm/data/validation_targets.csv``): facts the model was not fitted
  to - price paths 2010-2017 and 2025, China's domestic prices, the two-tier gaps, exports
  against quotas, Japan's dependence, mine output and status, the magnet stage - each with its
  source, a value, an optional range, and the qualitative *pattern* it belongs to.

A target names a model column (or a ratio ``a / b`` of two), a date window (``YYYY-MM``; day
dates are read as their month) and a statistic in words; :func:`statistic_kind` reads the
words: sums (``annual sum``, ``monthly sum``, ``half-year sum``, ``quarterly sums``), a run rate
or an ``annual sum (each year)`` of a window of whole years (both the monthly mean x 12), a
share of world mine output, the quarter of the maximum (the quarter whose mean is highest in
the window, as a decimal year: 2011Q3 is 2011.5; matched within one quarter), a ratio to the
peak (the window's mean over the highest quarterly mean before the window), a change against
the same months a year earlier or against as many months just before the window (the window's
mean over theirs: "ratio to the same month a year earlier", "ratio to the month before"), or
otherwise the mean over the window (spot quotes, year-end ranges, annual means, shares,
ratios). Targets whose
variable has no model column are listed as not comparable. Every target is scored on every run
of its scenario: the model's mean over seeds, a 95% interval over seeds, the error against the
value, and whether the mean lies in the target's range (or within 25% of the value when no
range is given).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from abm.params import add_months
from experiments.metrics import months_between

__all__ = ["load_targets", "statistic_kind", "score", "markdown", "pattern_summary",
           "quarter_label", "DEFAULT_TOLERANCE"]

#: without a published range, a model mean within this share of the value counts as a match
DEFAULT_TOLERANCE = 0.25
_MONTH = re.compile(r"^(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})Q([1-4])")


def _data_dir() -> Path:
    import abm

    return Path(abm.__file__).resolve().parent / "data"


def load_targets() -> pd.DataFrame:
    """Both target sets as one frame with a ``role`` column (calibration / validation)."""
    val = pd.read_csv(_data_dir() / "validation_targets.csv", dtype=str, keep_default_na=False)
    val["role"] = "validation"
    obs = pd.read_csv(_data_dir() / "observed_history.csv", dtype=str, keep_default_na=False)
    cal = pd.DataFrame({
        "id": [f"C{i + 1:02d}" for i in range(len(obs))],
        "scenario": [_calibration_scenario(d) for d in obs["date"]],
        "variable": obs["variable"],
        "date_from": [_window(d)[0] for d in obs["date"]],
        "date_to": [_window(d)[1] for d in obs["date"]],
        "statistic": [("annual sum" if u.endswith("/yr") else "mean") for u in obs["unit"]],
        "value": obs["value"], "low": "", "high": "", "unit": obs["unit"],
        "pattern": "calibration", "source": obs["source"], "role": "calibration"})
    out = pd.concat([cal, val], ignore_index=True)
    for col in ("value", "low", "high"):
        out[col + "_num"] = pd.to_numeric(out[col].map(_quarter_or_text), errors="coerce")
    return out


def _quarter_or_text(text: str):
    """``2011Q3`` as the decimal year 2011.5 (a quarter's start); anything else unchanged."""
    m = _QUARTER.fullmatch(str(text).strip())
    return int(m.group(1)) + (int(m.group(2)) - 1) / 4 if m else text


def quarter_label(year: float) -> str:
    """The decimal year of a quarter's start back as ``YYYYQn`` (rounded to a quarter)."""
    k = round(year * 4)
    return f"{k // 4}Q{k % 4 + 1}"


def _calibration_scenario(date: str) -> str:
    return "quota_2010" if date[:4] < "2020" else "controls_2025"


def _window(date: str) -> tuple[str, str]:
    if len(date) == 4:
        return f"{date}-01", f"{date}-12"
    return date[:7], date[:7]


def statistic_kind(text: str) -> str:
    """How a target's statistic is computed.

    One of ``sum``, ``run_rate``, ``world_share``, ``argmax_quarter``, ``ratio_to_peak``,
    ``ratio_to_year_before`` (the window's mean over the same months a year earlier),
    ``ratio_to_months_before`` (over as many months just before the window) or ``mean``.
    """
    t = text.lower()
    if "quarter of maximum" in t:
        return "argmax_quarter"
    if re.search(r"\bratio to\b.*\bpeak\b", t):
        return "ratio_to_peak"
    if re.search(r"\bratio to the same months?\b.*\byear earlier\b", t):
        return "ratio_to_year_before"
    if re.search(r"\bratio to the months? before\b", t):
        return "ratio_to_months_before"
    if "run rate" in t or "each year" in t:  # an annual sum in each year: the mean year
        return "run_rate"
    if "share of world mine output" in t:
        return "world_share"
    if re.search(r"\bsums?\b", t):
        return "sum"
    return "mean"


def _columns(variable: str) -> tuple[str, ...] | None:
    parts = [p.strip() for p in variable.split("/")]
    if all(re.fullmatch(r"[a-z][a-z0-9_]*", p) for p in parts) and len(parts) <= 2:
        return tuple(parts)
    return None


def _per_run(ts: pd.DataFrame, target: pd.Series) -> pd.Series | None:
    """The target's statistic on every run (index: run id), or ``None`` if not comparable."""
    cols = _columns(target["variable"])
    if cols is None or any(c not in ts.columns for c in cols):
        return None
    lo, hi = _MONTH.match(target["date_from"]), _MONTH.match(target["date_to"])
    if lo is None or hi is None:
        return None
    window = ts[(ts["date"] >= lo.group(0)) & (ts["date"] <= hi.group(0))]
    if window.empty:
        return None
    kind = statistic_kind(target["statistic"])
    groups = window.groupby("run_id")
    if kind == "argmax_quarter" and len(cols) == 1:
        return _quarterly(window, cols[0]).idxmax(axis=1)
    if kind == "ratio_to_peak" and len(cols) == 1:
        before = _quarterly(ts[ts["date"] < lo.group(0)], cols[0])
        if before.empty:
            return None
        return groups[cols[0]].mean() / before.max(axis=1)
    if kind in ("ratio_to_year_before", "ratio_to_months_before") and len(cols) == 1:
        n_months = months_between(lo.group(0), hi.group(0)) + 1
        back = 12 if kind == "ratio_to_year_before" else n_months
        base = ts[(ts["date"] >= add_months(lo.group(0), -back))
                  & (ts["date"] <= add_months(hi.group(0), -back))]
        months = base.groupby("run_id")["date"].nunique()
        if base.empty or (months < n_months).any():
            return None  # the base period is not (wholly) in the runs
        return groups[cols[0]].mean() / base.groupby("run_id")[cols[0]].mean()
    if kind in ("argmax_quarter", "ratio_to_peak", "ratio_to_year_before",
                "ratio_to_months_before"):
        return None
    if len(cols) == 2:
        return groups[cols[0]].mean() / groups[cols[1]].mean()
    col = cols[0]
    if kind == "sum":
        return groups[col].sum()
    if kind == "run_rate":
        return groups[col].mean() * 12.0
    if kind == "world_share":
        return groups[col].sum() / groups["production_reo"].sum()
    return groups[col].mean()


def _quarterly(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    """Quarterly means of one column: a row per run, a column per quarter (decimal year)."""
    year = frame["date"].str[:4].astype(int)
    quarter = (frame["date"].str[5:7].astype(int) - 1) // 3
    return frame.assign(q=year + quarter / 4).pivot_table(index="run_id", columns="q",
                                                          values=col, aggfunc="mean")


def score(targets: pd.DataFrame, timeseries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Score every target on its scenario's runs.

    Args:
        targets: :func:`load_targets` output.
        timeseries: scenario -> monthly frame of all runs (``run_id``, ``date``, columns).

    Returns:
        One row per target: the target's fields, ``model`` (mean over runs), ``ci_low``,
        ``ci_high`` (95% over runs, normal approximation), ``error`` (model - value),
        ``rel_error``, ``match`` (True/False, or missing when not comparable) and ``note``.
    """
    rows = []
    for _, t in targets.iterrows():
        row = t.to_dict()
        ts = timeseries.get(t["scenario"])
        values = _per_run(ts, t) if ts is not None else None
        value = t["value_num"]
        if values is None or values.empty or not np.isfinite(value):
            row.update(model=np.nan, ci_low=np.nan, ci_high=np.nan, error=np.nan,
                       rel_error=np.nan, match=None, note=_why_not(t, ts))
            rows.append(row)
            continue
        mean = float(values.mean())
        half = 1.96 * float(values.std(ddof=1)) / math.sqrt(len(values)) if len(values) > 1 \
            else 0.0
        lo, hi = t["low_num"], t["high_num"]
        dated = statistic_kind(t["statistic"]) == "argmax_quarter"
        if np.isfinite(lo) and np.isfinite(hi):
            match = bool(lo <= mean <= hi)
        elif dated:  # a date: within one quarter
            match = bool(abs(mean - value) <= 0.25 + 1e-9)
        else:
            match = bool(abs(mean - value) <= DEFAULT_TOLERANCE * abs(value))
        rel = np.nan if dated or not value else (mean - value) / value
        row.update(model=mean, ci_low=mean - half, ci_high=mean + half, error=mean - value,
                   rel_error=rel, match=match, note="")
        rows.append(row)
    return pd.DataFrame(rows)


def _why_not(t: pd.Series, ts) -> str:
    if ts is None:
        return "no scenario window"
    if _columns(t["variable"]) is None:
        return "no model column"
    if not np.isfinite(t["value_num"]):
        return "not a number"
    return "outside the scenario's months or columns"


def pattern_summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Per pattern: targets scored, matched, and the mean absolute relative error."""
    ok = scored[scored["match"].notna()]
    out = ok.groupby(["role", "pattern"]).agg(
        targets=("id", "size"), matched=("match", "sum"),
        mape=("rel_error", _mean_abs))
    return out.reset_index()


def _mean_abs(errors: pd.Series) -> float:
    """Mean absolute relative error of the targets that have one (dates have none)."""
    e = np.abs(errors.to_numpy(float))
    e = e[np.isfinite(e)]
    return float(e.mean()) if e.size else np.nan


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return ""
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def markdown(scored: pd.DataFrame, seeds: int) -> str:
    """The scored targets as Markdown tables (the body of ``docs/validation.md``)."""
    lines = []
    for role in ("calibration", "validation"):
        part = scored[scored["role"] == role]
        done = part[part["match"].notna()]
        lines += [f"### {role.capitalize()} targets: {int(done['match'].sum())} of {len(done)} "
                  f"matched ({seeds} seeds)", "",
                  "| id | scenario | variable | window | statistic | observed | model (95% CI) "
                  "| error | match | pattern |", "|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in done.iterrows():
            rng = (f" [{_fmt(r['low_num'])}, {_fmt(r['high_num'])}]"
                   if np.isfinite(r["low_num"]) else "")
            if statistic_kind(r["statistic"]) == "argmax_quarter":
                observed = f"{quarter_label(r['value_num'])}{rng}"
                model = (f"{quarter_label(r['model'])} ({quarter_label(r['ci_low'])} - "
                         f"{quarter_label(r['ci_high'])})")
                error = f"{4 * r['error']:+.1f} quarters"
            else:
                observed = f"{_fmt(r['value_num'])}{rng} {r['unit']}"
                model = f"{_fmt(r['model'])} ({_fmt(r['ci_low'])} - {_fmt(r['ci_high'])})"
                error = f"{r['rel_error']:+.0%}" if np.isfinite(r["rel_error"]) else ""
            lines.append(
                f"| {r['id']} | {r['scenario']} | `{r['variable']}` | {r['date_from']}"
                f"{'' if r['date_to'] == r['date_from'] else ' to ' + r['date_to']} | "
                f"{r['statistic']} | {observed} | {model} | {error} | "
                f"{'yes' if r['match'] else 'no'} | {r['pattern']} |")
        skipped = part[part["match"].isna()]
        if len(skipped):
            lines += ["", f"Not scored ({len(skipped)}): " + "; ".join(
                f"{r['id']} ({r['note']})" for _, r in skipped.iterrows()) + "."]
        lines.append("")
    summary = pattern_summary(scored)
    lines += ["### By pattern", "", "| role | pattern | targets | matched | mean abs. error |",
              "|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        mape = f"{r['mape']:.0%}" if np.isfinite(r["mape"]) else "(a date)"
        lines.append(f"| {r['role']} | {r['pattern']} | {r['targets']} | {int(r['matched'])} "
                     f"| {mape} |")
    return "\n".join(lines) + "\n"
