"""Scenario discovery (PRIM, feature scores) and the EMA Workbench bridge (issue 13 item 6).

The discovery tests use data sets whose true box is known (cases exactly where x1 > 0.6 and
x2 < 0.3); coverage and density are recounted by brute force from the box's limits. The
bridge's outcomes are checked against direct ``abm.simulate`` runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import abm
import experiments
from experiments.discovery import discover
from experiments.errors import ExperimentError
from experiments.spec import Metric, parse_spec

ROOT = Path(__file__).resolve().parents[1]


def box_data(n: int = 400, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x1": rng.random(n), "x2": rng.random(n), "x3": rng.random(n),
                      "mode": rng.choice(["a", "b"], n)})
    return x, ((x["x1"] > 0.6) & (x["x2"] < 0.3)).to_numpy()


def inside(x: pd.DataFrame, limits: pd.DataFrame) -> np.ndarray:
    mask = np.ones(len(x), dtype=bool)
    for r in limits.itertuples():
        mask &= (x[r.parameter] >= r.low).to_numpy() & (x[r.parameter] <= r.high).to_numpy()
    return mask


def test_prim_finds_the_true_box_and_its_statistics_recount():
    x, y = box_data()
    res = discover(x, y, threshold=0.8)
    assert res.n_cases == int(y.sum()) and res.n_runs == 400
    box = res.boxes[0]
    lim = box.limits.set_index("parameter")
    assert set(lim.index) == {"x1", "x2"}, "only the two true dimensions are restricted"
    assert 0.55 <= lim.loc["x1", "low"] <= 0.65
    assert 0.25 <= lim.loc["x2", "high"] <= 0.45
    assert box.density >= 0.8 and box.coverage >= 0.9
    # brute force: count the runs and cases inside the reported limits
    m = inside(x, box.limits)
    assert box.n_runs == m.sum() and box.n_cases == (m & y).sum()
    assert box.coverage == pytest.approx((m & y).sum() / y.sum())
    assert box.density == pytest.approx((m & y).sum() / m.sum())
    assert box.mass == pytest.approx(m.mean())
    assert lim.loc["x1", "qp_low"] < 1e-6  # a restriction that matters
    scores = res.scores.set_index("parameter")["score"]
    assert set(scores.nlargest(2).index) == {"x1", "x2"}
    assert scores.sum() == pytest.approx(1.0)


def test_a_higher_density_threshold_trades_coverage_for_density():
    x, y = box_data()
    loose, strict = discover(x, y, threshold=0.7), discover(x, y, threshold=1.0)
    assert strict.boxes[0].density >= loose.boxes[0].density
    assert strict.boxes[0].coverage <= loose.boxes[0].coverage
    assert strict.boxes[0].density == 1.0


def test_no_cases_is_one_line():
    x, y = box_data()
    with pytest.raises(ExperimentError, match="0 of 400 runs are cases"):
        discover(x, np.zeros(len(y), dtype=bool))


DESIGN = """
[experiment]
name = "box"
scenario = "baseline"
steps = 2
root_seed = 3
seeds = 1

[sweep]
design = "latin"
samples = 300
sampler_seed = 3

[sweep.parameters]
x1 = { min = 0.0, max = 1.0 }
x2 = { min = 0.0, max = 1.0 }
x3 = { min = 0.0, max = 1.0 }

[[metrics]]
name = "in_box"
column = "box"
stat = "mean"
"""


@pytest.mark.slow
def test_discover_command_on_a_result_directory(tmp_path):
    out = tmp_path / "box"
    experiments.run_experiment(parse_spec(DESIGN), out, workers=1, progress=False,
                               simulate="tests.experiment_hooks:function_model")
    res = subprocess.run([sys.executable, "-m", "experiments", "discover", str(out),
                          "--metric", "in_box", "--above", "0.5"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    md = (out / "report" / "discovery.md").read_text()
    runs = experiments.load_results(out)
    n_cases = int((runs["in_box"] > 0.5).sum())
    assert f"**{n_cases} of 300** runs" in md
    boxes = pd.read_csv(out / "report" / "discovery_boxes.csv")
    first = boxes[boxes["box"] == 0]
    assert set(first["parameter"]) == {"x1", "x2"}
    m = inside(runs, first)
    y = (runs["in_box"] > 0.5).to_numpy()
    assert first["coverage"].iloc[0] == pytest.approx((m & y).sum() / y.sum())
    scores = pd.read_csv(out / "report" / "feature_scores.csv")
    assert set(scores.nlargest(2, "score")["parameter"]) == {"x1", "x2"}
    assert (out / "report" / "discovery_tradeoff.png").stat().st_size > 5000
    bad = subprocess.run([sys.executable, "-m", "experiments", "discover", str(out),
                          "--metric", "nope", "--below", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "no metric 'nope' (metrics: in_box)" in bad.stderr


# -- the EMA Workbench bridge --------------------------------------------------------------
def _perform(model, n):
    from ema_workbench import SequentialEvaluator, perform_experiments

    with SequentialEvaluator(model) as evaluator:
        return perform_experiments(model, scenarios=n, evaluator=evaluator)


METRICS = [Metric("mean_price", "price_light_world", "mean"),
           Metric("short", "shortage_japan", "sum")]


def _direct(row, seed):
    return abm.simulate("baseline", steps=4, rng=seed, n_firms=8,
                        demand_elasticity=float(row["demand_elasticity"]),
                        alliance=bool(row["alliance"]),
                        decision_interval_months=int(row["decision_interval_months"]))


def test_ema_function_model_equals_direct_runs():
    from experiments import ema

    model = ema.function_model(
        "rareearth", scenario="baseline", steps=4, metrics=METRICS, seed=7,
        uncertainties=ema.parameters(["demand_elasticity", "alliance",
                                      "decision_interval_months"],
                                     ranges={"demand_elasticity": (0.05, 0.6)}),
        constants={"n_firms": 8},
    )
    exps, outs = _perform(model, 3)
    assert exps["demand_elasticity"].between(0.05, 0.6).all()
    for i, row in exps.iterrows():
        frame = _direct(row, 7)
        assert outs["mean_price"][i] == frame["price_light_world"].mean()
        assert outs["short"][i] == frame["shortage_japan"].sum()


def test_ema_replicator_model_runs_every_seed():
    from experiments import ema

    seeds = experiments.derive_seeds(5, 2)
    # EMA registers outcome names per process: an array outcome needs a name of its own
    metrics = [Metric("mean_price_by_seed", "price_light_world", "mean")]
    model = ema.replicator_model(
        "rareearth", scenario="baseline", steps=4, metrics=metrics, seeds=2, root_seed=5,
        uncertainties=ema.parameters(["demand_elasticity", "alliance",
                                      "decision_interval_months"]),
        constants={"n_firms": 8},
    )
    exps, outs = _perform(model, 2)
    assert outs["mean_price_by_seed"].shape == (2, 2)
    for i, row in exps.iterrows():
        for j, seed in enumerate(seeds):
            direct = _direct(row, seed)["price_light_world"].mean()
            assert outs["mean_price_by_seed"][i, j] == direct


def test_ema_bridge_from_a_spec_and_its_checks():
    from experiments import ema

    spec = experiments.load_spec(ROOT / "experiments" / "specs" / "latin.toml")
    model = ema.from_spec(spec)
    assert [u.name for u in model.uncertainties] == list(spec.parameters)
    assert [o.name for o in model.outcomes] == [m.name for m in spec.metrics]
    assert [r["rng"] for r in model.replications] == spec.seeds
    assert {c.name: c.value for c in model.constants} == spec.fixed
    with pytest.raises(ExperimentError, match="within the model's"):
        ema.parameters(["demand_elasticity"], ranges={"demand_elasticity": (-0.5, 0.1)})
    with pytest.raises(ExperimentError, match="unknown model parameter"):
        ema.parameters(["no_such_parameter"])
    with pytest.raises(ExperimentError, match="EMA samples ranges"):
        ema.from_spec(experiments.load_spec(ROOT / "experiments" / "specs" / "factorial.toml"))
