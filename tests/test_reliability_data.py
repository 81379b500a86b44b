"""Calibration files: every number finite and in range, no repeated key, exit 2 naming the spot.

Each case edits one field of a copy of the shipped data with the ``csv`` module and expects the
CLI to name that file, the line the edit is on (the header is line 1) and the column.
"""

import csv
import io
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import abm
from abm.__main__ import main
from abm.calibration import TABLES, load_observed, load_world, read_table

SCENARIO = 'start = "2024-01"\nhorizon_months = 3\ndata_year = 2024\ndata_dir = "data"\n' \
           '[params]\nn_firms = 10\n'


def copy_data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(resources.files("abm") / "data", d)
    (tmp_path / "s.toml").write_text(SCENARIO)
    return d


def line_of(path: Path, prefix: str) -> int:
    """1-based line number of the first line starting with ``prefix``."""
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith(prefix):
            return n
    raise AssertionError(f"{prefix!r} not in {path}")


def set_field(path: Path, prefix: str, column: str, value: str) -> int:
    """Set ``column`` on the row starting with ``prefix``; return that row's line number."""
    n = line_of(path, prefix)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    rows[n - 1][rows[0].index(column)] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())
    return n


def append_copy(path: Path, prefix: str) -> tuple[int, int]:
    """Append a copy of the row starting with ``prefix``; return (original line, new line)."""
    n = line_of(path, prefix)
    lines = path.read_text().splitlines()
    lines.append(lines[n - 1])
    path.write_text("\n".join(lines) + "\n")
    return n, len(lines)


def drop_line(path: Path, prefix: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.startswith(prefix)))


def expect_exit_2(tmp_path, capsys, needle: str) -> None:
    out = tmp_path / "r.csv"
    code = main(["run", "--scenario", str(tmp_path / "s.toml"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], err
    assert not out.exists()


def case_empty(d):
    (d / "states.csv").write_text("")
    return "data file states.csv is empty (it needs a header line and rows)"


def case_blank(d):
    (d / "mines.csv").write_text("\n\n  \n")
    return "data file mines.csv is empty"


def case_header_only(d):
    (d / "prices.csv").write_text((d / "prices.csv").read_text().splitlines()[0] + "\n")
    return "data file prices.csv has no rows for year 2024"


def case_missing_price_row(d):
    drop_line(d / "prices.csv", "2024,heavy,")
    return "data file prices.csv has no row for product 'heavy' in year 2024"


def case_unknown_product(d):
    _, n = append_copy(d / "prices.csv", "2024,light,")
    lines = (d / "prices.csv").read_text().splitlines()
    lines[n - 1] = lines[n - 1].replace("2024,light,", "2024,medium,", 1)
    (d / "prices.csv").write_text("\n".join(lines) + "\n")
    return f"data file prices.csv row {n} column 'product': unknown product 'medium'"


#: A row appended again: (file, row prefix, the key as the message shows it).
DUPLICATES = [
    ("states.csv", "2024,USA,", "year 2024, code 'USA'"),
    ("mines.csv", "2024,MTWELD,", "year 2024, id 'MTWELD'"),
    ("refining.csv", "2009,CHN,", "year 2009, country 'CHN'"),
    ("prices.csv", "2024,heavy,", "year 2024, product 'heavy'"),
    ("links.csv", "ROW,JPN,", "seller 'ROW', buyer 'JPN'"),
    ("bloc_exclusions.csv", "USA,RUS,", "payer 'USA', excluded_country 'RUS'"),
]


def duplicate_case(file, prefix, key):
    def case(d):
        first, dup = append_copy(d / file, prefix)
        return (f"data file {file} row {dup}: repeats the key ({key}) of row {first}; each must "
                "appear once")
    case.__name__ = f"case_duplicate_{file.removesuffix('.csv')}"
    return case


def case_shares_sum_above_one(d):
    set_field(d / "mines.csv", "2024,CHN_south,", "light_share", "0.6")
    n = set_field(d / "mines.csv", "2024,CHN_south,", "heavy_share", "0.5")
    return (f"data file mines.csv row {n} column 'heavy_share': light_share + heavy_share = 1.1 "
            "exceeds 1")


def case_short_row(d):
    lines = (d / "mines.csv").read_text().splitlines()
    lines.append("2024,SHORT,Short row,AUS,100")
    (d / "mines.csv").write_text("\n".join(lines) + "\n")
    return f"data file mines.csv row {len(lines)} column 'refine_country': must not be empty"


def case_directory(d):
    (d / "states.csv").unlink()
    (d / "states.csv").mkdir()
    return "states.csv' is a directory, not a regular file"


def case_binary(d):
    (d / "refining.csv").write_bytes(b"year,country\x00\x00\x01")
    return "refining.csv' is binary, not text (NUL byte at offset 12)"


def case_missing_column(d):
    text = (d / "refining.csv").read_text().replace("capacity_t_reo_per_yr", "capacity", 1)
    (d / "refining.csv").write_text(text)
    return "data file refining.csv lacks column 'capacity_t_reo_per_yr'"


#: One field set to a bad value: (file, row prefix, column, value, end of the message).
FIELDS = [
    ("prices.csv", "2024,light,", "reference_price_usd_per_kg", "0",
     "expected a finite number within (0, 1e+06], got '0'"),
    ("prices.csv", "2009,heavy,", "low_usd_per_kg", "-130", "expected a finite number"),
    *[("mines.csv", "2024,MTWELD,", "capacity_t_reo_per_yr", v,
       f"expected a finite number within [0, 1e+09], got {v!r}")
      for v in ("inf", "Infinity", "-inf", "nan", "1e400", "2e9", "-13000", "")],
    ("mines.csv", "2024,INDIA,", "light_share", "1.5",
     "expected a finite number within [0, 1], got '1.5'"),
    ("mines.csv", "2024,MTPASS,", "project_lead_months", "30.5",
     "expected a whole number within [0, 1200], got '30.5'"),
    ("states.csv", "2024,JPN,", "year", "2024.5",
     "expected a whole number within [1900, 2200], got '2024.5'"),
    ("states.csv", "2024,JPN,", "consumption_light_tpy", "\uff17\uff15\uff10\uff10",  # full width
     "expected a finite number"),
    ("states.csv", "2024,EU,", "player", "maybe", "expected true or false, got 'maybe'"),
    ("states.csv", "2024,AUS,", "code", " ", "must not be empty"),
    ("refining.csv", "2024,USA,", "source", "", "must not be empty"),
    ("mines.csv", "2024,BRAZIL,", "refine_country", "XXX",
     "'XXX' is not a state in states.csv for 2024 (known: AUS, CHN, EU, IND, JPN, KOR, MYS, "
     "ROW, USA, VNM)"),
    ("refining.csv", "2024,EU,", "country", "ZZZ", "'ZZZ' is not a state"),
    ("links.csv", "ROW,JPN,", "cost_frac", "2", "expected a finite number within [0, 1]"),
]


def field_case(file, prefix, column, value, tail):
    def case(d):
        n = set_field(d / file, prefix, column, value)
        return f"data file {file} row {n} column {column!r}: {tail}"
    case.__name__ = f"case_{file.removesuffix('.csv')}_{column}={value!r}"
    return case


def case_low_above_reference(d):
    n = set_field(d / "prices.csv", "2024,heavy,", "low_usd_per_kg", "280")
    return (f"data file prices.csv row {n} column 'reference_price_usd_per_kg': expected low <= "
            "reference <= high, got 280 <= 265 <= 300")


def case_magnet_input_unknown(d):
    n = set_field(d / "magnet_recipe.csv", "light,", "input", "lite")
    return (f"data file magnet_recipe.csv row {n} column 'input': expected one of light, heavy, "
            "got 'lite'")


CASES = [case_empty, case_blank, case_header_only, case_missing_price_row, case_unknown_product,
         case_magnet_input_unknown,
         case_low_above_reference, case_shares_sum_above_one, case_short_row, case_directory,
         case_binary, case_missing_column, *[field_case(*f) for f in FIELDS],
         *[duplicate_case(*f) for f in DUPLICATES]]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("case_"))
def test_bad_data_is_one_line_exit_2_naming_file_row_column(tmp_path, capsys, case):
    needle = case(copy_data(tmp_path))
    expect_exit_2(tmp_path, capsys, needle)


def test_zero_price_prints_no_runtime_warning(tmp_path):
    d = copy_data(tmp_path)
    n = set_field(d / "prices.csv", "2024,heavy,", "reference_price_usd_per_kg", "0")
    r = subprocess.run([sys.executable, "-W", "always", "-m", "abm", "run", "--scenario",
                        str(tmp_path / "s.toml")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr == (f"error: data file prices.csv row {n} column "
                        "'reference_price_usd_per_kg': expected a finite number within (0, "
                        "1e+06], got '0'\n")


def test_duplicate_usa_row_would_double_its_demand_so_it_is_refused(tmp_path):
    """Why keys must be unique: the model sums rows, so a repeated state doubles its use."""
    d = copy_data(tmp_path)
    append_copy(d / "states.csv", "2024,USA,")
    with pytest.raises(abm.InputError, match="repeats the key"):
        load_world(2024, d)
    with pytest.raises(abm.InputError, match="repeats the key"):
        abm.RareEarthModel(scenario=tmp_path / "s.toml")


def test_the_same_mine_in_two_years_is_not_a_duplicate():
    mines = read_table("mines.csv")
    both = set(mines.loc[mines["year"] == 2009, "id"]) & set(mines.loc[mines["year"] == 2024, "id"])
    assert {"MTPASS", "MTWELD", "CHN_north"} <= both
    assert len(load_world(2009).mines) == 6 and len(load_world(2024).mines) == 11


def test_shipped_data_passes_with_typed_columns():
    for name, spec in TABLES.items():
        df = read_table(name)
        assert len(df) > 0, name
        for col in spec.numbers:
            assert df[col].dtype.kind in "fi", (name, col)
    w = load_world(2024)
    assert w.reference_price("light") == 60.0 and w.reference_price("heavy") == 265.0
    assert w.reference_price("magnet") == 52.0
    assert set(w.states["code"]) == {"CHN", "USA", "JPN", "EU", "AUS", "ROW", "KOR", "MYS", "IND",
                                     "VNM"}


def test_observed_history_is_validated(tmp_path):
    obs = load_observed()
    row = obs[(obs["date"] == "2024") & (obs["variable"] == "production_reo")]
    assert float(row["value"].iloc[0]) == 390000.0  # USGS MCS 2025, as in the file's source
    d = copy_data(tmp_path)
    n = set_field(d / "observed_history.csv", "2011-07,price_light_world", "date", "2011-13")
    with pytest.raises(abm.InputError, match=rf"observed_history.csv row {n} column 'date': "
                                             r"expected YYYY or YYYY-MM, got '2011-13'"):
        load_observed(d)
    copy_data(tmp_path / "b")
    n = set_field(tmp_path / "b" / "data" / "observed_history.csv", "2024,production_reo",
                  "value", "nan")
    with pytest.raises(abm.InputError, match=rf"row {n} column 'value': expected a finite"):
        load_observed(tmp_path / "b" / "data")
