"""controls_2025 with and without the US-Japan framework, seeds 0-9 (tables in README.md).

Usage: .venv/bin/python scripts/alliance_comparison.py [--n-firms N] [--sizes 200,1000,10000]

``--n-firms`` (default 200) prints the full comparison at one size (a minute on 2 cores);
``--sizes`` prints instead, for every size, each paired difference with its 95% confidence
interval over the 10 seeds (Student t, 9 degrees of freedom) and whether its sign holds at
every size (a few minutes at 200, 1,000 and 10,000 firms).
"""

import argparse
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from scipy import stats

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
SEEDS = range(10)


def run(args) -> pd.Series:
    """Mean of each column from 2025-10 to the end, for one seed, alliance setting and size."""
    seed, alliance, n_firms = args
    df = abm.simulate("controls_2025", rng=seed, alliance=alliance, n_firms=n_firms)
    return df[df["date"] >= "2025-10"][list(COLUMNS)].mean()


def arms(sizes: list[int]) -> dict[int, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per size: the seeds' means with and without the alliance (rows: seeds)."""
    jobs = [(s, a, n) for n in sizes for s in SEEDS for a in (True, False)]
    with ProcessPoolExecutor(2) as ex:
        means = dict(zip(jobs, ex.map(run, jobs), strict=True))
    return {n: (pd.DataFrame([means[(s, True, n)] for s in SEEDS]),
                pd.DataFrame([means[(s, False, n)] for s in SEEDS])) for n in sizes}


def paired_ci(diff: pd.Series) -> tuple[float, float, float]:
    """Mean paired difference and its 95% confidence interval (Student t over the seeds)."""
    d = diff.to_numpy(float)
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def verdict(cis: list[tuple[float, float, float]]) -> str:
    """Whether a difference is a result: the same sign, away from 0, at every size."""
    signs = {np.sign(m) for m, lo, hi in cis if lo > 0 or hi < 0}
    if len(signs) > 1:
        return "opposite signs (both CIs exclude 0)"
    if all(lo > 0 or hi < 0 for _, lo, hi in cis):
        return "holds at every size"
    if signs:
        return "CI spans 0 at some size"
    return "CI spans 0 at every size"


def _full(n_firms: int, with_: pd.DataFrame, without: pd.DataFrame) -> None:
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


def _robustness(results: dict[int, tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    sizes = list(results)
    print("| paired difference (alliance - none), mean [95% CI] | "
          + " | ".join(f"{n:,} firms" for n in sizes) + " | verdict |")
    print("|---|" + "---|" * len(sizes) + "---|")
    for col, label in COLUMNS.items():
        cis = [paired_ci(results[n][0][col] - results[n][1][col]) for n in sizes]
        cells = " | ".join(f"{m:+,.3g} [{lo:+,.3g}, {hi:+,.3g}]" for m, lo, hi in cis)
        print(f"| {label} | {cells} | {verdict(cis)} |")


def main() -> None:
    """Print the comparison as Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-firms", type=int, default=abm.PARAMS["n_firms"].default)
    parser.add_argument("--sizes", type=str, default="",
                        help="comma-separated firm counts for the robustness table")
    args = parser.parse_args()
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
        _robustness(arms(sizes))
        return
    (with_, without), = arms([args.n_firms]).values()
    _full(args.n_firms, with_, without)


if __name__ == "__main__":
    main()
