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
SPECS = sorted((ROOT / "experiments" / "specs").glob("*.toml"))

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
    text = SMALL.replace("seeds = 3", "seeds = 6").replace("steps = 8", "steps = 14")
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
