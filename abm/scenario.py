"""Scenario files: parameters, timelines and narratives, loaded from TOML and validated.

A scenario file (``abm/scenarios/NAME.toml``) has:

- top-level keys ``title``, ``description``, ``start`` (``YYYY-MM``), ``horizon_months``,
  ``data_year`` (which rows of ``abm/data/*.csv`` describe the world at the start), and
  optionally ``data_dir`` (a folder of calibration CSVs of your own, relative to the file);
- ``[params]``: values for any parameter in :data:`PARAMS` (the rest keep their defaults);
- ``[narrative]``: ``history``, ``look_for`` and ``questions`` (a list) for educators;
- ``[[events]]``: the dated policy timeline (see :mod:`abm.policy`).

Every parameter has a type, a default, a valid range and a meaning (:data:`PARAMS`). Overrides
given to :class:`abm.RareEarthModel` or ``--set`` are checked against the same table: unknown
names and wrong types are an :class:`~abm.errors.InputError` with one line naming the problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mesa.experimental.scenarios import Scenario

from abm.errors import InputError

__all__ = ["Param", "PARAMS", "RareEarthScenario", "list_scenarios", "load_scenario"]


@dataclass(frozen=True)
class Param:
    """One scenario parameter: type, default, valid range and meaning (with units)."""

    type: type
    default: Any
    lo: float | None
    hi: float | None
    doc: str


PARAMS: dict[str, Param] = {
    # size and switches
    "n_firms": Param(int, 200, 1, 1_000_000, "number of downstream firms; totals do not change"),
    "alliance": Param(bool, True, None, None, "US-Japan framework events on (True) or removed"),
    # demand
    "demand_elasticity": Param(float, 0.2, 0.0, 2.0,
                               "short-run price elasticity of firms' consumption (abs. value)"),
    "inventory_price_elasticity": Param(float, 2.0, 0.0, 10.0,
                                        "how fast firms' inventory target shrinks when the "
                                        "price is above the price they expect (EWMA)"),
    "demand_growth_per_yr": Param(float, 0.04, -0.5, 0.5,
                                  "growth of magnet demand per year (EV, wind; assumption)"),
    "base_cover_months": Param(float, 2.0, 0.0, 24.0, "firms' normal inventory cover, months"),
    "hoarding_sensitivity": Param(float, 6.0, 0.0, 36.0,
                                  "extra cover months firms want at perceived risk 1"),
    "inventory_adjust_rate": Param(float, 0.25, 0.0, 1.0,
                                   "share of the inventory gap firms close per month"),
    "risk_memory": Param(float, 0.85, 0.0, 0.999,
                         "weight of last month's perceived supply risk (EWMA)"),
    "substitution_threshold": Param(float, 2.5, 1.0, 50.0,
                                    "median price ratio to reference that starts thrifting"),
    "substitution_rate_per_yr": Param(float, 0.10, 0.0, 1.0,
                                      "share of demand thrifted per year at high prices "
                                      "(Sprecher et al. 2017: up to ~10%/yr)"),
    "substitution_max": Param(float, 0.35, 0.0, 0.95, "largest share of demand substitutable"),
    "substitution_decay_per_yr": Param(float, 0.02, 0.0, 1.0,
                                       "share of substitution undone per year (sticky)"),
    # supply
    "china_capacity_growth_per_yr": Param(float, 0.04, -0.5, 0.5,
                                          "growth of China's mining quota per year (assumption)"),
    "min_margin_ratio": Param(float, 0.5, 0.0, 1.0,
                              "revenue/cost ratio at which a mine idles (full output at 1)"),
    "investment_hurdle": Param(float, 1.6, 1.0, 10.0,
                               "12-month mean revenue/cost ratio that commits an expansion"),
    "expansion_share": Param(float, 0.10, 0.0, 1.0,
                             "capacity added by a brownfield expansion, share of capacity"),
    "expansion_lead_months": Param(int, 30, 1, 240, "lead time of a brownfield expansion"),
    "refining_lead_months": Param(int, 72, 1, 240,
                                  "lead time of new separation capacity (5-8 y, facts)"),
    "seller_reserve_frac": Param(float, 0.5, 0.0, 5.0,
                                 "sellers hold stock below this share of the reference price"),
    # trade
    "link_cost_frac": Param(float, 0.01, 0.0, 0.5,
                            "cost of shipping between countries, share of reference price"),
    "ally_preference_frac": Param(float, 0.02, 0.0, 0.5,
                                  "discount buyers give allied sellers, share of ref. price"),
    "licence_delay_months": Param(int, 2, 0, 24, "months until licences are approved in full"),
    "licence_share": Param(float, 0.8, 0.0, 1.0,
                           "share of requested volume approved under a licence regime, once "
                           "the delay has passed (assumption; calibrated range 0.5-0.95)"),
    "choke_price_ratio": Param(float, 30.0, 2.0, 1000.0,
                               "price (multiple of reference) above which firms buy nothing; "
                               "demand beyond it is rationed and counted as shortage"),
    # states
    "stockpile_target_months": Param(float, 3.0, 0.0, 36.0,
                                     "strategic stockpile a building state aims for, months "
                                     "of its consumption"),
    "stockpile_build_share": Param(float, 0.05, 0.0, 1.0,
                                   "monthly purchase of a building state, share of its "
                                   "consumption"),
    "stockpile_max_price_ratio": Param(float, 1.5, 0.1, 50.0,
                                       "a building state buys up to this multiple of the "
                                       "reference price"),
    "logit_intensity": Param(float, 3.0, 0.0, 100.0,
                             "how strategic states are: logit choice intensity (0 = random)"),
    "ewa_memory": Param(float, 0.8, 0.0, 1.0, "experience-weighted attraction decay (phi)"),
    "ewa_imagination": Param(float, 0.5, 0.0, 1.0,
                             "weight on forgone payoffs of strategies not played (delta)"),
    "decision_interval_months": Param(int, 6, 1, 60, "months between state decisions"),
    "free_from": Param(str, "", None, None,
                       "YYYY-MM from which unpinned states choose freely ('' = never; "
                       "'start' = from the first month)"),
}

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str, what: str = "date") -> tuple[int, int]:
    """Parse ``YYYY-MM`` into (year, month).

    Raises:
        InputError: when the text is not a valid month.
    """
    m = _MONTH.match(str(text))
    if not m:
        raise InputError(f"{what} must be YYYY-MM, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def coerce_param(name: str, value: Any) -> Any:
    """Check and convert one parameter value.

    Strings (from the command line) are parsed into the parameter's type.

    Raises:
        InputError: unknown name, wrong type or value out of range.
    """
    if name not in PARAMS:
        raise InputError(f"unknown parameter {name!r} (known: {', '.join(sorted(PARAMS))})")
    p = PARAMS[name]
    if isinstance(value, str) and p.type is not str:
        value = _parse_text(name, p, value)
    if p.type is bool:
        if not isinstance(value, bool):
            raise InputError(f"parameter {name!r} must be true or false, got {value!r}")
    elif p.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise InputError(f"parameter {name!r} must be an integer, got {value!r}")
    elif p.type is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"parameter {name!r} must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise InputError(f"parameter {name!r} must be finite, got {value!r}")
    elif p.type is str and not isinstance(value, str):
        raise InputError(f"parameter {name!r} must be text, got {value!r}")
    if p.lo is not None and value < p.lo or p.hi is not None and value > p.hi:
        raise InputError(f"parameter {name!r} = {value!r} is outside [{p.lo}, {p.hi}]")
    if name == "free_from" and value not in ("", "start"):
        parse_month(value, "free_from")
    return value


def _parse_text(name: str, p: Param, text: str) -> Any:
    t = text.strip()
    if p.type is bool:
        if t.lower() in ("true", "1", "yes", "on"):
            return True
        if t.lower() in ("false", "0", "no", "off"):
            return False
        raise InputError(f"parameter {name!r} must be true or false, got {text!r}")
    try:
        return int(t) if p.type is int else float(t)
    except ValueError:
        kind = "an integer" if p.type is int else "a number"
        raise InputError(f"parameter {name!r} must be {kind}, got {text!r}") from None


class RareEarthScenario(Scenario):
    """A named, validated scenario: parameters as attributes, plus timeline and narrative.

    It is a Mesa :class:`~mesa.experimental.scenarios.Scenario`, so the model is Mesa-native
    down to its parameters (``model.scenario.demand_elasticity``).
    """

    def __init__(self, *, name: str, meta: dict, events: list, params: dict, rng=None):
        super().__init__(rng=rng, **params)
        self.name = name
        self.title = meta.get("title", name)
        self.description = meta.get("description", "")
        self.start = meta["start"]
        self.horizon_months = meta["horizon_months"]
        self.data_year = meta["data_year"]
        self.data_dir = meta.get("data_dir")
        self.narrative = meta.get("narrative", {})
        self.events = events

    @property
    def params(self) -> dict[str, Any]:
        """All parameter values (defaults, file values and overrides applied)."""
        return {k: self.__dict__[k] for k in PARAMS}


def _scenario_dir():
    return resources.files("abm") / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    return sorted(p.name[:-5] for p in _scenario_dir().iterdir() if p.name.endswith(".toml"))


def load_scenario(scenario="baseline", *, rng=None, **overrides) -> RareEarthScenario:
    """Load and validate a scenario by name or path, applying overrides.

    Args:
        scenario: a shipped scenario's name, a path to a TOML file, or a
            :class:`RareEarthScenario` (returned re-validated with the overrides applied).
        rng: seed or generator stored on the scenario (Mesa's convention).
        **overrides: parameter values; each must be a known parameter of the right type.

    Raises:
        InputError: unknown scenario, malformed file, unknown or ill-typed parameter.
    """
    from abm.policy import parse_events

    if isinstance(scenario, RareEarthScenario):
        params = {**scenario.params, **{k: coerce_param(k, v) for k, v in overrides.items()}}
        return RareEarthScenario(
            name=scenario.name,
            meta={"title": scenario.title, "description": scenario.description,
                  "start": scenario.start, "horizon_months": scenario.horizon_months,
                  "data_year": scenario.data_year, "narrative": scenario.narrative,
                  "data_dir": scenario.data_dir},
            events=scenario.events, params=params, rng=rng)
    if not isinstance(scenario, str | Path):
        raise InputError(f"scenario must be a name or a path, got {type(scenario).__name__}")
    path = Path(scenario)
    if path.suffix == ".toml" or path.exists():
        name = path.stem
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"cannot read scenario file {str(path)!r}: {exc.strerror}") from None
    else:
        name = str(scenario)
        if name not in list_scenarios():
            raise InputError(f"unknown scenario {name!r} (known: {', '.join(list_scenarios())})")
        text = (_scenario_dir() / f"{name}.toml").read_text()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"malformed scenario file {name!r}: {exc}") from None
    for key in ("start", "horizon_months", "data_year"):
        if key not in doc:
            raise InputError(f"scenario {name!r} lacks the key {key!r}")
    parse_month(doc["start"], f"scenario {name!r} start")
    if isinstance(doc["data_year"], bool) or not isinstance(doc["data_year"], int):
        raise InputError(f"scenario {name!r}: data_year must be an integer year")
    if not isinstance(doc["horizon_months"], int) or doc["horizon_months"] < 1:
        raise InputError(f"scenario {name!r}: horizon_months must be a positive integer")
    unknown = set(doc) - {"title", "description", "start", "horizon_months", "data_year",
                          "params", "narrative", "events", "data_dir"}
    if unknown:
        raise InputError(f"scenario {name!r} has unknown keys: {', '.join(sorted(unknown))}")
    params = {k: p.default for k, p in PARAMS.items()}
    for k, v in doc.get("params", {}).items():
        try:
            params[k] = coerce_param(k, v)
        except InputError as exc:
            raise InputError(f"scenario {name!r}: {exc}") from None
    for k, v in overrides.items():
        params[k] = coerce_param(k, v)
    events = parse_events(doc.get("events", []), name)
    meta = {k: doc.get(k) for k in ("title", "description", "start", "horizon_months",
                                    "data_year")}
    meta["narrative"] = doc.get("narrative", {})
    if "data_dir" in doc:
        base = path.parent if (path.suffix == ".toml" or path.exists()) else Path(".")
        meta["data_dir"] = str((base / str(doc["data_dir"])).resolve())
        if not Path(meta["data_dir"]).is_dir():
            raise InputError(f"scenario {name!r}: data_dir {doc['data_dir']!r} not found")
    return RareEarthScenario(name=name, meta=meta, events=events, params=params, rng=rng)
