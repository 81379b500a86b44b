"""The command line and bad input: one clear line, exit code 2, no traceback, no file."""

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

import abm
from abm.__main__ import main


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "abm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_list_names_every_scenario():
    r = cli("list")
    assert r.returncode == 0
    for name in ("baseline", "quota_2010", "controls_2025", "strategic"):
        assert name in r.stdout


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_run_writes_results_and_events(tmp_path, ext):
    out = tmp_path / f"x.{ext}"
    r = cli("run", "--scenario", "controls_2025", "--steps", "20", "--seed", "1",
            "--set", "n_firms=50", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "price_light_world" in r.stdout and "policy events" in r.stdout
    df = pd.read_csv(out) if ext == "csv" else pd.read_parquet(out)
    assert len(df) == 20
    expected = abm.simulate("controls_2025", steps=20, rng=1, n_firms=50)
    pd.testing.assert_series_equal(df["price_light_world"], expected["price_light_world"],
                                   check_exact=False, rtol=1e-12)
    events = tmp_path / f"x.events.{ext}"
    ev = pd.read_csv(events) if ext == "csv" else pd.read_parquet(events)
    assert (ev["action"] == "export").any()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, events.name])


@pytest.mark.parametrize("args,needle", [
    (["run", "--scenario", "nope"], "unknown scenario 'nope'"),
    (["run", "--set", "foo=1"], "unknown parameter 'foo'"),
    (["run", "--set", "n_firms=abc"], "'n_firms' must be an integer"),
    (["run", "--set", "alliance=maybe"], "'alliance' must be true or false"),
    (["run", "--set", "demand_elasticity=-1"], "outside"),
    (["run", "--set", "n_firms"], "key=value"),
    (["run", "--steps", "x"], "--steps"),
    (["run", "--out", "x.txt"], ".csv or .parquet"),
    (["run", "--out", "no/such/dir/x.csv"], "does not exist"),
    (["fly"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2_no_file(tmp_path, args, needle):
    r = cli(*args, "--out", "y.csv", cwd=tmp_path) if args[0] == "run" and "--out" not in args \
        else cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def write_scenario(tmp_path: Path, body: str, data: dict | None = None) -> Path:
    if data is not None:
        d = tmp_path / "data"
        shutil.copytree(resources.files("abm") / "data", d)
        for name, edit in data.items():
            edit(d / name)
    f = tmp_path / "s.toml"
    f.write_text(body)
    return f


GOOD = 'start = "2024-01"\nhorizon_months = 3\ndata_year = 2024\n'


def test_scenario_file_of_ones_own_runs(tmp_path, capsys):
    f = write_scenario(tmp_path, GOOD + '[params]\nn_firms = 10\n')
    assert main(["run", "--scenario", str(f)]) == 0
    assert "3 months" in capsys.readouterr().out


def _negative_capacity(path: Path):
    text = path.read_text().replace("2024,MTWELD,Mt Weld (Lynas),AUS,13000",
                                    "2024,MTWELD,Mt Weld (Lynas),AUS,-13000")
    path.write_text(text)


def _broken_csv(path: Path):
    path.write_text(path.read_text().replace(",", ";", 3) + '\n"unclosed,quote\n')


@pytest.mark.parametrize("body,data,needle", [
    ('start = "2024-01"\nhorizon_months = = 3\n', None, "malformed scenario file"),
    ('start = "2024-13"\nhorizon_months = 3\ndata_year = 2024\n', None, "YYYY-MM"),
    (GOOD + "[params]\nn_firms = 'ten'\n", None, "'n_firms' must be an integer"),
    (GOOD + "[params]\nwibble = 1\n", None, "unknown parameter 'wibble'"),
    (GOOD + '[[events]]\ndate = "2024-02"\nactor = "CHN"\naction = "embargo"\n', None,
     "unknown action 'embargo'"),
    (GOOD + '[[events]]\ndate = "2024-02"\nactor = "CHN"\naction = "export"\n'
     'instrument = "quota"\n', None, "a quota needs tonnes_per_yr"),
    (GOOD + 'data_dir = "data"\n', {"mines.csv": _negative_capacity},
     "column 'capacity_t_reo_per_yr': expected a finite number within [0, 1e+09], got '-13000'"),
    (GOOD + 'data_dir = "data"\n', {"states.csv": _broken_csv}, "data file states.csv"),
    (GOOD.replace("2024\n", "1999\n"), None, "no rows for year 1999"),
])
def test_malformed_scenario_and_data_files(tmp_path, capsys, body, data, needle):
    f = write_scenario(tmp_path, body, data)
    out = tmp_path / "r.csv"
    assert main(["run", "--scenario", str(f), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_python_api_raises_input_error():
    with pytest.raises(abm.InputError, match="unknown scenario"):
        abm.simulate("nope")
    with pytest.raises(abm.InputError, match="unknown parameter"):
        abm.RareEarthModel(scenario="baseline", colour="red")
    with pytest.raises(abm.InputError, match="steps"):
        abm.simulate("baseline", steps=-1)


def test_model_failure_is_one_line_exit_1_nothing_written(tmp_path, monkeypatch, capsys):
    from abm.errors import ConservationError

    def broken_step(self):
        raise ConservationError("light: production 1.0 t != consumption + stock change 2.0 t")

    monkeypatch.setattr(abm.RareEarthModel, "step", broken_step)
    out = tmp_path / "x.csv"
    assert main(["run", "--steps", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ConservationError: light: production" in err
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_neither_file(tmp_path, monkeypatch, capsys):
    real = pd.DataFrame.to_parquet
    calls = []

    def full_disk_on_second_file(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the results were written; the event log fails
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk_on_second_file)
    out = tmp_path / "x.parquet"
    assert main(["run", "--steps", "2", "--out", str(out)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_closed_pipe_is_not_reported_as_a_write_error(tmp_path):
    r = subprocess.run(f"{sys.executable} -m abm run --steps 24 | head -c 10", shell=True,
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.stdout == "scenario b"
    assert "error" not in r.stderr and "Traceback" not in r.stderr
