"""Which behavioural parameter moves the decline of 2012-2015 (table in docs/validation.md).

Usage: .venv/bin/python scripts/decline_sensitivity.py [--workers 2] [--joint]  (~40 s, ~15 s)

Runs `quota_2010` (seeds 0-1) at its defaults and with one parameter at a time set to the
low and the high end of its range in the Morris screening (`experiments/specs/
morris_history.toml`), scores every run against the validation targets of `quota_2010`
(`abm/data/validation_targets.csv`, the same scoring as `python -m experiments validate`) and
prints a Markdown table: for each case the targets of the pattern `decline_2012_2015` that
match (and their mean absolute relative error), the mean signed error of its NdPr targets and
of its Dy/Tb targets apart, all of `quota_2010`'s validation targets that match, and the
quarter of the NdPr peak (V19; 2011Q3 recorded). Cases are in the order of the
screening's parameters, low end first; then the magnet makers' Dy/Tb thrift rate
(`magnet_heavy_thrift_rate_per_yr`, screened from half to twice its default) at none.
Nothing is fitted: the table says which assumption the miss depends on.

With ``--joint`` it prints a second table: the two thrift assumptions the first one points to
(`substitution_threshold` at 1.5, 2 and 2.5; `magnet_heavy_thrift_rate_per_yr` at 0, 0.05 and
0.1), every pair, to see whether together they bring the pattern in.
"""

from __future__ import annotations

import argparse
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

import abm
from experiments import targets as tg

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "specs" / "morris_history.toml"
SCENARIO = "quota_2010"
SEEDS = (0, 1)
PATTERN = "decline_2012_2015"
#: further cases after the screening's: the magnet makers' Dy/Tb thrift switched off
EXTRA = [{"magnet_heavy_thrift_rate_per_yr": 0.0}]
#: ``--joint``: every pair of these values of the two thrift assumptions
JOINT = {"substitution_threshold": (1.5, 2.0, 2.5),
         "magnet_heavy_thrift_rate_per_yr": (0.0, 0.05, 0.1)}


def cases(spec: Path = SPEC, extra: list[dict] | None = None) -> list[dict]:
    """The cases, in the order of the table.

    The defaults; each screened parameter at the low and at the high end of its range; then
    the cases of ``extra`` (default :data:`EXTRA`).
    """
    params = tomllib.loads(spec.read_text())["sweep"]["parameters"]
    out: list[dict] = [{}]
    for name, rng in params.items():
        out += [{name: rng["min"]}, {name: rng["max"]}]
    return out + [dict(case) for case in (EXTRA if extra is None else extra)]


def joint_cases(values: dict | None = None) -> list[dict]:
    """Every combination of the values of :data:`JOINT` (or ``values``), first name slowest."""
    values = JOINT if values is None else values
    out: list[dict] = [{}]
    for name, options in values.items():
        out = [{**case, name: v} for case in out for v in options]
    return out


def runs(overrides: dict) -> pd.DataFrame:
    """The case's runs of the scenario, one per seed of :data:`SEEDS` (column ``run_id``)."""
    frames = []
    for seed in SEEDS:
        df = abm.simulate(SCENARIO, rng=seed, **overrides)
        df["run_id"] = seed
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def score_case(overrides: dict) -> pd.DataFrame:
    """Every validation target of the scenario scored on the case's runs (one row each)."""
    targets = tg.load_targets()
    targets = targets[(targets["scenario"] == SCENARIO) & targets["id"].str.startswith("V")]
    return tg.score(targets, {SCENARIO: runs(overrides)})


def summary(overrides: dict, scored: pd.DataFrame) -> dict:
    """One table row: the case and its scores."""
    matched = scored["match"].dropna().astype(bool)
    pattern = scored[scored["pattern"] == PATTERN]
    p_matched = pattern["match"].dropna().astype(bool)
    peak = scored.loc[scored["id"] == "V19", "model"]
    return {
        "case": ", ".join(f"`{k}` = {v:g}" for k, v in overrides.items()) or "defaults",
        "decline": f"{int(p_matched.sum())} of {p_matched.size}",
        "decline_error": _pct(pattern["rel_error"].abs().mean()),
        "ndpr_bias": _pct(pattern.loc[_is(pattern, "light"), "rel_error"].mean(), signed=True),
        "dy_bias": _pct(pattern.loc[_is(pattern, "heavy"), "rel_error"].mean(), signed=True),
        "all": f"{int(matched.sum())} of {matched.size}",
        "all_error": _pct(scored["rel_error"].abs().mean()),
        "peak": tg.quarter_label(float(peak.iloc[0])) if peak.size and pd.notna(peak.iloc[0])
        else "-",
    }


def _is(scored: pd.DataFrame, product: str) -> pd.Series:
    """Rows whose variable is a column of the product (``light`` NdPr, ``heavy`` Dy/Tb)."""
    return scored["variable"].str.contains(f"_{product}_", regex=False)


def _pct(x: float, signed: bool = False) -> str:
    return "-" if pd.isna(x) else f"{100 * x:{'+' if signed else ''}.0f}%"


def table(rows: list[dict]) -> str:
    """The Markdown table of the rows."""
    lines = [f"| case | `{PATTERN}` matched | its mean abs. error | its NdPr targets' mean "
             f"error | its Dy/Tb targets' mean error | all validation targets of `{SCENARIO}` "
             "matched | mean abs. error | NdPr peak quarter |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['decline']} | {r['decline_error']} | {r['ndpr_bias']} | "
              f"{r['dy_bias']} | {r['all']} | {r['all_error']} | {r['peak']} |" for r in rows]
    return "\n".join(lines)


def _row(overrides: dict) -> dict:
    return summary(overrides, score_case(overrides))


def probe_main(description: str, row, cases: list, table_of) -> None:
    """A probe's command line: ``row`` on every case, then ``table_of(rows)`` printed.

    Runs ``--workers`` processes (default 2). Shared by the probes of the leads (the panic
    buying, the magnet makers' stock).
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with ProcessPoolExecutor(max_workers=max(args.workers, 1)) as pool:
        rows = list(pool.map(row, cases))
    print(table_of(rows))


def main() -> None:
    """Run every case and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--joint", action="store_true",
                    help="the pairs of the two thrift assumptions instead")
    args = ap.parse_args()
    with ProcessPoolExecutor(max(args.workers, 1)) as pool:
        rows = list(pool.map(_row, joint_cases() if args.joint else cases()))
    print(table(rows))


if __name__ == "__main__":
    main()
