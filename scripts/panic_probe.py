"""A lead for the 2011 peak: precautionary buying on price momentum (docs/validation.md).

Usage: .venv/bin/python scripts/panic_probe.py [--workers 2]  (~25 s on 2 cores)

Runs `quota_2010` (seeds 0-1) with the mechanism off (the default) and switched on
(`panic_weight`, `panic_start_ratio`, `panic_lookback_months`: perceived supply risk at least
the weight x a signal of a fast price rise at the node), and scores each case as
`scripts/decline_sensitivity.py` does (the pattern `decline_2012_2015`, all validation targets
of `quota_2010`, the NdPr peak quarter), plus the calibration targets of `quota_2010` matched
and the yearly mean NdPr price outside China (US$/kg, seed 0). The cases were chosen while
looking at validation scores, so this is a lead, not a calibration: the mechanism stays off.
"""

from __future__ import annotations

from decline_sensitivity import SCENARIO, probe_main, runs, summary

from experiments import targets as tg

#: the cases, in the order of the table (the first: the mechanism off)
CASES = [{}, {"panic_weight": 0.5}, {"panic_weight": 0.7}, {"panic_weight": 1.0},
         {"panic_weight": 0.7, "panic_start_ratio": 1.2},
         {"panic_weight": 0.7, "panic_start_ratio": 2.0},
         {"panic_weight": 0.7, "panic_lookback_months": 6}]


def row(overrides: dict) -> dict:
    """One table row: :func:`decline_sensitivity.summary`, calibration and the yearly path."""
    frames = runs(overrides)
    targets = tg.load_targets()
    scored = tg.score(targets[targets["scenario"] == SCENARIO], {SCENARIO: frames})
    out = summary(overrides, scored[scored["id"].str.startswith("V")])
    calib = scored.loc[scored["id"].str.startswith("C"), "match"].dropna().astype(bool)
    out["calibration"] = f"{int(calib.sum())} of {calib.size}"
    first = frames[frames["run_id"] == 0]
    yearly = first.groupby(first["date"].str[:4])["price_light_world"].mean()
    out["path"] = ", ".join(f"{v:.0f}" for v in yearly.loc["2010":"2017"])
    return out


def table(rows: list[dict]) -> str:
    """The Markdown table of the rows."""
    lines = ["| case | calibration targets matched | `decline_2012_2015` matched | its mean abs. "
             "error | validation targets matched | mean abs. error | NdPr peak quarter | NdPr "
             "outside China, yearly mean 2010-2017 (seed 0) |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['calibration']} | {r['decline']} | {r['decline_error']} | "
              f"{r['all']} | {r['all_error']} | {r['peak']} | {r['path']} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    """Run the cases (in parallel) and print the table."""
    probe_main(__doc__.splitlines()[0], row, CASES, table)


if __name__ == "__main__":
    main()
