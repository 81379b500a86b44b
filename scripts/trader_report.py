"""Print what speculative traders change (numbers in README.md, section "Traders").

Runs `baseline` (seed 0) and `quota_2010` (seeds 0-4, mean path) with the default traders and
with `trader_capital_share = 0` (no traders), and the `quota_2010` NdPr peak at
`choke_price_ratio` 20 and 60 both ways (issue 12: the choke price should bound the peak, not
set it).

Usage: .venv/bin/python scripts/trader_report.py
"""

import numpy as np
import pandas as pd

import abm

SEEDS = range(5)
WAYS = {"traders": {}, "no traders": {"trader_capital_share": 0.0}}


def mean_path(scenario: str, **overrides) -> pd.DataFrame:
    """Mean over SEEDS of each numeric column, by date."""
    runs = [abm.simulate(scenario, rng=s, **overrides) for s in SEEDS]
    return pd.concat(runs).groupby("date").mean(numeric_only=True)


def baseline_rows() -> list[tuple]:
    """10-year price range (x year-1 mean) and mean absolute monthly change, seed 0."""
    rows = []
    for way, over in WAYS.items():
        df = abm.simulate("baseline", rng=0, **over)
        for col in ("price_light_world", "price_heavy_world"):
            m1 = df[col].iloc[:12].mean()
            change = np.abs(np.diff(np.log(df[col].to_numpy()))).mean()
            rows.append((way, col, f"{df[col].min() / m1:.2f}-{df[col].max() / m1:.2f}",
                         f"{100 * change:.1f}%"))
    return rows


def quota_rows() -> list[tuple]:
    """Peaks, China's 2011 price, traders' stock in China and the chartist share."""
    rows = []
    for way, over in WAYS.items():
        mean = mean_path("quota_2010", **over)
        y2011 = mean.index.str.startswith("2011")
        rows.append((way, mean["price_light_world"].idxmax(), mean["price_light_world"].max(),
                     mean["price_heavy_world"].max(),
                     mean.loc[y2011, "price_light_china"].mean(),
                     mean.loc[y2011, "trader_stock_china"].mean(),
                     mean["chartist_share_light"].max()))
    return rows


def choke_rows() -> list[tuple]:
    """quota_2010 NdPr world peak (mean path) at choke_price_ratio 20 and 60."""
    rows = []
    for way, over in WAYS.items():
        peaks = {c: mean_path("quota_2010", choke_price_ratio=c, **over)["price_light_world"]
                 .max() for c in (20.0, 60.0)}
        rows.append((way, peaks[20.0], peaks[60.0], peaks[60.0] / peaks[20.0]))
    return rows


def main() -> None:
    """Print the three tables."""
    pd.set_option("display.width", 120)
    print("baseline (seed 0): world prices over 10 years")
    print(pd.DataFrame(baseline_rows(), columns=["", "column", "range x year 1",
                                                 "mean |monthly change|"]).to_string(index=False))
    print("\nquota_2010 (mean of seeds 0-4)")
    print(pd.DataFrame(quota_rows(), columns=[
        "", "NdPr peak month", "NdPr world peak US$/kg", "Dy world peak US$/kg",
        "NdPr China 2011 US$/kg", "trader stock in China 2011 t", "max chartist share"]
    ).round(2).to_string(index=False))
    print("\nquota_2010 NdPr world peak by choke_price_ratio (mean of seeds 0-4)")
    print(pd.DataFrame(choke_rows(), columns=["", "choke 20", "choke 60", "ratio 60/20"])
          .round(2).to_string(index=False))


if __name__ == "__main__":
    main()
