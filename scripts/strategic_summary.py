"""Summarise what emerges in the `strategic` scenario over seeds 0-4 (table in README.md).

Usage: .venv/bin/python scripts/strategic_summary.py

Prints the README's Markdown table (shares to two decimals, prices in whole US$/kg);
``tests/test_docs.py`` fails when the README's copy is stale.
"""

import pandas as pd

import abm

SEEDS = range(5)
#: rows of the table whose values are prices (printed as whole US$/kg)
PRICE_ROWS = ("NdPr world price, median US$/kg", "NdPr China price, median US$/kg",
              "Dy world price, median US$/kg")


def summary() -> pd.DataFrame:
    """Run `strategic` for every seed: one column per seed, one row per measure."""
    rows = {}
    for seed in SEEDS:
        df = abm.simulate("strategic", rng=seed)
        last = df.iloc[-12:]
        rows[seed] = {
            "China restricts (share of months)": (df["strategy_china_export"] != "open").mean(),
            "USA and Japan allied (share of months)":
                ((df["bloc_usa"] != "-") & (df["bloc_usa"] == df["bloc_japan"])).mean(),
            "NdPr world price, median US$/kg": df["price_light_world"].median(),
            "NdPr China price, median US$/kg": df["price_light_china"].median(),
            "Dy world price, median US$/kg": df["price_heavy_world"].median(),
            "months with NdPr world > 3x 2024": (df["price_light_world"] > 180).mean(),
            "Japan's China share, last year": last["china_import_share_japan"].mean(),
            "China's mining share, last year": last["china_share_mining"].mean(),
        }
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The table as the README prints it."""
    lines = ["| seed | " + " | ".join(str(s) for s in table.columns) + " |",
             "|---|" + "---|" * len(table.columns)]
    for label, values in table.iterrows():
        cells = [f"{v:.0f}" if label in PRICE_ROWS else f"{v:.2f}" for v in values]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the README's table."""
    print(markdown(summary()))


if __name__ == "__main__":
    main()
