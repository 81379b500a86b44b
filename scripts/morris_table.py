"""The Morris table of docs/validation.md from a screening's report/sensitivity.csv.

Usage (the screening takes about a minute on 2 cores)::

    .venv/bin/python -m experiments run experiments/specs/morris_history.toml --out DIR
    .venv/bin/python -m experiments report DIR
    .venv/bin/python scripts/morris_table.py DIR

Prints, per outcome in the order of the spec, the four largest mu* (sigma in brackets) and
the three smallest (both in descending order), as the Markdown table the page holds.
"""

import sys
from pathlib import Path

import pandas as pd


def _num(x: float) -> str:
    return f"{x:,.0f}"


def table(sensitivity: pd.DataFrame) -> str:
    """The Markdown table of the largest and smallest mu* per outcome."""
    lines = ["| outcome | largest mu* (sigma) | smallest |", "|---|---|---|"]
    for metric, rows in sensitivity.groupby("metric", sort=False):
        ranked = rows.sort_values("mu_star", ascending=False, kind="stable")
        top = ", ".join(f"`{r.parameter}` {_num(r.mu_star)} ({_num(r.sigma)})"
                        for r in ranked.head(4).itertuples())
        low = ", ".join(f"`{p}`" for p in ranked.tail(3)["parameter"])
        lines.append(f"| `{metric}` | {top} | {low} |")
    return "\n".join(lines)


def main() -> int:
    """Print the table of the results directory given on the command line."""
    if len(sys.argv) != 2:
        print("usage: scripts/morris_table.py RESULTS_DIR", file=sys.stderr)
        return 2
    path = Path(sys.argv[1]) / "report" / "sensitivity.csv"
    if not path.is_file():
        print(f"no {path}: run `python -m experiments report {sys.argv[1]}` first",
              file=sys.stderr)
        return 2
    print(table(pd.read_csv(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
