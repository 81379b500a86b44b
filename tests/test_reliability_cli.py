"""The CLI's limits and exit codes for every case of issue 11, and its result pair on disk.

Contract (README): bad input is one line ``error: ...`` on stderr, exit code 2, no file; a
failure of the model or of the disk is one line and exit code 1, and the results and the event
log are then as they were before.
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import abm
from abm.__main__ import main
from abm.safeio import MAX_MONTHS, MAX_SCENARIO_BYTES


def cli(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "abm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def one_line_error(text: str, needle: str) -> None:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("error: "), text
    assert needle in lines[0], text


def run_main(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------- arguments

@pytest.mark.parametrize("args,needle", [
    (["--seed", "-1"], "argument --seed: expected an integer from 0 to 18446744073709551615, "
                       "got '-1'"),
    (["--seed", "18446744073709551616"], "from 0 to 18446744073709551615"),  # 2**64
    (["--seed", "1.5"], "in the digits 0-9, got '1.5'"),
    (["--seed", "\uff17"], "in the digits 0-9, got '\uff17'"),  # full-width 7
    (["--seed", "1_000"], "in the digits 0-9, got '1_000'"),
    (["--seed", "9" * 31], "in the digits 0-9"),
    (["--steps", str(MAX_MONTHS + 1)], f"argument --steps: expected an integer from 0 to "
                                       f"{MAX_MONTHS}, got '{MAX_MONTHS + 1}'"),
    (["--steps", "1000000000"], f"from 0 to {MAX_MONTHS}"),  # ~70 days and ~20 TB before
    (["--steps", "3000"], f"from 0 to {MAX_MONTHS}"),  # baseline to the year 2273 before
    (["--steps", "-3"], f"from 0 to {MAX_MONTHS}, got '-3'"),
    (["--steps", "\u0663"], "in the digits 0-9"),  # Arabic-Indic 3: int() takes it
    (["--set", "n_firms=20", "--set", "n_firms=30"],
     "--set n_firms is given twice (n_firms=20 and n_firms=30); give each parameter once"),
    (["--set", "alliance=true", "--set", " alliance =false"], "--set alliance is given twice"),
    (["--set", "n_firms=\uff12\uff10\uff10"],  # full-width 200
     "--set n_firms=\uff12\uff10\uff10: write numbers with the ASCII digits 0-9 (found "
     "'\uff12', U+FF12)"),
    (["--set", "demand_elasticity=0.\u0665"], "(found '\u0665', U+0665)"),
    (["--set", "free_from=\uff12\uff10\uff12\uff14-01"], "ASCII digits 0-9"),
    (["--set", "n_firms=2\u20030"], "U+2003"),  # an em space inside the number
])
def test_bad_arguments_are_one_line_exit_2_and_no_file(tmp_path, capsys, args, needle):
    out = tmp_path / "r.csv"
    code, stdout, err = run_main(capsys, "run", *args, "--out", str(out))
    assert code == 2
    one_line_error(err, needle)
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_python_int_would_take_what_the_cli_refuses():
    """The reason for the ASCII rule: these are all valid to int() and float()."""
    assert int("\uff12\uff10\uff10") == 200
    assert int("\u0663") == 3
    assert float("0.\u0665") == 0.5
    assert int("1_000") == 1000


def test_largest_seed_and_zero_steps_run(capsys):
    code, stdout, err = run_main(capsys, "run", "--steps", "1", "--seed", str(2**64 - 1),
                                 "--set", "n_firms=5")
    assert code == 0, err
    assert f"seed {2**64 - 1}" in stdout
    code, stdout, err = run_main(capsys, "run", "--steps", "0")
    assert code == 0 and "0 months" in stdout and err == ""


def test_non_ascii_text_values_are_not_taken_for_numbers(capsys):
    # letters outside ASCII are left to the parameter's own check (free_from wants YYYY-MM)
    code, _, err = run_main(capsys, "run", "--steps", "1", "--set", "free_from=m\u00e4rz")
    assert code == 2
    one_line_error(err, "free_from must be YYYY-MM, got 'm\u00e4rz'")


# ----------------------------------------------------------------------------- months

def test_steps_past_the_horizon_warn_that_the_run_extrapolates(capsys):
    horizon = abm.load_scenario("quota_2010").horizon_months  # 108 months from 2009-01
    assert horizon == 108
    code, stdout, err = run_main(capsys, "run", "--scenario", "quota_2010", "--steps",
                                 str(horizon + 2), "--set", "n_firms=20")
    assert code == 0
    assert err == ("warning: 110 months run past the scenario's horizon of 108 months (2009-01 "
                   "to 2017-12); from 2018-01 the model extrapolates beyond the period its data "
                   "and events describe\n")
    assert "110 months from 2009-01" in stdout


def test_no_warning_within_the_horizon(capsys):
    code, _, err = run_main(capsys, "run", "--scenario", "quota_2010", "--steps", "84",
                            "--set", "n_firms=20")
    assert code == 0 and err == ""


def test_a_scenario_horizon_beyond_the_cap_is_refused(tmp_path, capsys):
    f = tmp_path / "long.toml"
    f.write_text(f'start = "2024-01"\nhorizon_months = {10**12}\ndata_year = 2024\n')
    out = tmp_path / "r.csv"
    for extra in ((), ("--steps", "2")):
        code, _, err = run_main(capsys, "run", "--scenario", str(f), "--out", str(out), *extra)
        assert code == 2
        one_line_error(err, f"horizon_months must be an integer from 1 to {MAX_MONTHS}")
        assert listing(tmp_path) == ["long.toml"]


# ----------------------------------------------------------------------------- scenario files

def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def put(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("make,needle", [
    (lambda d: "/dev/zero", "scenario file '/dev/zero' is a character device, not a regular "
                            "file"),
    (lambda d: os.mkfifo(d / "fifo.toml") or str(d / "fifo.toml"),
     "fifo.toml' is a named pipe (FIFO), not a regular file"),
    (lambda d: (d / "dir.toml").mkdir() or str(d / "dir.toml"),
     "dir.toml' is a directory, not a regular file"),
    (lambda d: put(d / "ls.toml", Path(sys.executable).read_bytes()[:4096]),
     "ls.toml' is binary, not text (NUL byte at offset"),
    (lambda d: put(d / "latin1.toml", 'title = "M\xe4rz"\n'.encode("latin-1")),
     "latin1.toml' is not UTF-8 text (invalid byte at offset 10)"),
    (lambda d: put(d / "big.toml", b"#" * MAX_SCENARIO_BYTES + b"\n"),
     f"big.toml' has {MAX_SCENARIO_BYTES + 1:,} bytes, more than the limit of "
     f"{MAX_SCENARIO_BYTES:,}"),
    (lambda d: str(d / "missing.toml"), "missing.toml' not found"),
])
def test_scenario_that_is_not_a_text_file_is_exit_2_without_hanging(tmp_path, make, needle):
    scenario = make(tmp_path)
    before = listing(tmp_path)
    r = cli("run", "--scenario", scenario, "--out", str(tmp_path / "r.csv"), cwd=tmp_path)
    assert r.returncode == 2
    one_line_error(r.stderr, needle)
    assert r.stdout == ""
    assert listing(tmp_path) == before


# ----------------------------------------------------------------------------- the result pair

def test_events_path_that_is_a_directory_is_refused_before_the_run(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("old results\n")
    (tmp_path / "a.events.csv").mkdir()
    code, stdout, err = run_main(capsys, "run", "--steps", "2", "--out", str(tmp_path / "a.csv"))
    assert code == 2
    one_line_error(err, "a.events.csv': it is a directory")
    assert stdout == ""
    assert (tmp_path / "a.csv").read_text() == "old results\n"
    assert listing(tmp_path) == ["a.csv", "a.events.csv"]


@pytest.fixture
def events_rename_fails(monkeypatch):
    """The rename onto ``a.events.csv`` fails after ``a.csv`` was renamed into place."""
    real = os.replace
    seen = []

    def replace(src, dst, *args, **kwargs):
        seen.append(Path(dst).name)
        if Path(dst).name == "a.events.csv" and Path(src).parent != Path(dst).parent:
            raise OSError(30, "Read-only file system")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return seen


def test_failed_second_rename_keeps_the_old_pair(tmp_path, capsys, events_rename_fails):
    (tmp_path / "a.csv").write_text("old results\n")
    (tmp_path / "a.events.csv").write_text("old events\n")
    code, _, err = run_main(capsys, "run", "--steps", "2", "--out", str(tmp_path / "a.csv"))
    assert code == 1
    one_line_error(err, "cannot write the results: [Errno 30] Read-only file system")
    assert events_rename_fails[:2] == ["a.csv", "a.events.csv"]  # the first one went through
    assert (tmp_path / "a.csv").read_text() == "old results\n"
    assert (tmp_path / "a.events.csv").read_text() == "old events\n"
    assert listing(tmp_path) == ["a.csv", "a.events.csv"]


def test_failed_second_rename_with_no_old_pair_leaves_no_file(tmp_path, capsys,
                                                              events_rename_fails):
    code, _, err = run_main(capsys, "run", "--steps", "2", "--out", str(tmp_path / "a.csv"))
    assert code == 1
    assert "a.csv" in events_rename_fails
    assert listing(tmp_path) == []


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_results_get_the_users_umask_new_and_replaced(tmp_path, capsys, ext):
    out, events = tmp_path / f"a.{ext}", tmp_path / f"a.events.{ext}"
    saved = os.umask(0o022)
    try:
        assert main(["run", "--steps", "2", "--set", "n_firms=10", "--out", str(out)]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        assert stat.S_IMODE(events.stat().st_mode) == 0o644
        first = out.stat().st_ino
        assert main(["run", "--steps", "3", "--set", "n_firms=10", "--out", str(out)]) == 0
        assert out.stat().st_ino != first  # replaced by a new file, not rewritten in place
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        assert stat.S_IMODE(events.stat().st_mode) == 0o644
        os.umask(0o077)
        assert main(["run", "--steps", "1", "--set", "n_firms=10", "--out", str(out)]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    finally:
        os.umask(saved)
    capsys.readouterr()
    df = pd.read_csv(out) if ext == "csv" else pd.read_parquet(out)
    assert len(df) == 1
    assert listing(tmp_path) == sorted([out.name, events.name])


def test_a_killed_run_leaves_a_temporary_the_next_run_removes(tmp_path, capsys):
    code = ("import os, signal, sys; import pandas as pd; from abm.__main__ import main\n"
            "real = pd.DataFrame.to_csv\n"
            "def die(self, path, *a, **k):\n"
            "    real(self, path, *a, **k); os.kill(os.getpid(), signal.SIGKILL)\n"
            "pd.DataFrame.to_csv = die\n"
            f"main(['run', '--steps', '2', '--out', {str(tmp_path / 'a.csv')!r}])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == -9  # SIGKILL after the first file was written
    left = listing(tmp_path)
    assert len(left) == 1 and left[0].startswith(".a.csv.") and left[0].endswith(".abm-tmp")
    assert main(["run", "--steps", "1", "--out", str(tmp_path / "b.csv")]) == 0
    capsys.readouterr()
    assert listing(tmp_path) == ["b.csv", "b.events.csv"]
