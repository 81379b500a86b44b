"""scripts/morris_table.py: the Morris table of docs/validation.md, on a hand-made screening."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
from _scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
morris_table = load_script("scripts/morris_table.py")


def test_four_largest_and_three_smallest_per_outcome_in_the_file_order():
    rows = [("b_metric", p, mu, sig) for p, mu, sig in
            [("p1", 5.0, 1.0), ("p2", 1500.4, 2000.6), ("p3", 3.0, 0.0), ("p4", 40.0, 4.0),
             ("p5", 0.5, 0.1), ("p6", 200.0, 20.0)]]
    rows += [("a_metric", "q1", 1.0, 1.0)]
    df = pd.DataFrame(rows, columns=["metric", "parameter", "mu_star", "sigma"])
    lines = morris_table.table(df).splitlines()
    assert lines[:2] == ["| outcome | largest mu* (sigma) | smallest |", "|---|---|---|"]
    # b_metric first (the file's order), mu* descending: p2, p6, p4, p1; the smallest p1, p3, p5
    assert lines[2] == ("| `b_metric` | `p2` 1,500 (2,001), `p6` 200 (20), `p4` 40 (4), "
                        "`p1` 5 (1) | `p1`, `p3`, `p5` |")
    assert lines[3] == "| `a_metric` | `q1` 1 (1) | `q1` |"


def test_a_directory_without_a_report_is_one_clear_line(tmp_path):
    out = subprocess.run([sys.executable, "scripts/morris_table.py", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"no {tmp_path / 'report' / 'sensitivity.csv'}: run `python -m experiments report "
        f"{tmp_path}` first"]
