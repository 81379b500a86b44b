"""Load and validate the calibration CSVs in ``abm/data/``.

Every row carries a ``source``. The loader checks columns, types and signs, and turns any
problem into one :class:`~abm.errors.InputError` line naming the file, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from abm.errors import InputError

__all__ = ["World", "load_world", "load_observed", "read_bloc_exclusions", "read_links",
           "read_table", "DATA_FILES"]

#: file -> (numeric columns that must be >= 0, text columns)
DATA_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "states.csv": (
        ("year", "consumption_light_tpy", "consumption_heavy_tpy", "stockpile_light_t",
         "stockpile_heavy_t"),
        ("code", "name", "player", "source"),
    ),
    "mines.csv": (
        ("year", "capacity_t_reo_per_yr", "project_capacity_t_reo_per_yr", "project_lead_months",
         "cost_usd_per_kg_reo", "light_share", "heavy_share"),
        ("id", "name", "country", "refine_country", "bloc", "source"),
    ),
    "refining.csv": (("year", "capacity_t_reo_per_yr"), ("country", "source")),
    "prices.csv": (
        ("year", "reference_price_usd_per_kg", "low_usd_per_kg", "high_usd_per_kg"),
        ("product", "source"),
    ),
}


@dataclass(frozen=True)
class World:
    """The calibrated world of one data year (tables filtered to that year)."""

    year: int
    states: pd.DataFrame
    mines: pd.DataFrame
    refining: pd.DataFrame
    prices: pd.DataFrame

    def reference_price(self, product: str) -> float:
        """Reference price of a product in the data year, US$/kg oxide."""
        row = self.prices[self.prices["product"] == product]
        return float(row["reference_price_usd_per_kg"].iloc[0])


def _data_dir(data_dir: str | Path | None):
    return Path(data_dir) if data_dir is not None else resources.files("abm") / "data"


def read_table(name: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read and validate one calibration table.

    Raises:
        InputError: missing file, missing column, non-numeric or negative value, no source.
    """
    numeric, text = DATA_FILES[name]
    path = _data_dir(data_dir) / name
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"data file {name} not found in {_data_dir(data_dir)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = str(exc).strip().splitlines()[-1]
        raise InputError(f"malformed data file {name}: {msg}") from None
    missing = [c for c in (*numeric, *text) if c not in df.columns]
    if missing:
        raise InputError(f"data file {name} lacks column(s): {', '.join(missing)}")
    for col in numeric:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(
                f"data file {name} row {i + 2} column {col!r}: expected a number >= 0, "
                f"got {df[col].iloc[i]!r}")
        df[col] = values
    nosource = df["source"].str.strip() == ""
    if nosource.any():
        i = int(nosource.to_numpy().nonzero()[0][0])
        raise InputError(f"data file {name} row {i + 2}: every row needs a source")
    df["year"] = df["year"].astype(int)
    return df


def load_world(year: int, data_dir: str | Path | None = None) -> World:
    """Load the calibration tables for one data year.

    Raises:
        InputError: when a table is malformed or has no rows for that year.
    """
    tables = {}
    for name in DATA_FILES:
        df = read_table(name, data_dir)
        df = df[df["year"] == int(year)].reset_index(drop=True)
        if df.empty:
            raise InputError(f"data file {name} has no rows for year {year}")
        tables[name.removesuffix(".csv")] = df
    states = tables["states"]
    codes = set(states["code"])
    unknown = set(tables["mines"]["refine_country"]) - codes
    if unknown:
        raise InputError(
            f"mines.csv refine_country names unknown state(s): {', '.join(sorted(unknown))}")
    for share in ("light_share", "heavy_share"):
        if (tables["mines"][share] > 1).any():
            raise InputError(f"mines.csv column {share!r} must be a share within [0, 1]")
    if "CHN" not in codes:
        raise InputError("states.csv must contain China (CHN)")
    return World(year=int(year), **tables)


def read_bloc_exclusions(data_dir: str | Path | None = None) -> dict[str, frozenset[str]]:
    """Host countries whose miners a state may not pay or buy from through bloc instruments.

    Reads ``bloc_exclusions.csv`` (payer, excluded_country, source): a state's price floor and
    offtake cannot take miners from an excluded country (e.g. US defence procurement law
    excludes Chinese and Russian material). A data directory without the file has none.

    Raises:
        InputError: malformed file, a missing column or an empty source.
    """
    path = _data_dir(data_dir) / "bloc_exclusions.csv"
    if not path.is_file():
        return {}
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(
            f"malformed data file bloc_exclusions.csv: {str(exc).splitlines()[-1]}") from None
    for col in ("payer", "excluded_country", "source"):
        if col not in df.columns:
            raise InputError(f"data file bloc_exclusions.csv lacks column {col!r}")
    blank = (df[["payer", "excluded_country", "source"]].apply(lambda c: c.str.strip()) == "")
    if blank.any(axis=None):
        row = int(blank.any(axis=1).to_numpy().nonzero()[0][0]) + 2
        raise InputError(f"data file bloc_exclusions.csv row {row}: payer, excluded_country "
                         "and source must not be empty")
    out: dict[str, set[str]] = {}
    for payer, excluded in zip(df["payer"].str.strip(), df["excluded_country"].str.strip(),
                               strict=True):
        out.setdefault(payer, set()).add(excluded)
    return {k: frozenset(v) for k, v in out.items()}


def read_links(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Pair-specific trade costs (seller, buyer, cost_frac) overriding the default link cost.

    Raises:
        InputError: malformed file or a cost share outside [0, 1].
    """
    path = _data_dir(data_dir) / "links.csv"
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, FileNotFoundError) as exc:
        raise InputError(f"malformed data file links.csv: {str(exc).splitlines()[-1]}") from None
    for col in ("seller", "buyer", "cost_frac", "source"):
        if col not in df.columns:
            raise InputError(f"data file links.csv lacks column {col!r}")
    df["cost_frac"] = pd.to_numeric(df["cost_frac"], errors="coerce")
    if df["cost_frac"].isna().any() or ((df["cost_frac"] < 0) | (df["cost_frac"] > 1)).any():
        raise InputError("data file links.csv: cost_frac must be a number within [0, 1]")
    return df


def load_observed(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Observed history (date, variable, value, unit, source) for validation and overlays."""
    path = _data_dir(data_dir) / "observed_history.csv"
    return pd.read_csv(path, dtype={"date": str})
