"""Why `controls_2025` misses the 2025 magnet squeeze (docs/validation.md, "Known misses").

Usage: .venv/bin/python scripts/magnet_licence_probe.py [--seeds 3]   (about ten seconds)

Runs `controls_2025` as shipped (China's April 2025 licences cover the heavy oxides only) and
with one event added: the same licences on magnets from April 2025, as the record had them
(magnets containing Dy/Tb). For each case it prints China's magnet exports in May and June 2025
against a year earlier and the month before (China's customs: 0.26 and 0.47 in May, 0.62 and
2.58 in June), the Dy/Tb price outside China in April-June 2025 (850 US$/kg recorded in Europe
in May) next to the choke price, the magnet price outside China and the use of the magnet
makers' capacity outside China, and, before the controls (2024), who uses Dy/Tb: the magnet
makers (inside the clearing, with no stock of their own) and the firms (with inventories).
A third case licenses magnets too and gives the magnet makers three months of stock of their
oxide (:data:`STOCK`; the lead of `scripts/magnet_stock_probe.py`, off by default).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import abm

SCENARIO = "controls_2025"
MAGNET_LICENCE = {
    "id": "licences_magnets_apr_2025", "date": "2025-04", "actor": "CHN", "action": "export",
    "instrument": "licence", "target": "all", "product": "magnet",
    "detail": "China: licences on magnets containing Dy/Tb, to all (probe)"}
#: the third case's overrides: the magnet makers hold three months of their oxide use
STOCK = {"magnet_stock_cover_months": 3.0}


def with_magnet_licences(rng: int) -> abm.RareEarthScenario:
    """`controls_2025` with China's April 2025 licences extended to magnets."""
    return abm.load_scenario(SCENARIO, rng=rng, extra_events=[MAGNET_LICENCE])


def run_case(magnets_licensed: bool, seeds: int,
             overrides: dict | None = None) -> tuple[pd.DataFrame, float]:
    """Mean frame over seeds (indexed by date) and the Dy/Tb choke price, US$/kg."""
    frames, choke = [], 0.0
    for seed in range(seeds):
        scenario = with_magnet_licences(seed) if magnets_licensed else SCENARIO
        model = abm.RareEarthModel(scenario=scenario, rng=seed, **(overrides or {}))
        outside = np.array([c != "CHN" for c in model.countries])
        use = []
        while model.running:
            model.step()
            mm = model.magnets
            use.append(mm.made[outside].sum() / mm.capacity_tpm[outside].sum())
        frame = model.results_frame()
        frame["magnet_capacity_use_outside_china"] = use
        frames.append(frame)
        choke = model.sc.choke_price_ratio * model.p_ref["heavy"]
    return pd.concat(frames).groupby("date").mean(numeric_only=True), choke


def summary(mean: pd.DataFrame, choke: float) -> dict[str, float]:
    """The figures the docs quote, from one case's mean frame."""
    exports = mean["china_exports_magnet"]
    year = mean.loc[mean.index.str.startswith("2024")]
    firms_use = year["consumption_heavy"] - year["magnet_use_heavy"]
    return {
        "magnet exports May 2025 / May 2024": exports["2025-05"] / exports["2024-05"],
        "magnet exports May 2025 / April 2025": exports["2025-05"] / exports["2025-04"],
        "magnet exports June 2025 / June 2024": exports["2025-06"] / exports["2024-06"],
        "magnet exports June 2025 / May 2025": exports["2025-06"] / exports["2025-05"],
        "Dy/Tb price outside China, April 2025 (US$/kg)": mean.loc["2025-04",
                                                                   "price_heavy_world"],
        "Dy/Tb price outside China, May 2025 (US$/kg)": mean.loc["2025-05", "price_heavy_world"],
        "Dy/Tb price outside China, June 2025 (US$/kg)": mean.loc["2025-06",
                                                                  "price_heavy_world"],
        "Dy/Tb choke price (US$/kg)": choke,
        "magnet price outside China, May 2025 / 2024 mean": (
            mean.loc["2025-05", "price_magnet_world"] / year["price_magnet_world"].mean()),
        "magnet makers' capacity use outside China, 2024": (
            year["magnet_capacity_use_outside_china"].mean()),
        "magnet makers' capacity use outside China, May 2025": mean.loc[
            "2025-05", "magnet_capacity_use_outside_china"],
        "2024: magnet makers' share of world Dy/Tb use": (year["magnet_use_heavy"].sum()
                                                          / year["consumption_heavy"].sum()),
        "2024: firms' Dy/Tb inventory, months of their own use": (year["inventory_heavy"].mean()
                                                                   / firms_use.mean()),
    }


def main(argv: list[str] | None = None) -> None:
    """Print one Markdown table: the figures of both cases."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    args = ap.parse_args(argv)
    cases = {"as shipped": summary(*run_case(False, args.seeds)),
             "magnets licensed too": summary(*run_case(True, args.seeds)),
             "magnets licensed, makers hold 3 months": summary(
                 *run_case(True, args.seeds, STOCK))}
    print(f"controls_2025, mean of seeds 0-{args.seeds - 1}\n")
    print("| figure | " + " | ".join(cases) + " |")
    print("|---|" + "---:|" * len(cases))
    for key in cases["as shipped"]:
        cells = " | ".join(_fmt(c[key]) for c in cases.values())
        print(f"| {key} | {cells} |")


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.2f}"


if __name__ == "__main__":
    main()
