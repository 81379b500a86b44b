"""Load and validate the calibration CSVs in ``abm/data/`` (or a scenario's own ``data_dir``).

Every row carries a ``source``. Each file is read as a regular UTF-8 file of bounded size
(:func:`abm.safeio.read_text_limited`), then every number is checked against its column's range
(:data:`TABLES`: finite, within bounds, whole where it counts months or years), text columns that
name things must not be empty, and no key may repeat (a second ``USA`` row for 2024 would
silently double a country's demand). Any problem is one :class:`~abm.errors.InputError` line
naming the file, the row (its line in the file, the header being line 1) and the column.

Bounds: quantities are capped at :data:`MAX_TONNES` t (world mine output was ~390 kt REO in
2024, so the cap is thousands of times any real value while keeping every product of tonnes,
prices and months far inside float64); prices and costs must be positive and at most
:data:`MAX_USD_PER_KG` (gold trades near 1e5 US$/kg); shares lie in [0, 1]; lead times are whole
months up to :data:`abm.safeio.MAX_MONTHS`; years lie in [1900, 2200].
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from abm.errors import InputError
from abm.policy import OXIDES, PRODUCTS
from abm.safeio import MAX_DATA_BYTES, MAX_MONTHS, read_text_limited

__all__ = ["World", "ByproductPrices", "BYPRODUCT_MARKETS", "Number", "Table", "TABLES",
           "DATA_FILES", "MAX_TONNES", "MAX_USD_PER_KG", "load_world", "load_observed",
           "read_bloc_exclusions", "read_byproduct_prices", "read_links", "read_table"]

#: Largest quantity accepted in a data file, t or t/yr.
MAX_TONNES = 1e9
#: Largest price or unit cost accepted in a data file, US$/kg.
MAX_USD_PER_KG = 1e6


@dataclass(frozen=True)
class Number:
    """The valid values of a numeric column.

    Attributes:
        lo: smallest value (excluded when ``lo_open``).
        hi: largest value.
        integer: whether the value must be a whole number.
        lo_open: whether ``lo`` itself is refused (prices must be above 0).
    """

    lo: float
    hi: float
    integer: bool = False
    lo_open: bool = False

    def describe(self) -> str:
        """Text such as ``a finite number within [0, 1e+09]``."""
        kind = "a whole number" if self.integer else "a finite number"
        left = "(" if self.lo_open else "["
        return f"{kind} within {left}{self.lo:g}, {self.hi:g}]"

    def accepts(self, values: np.ndarray) -> np.ndarray:
        """Elementwise: finite, within the bounds, and whole when required."""
        ok = np.isfinite(values)
        with np.errstate(invalid="ignore"):
            ok &= (values > self.lo) if self.lo_open else (values >= self.lo)
            ok &= values <= self.hi
            if self.integer:
                ok &= values == np.round(values)
        return ok


_YEAR = Number(1900, 2200, integer=True)
_TONNES = Number(0.0, MAX_TONNES)
_PRICE = Number(0.0, MAX_USD_PER_KG, lo_open=True)
_SHARE = Number(0.0, 1.0)


@dataclass(frozen=True)
class Table:
    """A calibration file: its numeric columns, text columns and key.

    Attributes:
        numbers: numeric column -> valid values.
        text: text columns (``source`` among them); those in ``key`` or ``names`` must not be
            empty.
        key: columns whose combination must be unique.
        names: further text columns that must not be empty.
        flags: columns holding ``true`` or ``false``.
    """

    numbers: dict[str, Number]
    text: tuple[str, ...]
    key: tuple[str, ...]
    names: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


#: Every calibration file and what it may hold (units in the column names).
TABLES: dict[str, Table] = {
    "states.csv": Table(
        {"year": _YEAR, "consumption_light_tpy": _TONNES, "consumption_heavy_tpy": _TONNES,
         "stockpile_light_t": _TONNES, "stockpile_heavy_t": _TONNES},
        ("code", "name", "player", "source"), key=("year", "code"), names=("name",),
        flags=("player",)),
    "mines.csv": Table(
        {"year": _YEAR, "capacity_t_reo_per_yr": _TONNES, "project_capacity_t_reo_per_yr": _TONNES,
         "project_lead_months": Number(0, MAX_MONTHS, integer=True),
         "cost_usd_per_kg_reo": _PRICE, "light_share": _SHARE, "heavy_share": _SHARE},
        ("id", "name", "country", "refine_country", "bloc", "source"), key=("year", "id"),
        names=("name", "country", "refine_country", "bloc")),
    "refining.csv": Table({"year": _YEAR, "capacity_t_reo_per_yr": _TONNES},
                          ("country", "source"), key=("year", "country")),
    "prices.csv": Table(
        {"year": _YEAR, "reference_price_usd_per_kg": _PRICE, "low_usd_per_kg": _PRICE,
         "high_usd_per_kg": _PRICE},
        ("product", "source"), key=("year", "product")),
    "links.csv": Table({"cost_frac": _SHARE}, ("seller", "buyer", "source"),
                       key=("seller", "buyer")),
    "bloc_exclusions.csv": Table({}, ("payer", "excluded_country", "source"),
                                 key=("payer", "excluded_country")),
    "magnet_capacity.csv": Table(
        {"year": _YEAR, "capacity_t_per_yr": _TONNES, "conversion_cost_usd_per_kg": _PRICE},
        ("country", "source"), key=("year", "country")),
    "magnet_recipe.csv": Table({"t_per_t_magnet": _SHARE}, ("input", "source"),
                               key=("input",)),
    "byproduct_prices.csv": Table({"usd_per_kg": _PRICE}, ("date", "market", "source"),
                                  key=("date", "market")),
    "observed_history.csv": Table({"value": Number(-MAX_TONNES, MAX_TONNES)},
                                  ("date", "variable", "unit", "source"),
                                  key=("date", "variable"), names=("unit",)),
}

#: The four tables of a data year: file -> (numeric columns, text columns).
DATA_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    name: (tuple(TABLES[name].numbers), TABLES[name].text)
    for name in ("states.csv", "mines.csv", "refining.csv", "prices.csv")}

_OBSERVED_DATE = re.compile(r"[0-9]{4}(-(0[1-9]|1[0-2]))?")
_MONTH_DATE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
#: the markets of the by-product price series: FOB China, and inside China
BYPRODUCT_MARKETS = ("world", "china")


@dataclass(frozen=True)
class ByproductPrices:
    """Price paths of the rest of a mine's basket (La and Ce oxide), US$/kg, by market.

    The model trades NdPr and Dy/Tb only; the lanthanum and cerium that make up most of a
    light-ore mine's tonne are priced from this exogenous series (``byproduct_prices.csv``),
    linear between its dated points and flat before the first and after the last.

    Attributes:
        months: market -> month ordinals (``12 * year + month - 1``) of its points, ascending.
        usd_per_kg: market -> prices at those months, US$/kg.
    """

    months: dict[str, np.ndarray]
    usd_per_kg: dict[str, np.ndarray]

    def at(self, ordinal: int) -> dict[str, float]:
        """Price in each market at month ordinal ``12 * year + month - 1``, US$/kg."""
        return {k: float(np.interp(ordinal, self.months[k], self.usd_per_kg[k]))
                for k in BYPRODUCT_MARKETS}


@dataclass(frozen=True)
class World:
    """The calibrated world of one data year (tables filtered to that year)."""

    year: int
    states: pd.DataFrame
    mines: pd.DataFrame
    refining: pd.DataFrame
    prices: pd.DataFrame
    magnet_capacity: pd.DataFrame
    recipe: dict[str, float]

    def reference_price(self, product: str) -> float:
        """Reference price of a product in the data year, US$/kg oxide."""
        row = self.prices[self.prices["product"] == product]
        return float(row["reference_price_usd_per_kg"].iloc[0])


def _data_dir(data_dir: str | Path | None) -> Path:
    return Path(data_dir) if data_dir is not None else Path(str(resources.files("abm") / "data"))


def _fail(name: str, i: int, col: str | None, what: str) -> InputError:
    where = f"data file {name} row {i + 2}" + (f" column {col!r}" if col else "")
    return InputError(f"{where}: {what}")


def _require(name: str, df: pd.DataFrame, col: str, ok, expected: str) -> None:
    """Refuse the first row where ``ok`` is false: ``... column C: expected E, got 'V'``."""
    bad = ~np.asarray(ok, dtype=bool)
    if bad.any():
        i = int(bad.argmax())
        raise _fail(name, i, col, f"expected {expected}, got {df[col].iloc[i]!r}")


def read_table(name: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read and validate one calibration file of :data:`TABLES`.

    Numeric columns come back as floats (``year`` as int), text columns stripped of
    surrounding spaces. Row ``i`` of the frame is line ``i + 2`` of the file.

    Raises:
        InputError: a missing, unreadable, oversized, binary, empty or malformed file, a missing
            column, a number that is not finite or out of range, an empty name or source, a
            flag that is not true/false, or a repeated key; one line naming file, row, column.
    """
    spec = TABLES[name]
    path = _data_dir(data_dir) / name
    text = read_text_limited(path, MAX_DATA_BYTES, "data file")
    if not text.strip():
        raise InputError(f"data file {name} is empty (it needs a header line and rows)")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        msg = str(exc).strip().splitlines()[-1]
        raise InputError(f"malformed data file {name}: {msg}") from None
    df = df.fillna("")  # short rows: missing fields are empty, and refused below
    missing = [repr(c) for c in (*spec.numbers, *spec.text) if c not in df.columns]
    if missing:
        raise InputError(f"data file {name} lacks column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}")
    for col in spec.text:
        df[col] = df[col].str.strip()
    for col in dict.fromkeys((*spec.key, *spec.names, "source")):
        if col in spec.text:
            empty = (df[col] == "").to_numpy()
            if empty.any():
                raise _fail(name, int(empty.argmax()), col, "must not be empty")
    for col in spec.flags:
        _require(name, df, col, df[col].str.lower().isin(("true", "false")), "true or false")
    for col, rule in spec.numbers.items():
        values = pd.to_numeric(df[col].str.strip(), errors="coerce").to_numpy(float)
        _require(name, df, col, rule.accepts(values), rule.describe())
        df[col] = values
    if "year" in spec.numbers:
        df["year"] = df["year"].astype(int)
    dup = df.duplicated(list(spec.key), keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = df.loc[rows[0], list(spec.key)]
        same = rows[(df.loc[rows, list(spec.key)] == first).all(axis=1).to_numpy()]
        key = ", ".join(f"{c} {first[c]!r}" if isinstance(first[c], str) else f"{c} {first[c]}"
                        for c in spec.key)
        raise _fail(name, int(same[1]), None,
                    f"repeats the key ({key}) of row {int(same[0]) + 2}; each must appear once")
    _check_rows(name, df)
    return df


def _check_rows(name: str, df: pd.DataFrame) -> None:
    """Checks that relate columns of one row."""
    if name == "mines.csv":
        total = (df["light_share"] + df["heavy_share"]).to_numpy()
        bad = total > 1.0
        if bad.any():
            i = int(bad.argmax())
            raise _fail(name, i, "heavy_share", f"light_share + heavy_share = {total[i]:g} "
                        "exceeds 1 (both are shares of the same tonne of REO)")
    elif name == "prices.csv":
        lo, ref, hi = (df[c].to_numpy() for c in ("low_usd_per_kg", "reference_price_usd_per_kg",
                                                  "high_usd_per_kg"))
        bad = (lo > ref) | (ref > hi)
        if bad.any():
            i = int(bad.argmax())
            raise _fail(name, i, "reference_price_usd_per_kg",
                        f"expected low <= reference <= high, got {lo[i]:g} <= {ref[i]:g} <= "
                        f"{hi[i]:g}")
    elif name == "byproduct_prices.csv":
        _require(name, df, "date", df["date"].str.fullmatch(_MONTH_DATE), "YYYY-MM")
        _require(name, df, "market", df["market"].isin(BYPRODUCT_MARKETS),
                 f"one of {', '.join(BYPRODUCT_MARKETS)}")
    elif name == "observed_history.csv":
        _require(name, df, "date", df["date"].str.fullmatch(_OBSERVED_DATE), "YYYY or YYYY-MM")


def load_world(year: int, data_dir: str | Path | None = None) -> World:
    """Load the calibration tables for one data year.

    Beyond each file's own checks (:func:`read_table`): every table has rows for the year,
    China (``CHN``) is a state, every product has a price row, and the countries that mines
    refine in and that refining capacity sits in are states of that year. The magnet stage is
    optional: a data folder without ``magnet_recipe.csv`` has no magnets (then no magnet price
    row is needed); with it, ``magnet_capacity.csv`` gives each state's capacity.

    Raises:
        InputError: when a table is malformed, or the year's tables do not fit together.
    """
    tables = {}
    for name in DATA_FILES:
        df = read_table(name, data_dir)
        df = df[df["year"] == int(year)]
        if df.empty:
            raise InputError(f"data file {name} has no rows for year {year}")
        tables[name] = df
    codes = set(tables["states.csv"]["code"])
    if "CHN" not in codes:
        raise InputError(f"data file states.csv must contain China (CHN) for year {year}")
    for name, col in (("mines.csv", "refine_country"), ("refining.csv", "country")):
        unknown = ~tables[name][col].isin(codes)
        if unknown.any():
            i = int(tables[name].index[unknown.to_numpy()][0])
            raise _fail(name, i, col, f"{tables[name].loc[i, col]!r} is not a state in "
                        f"states.csv for {year} (known: {', '.join(sorted(codes))})")
    recipe, capacity = _magnet_stage(year, data_dir, codes)
    products = PRODUCTS if recipe else OXIDES
    prices = tables["prices.csv"]
    prices = prices[prices["product"].isin(products) | ~prices["product"].isin(PRODUCTS)]
    for product in products:
        if not (prices["product"] == product).any():
            raise InputError(f"data file prices.csv has no row for product {product!r} in "
                             f"year {year}")
    unknown = ~prices["product"].isin(PRODUCTS)
    if unknown.any():
        i = int(prices.index[unknown.to_numpy()][0])
        raise _fail("prices.csv", i, "product", f"unknown product {prices.loc[i, 'product']!r} "
                    f"(known: {', '.join(PRODUCTS)})")
    tables["prices.csv"] = prices
    return World(year=int(year), magnet_capacity=capacity, recipe=recipe,
                 **{n.removesuffix(".csv"): t.reset_index(drop=True) for n, t in tables.items()})


def _magnet_stage(year: int, data_dir, codes: set[str]) -> tuple[dict[str, float], pd.DataFrame]:
    """The magnet recipe (input -> t per t magnet) and the year's capacity rows, if any."""
    if not os.path.lexists(_data_dir(data_dir) / "magnet_recipe.csv"):
        return {}, pd.DataFrame(columns=["country", "capacity_t_per_yr",
                                         "conversion_cost_usd_per_kg"])
    recipe_df = read_table("magnet_recipe.csv", data_dir)
    _require("magnet_recipe.csv", recipe_df, "input", recipe_df["input"].isin(OXIDES),
             f"one of {', '.join(OXIDES)}")
    cap = read_table("magnet_capacity.csv", data_dir)
    cap = cap[cap["year"] == int(year)].reset_index(drop=True)
    if cap.empty:
        raise InputError(f"data file magnet_capacity.csv has no rows for year {year}")
    unknown = ~cap["country"].isin(codes)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(f"data file magnet_capacity.csv: {cap['country'].iloc[i]!r} is not a "
                         f"state in states.csv for {year}")
    return dict(zip(recipe_df["input"], recipe_df["t_per_t_magnet"].astype(float),
                    strict=True)), cap


def read_bloc_exclusions(data_dir: str | Path | None = None) -> dict[str, frozenset[str]]:
    """Host countries whose miners a state may not pay or buy from through bloc instruments.

    Reads ``bloc_exclusions.csv`` (payer, excluded_country, source): a state's price floor and
    offtake cannot take miners from an excluded country (e.g. US defence procurement law
    excludes Chinese and Russian material). A data directory without the file has none.

    Raises:
        InputError: malformed file, a missing column, an empty field or a repeated pair.
    """
    if not os.path.lexists(_data_dir(data_dir) / "bloc_exclusions.csv"):
        return {}
    df = read_table("bloc_exclusions.csv", data_dir)
    out: dict[str, set[str]] = {}
    for payer, excluded in zip(df["payer"], df["excluded_country"], strict=True):
        out.setdefault(payer, set()).add(excluded)
    return {k: frozenset(v) for k, v in out.items()}


def read_byproduct_prices(data_dir: str | Path | None = None) -> ByproductPrices | None:
    """The by-product (La/Ce) price paths, or ``None`` when the data folder has none.

    Raises:
        InputError: a malformed file, or a market without any row.
    """
    if not os.path.lexists(_data_dir(data_dir) / "byproduct_prices.csv"):
        return None
    df = read_table("byproduct_prices.csv", data_dir)
    months, prices = {}, {}
    for market in BYPRODUCT_MARKETS:
        rows = df[df["market"] == market]
        if rows.empty:
            raise InputError(f"data file byproduct_prices.csv has no row for market {market!r}")
        ordinal = np.array([12 * int(d[:4]) + int(d[5:7]) - 1 for d in rows["date"]])
        order = np.argsort(ordinal, kind="stable")
        months[market] = ordinal[order]
        prices[market] = rows["usd_per_kg"].to_numpy(float)[order]
    return ByproductPrices(months, prices)


def read_links(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Pair-specific trade costs (seller, buyer, cost_frac) overriding the default link cost.

    Raises:
        InputError: missing or malformed file, a cost share outside [0, 1] or a repeated pair.
    """
    return read_table("links.csv", data_dir)


def load_observed(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Observed history (date, variable, value, unit, source) for validation and overlays.

    Raises:
        InputError: malformed file, a date not ``YYYY``/``YYYY-MM``, a value that is not a
            finite number, or a repeated (date, variable).
    """
    return read_table("observed_history.csv", data_dir)

