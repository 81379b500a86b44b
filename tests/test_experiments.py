"""Tests of the experiments package: specs, metrics, store, runner, CLI, reports."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import abm
import experiments
from experiments import store
from experiments.errors import ExperimentError, SpecError
from experiments.metrics import compute_metrics
from experiments.report import ensemble_stats, make_report
from experiments.spec import Metric, derive_seeds, parse_spec

ROOT = Path(__file__).resolve().parents[1]
# game specs need the model core's strategy overrides: tests/test_experiments_events.py
SPECS = sorted(p for p in (ROOT / "experiments" / "specs").glob("*.toml")
               if not p.name.startswith("game_"))

SMALL = """
[experiment]
name = "small"
scenario = "baseline"
steps = 8
root_seed = 42
seeds = 3

[fixed]
n_firms = 8

[sweep]
design = "factorial"

[sweep.parameters]
alliance = [true, false]
demand_elasticity = [0.1, 0.5]

[[metrics]]
name = "mean_price"
column = "price_light_world"
stat = "mean"

[[metrics]]
name = "peak_date_heavy"
column = "price_heavy_world"
stat = "peak_date"

[[metrics]]
name = "cum_short"
column = "shortage_japan"
stat = "sum"
start = "2024-03"
"""


def write_spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def comparable(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results without the fields that legitimately differ between executions."""
    runs = experiments.load_results(out).drop(
        columns=["runtime_s", "started", "finished", "worker"]
    )
    return runs, experiments.load_timeseries(out)


# -- specs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_specs_parse_and_plan(path):
    spec = experiments.load_spec(path)
    tasks = spec.tasks()
    assert len(tasks) == spec.n_points() * len(spec.seeds) >= 20
    assert len({t.run_id for t in tasks}) == len(tasks)
    assert spec.description.strip(), "every shipped spec is documented"
    names = set(abm.PARAMS) | {"scenario"}
    for p in spec.parameters:
        assert p in names, f"{path.name}: {p} is not a model parameter"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_specs_pass_the_model_check(path):
    from experiments.runner import preflight

    preflight(experiments.load_spec(path))  # every point's overrides, metric columns


def test_shipped_spec_kinds_cover_every_design():
    designs = {experiments.load_spec(p).design for p in SPECS}
    assert designs == {"factorial", "latin", "sobol", "morris"}


def test_seeds_derive_from_root_seed_only():
    a, b = derive_seeds(42, 5), derive_seeds(42, 8)
    assert a == b[:5]
    assert len(set(b)) == 8
    assert derive_seeds(43, 5) != a
    spec = parse_spec(SMALL)
    seeds = {(t.seed_index, t.seed) for t in spec.tasks()}
    assert seeds == set(enumerate(derive_seeds(42, 3)))  # common random numbers across points


def test_sampler_designs_are_deterministic_and_in_range():
    text = (
        SMALL.replace('design = "factorial"', 'design = "sobol"\nsamples = 4')
        .replace(
            "alliance = [true, false]\ndemand_elasticity = [0.1, 0.5]",
            "demand_elasticity = { min = 0.1, max = 0.5 }\n"
            'n_firms = { min = 5, max = 9, type = "int" }',
        )
        .replace("[fixed]\nn_firms = 8\n", "")
    )
    spec = parse_spec(text)
    pts = spec.points()
    assert len(pts) == 4 * (2 + 2) == spec.n_points()
    assert pts == parse_spec(text).points()
    assert all(0.1 <= p["demand_elasticity"] <= 0.5 for p in pts)
    assert all(isinstance(p["n_firms"], int) and 5 <= p["n_firms"] <= 9 for p in pts)


BAD_SPECS = [
    ("[experiment\nname='x'", "malformed TOML"),
    ("[fixed]\nn_firms = 3\n", "missing [experiment]"),
    (SMALL.replace('scenario = "baseline"\n', ""), "scenario"),
    (SMALL.replace("seeds = 3", "seeds = 0"), "seeds must be at least 1"),
    (SMALL.replace("seeds = 3", "seeds = [1, 1]"), "duplicates"),
    (SMALL.replace("steps = 8", "steps = -2"), "steps must be a positive integer"),
    (SMALL.replace('design = "factorial"', 'design = "grid"'), "design must be one of"),
    (SMALL.replace('stat = "mean"', 'stat = "average"'), "stat must be one of"),
    (SMALL.replace('start = "2024-03"', 'start = "March"'), "start must be 'YYYY-MM'"),
    (SMALL.replace("alliance = [true, false]", "alliance = []"), "non-empty list"),
    (SMALL.replace('design = "factorial"', 'design = "sobol"\nsamples = 6'), "power of 2"),
    (SMALL.replace('design = "factorial"', 'design = "latin"\nsamples = 6'), "must be a range"),
    (SMALL.replace("[fixed]\n", "[fixed]\nalliance = true\n"), "both fixed and swept"),
    (SMALL + "\n[extra]\nx = 1\n", "unknown key 'extra'"),
    (SMALL.replace('name = "mean_price"', 'name = "cum_short"'), "defined twice"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPECS)
def test_malformed_spec_one_line_error(text, message):
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_bad_spec_exit_2_one_line_nothing_written(tmp_path):
    spec = write_spec(tmp_path, SMALL.replace('stat = "mean"', 'stat = "avg"'))
    out = tmp_path / "out"
    res = cli("run", str(spec), "--out", str(out))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "stat must be one of" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("demand_elasticity = [0.1, 0.5]", "demand_elasticity = [0.1, 7.0]"), "demand_elasticity"),
        (("n_firms = 8", "n_firmz = 8"), "n_firmz"),
        (('column = "shortage_japan"', 'column = "no_such_column"'), "no_such_column"),
        (('scenario = "baseline"', 'scenario = "atlantis"'), "atlantis"),
    ],
)
def test_model_rejects_spec_before_anything_runs(tmp_path, edit, message):
    spec = experiments.parse_spec(SMALL.replace(*edit))
    out = tmp_path / "out"
    with pytest.raises(ExperimentError) as err:
        experiments.run_experiment(spec, out, workers=1, progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not out.exists()


def test_cli_option_errors_exit_2(tmp_path):
    spec = write_spec(tmp_path, SMALL)
    for args in (
        ["run", str(spec), "--out", str(tmp_path / "o"), "--workers", "0"],
        ["run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")],
        ["report", str(tmp_path / "nowhere")],
        ["frobnicate"],
    ):
        res = cli(*args)
        assert res.returncode == 2, args
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("experiments: error:")
    assert not (tmp_path / "o").exists()


# -- metrics ----------------------------------------------------------------------------------
def test_metrics_hand_computed():
    frame = pd.DataFrame(
        {
            "date": ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"],
            "step": [0, 1, 2, 3, 4],
            "x": [1.0, 5.0, 3.0, 5.0, 0.0],
        }
    )
    ms = [
        Metric("mean", "x", "mean"),
        Metric("peak", "x", "max"),
        Metric("peak_at", "x", "peak_date"),
        Metric("low_at", "x", "trough_date", start="2024-02", end="2024-04"),
        Metric("cum", "x", "sum", start="2024-02"),
        Metric("cum_steps", "x", "sum", start=1, end=2),
        Metric("last", "x", "final", end="2024-04"),
        Metric("chg", "x", "change"),
        Metric("above", "x", "months_above", threshold=2.0),
        Metric("empty", "x", "mean", start="2030-01"),
    ]
    got = compute_metrics(frame, ms)
    assert got["mean"] == pytest.approx(2.8)
    assert got["peak"] == 5.0 and got["peak_at"] == "2024-02"
    assert got["low_at"] == "2024-03"
    assert got["cum"] == 13.0 and got["cum_steps"] == 8.0
    assert got["last"] == 5.0 and got["chg"] == -1.0 and got["above"] == 3.0
    assert math.isnan(got["empty"])


def test_ensemble_stats_interval():
    s = ensemble_stats(pd.Series([1.0, 2.0, 3.0, 4.0]))
    assert s["mean"] == 2.5 and s["n"] == 4
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3)
    assert s["ci_low"] == pytest.approx(2.5 - half) and s["ci_high"] == pytest.approx(2.5 + half)
    assert math.isnan(ensemble_stats(pd.Series([1.0]))["ci_low"])


# -- runner and store -------------------------------------------------------------------------
def test_run_resume_report(tmp_path):
    spec = parse_spec(SMALL)
    out = tmp_path / "out"
    first = experiments.run_experiment(spec, out, workers=1, progress=False)
    assert (first.total, first.done, first.failed, first.skipped) == (12, 12, 0, 0)
    again = experiments.run_experiment(spec, out, workers=1, progress=False)
    assert (again.skipped, again.done) == (12, 0)

    runs = experiments.load_results(out)
    assert list(runs["run_id"]) == [t.run_id for t in spec.tasks()]
    assert (runs["status"] == "ok").all()
    # metrics match the model run directly with the recorded seed and parameters
    row = runs.iloc[5]
    frame = abm.simulate(
        "baseline",
        steps=8,
        rng=int(row["seed"]),
        n_firms=8,
        alliance=bool(row["alliance"]),
        demand_elasticity=float(row["demand_elasticity"]),
    )
    assert row["mean_price"] == frame["price_light_world"].mean()
    assert row["peak_date_heavy"] == frame.loc[frame["price_heavy_world"].idxmax(), "date"]
    ts = experiments.load_timeseries(out, columns=["price_light_world"])
    mine = ts[ts["run_id"] == row["run_id"]]["price_light_world"].to_numpy()
    np.testing.assert_array_equal(mine, frame["price_light_world"].to_numpy())

    prov = json.loads((out / "provenance.json").read_text())
    assert len(prov["sessions"]) == 2 and all(s["end"] for s in prov["sessions"])
    assert prov["packages"]["mesa"] and (out / "spec.toml").read_text() == SMALL
    assert len(pd.read_csv(out / "design.csv")) == 12

    report = make_report(out)
    text = report.read_text()
    assert "| point_id | alliance | demand_elasticity |" in text
    ens = pd.read_csv(report.parent / "ensemble.csv")
    e = ens[(ens["point_id"] == 1) & (ens["metric"] == "mean_price")].iloc[0]
    seeds = runs[runs["point_id"] == 1]["mean_price"]
    assert e["mean"] == pytest.approx(seeds.mean()) and e["n"] == 3
    assert e["ci_low"] <= e["mean"] <= e["ci_high"]
    for var in ("price_light_world", "price_heavy_world", "shortage_japan"):
        assert (report.parent / f"ts_{var}.png").stat().st_size > 5000
    assert len(pd.read_csv(report.parent / "comparison.csv")) == 4


def test_other_spec_in_same_dir_is_refused(tmp_path):
    out = tmp_path / "out"
    experiments.run_experiment(
        parse_spec(SMALL.replace("seeds = 3", "seeds = 1")), out, workers=1, progress=False
    )
    other = write_spec(tmp_path, SMALL.replace("steps = 8", "steps = 9"))
    before = sorted(p.name for p in store.runs_dir(out).iterdir())
    res = cli("run", str(other), "--out", str(out))
    assert res.returncode == 2 and "different spec" in res.stderr
    assert sorted(p.name for p in store.runs_dir(out).iterdir()) == before


def test_concurrent_run_on_same_dir_is_refused(tmp_path):
    import fcntl

    spec_path = write_spec(tmp_path, SMALL.replace("seeds = 3", "seeds = 1"))
    out = tmp_path / "out"
    first = cli("run", str(spec_path), "--out", str(out), "--workers", "1")
    assert first.returncode == 0 and "4 ok and 0 failed now" in first.stdout
    assert "4/4" in first.stderr and "run/s" in first.stderr  # tqdm progress bar with rate/ETA
    with open(out / ".lock", "a+") as fh:  # another sweep holds the directory
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = cli("run", str(spec_path), "--out", str(out), "--workers", "1")
    assert res.returncode == 2 and "in use by another experiment run" in res.stderr


def test_resume_refused_when_the_model_changed(tmp_path, monkeypatch):
    model = tmp_path / "wrapped_model.py"
    model.write_text("from abm import simulate, load_scenario  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = parse_spec(SMALL.replace("seeds = 3", "seeds = 1"))
    out = tmp_path / "out"
    kw = dict(workers=1, progress=False, simulate="wrapped_model:simulate")
    assert experiments.run_experiment(spec, out, **kw).done == 4
    assert experiments.run_experiment(spec, out, **kw).skipped == 4  # unchanged: resumes
    model.write_text(model.read_text() + "# a change\n")
    with pytest.raises(ExperimentError, match="model's code or data changed"):
        experiments.run_experiment(spec, out, **kw)
    assert experiments.run_experiment(spec, out, allow_model_change=True, **kw).skipped == 4
    prov = json.loads((out / "provenance.json").read_text())
    fps = [s["model_fingerprint"] for s in prov["sessions"]]
    assert fps[0] == fps[1] != fps[2]


_real_simulate = abm.simulate


def flaky_simulate(scenario="baseline", *, steps=None, rng=0, **overrides):
    """The real model, made to fail for one parameter value (failure injection)."""
    if overrides.get("demand_elasticity") == 0.5 and overrides.get("alliance") is False:
        raise RuntimeError("injected failure\nsecond line")
    return _real_simulate(scenario, steps=steps, rng=rng, **overrides)


def test_failed_runs_recorded_and_sweep_goes_on(tmp_path):
    spec = parse_spec(SMALL)
    out = tmp_path / "out"
    summary = experiments.run_experiment(
        spec, out, workers=1, progress=False, simulate=f"{__name__}:flaky_simulate"
    )
    assert (summary.done, summary.failed) == (9, 3)
    runs = experiments.load_results(out)
    bad = runs[runs["status"] == "failed"]
    assert list(bad["point_id"].unique()) == [3]
    assert (bad["error"] == "RuntimeError: injected failure").all()
    assert bad["mean_price"].isna().all()
    again = experiments.run_experiment(
        spec, out, workers=1, progress=False, simulate=f"{__name__}:flaky_simulate"
    )
    assert (again.skipped, again.done, again.failed) == (12, 0, 0)
    # the real model is another model version than the failure-injecting wrapper
    fixed = experiments.run_experiment(
        spec, out, workers=1, progress=False, retry_failed=True, allow_model_change=True
    )
    assert (fixed.done, fixed.failed) == (3, 0)
    assert (experiments.load_results(out)["status"] == "ok").all()
    report = make_report(out).read_text()
    assert "Failed runs" not in report


def test_atomic_write_leaves_no_temporary(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / ".p1.parquet.999.abc.tmp").write_bytes(b"partial")
    store.write_run(tmp_path, {"run_id": "p1", "status": "ok"}, pd.DataFrame({"a": [1.0]}))
    assert store.clean_temporary(tmp_path) == 1
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["p1.parquet"]
    assert store.read_record(tmp_path / "runs" / "p1.parquet")["status"] == "ok"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_same_results_with_1_and_2_workers_and_dask(tmp_path):
    from distributed import LocalCluster

    spec = parse_spec(SMALL.replace("seeds = 3", "seeds = 2"))
    a, b, c = tmp_path / "w1", tmp_path / "w2", tmp_path / "dask"
    experiments.run_experiment(spec, a, workers=1, progress=False)
    experiments.run_experiment(spec, b, workers=2, progress=False)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        summary = experiments.run_experiment(
            spec, c, scheduler=cluster.scheduler_address, progress=False
        )
        assert summary.workers == 2
    ra, ta = comparable(a)
    for other in (b, c):
        rb, tb = comparable(other)
        pd.testing.assert_frame_equal(ra, rb)
        pd.testing.assert_frame_equal(ta, tb)
    workers = {w.split(":")[1] for w in experiments.load_results(b)["worker"]}
    assert len(workers) == 2 and str(os.getpid()) not in workers  # really two processes
    prov = json.loads((c / "provenance.json").read_text())
    assert prov["sessions"][0]["scheduler"] == cluster.scheduler_address


@pytest.mark.slow
def test_sigkill_then_resume_gives_exactly_the_full_set(tmp_path):
    text = (SMALL.replace("seeds = 3", "seeds = 6").replace("steps = 8", "steps = 14")
            + "\n[store]\nconsolidate = true\n")
    spec_path = write_spec(tmp_path, text)
    spec = parse_spec(text)
    expected = {t.run_id for t in spec.tasks()}  # 24 runs
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "experiments",
            "run",
            str(spec_path),
            "--out",
            str(out),
            "--workers",
            "2",
            "--no-progress",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(store.finished_run_ids(out)) < 4:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep: parent and workers
    proc.wait(timeout=30)
    done_before = store.finished_run_ids(out)
    assert 4 <= len(done_before) < len(expected), "the kill must land mid-sweep"

    res = cli("run", str(spec_path), "--out", str(out), "--workers", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert f"{len(done_before)} already done" in res.stdout
    assert store.finished_run_ids(out) == expected
    assert not list(out.rglob("*.tmp")), "no temporaries left"
    assert not list(store.runs_dir(out).glob("*.parquet")), "all ok runs consolidated"
    ts = experiments.load_timeseries(out)
    assert (ts.groupby("run_id").size() == 14).all()  # every run complete and readable
    # identical to an uninterrupted sweep
    ref = tmp_path / "ref"
    experiments.run_experiment(spec, ref, workers=1, progress=False)
    ra, ta = comparable(out)
    rb, tb = comparable(ref)
    pd.testing.assert_frame_equal(ra, rb)
    pd.testing.assert_frame_equal(ta, tb)


# -- sensitivity ------------------------------------------------------------------------------
SOBOL = """
[experiment]
name = "sobol-small"
scenario = "baseline"
steps = 6
root_seed = 1
seeds = 1

[fixed]
n_firms = 8

[sweep]
design = "{design}"
samples = 4
{extra}

[sweep.parameters]
demand_elasticity = {{ min = 0.05, max = 1.0 }}
hoarding_sensitivity = {{ min = 0.0, max = 12.0 }}

[[metrics]]
name = "mean_price"
column = "price_light_world"
stat = "mean"
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("design", "extra", "cols"),
    [
        ("sobol", "", ["S1", "S1_conf", "ST", "ST_conf"]),
        ("morris", "levels = 4", ["mu_star", "mu_star_conf", "mu", "sigma"]),
    ],
)
def test_sensitivity_report(tmp_path, design, extra, cols):
    spec = parse_spec(SOBOL.format(design=design, extra=extra))
    out = tmp_path / design
    experiments.run_experiment(spec, out, workers=2, progress=False)
    res = cli("report", str(out))
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out / "report" / "sensitivity.csv")
    assert list(table["parameter"]) == ["demand_elasticity", "hoarding_sensitivity"]
    assert set(cols) <= set(table.columns)
    assert np.isfinite(table[cols[0]]).all()
    assert (out / "report" / "sensitivity_mean_price.png").stat().st_size > 5000
    assert "## Sensitivity" in (out / "report" / "report.md").read_text()


# -- validation -------------------------------------------------------------------------------
@pytest.mark.slow
def test_validate_overlays_history(tmp_path):
    have = set(abm.list_scenarios())
    assert {"quota_2010", "controls_2025"} <= have
    res = cli("validate", "--seeds", "1", "--out", str(tmp_path / "val"), "--no-progress")
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(tmp_path / "val" / "validation.csv")
    scored = table.dropna(subset=["model_mean"])
    assert {"price_light_world", "price_heavy_world", "china_import_share_japan"} <= set(
        scored["variable"]
    )
    row = scored[(scored["variable"] == "price_light_world") & (scored["date"] == "2011-07")]
    assert len(row) == 1 and row["error"].iloc[0] == pytest.approx(
        row["model_mean"].iloc[0] - 450.0
    )
    for name in ("prices", "exports", "dependence"):
        assert (tmp_path / "val" / f"validate_{name}.png").stat().st_size > 5000
    assert "MAPE" in (tmp_path / "val" / "validation.md").read_text()
    # China's exports are scored through the REO column against the quotas
    quota = scored[scored["variable"] == "china_export_quota_t"]
    assert set(quota["date"].astype(str)) >= {"2010", "2011", "2012"}


def test_validation_figure_draws_aliased_yearly_flows(tmp_path, monkeypatch):
    import matplotlib.figure

    from experiments import validate as val

    months = [f"{y}-{m:02d}" for y in (2010, 2011) for m in range(1, 13)]
    ts = pd.DataFrame({
        "run_id": np.repeat(["a", "b"], len(months)),
        "date": months * 2,
        "china_exports_reo": np.r_[np.full(24, 2500.0), np.full(24, 2600.0)],
    })
    obs = pd.DataFrame({"date": ["2010", "2011"], "variable": ["china_export_quota_t"] * 2,
                        "value": [30258.0, 30184.0], "unit": ["t REO/yr"] * 2,
                        "source": ["facts"] * 2})
    drawn = {}

    def record(fig, path, **kwargs):
        ax = fig.axes[0]
        drawn["lines"] = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
        drawn["ylabel"] = ax.get_ylabel()

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    assert val._figure("exports", ("china_export_quota_t",), {"quota_2010": ts}, obs,
                       tmp_path / "x.png")
    (label, ydata), = drawn["lines"].items()
    assert "china_exports_reo" in label and "yearly total" in label
    # yearly totals per run (12 x 2500 and 12 x 2600), averaged over the runs
    assert np.allclose(ydata, [30600.0, 30600.0])
    assert drawn["ylabel"] == "t REO/yr"


# -- mesa.batch_run -----------------------------------------------------------------------------
def test_model_works_with_mesa_batch_run():
    from mesa.batchrunner import batch_run

    rows = batch_run(
        abm.RareEarthModel,
        parameters={"scenario": "baseline", "n_firms": 8, "alliance": [True, False]},
        rng=[3, 4],
        max_steps=5,
        number_processes=1,
        data_collection_period=1,
        display_progress=False,
    )
    frame = pd.DataFrame(rows)
    assert set(frame["alliance"]) == {True, False} and len(frame["RunId"].unique()) == 4
    ref = abm.simulate("baseline", steps=5, rng=3, n_firms=8, alliance=False)
    run = frame[(frame["alliance"] == False) & (frame["rng"] == 3)]  # noqa: E712
    last = run[run["Step"] == run["Step"].max()].iloc[-1]
    assert last["price_light_world"] == pytest.approx(ref["price_light_world"].iloc[-1])


# -- robustness -------------------------------------------------------------------------------

_values = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(-2, 2), max_size=3),
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["name", "scenario", "steps", "seeds", "root_seed", "bogus"]), _values
    ),
    st.dictionaries(st.sampled_from(["design", "samples", "levels", "parameters"]), _values),
    st.dictionaries(st.sampled_from(["name", "column", "stat", "start", "threshold"]), _values),
)
def test_any_spec_content_parses_or_fails_with_one_line(exp, sweep, metric):
    def toml_value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if isinstance(v, list):
            return "[" + ", ".join(map(str, v)) + "]"
        return repr(v)

    def table(name, d):
        return f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in d.items())

    text = (
        table("experiment", exp)
        + table("sweep", sweep)
        + "[[metrics]]\n"
        + table("x", metric).removeprefix("[x]\n")
    )
    try:
        spec = parse_spec(text)
    except SpecError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert spec.tasks()


# -- issue 13: bugs 2-8 ---------------------------------------------------------------------
HOOKS = "tests.experiment_hooks"

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
"""


@pytest.mark.slow
@pytest.mark.timeout(300)  # a fresh-clone run once hung here (see experiments.runner.DaskPool)
def test_dask_worker_importing_other_code_refuses_to_run(tmp_path, monkeypatch):
    """Bug 2: a worker whose `abm`/hook differs from the submitter's must not run."""
    from distributed import Client, LocalCluster

    from experiments.errors import CodeMismatchError

    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for d, note in ((mine, "# the submitter's checkout\n"), (theirs, "# another checkout\n")):
        d.mkdir()
        (d / "hook_model.py").write_text("from abm import simulate, load_scenario  # noqa\n" + note)
    monkeypatch.syspath_prepend(str(mine))
    spec = parse_spec(SMALL.replace("seeds = 3", "seeds = 1"))
    out = tmp_path / "out"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: sys.path.insert(0, str(theirs)))  # the worker sees the other one
        with pytest.raises(CodeMismatchError) as err:
            experiments.run_experiment(spec, out, scheduler=cluster.scheduler_address,
                                       progress=False, simulate="hook_model:simulate")
    msg = str(err.value)
    assert "imports other model code than the submitter" in msg and "\n" not in msg
    assert store.finished_run_ids(out) == set()  # nothing ran


def test_scenario_file_given_by_path_is_part_of_the_fingerprint(tmp_path):
    """Bug 3: edit one's own scenario TOML, resume: refused, not mixed."""
    scen = tmp_path / "my_world.toml"
    scen.write_text((ROOT / "abm" / "scenarios" / "baseline.toml").read_text())
    spec_path = write_spec(
        tmp_path, SMALL.replace('scenario = "baseline"', 'scenario = "my_world.toml"')
        .replace("seeds = 3", "seeds = 1")
    )
    spec = experiments.load_spec(spec_path)
    assert spec.scenario == str(scen)  # relative to the spec's folder
    out = tmp_path / "out"
    assert experiments.run_experiment(spec, out, workers=1, progress=False).done == 4
    assert experiments.run_experiment(spec, out, workers=1, progress=False).skipped == 4
    scen.write_text(scen.read_text() + "\n# an edit\n")
    with pytest.raises(ExperimentError, match="model's code or data changed"):
        experiments.run_experiment(experiments.load_spec(spec_path), out, workers=1,
                                   progress=False)


def test_simulate_hook_fingerprint_covers_the_abm_package(tmp_path, monkeypatch):
    """Bug 3: a hook's fingerprint must change when the model package changes."""
    import types

    from experiments.fingerprint import code_fingerprint

    hook = tmp_path / "thin_hook.py"
    hook.write_text("def simulate(*a, **k):\n    return None\n")
    fake = tmp_path / "fakeabm"
    fake.mkdir()
    (fake / "__init__.py").write_text("x = 1\n")
    (fake / "model.py").write_text("A = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "abm", types.SimpleNamespace(
        __name__="abm", __file__=str(fake / "__init__.py")))
    before = code_fingerprint("thin_hook:simulate")
    (fake / "model.py").write_text("A = 2\n")  # only the model changes, not the hook
    assert code_fingerprint("thin_hook:simulate") != before


def test_report_follows_edited_report_section_after_resume(tmp_path):
    """Bug 4: [report] variables edited between runs must be used by the report."""
    base = SMALL.replace("seeds = 3", "seeds = 1") + '\n[report]\nvariables = ["n_blocs"]\n'
    out = tmp_path / "out"
    experiments.run_experiment(parse_spec(base), out, workers=1, progress=False)
    edited = base.replace('variables = ["n_blocs"]', 'variables = ["shortage_usa"]')
    again = experiments.run_experiment(parse_spec(edited), out, workers=1, progress=False)
    assert again.skipped == 4
    report = make_report(out)
    assert (report.parent / "ts_shortage_usa.png").is_file()
    assert not (report.parent / "ts_n_blocs.png").exists()
    assert (out / "spec.toml").read_text() == edited
    prov = json.loads((out / "provenance.json").read_text())
    assert [s["spec_updated"] for s in prov["sessions"]] == [False, True]


def test_metric_window_outside_the_run_is_refused(tmp_path):
    """Bug 6: a window the run never reaches would be all-NaN; say so before running."""
    text = SMALL.replace('start = "2024-03"', 'start = "2030-01"\nend = "2030-12"')
    out = tmp_path / "out"
    with pytest.raises(ExperimentError) as err:
        experiments.run_experiment(parse_spec(text), out, workers=1, progress=False)
    msg = str(err.value)
    assert "'cum_short' reads 2030-01..2030-12, outside the run" in msg
    assert "2024-01..2024-08" in msg and not out.exists()
    steps = SMALL.replace('start = "2024-03"', "start = 8")  # steps 0..7 exist
    with pytest.raises(ExperimentError, match="outside the run"):
        experiments.run_experiment(parse_spec(steps), out, workers=1, progress=False)
    # a window that overlaps the run is fine
    ok = SMALL.replace('start = "2024-03"', 'start = "2024-06"\nend = "2031-01"')
    from experiments.runner import preflight

    preflight(parse_spec(ok))


def test_failed_run_keeps_its_traceback(tmp_path):
    """Bug 7: the whole traceback is kept, the error column stays one line."""
    out = tmp_path / "out"
    experiments.run_experiment(parse_spec(SMALL), out, workers=1, progress=False,
                               simulate=f"{__name__}:flaky_simulate")
    bad = experiments.load_results(out).query("status == 'failed'")
    assert len(bad) == 3
    tb = bad["traceback"].iloc[0]
    assert tb.startswith("Traceback (most recent call last)")
    assert "in flaky_simulate" in tb and "second line" in tb
    assert (bad["error"] == "RuntimeError: injected failure").all()
    report = make_report(out)
    assert "in flaky_simulate" in (report.parent / "failed_runs.txt").read_text()


def _docstring_spec() -> str:
    import textwrap

    from experiments import spec as spec_module

    block = spec_module.__doc__.split("::", 1)[1].split("\nSampler designs", 1)[0]
    return textwrap.dedent(block)


def test_spec_docstring_example_is_a_valid_spec():
    """Bug 8: the documented example must parse and pass the model's check."""
    from experiments.runner import preflight

    spec = parse_spec(_docstring_spec())
    assert spec.parameters["demand_elasticity"] == [0.1, 0.4]
    preflight(spec)


def test_factorial_spec_reaches_the_co_financed_plant():
    """Bug 8: the alliance question needs the horizon to reach the plant the alliance pays."""
    import tomllib

    scen = tomllib.loads((ROOT / "abm" / "scenarios" / "controls_2025.toml").read_text())
    plant = next(e for e in scen["events"] if e["action"] == "co_invest")
    y, m = map(int, plant["date"].split("-"))
    k = m - 1 + plant["lead_months"]
    online = f"{y + k // 12:04d}-{k % 12 + 1:02d}"  # 2026-04 + 36 months = 2029-04
    spec = experiments.load_spec(ROOT / "experiments" / "specs" / "factorial.toml")
    y0, m0 = map(int, scen["start"].split("-"))
    k = m0 - 1 + spec.steps - 1
    last = f"{y0 + k // 12:04d}-{k % 12 + 1:02d}"
    assert last > online, f"the runs end {last}, before the plant is online ({online})"
    after = [mt for mt in spec.metrics if isinstance(mt.start, str) and mt.start >= online]
    assert after, "a metric must look at the months after the plant comes online"


# -- custom outcomes ------------------------------------------------------------------------
def test_custom_outcome_gets_the_windowed_frame_and_event_log(tmp_path):
    text = ARMS + f"""
[[metrics]]
name = "w"
function = "{HOOKS}:window_outcome"
args = {{ scale = 2.0 }}
start = 1
"""
    out = tmp_path / "out"
    summary = experiments.run_experiment(parse_spec(text), out, workers=1, progress=False,
                                         simulate=f"{HOOKS}:arm_model")
    assert summary.done == 18
    runs = experiments.load_results(out)
    row = runs[(runs["arm"] == "b") & (runs["level"] == 1) & (runs["seed"] == 22)].iloc[0]
    # window = step 1 only: v = 4.0 (ARM_TABLE), times scale 2; one event (the USA's, step 1)
    assert row["w_total"] == 8.0 and row["w_events"] == 1.0
    events = experiments.load_events(out)
    assert len(events) == 36 and set(events["actor"]) == {"CHN", "USA"}


def test_custom_outcome_returning_text_fails_the_run_with_a_clear_error(tmp_path):
    text = ARMS + f'\n[[metrics]]\nname = "bad"\nfunction = "{HOOKS}:bad_outcome"\n'
    out = tmp_path / "out"
    s = experiments.run_experiment(parse_spec(text), out, workers=1, progress=False,
                                   simulate=f"{HOOKS}:arm_model")
    assert s.failed == 18
    err = experiments.load_results(out)["error"].iloc[0]
    assert "returned str 'not a number', not a number or a dict of numbers" in err


def test_ready_made_outcomes_on_a_real_run():
    from experiments.metrics import compute_metrics
    from experiments.outcomes import count_events, price_gap, spell_lengths

    model = abm.RareEarthModel(scenario="controls_2025", rng=3, n_firms=20)
    for _ in range(24):
        model.step()
    frame, events = model.results_frame(), model.event_log_frame()
    by_hand = sum(1 for e in model.event_log if e["actor"] == "CHN" and e["action"] == "export")
    assert count_events(frame, events, actor="CHN", action="export") == by_hand > 0
    short = frame["shortage_japan"].to_numpy() > 0
    runs, k = [], 0
    for s in short:  # spells counted by hand
        k = k + 1 if s else 0
        if s:
            runs.append(k)
    spells = spell_lengths(frame, events, column="shortage_japan")
    assert spells["longest"] == (max(runs) if runs else 0)
    gap = float(np.mean(frame["price_heavy_world"] / frame["price_heavy_china"] - 1))
    assert price_gap(frame, events, product="heavy") == pytest.approx(gap)
    got = compute_metrics(frame, [Metric("n", "", "", "2025-01", "2025-12", None,
                                         "experiments.outcomes:count_events",
                                         (("actor", "CHN"),))], events)
    assert got["n"] == sum(1 for e in model.event_log
                           if e["actor"] == "CHN" and "2025-01" <= e["date"] <= "2025-12")


def test_custom_outcome_module_is_part_of_the_fingerprint(tmp_path, monkeypatch):
    mod = tmp_path / "my_outcomes.py"
    mod.write_text("def total(frame, events):\n    return float(frame['v'].sum())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = ARMS + '\n[[metrics]]\nname = "t"\nfunction = "my_outcomes:total"\n'
    out = tmp_path / "out"
    kw = dict(workers=1, progress=False, simulate=f"{HOOKS}:arm_model")
    experiments.run_experiment(parse_spec(text), out, **kw)
    mod.write_text(mod.read_text() + "# edited\n")
    with pytest.raises(ExperimentError, match="custom outcome's module"):
        experiments.run_experiment(parse_spec(text), out, **kw)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ARMS + '\n[[metrics]]\nname = "f"\nfunction = "nomodule"\n', "'module:callable'"),
        (ARMS + '\n[[metrics]]\nname = "f"\nfunction = "a:b"\nstat = "mean"\n',
         "stat does not apply to a custom outcome"),
        (ARMS + '\n[[metrics]]\nname = "f"\nfunction = "a:b"\nargs = 3\n', "args must be a table"),
        (ARMS.replace("[sweep]", "[fixed]\n\"event.x\" = 1\n\n[sweep]"), "event.<id>.<field>"),
        (ARMS + '\n[store]\ncolumns = ["v"]\nmetrics_only = true\n', "not both"),
        (ARMS + '\n[report]\ncontrast = "nope"\n', "not a swept parameter"),
        (ARMS + '\n[report]\ncontrast = "arm"\nbaseline = "z"\n', "not one of the values"),
        (ARMS + '\n[report]\nbaseline = "a"\n', "baseline needs contrast"),
    ],
)
def test_new_spec_keys_one_line_errors(text, message):
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_custom_outcome_that_cannot_be_imported_is_refused_before_running(tmp_path):
    text = ARMS + '\n[[metrics]]\nname = "f"\nfunction = "no_such_module_x:f"\n'
    with pytest.raises(ExperimentError, match="cannot load no_such_module_x:f"):
        experiments.run_experiment(parse_spec(text), tmp_path / "o", workers=1,
                                   progress=False, simulate=f"{HOOKS}:arm_model")
    assert not (tmp_path / "o").exists()


# -- event fields and payoff weights as parameters (spec side) -------------------------------
def test_event_keys_quoted_or_nested_give_the_same_spec():
    quoted = SMALL.replace("[fixed]\n", '[fixed]\n"event.quota_2011.tonnes_per_yr" = 20000\n')
    nested = SMALL.replace("[fixed]\nn_firms = 8\n",
                           "[fixed]\nn_firms = 8\n\n[fixed.event.quota_2011]\n"
                           "tonnes_per_yr = 20000\n")
    a, b = parse_spec(quoted), parse_spec(nested)
    assert a.fixed == b.fixed == {"event.quota_2011.tonnes_per_yr": 20000, "n_firms": 8} | {}
    swept = SMALL.replace("alliance = [true, false]",
                          '"event.floor.date" = ["2025-07", "2026-01"]')
    s = parse_spec(swept)
    assert s.parameters["event.floor.date"] == ["2025-07", "2026-01"]
    assert {t.overrides["event.floor.date"] for t in s.tasks()} == {"2025-07", "2026-01"}


def test_every_point_is_validated_with_load_scenario(tmp_path, monkeypatch):
    """The model's load_scenario sees every point's overrides, event keys included."""
    mod = tmp_path / "recording_model.py"
    mod.write_text(
        "import abm\n"
        "CALLS = []\n"
        "def _model_keys(kw):\n"
        "    return {k: v for k, v in kw.items() if not k.startswith('event.')}\n"
        "def load_scenario(scenario, **kw):\n"
        "    CALLS.append(dict(kw))\n"
        "    return abm.load_scenario(scenario, **_model_keys(kw))\n"
        "def simulate(scenario, **kw):\n"
        "    return abm.simulate(scenario, **_model_keys(kw))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = SMALL.replace("alliance = [true, false]", '"event.q.tonnes_per_yr" = [1000, 2000]')
    import recording_model

    from experiments.runner import preflight

    preflight(parse_spec(text), simulate="recording_model:simulate")
    seen = [c for c in recording_model.CALLS if c]  # without overrides: the horizon lookup
    assert sorted((c["event.q.tonnes_per_yr"], c["demand_elasticity"]) for c in seen) == [
        (1000, 0.1), (1000, 0.5), (2000, 0.1), (2000, 0.5)]
    assert all(c["n_firms"] == 8 for c in seen)


def test_unknown_event_key_is_refused_by_the_model_in_one_line(tmp_path):
    text = SMALL.replace("[fixed]\n", '[fixed]\n"event.no_such_event.tonnes_per_yr" = 1\n')
    with pytest.raises(ExperimentError) as err:
        experiments.run_experiment(parse_spec(text), tmp_path / "o", workers=1, progress=False)
    assert "no_such_event" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "o").exists()
