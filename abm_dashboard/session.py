"""The dashboard's adapter to the model: the only module of ``abm_dashboard`` that imports ``abm``.

Everything the pages show or do goes through here, using only the model's public API
(``RareEarthModel``, ``results_frame``, ``event_log_frame``, ``states``, ``alliance_graph``,
``last_flows``, ``blocked_links``, ``apply_action``, ``play_strategy``, ``release_strategy``,
``strategy_names``, ``export_instrument``, ``clear_export_policy``, ``list_scenarios``,
``load_scenario``, ``PARAMS``), so that a change in the model's core moves only this file.

What is here:

- :data:`COUNTRIES`: the one table from the model's country codes to display names and the
  column slugs of the output frame (``CHN`` -> ``china`` -> ``mined_china``). Column names are
  built by :func:`column` only; :func:`country_values` also reads the legacy spelling
  (``mined_chn``) so the pages work before and after the core's rename;
- scenario facts for the pages (:func:`scenario_info`): titles, the scripted timeline, and
  which lever acts when (:func:`lever_status`), so the dashboard offers only levers that act;
- :class:`Run`: one dashboard run (settings, stepping, "run to", live China levers, data);
- :class:`GameWorld`: one classroom game's model (players' moves in, months out, briefings);
- :func:`headlines` and :func:`observed_history` (the facts in ``abm/data/observed_history.csv``).

Settings take effect **on reset** (scenario, seed and the numeric levers of
:data:`RESET_LEVERS`, the US-Japan alliance) or **live** from the next simulated month (China's
export policy toward the USA and Japan per product, :data:`CHINA_POLICY_CHOICES`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

import abm
from abm.params import add_months

__all__ = [
    "CHINA_POLICY_CHOICES",
    "CHINA_POLICY_TARGETS",
    "CLASSROOM_ROLES",
    "CLASSROOM_SCENARIO",
    "COUNTRIES",
    "Country",
    "GameWorld",
    "LeverSpec",
    "LeverStatus",
    "RESET_LEVERS",
    "Run",
    "ScenarioInfo",
    "Settings",
    "column",
    "concentration",
    "countries_with",
    "country_name",
    "country_values",
    "headlines",
    "lever_status",
    "month_to_year",
    "observed_history",
    "parse_lever",
    "parse_month_text",
    "scenario_info",
    "scenario_names",
    "slug",
    "trade_communities",
]

PRODUCTS = ("light", "heavy")


# ---------------------------------------------------------------------- countries and columns
@dataclass(frozen=True)
class Country:
    """A country as the pages show it.

    Attributes:
        code: the model's code (``CHN``).
        name: display name (``China``).
        slug: the name used in output columns (``china``: ``mined_china``, ``price_light_china``).
    """

    code: str
    name: str
    slug: str


def _country_table(rows: Iterable[tuple[str, str, str]]) -> dict[str, Country]:
    return {code: Country(code, name, slug) for code, name, slug in rows}


#: The model's country codes -> display name and column slug. The slugs follow the core's
#: column scheme (states: china, usa, japan, eu, australia, row; other hosts: lower-case
#: English names). This is the only place that knows it.
COUNTRIES: dict[str, Country] = _country_table([
    ("CHN", "China", "china"), ("USA", "USA", "usa"), ("JPN", "Japan", "japan"),
    ("EU", "EU", "eu"), ("AUS", "Australia", "australia"), ("ROW", "Rest of world", "row"),
    ("MMR", "Myanmar", "myanmar"), ("NGA", "Nigeria", "nigeria"),
    ("THA", "Thailand", "thailand"), ("IND", "India", "india"), ("RUS", "Russia", "russia"),
    ("VNM", "Vietnam", "vietnam"), ("BRA", "Brazil", "brazil"), ("MYS", "Malaysia", "malaysia"),
    ("KOR", "South Korea", "korea"), ("CAN", "Canada", "canada"),
    ("GRL", "Greenland", "greenland"), ("ZAF", "South Africa", "south_africa"),
])


def slug(code: str) -> str:
    """Column slug of a country code (``CHN`` -> ``china``; unknown codes lower-cased)."""
    country = COUNTRIES.get(code)
    return country.slug if country else code.lower()


def country_name(code: str) -> str:
    """Display name of a country code (unknown codes are shown as they are)."""
    country = COUNTRIES.get(code)
    return country.name if country else code


def column(kind: str, code: str, product: str | None = None) -> str:
    """The output column of a per-country quantity.

    Args:
        kind: ``mined``, ``refined``, ``inventory``, ``stockpile``, ``shortage``,
            ``china_import_share``, ``risk``, ``bloc``, ``payoff``, or ``price``.
        code: country code.
        product: for ``price``: ``light``, ``heavy`` or ``magnet``.

    Returns:
        E.g. ``mined_china`` or ``price_heavy_japan``.
    """
    if kind == "price":
        return f"price_{product}_{slug(code)}"
    return f"{kind}_{slug(code)}"


def _legacy_column(kind: str, code: str) -> str:
    return f"{kind}_{code.lower()}"


#: stage -> the model's Herfindahl-Hirschman column of supply concentration by country
HHI_STAGES = {"mining": "hhi_mining", "separation": "hhi_refining", "magnets": "hhi_magnets"}


def concentration(df: pd.DataFrame) -> dict[str, float]:
    """Stage -> the last month's HHI of supply by country (0-1), for the stages in the frame."""
    if df.empty:
        return {}
    return {stage: float(df[col].iloc[-1]) for stage, col in HHI_STAGES.items()
            if col in df.columns and pd.notna(df[col].iloc[-1])}


def trade_communities(df: pd.DataFrame, codes: Iterable[str]) -> dict[str, str]:
    """Each country's community in the last month's trade network, as the hub's code.

    Reads the model's ``trade_bloc_<country>`` columns (Louvain communities of the month's
    trade, each named after its member with the most trade) for the given country codes;
    countries without the column, or a frame with no month yet, are left out. A hub is named
    by its code (:data:`COUNTRIES` and the given codes); a slug neither knows stays as it is.
    """
    codes = list(codes)
    if df.empty:
        return {}
    by_slug = {slug(c): c for c in [*COUNTRIES, *codes]}
    last = df.iloc[-1]
    out = {}
    for code in codes:
        name = column("trade_bloc", code)
        if name in df.columns and isinstance(last[name], str):
            out[code] = by_slug.get(last[name], last[name])
    return out


def country_values(df: pd.DataFrame, kind: str, code: str) -> np.ndarray | None:
    """A per-country column as floats, or ``None`` when the frame has no such column.

    Reads the scheme of :func:`column`, then the legacy ``<kind>_<code lower-case>`` spelling.
    """
    for name in (column(kind, code), _legacy_column(kind, code)):
        if name in df.columns:
            return df[name].to_numpy(dtype=float)
    return None


def countries_with(df: pd.DataFrame, kind: str) -> list[str]:
    """Country codes that have a ``<kind>_<country>`` column in the frame, in table order."""
    suffixes = {c[len(kind) + 1:] for c in df.columns if c.startswith(f"{kind}_")}
    known = [code for code in COUNTRIES if slug(code) in suffixes or code.lower() in suffixes]
    covered = {slug(c) for c in known} | {c.lower() for c in known}
    return known + sorted(s.upper() for s in suffixes - covered)


def magnet_columns(df: pd.DataFrame) -> list[str]:
    """The magnet price columns (``price_magnet_<country>``) the frame has.

    None until the core models magnets.
    """
    return [c for c in df.columns if c.startswith("price_magnet_")]


# ---------------------------------------------------------------------- scenarios
def scenario_names() -> list[str]:
    """The shipped scenarios' names (the only values a page may choose)."""
    return list(abm.list_scenarios())


@dataclass(frozen=True)
class ScriptedEvent:
    """One event of a scenario's timeline, as the pages show it."""

    date: str
    actor: str
    action: str
    detail: str
    requires: str = ""
    mode: str = ""


@dataclass(frozen=True)
class ScenarioInfo:
    """What the pages need to know about a scenario before running it.

    Attributes:
        name: scenario name.
        title: its title (shown in the picker).
        description: what it is.
        narrative: ``history``, ``look_for`` and ``questions`` for the class.
        start: first month ``YYYY-MM``.
        horizon_months: months it runs.
        params: parameter values of the scenario file.
        events: the scripted timeline.
        free_from: month from which unpinned states choose (``start``, ``YYYY-MM`` or ``""``).
    """

    name: str
    title: str
    description: str
    narrative: Mapping[str, Any]
    start: str
    horizon_months: int
    params: Mapping[str, Any]
    events: tuple[ScriptedEvent, ...]
    free_from: str

    @property
    def end(self) -> str:
        """The last month the scenario simulates (``YYYY-MM``)."""
        return add_months(self.start, self.horizon_months - 1)

    def timeline(self, alliance: bool) -> list[ScriptedEvent]:
        """The events that apply with this alliance setting."""
        return [e for e in self.events if e.requires != "alliance" or alliance]


@functools.cache
def scenario_info(name: str) -> ScenarioInfo:
    """Facts about a shipped scenario.

    Raises:
        ValueError: ``name`` is not one of :func:`scenario_names` (never read as a path).
    """
    if name not in scenario_names():
        raise ValueError(f"unknown scenario {name!r}")
    sc = abm.load_scenario(name)
    events = tuple(ScriptedEvent(ev.date, ev.actor, ev.action, ev.detail or ev.action,
                                 ev.requires, str(ev.args.get("mode", "")))
                   for ev in sc.events)
    params = sc.params
    return ScenarioInfo(name=name, title=str(sc.title), description=" ".join(
        str(sc.description or "").split()), narrative=dict(sc.narrative or {}), start=sc.start,
        horizon_months=int(sc.horizon_months), params=params, events=events,
        free_from=str(params.get("free_from", "")))


def parse_month_text(text: Any, lo: str, hi: str) -> str:
    """Check a month typed by a user.

    Args:
        text: what was typed (``2025-04``).
        lo: first accepted month.
        hi: last accepted month.

    Returns:
        The month as ``YYYY-MM``.

    Raises:
        ValueError: one line naming the accepted form and range.
    """
    raw = str(text).strip()
    ok = (len(raw) == 7 and raw[4] == "-" and raw[:4].isascii() and raw[:4].isdigit()
          and raw[5:].isascii() and raw[5:].isdigit() and 1 <= int(raw[5:]) <= 12)
    if not ok:
        raise ValueError(f"Run to: type a month as YYYY-MM between {lo} and {hi}, got {raw!r}")
    if not lo <= raw <= hi:
        raise ValueError(f"Run to: {raw} is outside this run ({lo} to {hi})")
    return raw


# ---------------------------------------------------------------------- levers
@dataclass(frozen=True)
class LeverSpec:
    """A numeric scenario parameter offered as a dashboard control.

    Attributes:
        name: the model parameter (an override accepted by :class:`abm.RareEarthModel`).
        label: the control's label, with units.
        kind: ``int`` or ``float``.
        lo: smallest accepted value (from :data:`abm.PARAMS` where the model defines it).
        hi: largest accepted value.
        help: a plain-language sentence for the class.
    """

    name: str
    label: str
    kind: type
    lo: float
    hi: float
    help: str = ""


def _spec(name: str, label: str, help_text: str, kind: type | None = None, lo=None,
          hi=None) -> LeverSpec:
    param = abm.PARAMS.get(name)
    kind = kind or (param.type if param else float)
    lo = lo if lo is not None else (param.lo if param and param.lo is not None else 0)
    hi = hi if hi is not None else (param.hi if param and param.hi is not None else 1e9)
    return LeverSpec(name, label, kind, lo, hi, help_text)


#: Numeric levers that take effect on reset. ``n_firms`` is capped for the browser: the totals
#: do not depend on it, only the heterogeneity.
RESET_LEVERS: tuple[LeverSpec, ...] = (
    _spec("demand_elasticity", "Demand elasticity (abs.)",
          "How much less firms buy when the price rises: 0.2 means 2% less for a 10% rise."),
    _spec("stockpile_target_months", "Stockpile target (months of use)",
          "How many months of its own use a state stockpiling aims to hold in reserve."),
    _spec("logit_intensity", "How strategic states are (logit intensity)",
          "0: states pick strategies at random; 3: the best is e^3 = 20 times as likely as "
          "the worst; 100: they almost always pick the best."),
    _spec("n_firms", "Number of firms", "Firms that buy rare earths. Totals stay the same; "
          "only how varied firms are changes.", int, 1, 20_000),
)
SEED_SPEC = LeverSpec("seed", "Seed", int, 0, 2**32 - 1,
                      "The same seed and settings give the same run.")


def parse_lever(spec: LeverSpec, text: Any) -> int | float:
    """Parse and range-check a value typed into a numeric control.

    Args:
        spec: the lever.
        text: what the user typed (or a number).

    Returns:
        The value as ``int`` or ``float``.

    Raises:
        ValueError: with a one-line message naming the control, the accepted range and what
            was typed (the dashboard shows it and keeps the previous value).
    """
    what = "a whole number" if spec.kind is int else "a number"
    rng = f"between {spec.lo:g} and {spec.hi:g}"
    raw = str(text).strip()[:40]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{spec.label}: must be {what} {rng}, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{spec.label}: must be {what} {rng}, got {raw!r}")
    if spec.kind is int:
        if not value.is_integer():
            raise ValueError(f"{spec.label}: must be {what} {rng}, got {raw!r}")
        value = int(value)
    if not spec.lo <= value <= spec.hi:
        raise ValueError(f"{spec.label}: {raw} is out of range; must be {rng}")
    return value


@dataclass(frozen=True)
class LeverStatus:
    """Whether a lever acts in a scenario, and from when.

    Attributes:
        acts: False when nothing in the scenario ever reads the lever (the page hides it).
        start: first month it acts (``YYYY-MM``), or ``""`` when it acts from the start.
        why: one sentence for the page.
    """

    acts: bool
    start: str = ""
    why: str = ""


def _free_start(info: ScenarioInfo) -> str | None:
    """First month in which some state chooses freely, or None."""
    free = info.free_from
    if free == "start":
        return info.start
    if free and free <= info.end:
        return max(free, info.start)
    return None


def lever_status(info: ScenarioInfo, lever: str, alliance: bool = True) -> LeverStatus:
    """Which levers act in a scenario and when, from the scenario file itself.

    - ``alliance``: only where timeline events depend on it (``requires = "alliance"``);
    - ``logit_intensity``: once states choose freely (``free_from``);
    - ``stockpile_target_months``: once a state may build a stockpile: from the first scripted
      ``stockpile build`` event (with this alliance setting) or once states choose freely;
    - ``demand_elasticity`` and ``n_firms``: always.

    Args:
        info: the scenario.
        lever: a lever name (``alliance``, a :data:`RESET_LEVERS` name, ``china_policy``).
        alliance: the alliance setting (it decides which events apply).

    Returns:
        The lever's status.
    """
    free = _free_start(info)
    if lever == "alliance":
        dated = [e.date for e in info.events if e.requires == "alliance"]
        if not dated:
            return LeverStatus(False, why="no event of this scenario depends on the alliance")
        return LeverStatus(True, _later(min(dated), info.start),
                           f"adds the framework's events from {min(dated)}")
    if lever == "logit_intensity":
        if free is None:
            return LeverStatus(False, why="no state chooses freely in this scenario")
        return LeverStatus(True, _later(free, info.start), "acts when states choose")
    if lever == "stockpile_target_months":
        builds = [e.date for e in info.timeline(alliance)
                  if e.action == "stockpile" and e.mode == "build"]
        starts = [d for d in [*builds, free] if d]
        if not starts:
            return LeverStatus(False, why="no state builds a stockpile in this scenario")
        return LeverStatus(True, _later(min(starts), info.start),
                           "acts once a state stockpiles (states' security scores measure "
                           "cover against it from the start)")
    return LeverStatus(True, "", "acts from the start")


def _later(date: str, start: str) -> str:
    return "" if date <= start else date


# ---------------------------------------------------------------------- observed history
@functools.cache
def observed_history() -> pd.DataFrame:
    """The observed history (``abm/data/observed_history.csv``) with a ``year`` column.

    Returns:
        Columns ``date, variable, value, unit, source, year`` (``year`` fractional: the middle
        of the month or of the year); empty if the file is missing.
    """
    try:
        with resources.files("abm").joinpath("data/observed_history.csv").open() as f:
            df = pd.read_csv(f, dtype={"date": str})
    except (FileNotFoundError, OSError):
        return pd.DataFrame(columns=["date", "variable", "value", "unit", "source", "year"])
    df["year"] = df["date"].map(month_to_year)
    return df


def month_to_year(text: str) -> float:
    """Convert ``YYYY-MM`` (or ``YYYY``) to a fractional year at the middle of the period.

    Args:
        text: a month or a year.

    Returns:
        E.g. ``2025.04`` for ``2025-01``, ``2009.5`` for ``2009``.
    """
    text = str(text)
    if len(text) >= 7 and text[4] == "-":
        return int(text[:4]) + (int(text[5:7]) - 0.5) / 12.0
    return int(text[:4]) + 0.5


# ---------------------------------------------------------------------- dashboard runs
#: Export instruments a user can impose on China's exports toward one target and product.
#: ``scenario`` leaves the link to the scenario timeline and China's own choices.
CHINA_POLICY_CHOICES = ("scenario", "open", "licence", "ban")
#: (target state code, product) pairs the dashboard exposes as live levers.
CHINA_POLICY_TARGETS = (("USA", "light"), ("USA", "heavy"), ("JPN", "light"), ("JPN", "heavy"))


@dataclass(frozen=True)
class Settings:
    """Everything that defines a run when it is (re)built.

    Attributes:
        scenario: scenario name (:func:`scenario_names`).
        seed: random seed.
        alliance: US-Japan framework on (True) or removed (False).
        levers: values of :data:`RESET_LEVERS` that differ from the scenario's own.
        china_policy: live export levers, ``{(target, product): choice}``.
    """

    scenario: str = "controls_2025"
    seed: int = 0
    alliance: bool = True
    levers: dict[str, float] = field(default_factory=dict)
    china_policy: dict[tuple[str, str], str] = field(default_factory=dict)

    def overrides(self) -> dict[str, Any]:
        """Return the model overrides these settings stand for."""
        return {"alliance": self.alliance, **self.levers}

    def replace(self, **changes) -> Settings:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


class _Recorded:
    """What :class:`Run` and :class:`GameWorld` share.

    Each month's payoffs, and the results frame with the columns the views add (cached per
    month).
    """

    model: Any

    def _start_record(self) -> None:
        self._payoffs: list[dict[str, float]] = []
        self._frame_cache: tuple[int, pd.DataFrame] | None = None

    def _record_month(self) -> None:
        self._payoffs.append({code: float(s.payoff) for code, s in self.model.states.items()})

    @property
    def months_done(self) -> int:
        """Months simulated."""
        return len(self._payoffs)

    def frame(self) -> pd.DataFrame:
        """The results so far, one row per month.

        Plus ``year`` (fractional, mid-month) and ``payoff_<country>`` (US$ million/month)
        when the model's frame lacks it.
        """
        if self._frame_cache and self._frame_cache[0] == self.months_done:
            return self._frame_cache[1]
        df = self.model.results_frame().reset_index(drop=True)
        if len(df):
            df["year"] = [month_to_year(d) for d in df["date"]]
            df = _add_payoffs(df, self._payoffs)
        self._frame_cache = (self.months_done, df)
        return df


class Run(_Recorded):
    """One model run plus what the views draw from it.

    Args:
        settings: scenario, seed and overrides.

    Raises:
        ValueError: the scenario is not one of :func:`scenario_names`.
        abm.InputError: the model refused the settings (bad override).
    """

    def __init__(self, settings: Settings):
        self.info = scenario_info(settings.scenario)
        self.settings = settings
        self.model = abm.RareEarthModel(
            scenario=settings.scenario, rng=settings.seed, **settings.overrides())
        self.error: str | None = None
        self._start_record()
        self._events_cache: tuple[tuple[int, int], pd.DataFrame] | None = None
        self._changes = 0  # user actions applied (they add to the event log)
        self.view_cache: dict[str, Any] = {}  # what views compute once per run
        self.applied_policy: dict[tuple[str, str], str] = {}
        self._user_pinned_export = False
        self._user_pin_step = 0
        self.set_china_policy(settings.china_policy)

    @property
    def start(self) -> str:
        """First month of the run."""
        return self.info.start

    @property
    def end(self) -> str:
        """Last month of the run."""
        return self.info.end

    @property
    def horizon(self) -> int:
        """Months in the run."""
        return self.info.horizon_months

    # ------------------------------------------------------------------ live China levers
    def set_china_policy(self, policy: Mapping[tuple[str, str], str]) -> list[str]:
        """Impose China's export policy toward single targets, from the next month on.

        A choice other than ``scenario`` is applied with :meth:`abm.RareEarthModel.apply_action`
        (pinned: China's learning no longer chooses its exports; the event log shows a user
        decision) and re-imposed after a scripted event toward ``all`` replaced it. When every
        link is back to ``scenario`` the links reopen to the timeline, and China's export choice
        is handed back to its learning if the user (not the timeline) had pinned it.

        Args:
            policy: ``{(target, product): choice}`` with choices from
                :data:`CHINA_POLICY_CHOICES`.

        Returns:
            Human-readable descriptions of the changes made (empty when nothing changed).

        Raises:
            ValueError: a choice or key that is not offered.
        """
        for key, choice in policy.items():
            if key not in CHINA_POLICY_TARGETS or choice not in CHINA_POLICY_CHOICES:
                raise ValueError(f"China's exports: {choice!r} for {key!r} is not offered")
        model = self.model
        changes = []
        for key in CHINA_POLICY_TARGETS:
            choice = policy.get(key, "scenario")
            target, product = key
            previous = self.applied_policy.get(key, "scenario")
            if choice == "scenario":
                if previous != "scenario":
                    model.clear_export_policy(
                        "CHN", target, product, source="user",
                        detail=f"China: exports of {product} to {country_name(target)} back "
                               "to the scenario's policy (user)")
                    changes.append(f"{country_name(target)} {product}: as in scenario")
                self.applied_policy.pop(key, None)
                continue
            if choice == previous and model.export_instrument("CHN", target, product) == choice:
                continue
            if not self.applied_policy and "export" not in model.states["CHN"].pinned:
                self._user_pinned_export = True
                self._user_pin_step = self.months_done
            model.apply_action("CHN", "export",
                               {"instrument": choice, "target": target, "product": product},
                               pin=True, source="user",
                               detail=f"China: exports of {product} to "
                                      f"{country_name(target)} -> {choice} (user)")
            self.applied_policy[key] = choice
            changes.append(f"{country_name(target)} {product}: {choice}")
        self._changes += len(changes)
        if not self.applied_policy and self._user_pinned_export:
            self._user_pinned_export = False
            if not self._timeline_pinned_china_since(self._user_pin_step):
                model.release_strategy("CHN", "export")
        return changes

    def _timeline_pinned_china_since(self, step: int) -> bool:
        log = self.model.event_log_frame()
        hits = log[(log["step"] >= step) & (log["actor"] == "CHN") & (log["action"] == "export")
                   & (log["source"] == "timeline")]
        return not hits.empty

    # ------------------------------------------------------------------ stepping
    @property
    def running(self) -> bool:
        """Whether the run can advance (horizon not reached and no error)."""
        return bool(self.model.running) and self.error is None

    @property
    def steps_done(self) -> int:
        """Months simulated so far."""
        return self.months_done

    @property
    def last_month(self) -> str:
        """The last simulated month, or ``""`` before the first step."""
        return add_months(self.start, self.months_done - 1) if self.months_done else ""

    def step(self) -> bool:
        """Advance one month, catching model exceptions.

        Returns:
            True when a month was simulated; False at the horizon or after an error, in which
            case :attr:`error` holds a one-line message and the months before are kept.
        """
        if not self.running:
            return False
        date = self.model.date
        try:
            self.model.step()
            if self.applied_policy:  # a timeline event toward "all" replaces user levers
                self.set_china_policy(self.applied_policy)
        except Exception as exc:  # noqa: BLE001 - any model failure is shown, not raised
            text = " ".join(str(exc).split())[:300]
            self.error = (f"The model stopped in {date}: {type(exc).__name__}: {text}. "
                          f"The {self.months_done} months before are kept")
            return False
        self._record_month()
        return True

    def run_to(self, month: str) -> int:
        """Simulate until ``month`` has been simulated (or the horizon, or an error).

        Returns:
            Months simulated.
        """
        n = 0
        while self.running and (not self.last_month or self.last_month < month):
            if not self.step():
                break
            n += 1
        return n

    def next_event(self) -> ScriptedEvent | None:
        """The next scripted event not yet simulated, or None."""
        after = self.last_month or ""
        for ev in self.info.timeline(self.settings.alliance):
            if ev.date > after:
                return ev
        return None

    # ------------------------------------------------------------------ data for views
    def events(self) -> pd.DataFrame:
        """The event log so far (date, step, actor, action, detail, source)."""
        key = (self.months_done, self._changes)
        if self._events_cache and self._events_cache[0] == key:
            return self._events_cache[1]
        log = self.model.event_log_frame()
        self._events_cache = (key, log)
        return log

    def network(self) -> tuple[nx.Graph, dict[str, str], dict[str, float], dict[str, str]]:
        """The bloc network as the view draws it.

        Returns:
            ``(graph, bloc_of_node, marker_area_of_node, country_of_node)``: a bloc is a
            connected group of two or more in the alliance graph (docs/architecture.md), named
            after its alliance when its states share one, else after its states; marker areas
            scale with the square root of purchases (states) or mine output (miners) from the
            graph's ``size`` attribute; the country of a miner is its host.
        """
        return network_view(self.model)

    def flows(self) -> tuple[Mapping[str, pd.DataFrame], Mapping[str, set]]:
        """This month's trade flows per product (seller x buyer, t/month) and blocked links."""
        return self.model.last_flows, self.model.blocked_links

    def trade_communities(self) -> dict[str, str]:
        """State code -> the hub of its trade community this month (:func:`trade_communities`)."""
        return trade_communities(self.frame(), self.model.states)

    def concentration(self) -> dict[str, float]:
        """This month's supply concentration by stage (:func:`concentration`)."""
        return concentration(self.frame())


def _add_payoffs(df: pd.DataFrame, payoffs: list[dict[str, float]]) -> pd.DataFrame:
    """Add ``payoff_<country>`` columns from recorded payoffs where the frame lacks them."""
    if not payoffs:
        return df
    missing = [code for code in payoffs[0] if column("payoff", code) not in df.columns]
    if not missing:
        return df
    rows = payoffs[: len(df)] + [{}] * max(len(df) - len(payoffs), 0)
    extra = pd.DataFrame({column("payoff", c): [r.get(c, np.nan) for r in rows]
                          for c in missing}, index=df.index)
    return pd.concat([df, extra], axis=1)


def network_view(model) -> tuple[nx.Graph, dict[str, str], dict[str, float], dict[str, str]]:
    """Blocs, marker areas and host countries of the alliance graph's nodes.

    See :meth:`Run.network`.
    """
    graph = model.alliance_graph
    bloc: dict[str, str] = {}
    for comp in nx.connected_components(graph):
        if len(comp) < 2:
            bloc.update(dict.fromkeys(comp, "unaligned"))
            continue
        states = sorted(c for c in comp if c in model.states)
        names = sorted({model.states[c].bloc for c in states if model.states[c].bloc})
        bloc.update(dict.fromkeys(comp, "+".join(names) or "+".join(states) or "miners"))
    raw = {n: float(d.get("size", 0.0) or 0.0) for n, d in graph.nodes(data=True)}
    size: dict[str, float] = {}
    country: dict[str, str] = {}
    for kind, base, span in (("state", 60.0, 900.0), ("miner", 15.0, 500.0)):
        nodes = [n for n, d in graph.nodes(data=True) if d.get("kind") == kind]
        top = max((raw[n] for n in nodes), default=0.0) or 1.0
        for n in nodes:
            size[n] = base + span * math.sqrt(max(raw[n], 0.0) / top)
            country[n] = n if kind == "state" else str(graph.nodes[n].get("country", ""))
    return graph, bloc, size, country


def headlines(df: pd.DataFrame, events: pd.DataFrame | None = None) -> list[str]:
    """Short plain-language sentences on what is happening in the latest month (for classes).

    Args:
        df: a run's frame (model columns).
        events: the run's event log; policy events of the latest month are summarised.

    Returns:
        Up to four sentences: two-tier prices where the price outside China exceeds China's by
        more than 30%, price moves of more than 25% over the last 12 months, shortages in the
        USA and Japan, China's share of refining, and this month's policy events.
    """
    if df is None or df.empty:
        return ["Press Step or Play to start the simulation."]
    last = df.iloc[-1]
    out = []
    for product, name in (("heavy", "Heavy (Dy/Tb)"), ("light", "Light (NdPr)")):
        lower = name[0].lower() + name[1:]
        inside = last.get(column("price", "CHN", product))
        outside = last.get(f"price_{product}_world")
        if inside and outside and inside > 0 and outside / inside > 1.3:
            out.append(f"Two-tier prices: {lower} oxide costs {outside / inside:.1f}x "
                       f"more outside China than inside ({outside:,.0f} vs {inside:,.0f} US$/kg).")
        elif len(df) > 12 and outside:
            before = df[f"price_{product}_world"].iloc[-13]
            if before > 0 and abs(outside / before - 1) > 0.25:
                verb = "up" if outside > before else "down"
                out.append(f"{name} oxide is {verb} {abs(outside / before - 1):.0%} on a year "
                           f"ago ({outside:,.0f} US$/kg).")
    short = [(country_name(c), last.get(column("shortage", c), 0.0) or 0.0)
             for c in ("USA", "JPN")]
    short = [f"{c} {t:,.1f} t" for c, t in short if t > 0.05]
    if short:
        out.append("Shortage this month: " + ", ".join(short) + " that firms wanted but "
                   "could not get.")
    share = last.get("china_share_refining")
    if share is not None and len(out) < 3:
        out.append(f"China refines {share:.0%} of the world's rare-earth oxide.")
    if events is not None and not events.empty:
        now = events[(events["date"] == last["date"]) & (events["action"] != "invest")]
        if len(now):
            out.append(f"{len(now)} policy event{'s' if len(now) > 1 else ''} this month: "
                       + "; ".join(now["detail"].astype(str).head(2))
                       + ("; ..." if len(now) > 2 else ""))
    return out[:4]


# ---------------------------------------------------------------------- the classroom game
#: The scenario a class plays: the calibrated 2024 world with every state free to choose (no
#: scripted event pins a state, so every seat a team does not take is played by the model's
#: learning states, and every team's move acts from its first month).
CLASSROOM_SCENARIO = "strategic"
#: Roles a student can take, in the order pages list them.
CLASSROOM_ROLES: tuple[str, ...] = ("CHN", "USA", "JPN", "EU", "AUS")
DOMAINS = ("export", "stockpile", "alliance")


def _payoff_weight(name: str, default: float) -> float:
    """A payoff weight's default from ``abm.PARAMS`` (``payoff_<name>``)."""
    param = abm.PARAMS.get(f"payoff_{name}")
    return float(param.default) if param is not None else default


def consent_risk_threshold() -> float:
    """Perceived supply risk above which a seat the model plays accepts an alliance proposal.

    The model's own valuation of joining (``abm.strategies.forgone_payoffs``): membership averts
    ``security_weight x alliance_effectiveness x risk`` of a state's use value and costs
    ``membership_cost_share`` of it, so joining pays when risk exceeds the ratio (0.08 with the
    default weights).
    """
    gain = _payoff_weight("security_weight", 0.5) * _payoff_weight("alliance_effectiveness", 0.5)
    return _payoff_weight("membership_cost_share", 0.02) / max(gain, 1e-9)


class GameWorld(_Recorded):
    """One classroom game's model: moves in, months out (see :mod:`abm_dashboard.classroom`).

    Every call that changes the model is one of three, recorded by the caller so a restarted
    server replays the game exactly: ``("play", code, domain, strategy)``
    (:meth:`abm.RareEarthModel.play_strategy`: applies and pins), ``("release", code, domain)``
    (:meth:`abm.RareEarthModel.release_strategy`: the state's learning chooses again) and
    ``("ally", a, b, bloc)`` (both states join ``bloc``, pinned for ``a``).

    Args:
        seed: the model's seed.
        round_months: months per round; the model's states decide at the same interval
            (``decision_interval_months``), so seats the model plays choose once a round, as
            teams do.

    Raises:
        abm.InputError: bad seed or round length.
    """

    def __init__(self, seed: int, round_months: int):
        self.model = abm.RareEarthModel(scenario=CLASSROOM_SCENARIO, rng=seed,
                                        decision_interval_months=round_months)
        self.info = scenario_info(CLASSROOM_SCENARIO)
        self.seed = seed
        self.round_months = round_months
        self._start_record()

    # ------------------------------------------------------------------ moves
    def strategy_options(self, domain: str) -> tuple[str, ...]:
        """The model's strategies in a decision domain (``model.strategy_names``)."""
        return tuple(self.model.strategy_names(domain))

    def execute(self, call: tuple) -> None:
        """Apply one recorded call (see the class docstring).

        Raises:
            ValueError: an unknown call.
        """
        kind = call[0]
        if kind == "play":
            _, code, domain, name = call
            self.model.play_strategy(code, domain, name, source="player")
        elif kind == "release":
            _, code, domain = call
            self.model.release_strategy(code, domain)
        elif kind == "ally":
            _, a, b, bloc = call
            self.model.apply_action(
                a, "alliance", {"bloc": bloc, "member": b}, pin=True, source="player",
                detail=f"{country_name(a)} and {country_name(b)}: alliance {bloc} (both agreed)")
        else:
            raise ValueError(f"unknown game call {kind!r}")

    def bloc(self, code: str) -> str:
        """The alliance a state is in (``""`` = none)."""
        return str(self.model.states[code].bloc or "")

    def pinned(self, code: str) -> frozenset[str]:
        """The decision domains fixed for a state (played by a team or by the timeline)."""
        return frozenset(self.model.states[code].pinned)

    def would_consent(self, code: str) -> bool:
        """Whether a seat the model plays accepts an alliance proposal now.

        It does when its perceived supply risk (``risk_<country>``, last month) is above
        :func:`consent_risk_threshold`.
        """
        df = self.frame()
        risk = country_values(df, "risk", code)
        now = float(risk[-1]) if risk is not None and len(risk) else 0.0
        return now > consent_risk_threshold()

    # ------------------------------------------------------------------ time
    @property
    def month(self) -> str:
        """The month the next step simulates (``YYYY-MM``)."""
        return str(self.model.date)

    @property
    def finished(self) -> bool:
        """Whether the scenario's horizon is reached."""
        return not self.model.running

    def advance(self, months: int) -> int:
        """Simulate up to ``months`` months (fewer at the horizon).

        Returns:
            Months simulated.
        """
        n = 0
        while n < months and self.model.running:
            self.model.step()
            self._record_month()
            n += 1
        return n

    # ------------------------------------------------------------------ views
    def events(self) -> pd.DataFrame:
        """The event log so far."""
        return self.model.event_log_frame()

    def payoffs(self, code: str, first: int = 0, last: int | None = None) -> float:
        """Sum of a state's payoff over months ``first`` to ``last`` (exclusive), US$ million."""
        df = self.frame()
        values = country_values(df, "payoff", code)
        if values is None or not len(values):
            return 0.0
        return float(np.nansum(values[first:last]))

    def network(self):
        """The bloc network as :meth:`Run.network` returns it."""
        return network_view(self.model)

    def exports_tpm(self, code: str) -> float:
        """A state's oxide sales abroad last month, t (both products)."""
        total = 0.0
        for product in PRODUCTS:
            mat = self.model.last_flows.get(product)
            if mat is not None and code in mat.index:
                total += float(mat.loc[code].sum() - mat.loc[code].get(code, 0.0))
        return total

    def export_policy_text(self, code: str) -> str:
        """A state's export controls in force, in words (``open`` when none)."""
        parts = []
        for product in PRODUCTS:
            kinds = set()
            for target in self.model.states:
                if target == code:
                    continue
                inst = (self.model.export_instrument(code, target, product)
                        or self.model.export_instrument(code, "all", product))
                if inst and inst != "open":
                    kinds.add(inst)
            if kinds:
                parts.append(f"{product}: {'/'.join(sorted(kinds))}")
        return "; ".join(parts) or "open"

    def briefing(self, code: str, round_start: int) -> dict[str, Any]:
        """What a team sees about its state (values of the last simulated month).

        Args:
            code: the state.
            round_start: index of the first month of the last round (for sums over it).

        Returns:
            A dict with ``month``, ``price_light``, ``price_heavy`` (home, US$/kg),
            ``price_light_world``, ``price_heavy_world``, the change of the home prices over the
            last round (``light_change``, ``heavy_change``, ratios), ``stockpile`` (t),
            ``shortage`` (t over the last round), ``china_share`` (share of purchases refined
            in China), ``risk`` (0-1), ``bloc``, ``exports`` (t/month), ``export_policy``,
            ``score_round`` and ``score_total`` (US$ million).
        """
        df = self.frame()
        out: dict[str, Any] = {"month": self.month, "bloc": self.bloc(code),
                               "exports": self.exports_tpm(code),
                               "export_policy": self.export_policy_text(code),
                               "score_round": self.payoffs(code, round_start),
                               "score_total": self.payoffs(code)}
        if df.empty:
            return out
        last = df.iloc[-1]
        first = df.iloc[min(round_start, len(df) - 1)] if round_start > 0 else df.iloc[0]
        for product in PRODUCTS:
            home = last.get(column("price", code, product))
            out[f"price_{product}"] = float(home) if home is not None else float("nan")
            out[f"price_{product}_world"] = float(last.get(f"price_{product}_world", np.nan))
            before = first.get(column("price", code, product))
            out[f"{product}_change"] = (float(home) / float(before) - 1.0
                                        if home is not None and before else 0.0)
        for key, kind in (("stockpile", "stockpile"), ("china_share", "china_import_share"),
                          ("risk", "risk")):
            values = country_values(df, kind, code)
            out[key] = float(values[-1]) if values is not None else float("nan")
        short = country_values(df, "shortage", code)
        out["shortage"] = float(np.nansum(short[round_start:])) if short is not None else 0.0
        return out
