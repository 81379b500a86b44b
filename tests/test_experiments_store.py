"""Storage of large sweeps (issue 13 item 7): [store] choices, consolidation, the plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

import experiments
from experiments import store
from experiments.errors import ExperimentError
from experiments.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]

SMALL = """
[experiment]
name = "store-small"
scenario = "baseline"
steps = 6
root_seed = 4
seeds = 2

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
"""


def comparable(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = experiments.load_results(out).drop(
        columns=["runtime_s", "started", "finished", "worker"])
    return runs, experiments.load_timeseries(out)


def test_consolidated_results_equal_the_run_files(tmp_path):
    loose = parse_spec(SMALL + "\n[store]\nconsolidate = false\n")
    packed = parse_spec(SMALL + "\n[store]\nconsolidate = true\n")
    a, b = tmp_path / "loose", tmp_path / "packed"
    experiments.run_experiment(loose, a, workers=1, progress=False)
    s = experiments.run_experiment(packed, b, workers=1, progress=False)
    assert s.consolidated == 8
    assert len(list(store.runs_dir(a).glob("*.parquet"))) == 8
    assert not list(store.runs_dir(b).glob("*.parquet"))
    ra, ta = comparable(a)
    rb, tb = comparable(b)
    pd.testing.assert_frame_equal(ra, rb)
    pd.testing.assert_frame_equal(ta, tb)
    pd.testing.assert_frame_equal(experiments.load_events(a), experiments.load_events(b))
    # a plain hive-partitioned Parquet dataset that other tools open
    dataset = ds.dataset(b / "dataset" / "timeseries", format="parquet", partitioning="hive")
    table = dataset.to_table().to_pandas()
    assert len(table) == 8 * 6 and set(table["part"]) == {0}
    assert {"run_id", "point_id", "seed_index", "seed", "alliance",
            "demand_elasticity", "price_light_world"} <= set(table.columns)
    one = table[table["run_id"] == "p00001-s001"].sort_values("step")
    ref = tb[tb["run_id"] == "p00001-s001"]
    assert list(one["price_light_world"]) == list(ref["price_light_world"])
    # resuming a consolidated directory finds everything done
    assert experiments.run_experiment(packed, b, workers=1, progress=False).skipped == 8


def test_metrics_only_and_columns(tmp_path):
    only = parse_spec(SMALL + "\n[store]\nmetrics_only = true\n")
    cols = parse_spec(SMALL + '\n[store]\ncolumns = ["price_light_world"]\n'
                      '\n[report]\nvariables = ["price_light_world"]\n')
    full = parse_spec(SMALL + "\n[store]\nconsolidate = false\n")
    for spec, name in ((only, "only"), (cols, "cols"), (full, "full")):
        experiments.run_experiment(spec, tmp_path / name, workers=1, progress=False)
    r_only, r_full = comparable(tmp_path / "only")[0], comparable(tmp_path / "full")[0]
    pd.testing.assert_frame_equal(r_only, r_full)  # the metrics are all there
    assert experiments.load_timeseries(tmp_path / "only").empty
    ts = experiments.load_timeseries(tmp_path / "cols")
    assert [c for c in ts.columns if c not in ("run_id", "point_id", "seed_index", "seed",
                                               "scenario", "alliance", "demand_elasticity")] \
        == ["date", "step", "price_light_world"]
    with pytest.raises(ExperimentError, match="no column 'shortage_usa' \\(not stored\\)"):
        experiments.load_timeseries(tmp_path / "cols", columns=["shortage_usa"])

    def size(d: Path) -> int:
        return sum(p.stat().st_size for p in d.rglob("*.parquet"))

    assert size(tmp_path / "only") < size(tmp_path / "cols") < size(tmp_path / "full")
    assert experiments.make_report(tmp_path / "cols").is_file()


def test_store_columns_are_checked_before_running(tmp_path):
    bad = parse_spec(SMALL + '\n[store]\ncolumns = ["no_such_column"]\n')
    with pytest.raises(ExperimentError, match="\\[store\\] column 'no_such_column'"):
        experiments.run_experiment(bad, tmp_path / "o", workers=1, progress=False)
    hidden = parse_spec(SMALL + '\n[store]\ncolumns = ["price_light_world"]\n'
                        '\n[report]\nvariables = ["shortage_usa"]\n')
    with pytest.raises(ExperimentError, match="not kept by \\[store\\]"):
        experiments.run_experiment(hidden, tmp_path / "o", workers=1, progress=False)
    assert not (tmp_path / "o").exists()


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_consolidation_interrupted_at_each_step_resumes_exactly(tmp_path, monkeypatch):
    """A consolidation stopped before its commit, or after it, loses and repeats nothing."""
    spec = parse_spec(SMALL + "\n[store]\nconsolidate = false\n")
    ref = tmp_path / "ref"
    experiments.run_experiment(spec, ref, workers=1, progress=False)
    params = ["alliance", "demand_elasticity"]
    for crash in ("before_manifest", "after_manifest"):
        out = tmp_path / crash
        experiments.run_experiment(spec, out, workers=1, progress=False)
        real_write_json, real_unlink = store.write_json, Path.unlink

        def boom_write(path, obj, _real=real_write_json):
            if path.name == store.MANIFEST:
                raise KeyboardInterrupt  # the process dies before the commit
            return _real(path, obj)

        def boom_unlink(self, *a, _real=real_unlink, **k):
            if self.suffix == ".parquet" and self.parent.name == store.RUNS:
                raise KeyboardInterrupt  # dies right after the commit
            return _real(self, *a, **k)

        with monkeypatch.context() as m:
            if crash == "before_manifest":
                m.setattr(store, "write_json", boom_write)
            else:
                m.setattr(Path, "unlink", boom_unlink)
            with pytest.raises(KeyboardInterrupt):
                store.consolidate(out, params)
        if crash == "before_manifest":  # an orphan part, every run file still there
            assert (out / "dataset" / "timeseries" / "part=00000").is_dir()
            assert store.consolidated_run_ids(out) == set()
        else:  # committed; the run files are still there too
            assert len(store.consolidated_run_ids(out)) == 8
            assert len(list(store.runs_dir(out).glob("*.parquet"))) == 8
        assert store.finished_run_ids(out) == store.finished_run_ids(ref)
        pd.testing.assert_frame_equal(comparable(out)[1], comparable(ref)[1])
        assert store.consolidate(out, params) == (8 if crash == "before_manifest" else 0)
        assert not list(store.runs_dir(out).glob("*.parquet"))
        assert [p["part"] for p in store.read_manifest(out)["parts"]] == [0]
        ra, ta = comparable(out)
        rb, tb = comparable(ref)
        pd.testing.assert_frame_equal(ra, rb)
        pd.testing.assert_frame_equal(ta, tb)


def test_failed_runs_stay_as_files_and_retry_into_a_new_part(tmp_path):
    from tests.test_experiments import flaky_simulate  # noqa: F401 - the hook's module

    spec = parse_spec(SMALL + "\n[store]\nconsolidate = true\n")
    out = tmp_path / "out"
    s = experiments.run_experiment(spec, out, workers=1, progress=False,
                                   simulate="tests.test_experiments:flaky_simulate")
    assert (s.done, s.failed) == (6, 2)
    assert {p.stem for p in store.runs_dir(out).glob("*.parquet")} == {
        "p00003-s000", "p00003-s001"}
    fixed = experiments.run_experiment(spec, out, workers=1, progress=False,
                                       retry_failed=True, allow_model_change=True)
    assert (fixed.done, fixed.consolidated) == (2, 2)
    assert [len(p["runs"]) for p in store.read_manifest(out)["parts"]] == [6, 2]
    assert (experiments.load_results(out)["status"] == "ok").all()


def test_plan_counts_times_and_writes_nothing(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "spec.toml").write_text(SMALL)
    before = _files(work)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    res = subprocess.run([sys.executable, "-m", "experiments", "plan", "spec.toml",
                          "--workers", "2", "--timed-runs", "2"], cwd=work,
                         capture_output=True, text=True, timeout=300, env=env,
                         )
    assert res.returncode == 0, res.stderr
    assert _files(work) == before, "plan must not write anything"
    assert not (tmp_path / "mpl").exists()
    text = res.stdout
    assert "runs: 8 = 4 point(s) x 2 seed(s); 0 already done, 8 to do" in text
    assert "mean of 2 timed run(s)" in text and "with 2 worker(s)" in text
    # the storage estimate against the real thing
    from experiments.plan import plan_spec

    spec = experiments.load_spec(work / "spec.toml")
    plan = plan_spec(spec, workers=2, timed_runs=2)
    loose = tmp_path / "loose"
    experiments.run_experiment(parse_spec(SMALL + "\n[store]\nconsolidate = false\n"), loose,
                               workers=1, progress=False)
    files = list(store.runs_dir(loose).glob("*.parquet"))
    actual = sum(p.stat().st_size for p in files) / len(files)
    assert plan.run_file_bytes == pytest.approx(actual, rel=0.1)
    packed, packed_spec = tmp_path / "packed", parse_spec(SMALL + "\n[store]\nconsolidate = true\n")
    experiments.run_experiment(packed_spec, packed, workers=1, progress=False)
    actual_ds = sum(p.stat().st_size for p in (packed / "dataset").rglob("*.parquet"))
    assert plan.dataset_bytes == pytest.approx(actual_ds, rel=0.3)
    # with --out: only what is missing
    again = plan_spec(packed_spec, workers=2, timed_runs=1, out=packed)
    assert (again.done, again.todo) == (8, 0)


def test_plan_of_a_bad_spec_is_one_line(tmp_path):
    (tmp_path / "bad.toml").write_text(SMALL.replace("n_firms = 8", "n_firmz = 8"))
    res = subprocess.run([sys.executable, "-m", "experiments", "plan", str(tmp_path / "bad.toml")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "n_firmz" in res.stderr


def test_manifest_is_plain_json(tmp_path):
    out = tmp_path / "o"
    experiments.run_experiment(parse_spec(SMALL + "\n[store]\nconsolidate = true\n"), out,
                               workers=1, progress=False)
    manifest = json.loads((out / "dataset" / "manifest.json").read_text())
    assert manifest["parts"][0]["runs"] == sorted(store.finished_run_ids(out))
