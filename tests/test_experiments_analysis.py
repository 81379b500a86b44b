"""Analyses of a result set: second-order Sobol indices, paired contrasts (issue 13).

Expected values come from closed forms (y = x1 * x2 on the unit square) and from paired
differences worked out by hand on the table of ``tests/experiment_hooks.ARM_TABLE``.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import experiments
from experiments.contrast import paired_contrasts, paired_difference
from experiments.report import make_report, sensitivity
from experiments.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
HOOKS = "tests.experiment_hooks"
T975_2DOF = 4.302652729696  # Student t, 97.5% quantile, 2 degrees of freedom (t tables: 4.303)

SOBOL2 = """
[experiment]
name = "sobol-product"
scenario = "baseline"
steps = 2
seeds = 1
root_seed = 1

[sweep]
design = "sobol"
samples = {n}
calc_second_order = true
sampler_seed = 1

[sweep.parameters]
x1 = {{ min = 0.0, max = 1.0 }}
x2 = {{ min = 0.0, max = 1.0 }}

[[metrics]]
name = "y"
column = "y"
stat = "mean"
"""


def test_second_order_sobol_index_of_a_product():
    """y = x1 x2, x ~ U(0,1): Var y = 1/9 - 1/16 = 7/144, V1 = V2 = Var(x/2) = 1/48,
    so S1 = S2 = 3/7 and the interaction S12 = 1 - 6/7 = 1/7 (hand-solved)."""
    spec = parse_spec(SOBOL2.format(n=1024))
    points = spec.points()
    runs = pd.DataFrame({
        "run_id": [f"p{i}" for i in range(len(points))],
        "point_id": range(len(points)),
        "status": "ok",
        "x1": [p["x1"] for p in points],
        "x2": [p["x2"] for p in points],
        "y": [p["x1"] * p["x2"] for p in points],
    })
    table, notes = sensitivity(runs, spec)
    assert not notes
    s1 = table.set_index("parameter")["S1"]
    assert s1["x1"] == pytest.approx(3 / 7, abs=0.03) and s1["x2"] == pytest.approx(3 / 7, abs=0.03)
    s2 = table.attrs["second_order"]
    assert list(s2[["parameter_1", "parameter_2"]].iloc[0]) == ["x1", "x2"]
    assert s2["S2"].iloc[0] == pytest.approx(1 / 7, abs=0.04)


@pytest.mark.slow
def test_second_order_indices_reach_the_report(tmp_path):
    spec = parse_spec(SOBOL2.format(n=8))
    out = tmp_path / "s2"
    experiments.run_experiment(spec, out, workers=1, progress=False,
                               simulate=f"{HOOKS}:function_model")
    report = make_report(out).read_text()
    assert "Second-order Sobol indices" in report
    s2 = pd.read_csv(out / "report" / "sensitivity_second_order.csv")
    assert len(s2) == 1 and {"S2", "S2_conf"} <= set(s2.columns)


def test_paired_difference_hand_computed():
    # diffs (arm - baseline) = [1, 2, 0.5]: mean 7/6, sample sd sqrt(7/12)
    s = paired_difference(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 3.5]))
    half = T975_2DOF * math.sqrt(7 / 12) / math.sqrt(3)
    assert s["n"] == 3 and s["mean_diff"] == pytest.approx(7 / 6)
    assert s["ci_low"] == pytest.approx(7 / 6 - half)
    assert s["ci_high"] == pytest.approx(7 / 6 + half)
    assert s["same_sign"] == 1.0
    assert s["baseline_mean"] == 2.0 and s["arm_mean"] == pytest.approx(9.5 / 3)
    # diffs [-1, 1, -2]: mean -2/3, two of three seeds share its sign
    s = paired_difference(np.array([1.0, 2.0, 3.0]), np.array([0.0, 3.0, 1.0]))
    assert s["mean_diff"] == pytest.approx(-2 / 3) and s["same_sign"] == pytest.approx(2 / 3)
    # a pair with a missing value is dropped, one pair has no interval
    s = paired_difference(np.array([1.0, np.nan]), np.array([3.0, 1.0]))
    assert s["n"] == 1 and s["mean_diff"] == 2.0 and math.isnan(s["ci_low"])


ARMS = """
[experiment]
name = "arms"
scenario = "baseline"
steps = 2
seeds = [11, 22, 33]

[sweep]
design = "factorial"

[sweep.parameters]
arm = ["a", "b", "c"]
level = [1, 2]

[[metrics]]
name = "mean_v"
column = "v"
stat = "mean"

[report]
contrast = "arm"
"""


def test_contrasts_end_to_end_against_the_hand_table(tmp_path):
    out = tmp_path / "arms"
    spec = parse_spec(ARMS)
    assert spec.baseline == "a"  # default: the first listed value
    experiments.run_experiment(spec, out, workers=1, progress=False,
                               simulate=f"{HOOKS}:arm_model")
    res = subprocess.run([sys.executable, "-m", "experiments", "report", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out / "report" / "contrasts.csv")
    table = table[table["metric"] == "mean_v"].set_index(["level", "arm"])
    # level 1: b - a = [1, 2, 0.5]; c - a = [-1, 1, -2]; level 2: b - a = [-1, -2, -3], c - a = 0
    expect = {
        (1, "b"): (7 / 6, math.sqrt(7 / 12), 1.0),
        (1, "c"): (-2 / 3, math.sqrt(7 / 3), 2 / 3),
        (2, "b"): (-2.0, 1.0, 1.0),
        (2, "c"): (0.0, 0.0, 1.0),
    }
    assert set(table.index) == set(expect)
    for key, (mean, sd, same) in expect.items():
        row = table.loc[key]
        half = T975_2DOF * sd / math.sqrt(3)
        assert row["n"] == 3 and row["baseline"] == "a"
        assert row["mean_diff"] == pytest.approx(mean, abs=1e-12)
        assert row["ci_low"] == pytest.approx(mean - half, abs=1e-8)
        assert row["ci_high"] == pytest.approx(mean + half, abs=1e-8)
        assert row["same_sign"] == pytest.approx(same)
    md = (out / "report" / "report.md").read_text()
    assert "## Paired contrasts: arm against arm = 'a'" in md
    assert "+1.167 [-0.7306, +3.064]" in md  # level 1, b: 7/6 -/+ 4.303 * 0.7638 / sqrt 3


def test_contrast_with_an_explicit_boolean_baseline():
    runs = pd.DataFrame({
        "run_id": ["r1", "r2", "r3", "r4"], "status": "ok", "seed_index": [0, 1, 0, 1],
        "alliance": [True, True, False, False], "m": [5.0, 7.0, 4.0, 4.5],
    })
    t = paired_contrasts(runs, "alliance", False, ["alliance"])
    (row,) = t.to_dict("records")
    assert row["alliance"] == True and row["mean_diff"] == pytest.approx(1.75)  # noqa: E712
