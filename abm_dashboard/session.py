"""Run control for the dashboard: settings, input checking, and one model run with history.

Nothing here knows about Solara, so it is tested directly. The dashboard keeps one
:class:`Run` (and a second one in compare mode) and redraws its views from it after each step.

Which settings take effect when:

- **on reset** (the run is rebuilt): scenario, seed and the scenario parameters in
  :data:`RESET_LEVERS` (number of firms, US-Japan alliance, demand elasticity, how strategic the
  states are, stockpile target);
- **live** (from the next simulated month): China's export policy toward the USA and Japan per
  product (:data:`CHINA_POLICY_CHOICES`) and the play speed.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import abm

__all__ = [
    "CHINA_POLICY_CHOICES",
    "CHINA_POLICY_TARGETS",
    "COUNTRY_NAMES",
    "LeverSpec",
    "RESET_LEVERS",
    "Run",
    "Settings",
    "headlines",
    "month_to_year",
    "parse_lever",
]

#: Export instruments a user can impose on China's exports toward one target and product.
#: ``scenario`` leaves the link to the scenario timeline and China's own choices.
CHINA_POLICY_CHOICES = ("scenario", "open", "licence", "ban")
#: (target state code, product) pairs the dashboard exposes as live levers.
CHINA_POLICY_TARGETS = (("USA", "light"), ("USA", "heavy"), ("JPN", "light"), ("JPN", "heavy"))
#: Display names of the model's country codes (others are shown as their code).
COUNTRY_NAMES = {"CHN": "China", "USA": "USA", "JPN": "Japan", "EU": "EU", "AUS": "Australia",
                 "ROW": "Rest of world", "MMR": "Myanmar", "NGA": "Nigeria", "THA": "Thailand",
                 "IND": "India", "RUS": "Russia", "VNM": "Vietnam", "BRA": "Brazil"}


@dataclass(frozen=True)
class LeverSpec:
    """A numeric scenario parameter offered as a dashboard control.

    Attributes:
        name: the model parameter (an override accepted by :class:`abm.RareEarthModel`).
        label: the control's label, with units.
        kind: ``int`` or ``float``.
        lo: smallest accepted value (from :data:`abm.PARAMS` where the model defines it).
        hi: largest accepted value.
    """

    name: str
    label: str
    kind: type
    lo: float
    hi: float


def _spec(name: str, label: str, kind: type | None = None, lo=None, hi=None) -> LeverSpec:
    param = abm.PARAMS.get(name)
    kind = kind or (param.type if param else float)
    lo = lo if lo is not None else (param.lo if param and param.lo is not None else 0)
    hi = hi if hi is not None else (param.hi if param and param.hi is not None else 1e9)
    return LeverSpec(name, label, kind, lo, hi)


#: Numeric levers that take effect on reset. ``n_firms`` is capped for the browser: the totals
#: do not depend on it, only the heterogeneity, and 20,000 firms still step in a blink.
RESET_LEVERS: tuple[LeverSpec, ...] = (
    _spec("n_firms", "Number of firms", int, 1, 20_000),
    _spec("demand_elasticity", "Demand elasticity (abs.)"),
    _spec("logit_intensity", "How strategic states are (logit intensity, 0 = random)"),
    _spec("stockpile_target_months", "Stockpile target (months of consumption)"),
)
SEED_SPEC = LeverSpec("seed", "Seed", int, 0, 2**32 - 1)


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
    raw = str(text).strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{spec.label}: must be {what} {rng}, got {raw!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{spec.label}: must be {what} {rng}, got {raw!r}")
    if spec.kind is int:
        if not value.is_integer():
            raise ValueError(f"{spec.label}: must be {what} {rng}, got {raw!r}")
        value = int(value)
    if not spec.lo <= value <= spec.hi:
        raise ValueError(f"{spec.label}: {raw} is out of range; must be {rng}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything that defines a run when it is (re)built.

    Attributes:
        scenario: scenario name (:func:`abm.list_scenarios`).
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
        """Return the model overrides these settings stand for.

        Returns:
            Keyword arguments for :class:`abm.RareEarthModel`.
        """
        return {"alliance": self.alliance, **self.levers}

    def replace(self, **changes) -> Settings:
        """Return a copy with some fields changed.

        Args:
            **changes: field values.

        Returns:
            The new settings.
        """
        return dataclasses.replace(self, **changes)


class Run:
    """One model run plus the per-month history the views draw.

    The model's own ``results_frame()`` has one row per month; the run adds what the views need
    and the frame lacks: mine output and refining by country, firm inventories by country.

    Args:
        settings: scenario, seed and overrides.

    Raises:
        abm.InputError: the model refused the settings (bad override).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = abm.RareEarthModel(
            scenario=settings.scenario, rng=settings.seed, **settings.overrides())
        self.scenario = self.model.sc
        self.error: str | None = None
        self._extra: list[dict[str, float]] = []
        self._frame_cache: tuple[int, pd.DataFrame] | None = None
        self._events_cache: tuple[int, pd.DataFrame] | None = None
        self.applied_policy: dict[tuple[str, str], str] = {}
        self.set_china_policy(settings.china_policy)

    # ------------------------------------------------------------------ policy levers
    def set_china_policy(self, policy: dict[tuple[str, str], str]) -> list[str]:
        """Impose China's export policy toward single targets, from the next month on.

        A choice other than ``scenario`` is applied through the model's own action machinery
        (:meth:`abm.RareEarthModel.apply_action`, which pins China's export choice, so the event log
        shows it as a user decision) and re-imposed after a scripted event toward ``all``
        replaced it. Back to ``scenario`` reopens the link to the timeline and China's choices.

        Args:
            policy: ``{(target, product): choice}`` with choices from
                :data:`CHINA_POLICY_CHOICES`.

        Returns:
            Human-readable descriptions of the changes made (empty when nothing changed).
        """
        changes = []
        for key in CHINA_POLICY_TARGETS:
            choice = policy.get(key, "scenario")
            if choice not in CHINA_POLICY_CHOICES:
                raise ValueError(f"unknown export policy {choice!r}")
            target, product = key
            previous = self.applied_policy.get(key, "scenario")
            in_force = self.model.export_instrument("CHN", target, product)
            if choice == "scenario":
                if previous != "scenario":
                    self.model.clear_export_policy(
                        "CHN", target, product, source="user",
                        detail=f"China: exports of {product} to {target} back to the "
                               "scenario's policy")
                    changes.append(f"{target} {product}: scenario")
                self.applied_policy.pop(key, None)
                continue
            if choice == previous and in_force == choice:
                continue
            self.model.apply_action("CHN", "export",
                         {"instrument": choice, "target": target, "product": product},
                         pin=True, source="user",
                         detail=f"China: exports of {product} to "
                                f"{COUNTRY_NAMES.get(target, target)} -> {choice} (user)")
            self.applied_policy[key] = choice
            changes.append(f"{target} {product}: {choice}")
        return changes

    # ------------------------------------------------------------------ stepping
    @property
    def running(self) -> bool:
        """Whether the run can advance (horizon not reached and no error)."""
        return bool(self.model.running) and self.error is None

    @property
    def steps_done(self) -> int:
        """Months simulated so far."""
        return len(self._extra)

    def step(self) -> bool:
        """Advance one month, catching model exceptions.

        Returns:
            True when a month was simulated; False at the horizon or after an error, in which
            case :attr:`error` holds a one-line message.
        """
        if not self.running:
            return False
        try:
            self.model.step()
            if self.applied_policy:  # a timeline event toward "all" replaces user levers
                self.set_china_policy(self.applied_policy)
        except Exception as exc:  # noqa: BLE001 - any model failure is shown, not raised
            self.error = f"The model failed at {self.model.date}: {type(exc).__name__}: {exc}"
            return False
        self._extra.append(self._collect_extra())
        return True

    def _collect_extra(self) -> dict[str, float]:
        model = self.model
        row: dict[str, float] = defaultdict(float)
        for miner in model.miners:
            row[f"mine_{miner.country}"] += float(getattr(miner, "output_tpm", 0.0))
            for country, tonnes in (getattr(miner, "routed", None) or {}).items():
                row[f"refine_{country}"] += float(tonnes)
        firms = model.firms
        for product in ("light", "heavy"):
            inv = np.bincount(firms.country, weights=firms.inventory[product],
                              minlength=len(model.countries))
            for code, tonnes in zip(model.countries, inv, strict=True):
                row[f"inventory_{code}"] += float(tonnes)
        return dict(row)

    # ------------------------------------------------------------------ data for views
    def frame(self) -> pd.DataFrame:
        """Return the results so far, one row per month, with the run's extra columns.

        Returns:
            The model's results frame joined with mine output (``mine_<country>``, t REO/month),
            refining (``refine_<country>``, t REO/month) and firm inventories
            (``inventory_<country>``, t) by country, plus ``year`` (fractional, mid-month).
        """
        if self._frame_cache and self._frame_cache[0] == self.steps_done:
            return self._frame_cache[1]
        df = self.model.results_frame().reset_index(drop=True)
        if len(df):
            extra = pd.DataFrame(self._extra).fillna(0.0)
            df = pd.concat([df, extra.iloc[: len(df)].reset_index(drop=True)], axis=1)
            df["year"] = [month_to_year(d) for d in df["date"]]
        self._frame_cache = (self.steps_done, df)
        return df

    def network(self) -> tuple[Any, dict[str, str], dict[str, float]]:
        """Return the bloc network as the view draws it.

        A bloc is a connected group of the alliance graph with two or more members (see docs/architecture.md);
        it is named after its alliance (``US-Japan``) when its states share one, else after its
        states (``CHN``). Node size is consumption (states, t/month of both products) or mine
        output (miners, t REO/month), scaled by the square root to marker areas.

        Returns:
            ``(graph, bloc_of_node, marker_area_of_node)``.
        """
        import networkx as nx

        model = self.model
        graph = model.alliance_graph
        bloc: dict[str, str] = {}
        for comp in nx.connected_components(graph):
            if len(comp) < 2:
                bloc.update(dict.fromkeys(comp, "unaligned"))
                continue
            states = sorted(c for c in comp if c in model.states)
            names = sorted({model.states[c].bloc for c in states if model.states[c].bloc})
            bloc.update(dict.fromkeys(comp, "+".join(names) or "+".join(states) or "miners"))
        size: dict[str, float] = {}
        demand = {c: sum(float(model.demand_tpm[p][i]) for p in model.demand_tpm)
                  for i, c in enumerate(model.countries)}
        top_state = max(demand.values(), default=1.0) or 1.0
        for code in model.states:
            size[code] = 60.0 + 900.0 * np.sqrt(demand.get(code, 0.0) / top_state)
        outputs = {m.mine_id: float(getattr(m, "output_tpm", 0.0) or 0.0) for m in model.miners}
        top_mine = max(outputs.values(), default=1.0) or 1.0
        for mine_id, out in outputs.items():
            size[mine_id] = 15.0 + 500.0 * np.sqrt(max(out, 0.0) / top_mine)
        return graph, bloc, size

    def events(self) -> pd.DataFrame:
        """Return the event log so far (date, actor, action, detail, ...).

        Returns:
            The model's event log frame.
        """
        n = len(self.model.event_log)
        if self._events_cache and self._events_cache[0] == n:
            return self._events_cache[1]
        df = self.model.event_log_frame()
        self._events_cache = (n, df)
        return df


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
        inside, outside = last.get(f"price_{product}_china"), last.get(f"price_{product}_world")
        if inside and outside and inside > 0 and outside / inside > 1.3:
            out.append(f"Two-tier prices: {lower} oxide costs {outside / inside:.1f}x "
                       f"more outside China than inside ({outside:,.0f} vs {inside:,.0f} US$/kg).")
        elif len(df) > 12 and outside:
            before = df[f"price_{product}_world"].iloc[-13]
            if before > 0 and abs(outside / before - 1) > 0.25:
                verb = "up" if outside > before else "down"
                out.append(f"{name} oxide is {verb} {abs(outside / before - 1):.0%} on a year "
                           f"ago ({outside:,.0f} US$/kg).")
    short = [(c, last.get(f"shortage_{k}", 0.0) or 0.0) for c, k in (("the USA", "usa"),
                                                                      ("Japan", "japan"))]
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
