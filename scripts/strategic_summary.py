"""Summarise what emerges in the `strategic` scenario over seeds 0-4 (table in README.md).

Usage: .venv/bin/python scripts/strategic_summary.py
"""

import pandas as pd

import abm
from abm.strategies import current_strategy


def main() -> None:
    """Run `strategic` for five seeds and print one row per seed."""
    rows = []
    for seed in range(5):
        m = abm.RareEarthModel(scenario="strategic", rng=seed)
        restricted = allied = 0
        for _ in range(m.horizon):
            m.step()
            restricted += current_strategy(m, m.states["CHN"], "export") != "open"
            usa, jpn = m.states["USA"], m.states["JPN"]
            allied += bool(usa.bloc and usa.bloc == jpn.bloc)
        df = m.results_frame()
        last = df.iloc[-12:]
        rows.append({
            "seed": seed,
            "China restricts (share of months)": restricted / m.horizon,
            "USA-Japan allied (share of months)": allied / m.horizon,
            "NdPr world, median": df["price_light_world"].median(),
            "NdPr China, median": df["price_light_china"].median(),
            "Dy world, median": df["price_heavy_world"].median(),
            "months NdPr world > 3x 2024": (df["price_light_world"] > 180).mean(),
            "Japan's China share, last year": last["china_import_share_japan"].mean(),
            "China's mining share, last year": last["china_share_mining"].mean(),
        })
    print(pd.DataFrame(rows).round(2).T.to_string())


if __name__ == "__main__":
    main()
