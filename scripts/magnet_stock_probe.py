"""A lead for the 2025 squeeze: the magnet makers' stock of oxide (docs/validation.md).

Usage: .venv/bin/python scripts/magnet_stock_probe.py [--workers 2]  (~30 s on 2 cores)

Runs `controls_2025` and `quota_2010` (seeds 0-1) with the makers' stock off (the default) and
on (`magnet_stock_cover_months`, `magnet_stock_release_ratio`), and `controls_2025` also with
China's April 2025 licences extended to magnets as the record had them (the event of
`scripts/magnet_licence_probe.py`). Each case is scored against the scenario's validation
targets (`abm/data/validation_targets.csv`, the scoring of `python -m experiments validate`) and
its calibration targets: all of them, and the patterns the stock is about (the 2025 licence
squeeze on magnets, the two-tier Dy/Tb gap of 2025, China's NdPr price after the US floor, the
magnet makers' boom and slump of 2010-2013, the decline of 2012-2015). The cover was chosen
while looking at these scores, and no source gives the makers' stock: a lead, not a
calibration; the stock stays off.
"""

from __future__ import annotations

import pandas as pd
from decline_sensitivity import probe_main

import abm
from experiments import targets as tg

SEEDS = (0, 1)
#: China's April 2025 licences on magnets containing Dy/Tb (not in the shipped scenario)
MAGNET_LICENCE = {
    "id": "licences_magnets_apr_2025", "date": "2025-04", "actor": "CHN", "action": "export",
    "instrument": "licence", "target": "all", "product": "magnet",
    "detail": "China: licences on magnets containing Dy/Tb, to all (probe)"}
#: the patterns the table shows apart, by scenario
PATTERNS = {"controls_2025": ("licence_squeeze_2025", "two_tier_gap_2025_dy", "us_floor_2025"),
            "quota_2010": ("magnet_cycle_2010_2013", "decline_2012_2015")}
#: (scenario, magnets licensed too, overrides), in the order of the table; each scenario's
#: first case is the model as published
CASES = [("controls_2025", False, {}),
         ("controls_2025", False, {"magnet_stock_cover_months": 1.0}),
         ("controls_2025", False, {"magnet_stock_cover_months": 3.0}),
         ("controls_2025", False, {"magnet_stock_cover_months": 6.0}),
         ("controls_2025", False, {"magnet_stock_cover_months": 3.0,
                                   "magnet_stock_release_ratio": 2.0}),
         ("controls_2025", True, {}),
         ("controls_2025", True, {"magnet_stock_cover_months": 3.0}),
         ("quota_2010", False, {}),
         ("quota_2010", False, {"magnet_stock_cover_months": 3.0})]


def runs(scenario: str, licensed: bool, overrides: dict) -> pd.DataFrame:
    """The case's runs, one per seed of :data:`SEEDS` (column ``run_id``)."""
    frames = []
    for seed in SEEDS:
        sc = (abm.load_scenario(scenario, rng=seed, extra_events=[MAGNET_LICENCE])
              if licensed else scenario)
        df = abm.simulate(sc, rng=seed, **overrides)
        df["run_id"] = seed
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _count(scored: pd.DataFrame) -> str:
    matched = scored["match"].dropna().astype(bool)
    return f"{int(matched.sum())} of {matched.size}"


def row(case: tuple[str, bool, dict]) -> dict:
    """One table row: the case, its targets matched (and mean abs. error) by group."""
    scenario, licensed, overrides = case
    targets = tg.load_targets()
    scored = tg.score(targets[targets["scenario"] == scenario],
                      {scenario: runs(scenario, licensed, overrides)})
    valid = scored[scored["id"].str.startswith("V")]
    out = {"scenario": scenario,
           "case": (", ".join(f"`{k}` = {v:g}" for k, v in overrides.items()) or "defaults")
           + (" + magnets licensed" if licensed else ""),
           "calibration": _count(scored[scored["id"].str.startswith("C")]),
           "validation": f"{_count(valid)} ({_pct(valid['rel_error'].abs().mean())})"}
    for name in PATTERNS[scenario]:
        part = valid[valid["pattern"] == name]
        out[name] = f"{_count(part)} ({_pct(part['rel_error'].abs().mean())})"
    return out


def _pct(x: float) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.0f}%"


def table(rows: list[dict]) -> str:
    """One Markdown table per scenario: targets matched (mean abs. error) by group."""
    out = []
    for scenario, names in PATTERNS.items():
        mine = [r for r in rows if r["scenario"] == scenario]
        if not mine:
            continue
        out += [f"`{scenario}` (seeds {SEEDS[0]}-{SEEDS[-1]}): targets matched (mean abs. error)",
                "",
                "| case | calibration | validation | " + " | ".join(f"`{n}`" for n in names)
                + " |", "|---|---|---|" + "---|" * len(names)]
        out += [f"| {r['case']} | {r['calibration']} | {r['validation']} | "
                + " | ".join(r[n] for n in names) + " |" for r in mine]
        out.append("")
    return "\n".join(out).rstrip()


def main() -> None:
    """Run the cases (in parallel) and print the tables."""
    probe_main(__doc__.splitlines()[0], row, CASES, table)


if __name__ == "__main__":
    main()
