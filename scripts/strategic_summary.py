"""Summarise what emerges in the `strategic` scenario over seeds 0-4 (table in README.md).

Usage: .venv/bin/python scripts/strategic_summary.py
"""

import pandas as pd

import abm


def main() -> None:
    """Run `strategic` for five seeds and print one row per seed."""
    rows = []
    for seed in range(5):
        df = abm.simulate("strategic", rng=seed)
        last = df.iloc[-12:]
        rows.append({
            "seed": seed,
            "China restricts (share of months)": (df["strategy_china_export"] != "open").mean(),
            "USA and Japan allied (share of months)":
                ((df["bloc_usa"] != "-") & (df["bloc_usa"] == df["bloc_japan"])).mean(),
            "NdPr world price, median US$/kg": df["price_light_world"].median(),
            "NdPr China price, median US$/kg": df["price_light_china"].median(),
            "Dy world price, median US$/kg": df["price_heavy_world"].median(),
            "months with NdPr world > 3x 2024": (df["price_light_world"] > 180).mean(),
            "Japan's China share, last year": last["china_import_share_japan"].mean(),
            "China's mining share, last year": last["china_share_mining"].mean(),
        })
    print(pd.DataFrame(rows).round(2).T.to_string())


if __name__ == "__main__":
    main()
