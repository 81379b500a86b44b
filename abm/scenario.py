"""Scenario files: parameters, timelines and narratives, loaded from TOML and validated.

A scenario file (``abm/scenarios/NAME.toml``) has:

- top-level keys ``title``, ``description``, ``start`` (``YYYY-MM``), ``horizon_months``,
  ``data_year`` (which rows of ``abm/data/*.csv`` describe the world at the start), and
  optionally ``data_dir`` (a folder of calibration CSVs of your own, relative to the file);
- ``[params]``: values for any parameter in :data:`abm.params.PARAMS`;
- ``[narrative]``: ``history``, ``look_for`` and ``questions`` (a list) for educators;
- ``[[events]]``: the dated policy timeline (see :mod:`abm.events` and :mod:`abm.actions`).

Overrides given to :class:`abm.RareEarthModel`, :func:`load_scenario` or ``--set`` are checked
against the same table. Besides parameters they may be ``event.<id>.<field>`` (edit an event,
see :mod:`abm.events`) or ``strategy.<STATE>.<domain>`` = a strategy name (the state plays that
strategy in that domain from the month it would start to choose freely, and neither the
timeline nor its learning changes it; see :mod:`abm.strategies`). Unknown names and wrong types
are an :class:`~abm.errors.InputError` with one line naming the problem.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from mesa.experimental.scenarios import Scenario

from abm.errors import InputError
from abm.events import EVENT_PREFIX, apply_event_overrides, parse_event, parse_events
from abm.params import PARAMS, coerce_param, parse_month
from abm.safeio import MAX_MONTHS, MAX_SCENARIO_BYTES, read_text_limited
from abm.strategies import STRATEGIES

__all__ = ["RareEarthScenario", "list_scenarios", "load_scenario", "MAX_HORIZON_MONTHS",
           "MAX_SCENARIO_BYTES", "STRATEGY_PREFIX"]

#: longest horizon a scenario may ask for (100 years of months)
MAX_HORIZON_MONTHS = MAX_MONTHS
STRATEGY_PREFIX = "strategy."
_TOP_KEYS = {"title", "description", "start", "horizon_months", "data_year", "params",
             "narrative", "events", "data_dir"}


class RareEarthScenario(Scenario):
    """A named, validated scenario: parameters as attributes, plus timeline and narrative.

    It is a Mesa :class:`~mesa.experimental.scenarios.Scenario`, so the model is Mesa-native
    down to its parameters (``model.scenario.demand_elasticity``).

    Attributes:
        events: the validated timeline (:class:`abm.events.PolicyEvent`).
        event_rows: the raw event rows (edits by id are re-applied to them).
        strategy_pins: ``{(state, domain): strategy}`` from ``strategy.`` overrides.
    """

    def __init__(self, *, name: str, meta: dict, events: list, params: dict, rng=None,
                 event_rows: list | None = None, strategy_pins: dict | None = None):
        super().__init__(rng=rng, **params)
        self.name = name
        self.title = meta.get("title") or name
        self.description = meta.get("description") or ""
        self.start = meta["start"]
        self.horizon_months = meta["horizon_months"]
        self.data_year = meta["data_year"]
        self.data_dir = meta.get("data_dir")
        self.narrative = meta.get("narrative", {})
        self.events = events
        self.event_rows = event_rows or []
        self.strategy_pins = dict(strategy_pins or {})

    @property
    def params(self) -> dict[str, Any]:
        """All parameter values (defaults, file values and overrides applied)."""
        return {k: self.__dict__[k] for k in PARAMS}

    def meta(self) -> dict:
        """The file-level keys (title, start, horizon, data year, narrative, data_dir)."""
        return {"title": self.title, "description": self.description, "start": self.start,
                "horizon_months": self.horizon_months, "data_year": self.data_year,
                "narrative": self.narrative, "data_dir": self.data_dir}


def _scenario_dir():
    return resources.files("abm") / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    return sorted(p.name[:-5] for p in _scenario_dir().iterdir() if p.name.endswith(".toml"))


def _split_overrides(overrides: dict[str, Any]) -> tuple[dict, dict, dict]:
    params, events, strategies = {}, {}, {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise InputError(f"override names must be text, got {key!r}")
        if key.startswith(EVENT_PREFIX):
            events[key] = value
        elif key.startswith(STRATEGY_PREFIX):
            strategies[key] = value
        else:
            params[key] = coerce_param(key, value)
    return params, events, strategies


def _strategy_pins(overrides: dict[str, Any]) -> dict[tuple[str, str], str]:
    pins = {}
    for key, value in overrides.items():
        parts = key.split(".")
        if len(parts) != 3 or not parts[1]:
            raise InputError(f"strategy override {key!r} must be strategy.<STATE>.<domain>")
        _, state, domain = parts
        known = [s.name for s in STRATEGIES.values() if s.domain == domain]
        if not known:
            raise InputError(f"strategy override {key!r}: unknown domain {domain!r} "
                             "(known: export, stockpile, alliance)")
        if value not in known:
            raise InputError(f"strategy override {key!r}: unknown {domain} strategy "
                             f"{value!r} (known: {', '.join(known)})")
        pins[(state, domain)] = value
    return pins


def _extra_event_rows(extra) -> list[dict]:
    """``extra_events`` as a list of event rows (copied: the caller's dicts stay as they are)."""
    if extra is None:
        return []
    if not isinstance(extra, list | tuple):
        raise InputError("extra_events must be a list of events (dicts with date, actor, "
                         "action and the action's fields)")
    for i, row in enumerate(extra, start=1):
        if not isinstance(row, dict):
            raise InputError(f"extra event {i} must be a dict of event fields, got "
                             f"{type(row).__name__}")
        parse_event(row, f"extra event {i}")
    return [dict(row) for row in extra]


def _locate(scenario: str | Path) -> tuple[str, str, Path | None]:
    """(name, text, path or None for a shipped scenario)."""
    path = Path(scenario)
    if path.suffix == ".toml" or path.exists():
        return path.stem, read_text_limited(path, MAX_SCENARIO_BYTES, "scenario file"), path
    name = str(scenario)
    if name not in list_scenarios():
        raise InputError(f"unknown scenario {name!r} (known: {', '.join(list_scenarios())})")
    return name, (_scenario_dir() / f"{name}.toml").read_text(), None


def _check_meta(doc: dict, name: str) -> None:
    for key in ("start", "horizon_months", "data_year"):
        if key not in doc:
            raise InputError(f"scenario {name!r} lacks the key {key!r}")
    parse_month(doc["start"], f"scenario {name!r} start")
    if isinstance(doc["data_year"], bool) or not isinstance(doc["data_year"], int):
        raise InputError(f"scenario {name!r}: data_year must be an integer year")
    h = doc["horizon_months"]
    if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= MAX_HORIZON_MONTHS:
        raise InputError(f"scenario {name!r}: horizon_months must be an integer from 1 to "
                         f"{MAX_HORIZON_MONTHS}, got {h!r}")
    for key in ("title", "description"):
        if key in doc and not isinstance(doc[key], str):
            raise InputError(f"scenario {name!r}: {key} must be text")
    if not isinstance(doc.get("params", {}), dict) or not isinstance(doc.get("narrative", {}),
                                                                     dict):
        raise InputError(f"scenario {name!r}: params and narrative must be tables")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise InputError(f"scenario {name!r} has unknown keys: {', '.join(sorted(unknown))}")


def load_scenario(scenario="baseline", *, rng=None, extra_events=None,
                  **overrides) -> RareEarthScenario:
    """Load and validate a scenario by name or path, applying overrides.

    Args:
        scenario: a shipped scenario's name, a path to a TOML file, or a
            :class:`RareEarthScenario` (returned re-validated with the overrides applied).
        rng: seed or generator stored on the scenario (Mesa's convention).
        extra_events: events to add to the scenario's own, each a dict with the fields of a
            scenario file's ``[[events]]`` table (``date``, ``actor``, ``action``, the action's
            fields, optionally ``id``), for what-ifs that need an event the file lacks.
            Validated like the file's events; ``event.<id>.<field>`` edits apply to them too;
            in a month with file events too, they apply after the file's.
        **overrides: parameter values, ``event.<id>.<field>`` edits and
            ``strategy.<STATE>.<domain>`` pins.

    Raises:
        InputError: unknown scenario, malformed file or extra event, unknown or ill-typed
            override.
    """
    params_o, events_o, strategies_o = _split_overrides(overrides)
    pins = _strategy_pins(strategies_o)
    added = _extra_event_rows(extra_events)
    if isinstance(scenario, RareEarthScenario):
        rows = apply_event_overrides([*scenario.event_rows, *added], events_o, scenario.name)
        events = parse_events(rows, scenario.name) if events_o or added else scenario.events
        return RareEarthScenario(
            name=scenario.name, meta=scenario.meta(), events=events,
            params={**scenario.params, **params_o}, rng=rng, event_rows=rows,
            strategy_pins={**scenario.strategy_pins, **pins})
    if not isinstance(scenario, str | Path):
        raise InputError(f"scenario must be a name or a path, got {type(scenario).__name__}")
    name, text, path = _locate(scenario)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"malformed scenario file {name!r}: {exc}") from None
    _check_meta(doc, name)
    params = {k: p.default for k, p in PARAMS.items()}
    for k, v in doc.get("params", {}).items():
        try:
            params[k] = coerce_param(k, v)
        except InputError as exc:
            raise InputError(f"scenario {name!r}: {exc}") from None
    params.update(params_o)
    own = doc.get("events", [])
    if not isinstance(own, list):
        raise InputError(f"scenario {name!r}: events must be an array of tables")
    rows = apply_event_overrides([*own, *added], events_o, name)
    events = parse_events(rows, name)
    meta = {k: doc.get(k) for k in ("title", "description", "start", "horizon_months",
                                    "data_year")}
    meta["narrative"] = doc.get("narrative", {})
    if "data_dir" in doc:
        base = path.parent if path is not None else Path(".")
        meta["data_dir"] = str((base / str(doc["data_dir"])).resolve())
        if not Path(meta["data_dir"]).is_dir():
            raise InputError(f"scenario {name!r}: data_dir {doc['data_dir']!r} not found")
    return RareEarthScenario(name=name, meta=meta, events=events, params=params, rng=rng,
                             event_rows=rows, strategy_pins=pins)
