"""What moves the NdPr peak of `quota_2010` (numbers in docs/validation.md, "Known misses").

Usage: .venv/bin/python scripts/quota_2010_sensitivity.py   (about a minute)

Runs `quota_2010` (seeds 0-1) at its defaults and with one assumption changed at a time, and
prints the month and height of the mean NdPr world peak, the world and China prices at a few
months, and China's recorded exports in 2012 (t REO; 16,265 t were exported). The last two
cases replace the scenario's demand growth (7.3%/yr, the mean of 2009-2024) with the 2024
scenarios' 4%/yr and with none.
"""

import pandas as pd

import abm

MONTHS = ["2010-07", "2010-12", "2011-04", "2011-07", "2011-10", "2012-04", "2012-10", "2013-07"]
CASES = [{}, {"event.enforcement_2011.level": 0.85}, {"event.enforcement_2011.level": 0.5},
         {"byproduct_price_share": 0.0}, {"illegal_capacity_share": 0.15},
         {"base_cover_months": 1.0}, {"hoarding_sensitivity": 12.0},
         {"event.mining_quota_2012.tonnes_per_yr": 120000},
         {"demand_growth_per_yr": 0.04}, {"demand_growth_per_yr": 0.0}]


def main() -> None:
    """Print one block per case."""
    for overrides in CASES:
        df = pd.concat(abm.simulate("quota_2010", rng=s, **overrides) for s in range(2))
        mean = df.groupby("date").mean(numeric_only=True)
        peak = mean["price_light_world"].idxmax()
        exports = mean.loc[mean.index.str.startswith("2012"), "china_exports_reo"].sum()
        print(f"{overrides or 'defaults'}: peak {peak} at "
              f"{mean.loc[peak, 'price_light_world']:.0f} US$/kg; 2012 exports {exports:,.0f} t")
        print(mean.loc[MONTHS, ["price_light_world", "price_light_china"]].round(0).T
              .to_string())


if __name__ == "__main__":
    main()
