"""controls_2025 with and without the US-Japan framework, seeds 0-9 (table in README.md).

Usage: .venv/bin/python scripts/alliance_comparison.py [--n-firms N]   (a minute on 2 cores at
the default 200 firms; the README also quotes it at 5,000)
"""

import argparse
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

import abm

COLUMNS = {
    "production_reo": "mine production, t REO/month",
    "refined_usa": "separation in the USA, t REO/month",
    "china_import_share_japan": "Japan's China share",
    "china_import_share_usa": "USA's China share",
    "price_light_world": "NdPr world price, US$/kg",
    "price_heavy_world": "Dy world price, US$/kg",
    "n_blocs": "number of blocs",
    "stockpile_usa": "US stockpile, t",
    "stockpile_japan": "Japan's stockpile, t",
    "shortage_japan": "Japan's shortage, t/month",
    "shortage_usa": "USA's shortage, t/month",
}


def run(args) -> pd.Series:
    """Mean of each column from 2025-10 to the end, for one seed, alliance setting and size."""
    seed, alliance, n_firms = args
    df = abm.simulate("controls_2025", rng=seed, alliance=alliance, n_firms=n_firms)
    return df[df["date"] >= "2025-10"][list(COLUMNS)].mean()


def main() -> None:
    """Print the comparison as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-firms", type=int, default=abm.PARAMS["n_firms"].default)
    n_firms = parser.parse_args().n_firms
    jobs = [(s, a, n_firms) for s in range(10) for a in (True, False)]
    with ProcessPoolExecutor(2) as ex:
        means = dict(zip(jobs, ex.map(run, jobs), strict=True))
    with_ = pd.DataFrame([means[(s, True, n_firms)] for s in range(10)])
    without = pd.DataFrame([means[(s, False, n_firms)] for s in range(10)])
    print(f"n_firms = {n_firms}")
    diff = with_ - without
    print("| mean 2025-10..2030-12 | alliance | no alliance | paired difference, mean "
          "(min .. max) | seeds lower / higher |")
    print("|---|---|---|---|---|")
    for col, label in COLUMNS.items():
        d = diff[col]
        print(f"| {label} | {with_[col].mean():,.3f} | {without[col].mean():,.3f} | "
              f"{d.mean():+,.3f} ({d.min():+,.3f} .. {d.max():+,.3f}) | "
              f"{(d < 0).sum()} / {(d > 0).sum()} |")


if __name__ == "__main__":
    main()
