"""The dashboard page (``/``): controls, charts, timeline, Info panel and projector mode.

State lives in :class:`DashboardState` (one per browser session, created by :func:`Page`):
reactive values for the current :class:`~abm_dashboard.session.Run` (and a second one in
compare mode), a version counter bumped after every step (views redraw from it), the draft
values of the controls and the messages shown to the user. The model is only driven through
:mod:`abm_dashboard.session`; every value that arrives from the page is checked against what
the page offered (:mod:`abm_dashboard.widgets`).
"""

from __future__ import annotations

import functools
import html
import threading
import time
from collections.abc import Callable

import pandas as pd
import solara
import solara.lab

from abm_dashboard import charts
from abm_dashboard.info import info_markdown
from abm_dashboard.session import (
    CHINA_POLICY_CHOICES,
    CHINA_POLICY_TARGETS,
    COUNTRIES,
    RESET_LEVERS,
    SEED_SPEC,
    LeverSpec,
    Run,
    Settings,
    countries_with,
    country_name,
    country_values,
    headlines,
    lever_status,
    magnet_columns,
    month_to_year,
    observed_history,
    parse_lever,
    parse_month_text,
    scenario_info,
    scenario_names,
    slug,
)
from abm_dashboard.svg import Layout
from abm_dashboard.widgets import Prose, SafeCheckbox, SafeSelect, SizedChart, guarded

__all__ = ["CHARTS", "Dashboard", "DashboardState", "Page"]

DEFAULT_SCENARIO = "controls_2025"
NAMES = {code: country_name(code) for code in COUNTRIES}
CODE_OF_SLUG = {slug(code): code for code in COUNTRIES}
POLICY_LABELS = {"scenario": "as in the scenario", "open": "open", "licence": "licence",
                 "ban": "ban"}
SPEEDS = (1, 2, 4, 8, 12)
#: base chart font (px) on a desk and in projector mode (the smallest chart text is 0.85 of it)
DESK_FONT, PROJECTOR_FONT = 13.0, 22.0
TIMELINE_KINDS = {"history": ("timeline",), "model": ("choice", "model"),
                  "yours": ("user", "player")}


def _locked(method):
    """Run a state method under the session's lock (Play's thread also steps the model)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def _show(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return str(value)


class DashboardState:
    """Reactive state of one dashboard session and the actions the controls call.

    Args:
        scenario: scenario shown first (one of :func:`scenario_names`).
    """

    def __init__(self, scenario: str = DEFAULT_SCENARIO):
        if scenario not in scenario_names():
            scenario = DEFAULT_SCENARIO
        info = scenario_info(scenario)
        self.settings = solara.reactive(Settings(scenario=scenario))
        self.draft_scenario = solara.reactive(scenario)
        self.draft_seed = solara.reactive("0")
        self.draft_alliance = solara.reactive(bool(info.params.get("alliance", True)))
        self.draft_levers = solara.reactive(self._scenario_levers(scenario))
        self.field_errors: solara.Reactive[dict[str, str]] = solara.reactive({})
        self.china_policy = solara.reactive(dict.fromkeys(CHINA_POLICY_TARGETS, "scenario"))
        self.compare = solara.reactive(False)
        self.compare_lever = solara.reactive("alliance")
        self.compare_value = solara.reactive("off")
        self.log_prices = solara.reactive(False)
        self.run: solara.Reactive[Run | None] = solara.reactive(None)
        self.run_b: solara.Reactive[Run | None] = solara.reactive(None)
        self.version = solara.reactive(0)
        self.playing = solara.reactive(False)
        self.speed = solara.reactive(4)
        self.error = solara.reactive("")
        self.notice = solara.reactive("")
        self.projector = solara.reactive(False)
        self.show_controls = solara.reactive(True)
        self.tab = solara.reactive("model")
        self.focus = solara.reactive("prices")
        self.timeline_kinds = solara.reactive(frozenset(TIMELINE_KINDS))
        self.run_to_text = solara.reactive("")
        self.last_step_ms = 0.0  # model time of the last step (shown after each redraw)
        self._lock = threading.RLock()
        self.reset()

    # ------------------------------------------------------------------ helpers
    def refuse(self, line: str) -> None:
        """Show a one-line refusal of a value the page did not offer."""
        self.error.value = line

    @property
    def guard(self) -> Callable[[Callable], Callable]:
        """Decorator: exceptions in a handler become one line on the page."""
        return guarded(self.refuse)

    @staticmethod
    def _scenario_levers(scenario: str) -> dict[str, str]:
        params = scenario_info(scenario).params
        return {spec.name: _show(params.get(spec.name, "")) for spec in RESET_LEVERS}

    def offered_levers(self, scenario: str | None = None) -> list[LeverSpec]:
        """The numeric levers that act in the (draft) scenario."""
        info = scenario_info(scenario or self.draft_scenario.value)
        return [spec for spec in RESET_LEVERS
                if lever_status(info, spec.name, self.draft_alliance.value).acts]

    def pending(self) -> list[str]:
        """Labels of the controls changed since the last reset (they wait for Reset)."""
        s = self.settings.value
        out = []
        if self.draft_scenario.value != s.scenario:
            out.append("scenario")
        if self.draft_seed.value.strip() != str(s.seed):
            out.append("seed")
        if self.draft_alliance.value != s.alliance:
            out.append("US-Japan alliance")
        current = scenario_info(s.scenario).params | s.levers
        for spec in RESET_LEVERS:
            text = self.draft_levers.value.get(spec.name, "")
            try:
                if parse_lever(spec, text) != current.get(spec.name):
                    out.append(spec.label.split(" (")[0].lower())
            except ValueError:
                out.append(spec.label.split(" (")[0].lower())
        return out

    # ------------------------------------------------------------------ actions
    def set_field(self, spec: LeverSpec, text: str) -> None:
        """Validate a typed number; store it as a draft or show why it is refused."""
        errors = dict(self.field_errors.value)
        try:
            value = parse_lever(spec, text)
        except ValueError as exc:
            errors[spec.name] = str(exc)
            self.field_errors.value = errors
            return
        errors.pop(spec.name, None)
        self.field_errors.value = errors
        if not errors and self.error.value.startswith("Not reset"):
            self.error.value = ""  # the refusal is stale once the fields are fixed
        if spec is SEED_SPEC:
            self.draft_seed.value = str(value)
        else:
            self.draft_levers.value = {**self.draft_levers.value, spec.name: _show(value)}

    def choose_scenario(self, name: str) -> None:
        """Pick a scenario and start it at once with its own parameter values.

        Raises:
            ValueError: ``name`` is not a shipped scenario (never read as a path).
        """
        if name not in scenario_names():
            raise ValueError(f"unknown scenario {name!r}")
        info = scenario_info(name)
        self.draft_scenario.value = name
        self.draft_levers.value = self._scenario_levers(name)
        self.draft_alliance.value = bool(info.params.get("alliance", True))
        self.field_errors.value = {k: v for k, v in self.field_errors.value.items()
                                   if k == SEED_SPEC.name}
        self._default_compare()
        self.reset()

    def _draft_settings(self) -> Settings:
        seed = parse_lever(SEED_SPEC, self.draft_seed.value)
        defaults = scenario_info(self.draft_scenario.value).params
        levers = {}
        for spec in RESET_LEVERS:
            value = parse_lever(spec, self.draft_levers.value.get(spec.name, ""))
            if value != defaults.get(spec.name):
                levers[spec.name] = value
        return Settings(scenario=self.draft_scenario.value, seed=seed,
                        alliance=self.draft_alliance.value, levers=levers,
                        china_policy=dict(self.china_policy.value))

    @_locked
    def reset(self) -> None:
        """Rebuild the run(s) from the current drafts; refuse with a message if invalid."""
        self.playing.value = False
        if self.field_errors.value:
            self.error.value = ("Not reset: fix the marked fields first ("
                                + "; ".join(self.field_errors.value.values()) + ")")
            return
        try:
            settings = self._draft_settings()
            run = Run(settings)
            run_b = Run(self._settings_b(settings)) if self.compare.value else None
        except ValueError as exc:
            self.error.value = f"Not reset: {exc}"
            return
        except Exception as exc:  # noqa: BLE001 - a model failure is shown, the app goes on
            self.error.value = f"The model failed to start: {type(exc).__name__}: {exc}"
            return
        self.settings.value = settings
        self.run.value = run
        self.run_b.value = run_b
        self.error.value = ""
        self.notice.value = ""
        self.version.value += 1

    # ------------------------------------------------------------------ compare
    def compare_options(self) -> list[tuple[str, str]]:
        """The levers run B may vary in this scenario."""
        info = scenario_info(self.settings.value.scenario)
        out = []
        if lever_status(info, "alliance").acts:
            out.append(("alliance", "US-Japan alliance"))
        for spec in RESET_LEVERS:
            if spec.name != "n_firms" and lever_status(info, spec.name).acts:
                out.append((spec.name, spec.label.split(" (")[0]))
        out.append(("china_policy", "China's exports to the USA and Japan"))
        return out

    def compare_value_options(self) -> list[tuple[str, str]] | None:
        """Choices of run B's value, or None for a typed number."""
        lever = self.compare_lever.value
        if lever == "alliance":
            return [("on", "on"), ("off", "off")]
        if lever == "china_policy":
            return [(c, POLICY_LABELS[c]) for c in CHINA_POLICY_CHOICES]
        return None

    def _default_compare(self) -> None:
        options = [o[0] for o in self.compare_options()] if self.run.value else ["alliance"]
        lever = self.compare_lever.value if self.compare_lever.value in options else options[0]
        self.compare_lever.value = lever
        self.compare_value.value = self._default_b_value(lever)

    def _default_b_value(self, lever: str) -> str:
        settings = self.settings.value
        if lever == "alliance":
            return "off" if settings.alliance else "on"
        if lever == "china_policy":
            return "ban"
        spec = next(s for s in RESET_LEVERS if s.name == lever)
        current = (scenario_info(settings.scenario).params | settings.levers).get(lever)
        alternative = {"demand_elasticity": 1.0, "stockpile_target_months": 12.0,
                       "logit_intensity": 0.0}.get(lever, spec.hi)
        return _show(alternative if current != alternative else spec.lo)

    def _settings_b(self, settings: Settings) -> Settings:
        lever, value = self.compare_lever.value, self.compare_value.value
        if lever == "alliance":
            return settings.replace(alliance=value == "on")
        if lever == "china_policy":
            if value not in CHINA_POLICY_CHOICES:
                raise ValueError(f"run B: {value!r} is not a policy")
            return settings.replace(china_policy=dict.fromkeys(CHINA_POLICY_TARGETS, value))
        spec = next((s for s in RESET_LEVERS if s.name == lever), None)
        if spec is None:
            raise ValueError(f"run B: {lever!r} is not a lever")
        return settings.replace(levers={**settings.levers, lever: parse_lever(spec, value)})

    def label_ab(self) -> tuple[str, str]:
        """What distinguishes run A and run B, for the legend and table."""
        lever = self.compare_lever.value
        name = dict(self.compare_options()).get(lever, lever)
        settings = self.settings.value
        if lever == "alliance":
            a = "on" if settings.alliance else "off"
        elif lever == "china_policy":
            a = "as set live"
        else:
            a = _show((scenario_info(settings.scenario).params | settings.levers).get(lever))
        b = POLICY_LABELS.get(self.compare_value.value, self.compare_value.value)
        return f"A: {name} {a}", f"B: {name} {b}"

    def set_compare(self, on: bool) -> None:
        """Switch compare mode; run B starts and catches up with run A."""
        self.compare.value = on
        if not on or self.run.value is None:
            self.run_b.value = None
            self.version.value += 1
            return
        if self.compare_lever.value not in dict(self.compare_options()):
            self._default_compare()
        self.rebuild_b()

    def set_compare_lever(self, lever: str) -> None:
        """Choose the lever run B varies (B is rebuilt with a different value at once)."""
        if lever not in dict(self.compare_options()):
            raise ValueError(f"run B cannot vary {lever!r}")
        self.compare_lever.value = lever
        self.compare_value.value = self._default_b_value(lever)
        if self.compare.value:
            self.rebuild_b()

    def set_compare_value(self, text: str) -> None:
        """Set run B's value of the chosen lever (checked; B is rebuilt and caught up)."""
        options = self.compare_value_options()
        if options is not None:
            if text not in [o[0] for o in options]:
                raise ValueError(f"run B: {text!r} is not offered")
        else:
            spec = next(s for s in RESET_LEVERS if s.name == self.compare_lever.value)
            try:
                parse_lever(spec, text)
            except ValueError as exc:
                self.error.value = f"Run B not changed: {exc}"
                return
        self.compare_value.value = str(text)
        if self.compare.value:
            self.rebuild_b()

    @_locked
    def rebuild_b(self) -> None:
        """Rebuild run B from run A's settings and step it to run A's month."""
        run = self.run.value
        if run is None:
            return
        try:
            run_b = Run(self._settings_b(run.settings))
            while run_b.steps_done < run.steps_done and run_b.step():
                pass
        except ValueError as exc:
            self.error.value = f"Run B not started: {exc}"
            return
        except Exception as exc:  # noqa: BLE001 - a model failure is shown, the app goes on
            self.error.value = f"Run B failed to start: {type(exc).__name__}: {exc}"
            return
        self.run_b.value = run_b
        self.version.value += 1

    # ------------------------------------------------------------------ live levers
    @_locked
    def set_policy(self, target: str, product: str, choice: str) -> None:
        """Change China's export policy toward one target and product (live, next month).

        Raises:
            ValueError: a target, product or choice the page does not offer.
        """
        if (target, product) not in CHINA_POLICY_TARGETS or choice not in CHINA_POLICY_CHOICES:
            raise ValueError(f"China's exports: {choice!r} to {target!r} is not offered")
        policy = {**self.china_policy.value, (target, product): choice}
        self.china_policy.value = policy
        changes = []
        run_b = self.run_b.value
        varied = self.compare.value and self.compare_lever.value == "china_policy"
        for run in (self.run.value, None if varied else run_b):
            if run is not None:
                changes = run.set_china_policy(policy) or changes
        if changes:
            self.notice.value = ("Live: China's export policy changed (" + ", ".join(changes)
                                 + "); it applies from the next simulated month.")
        self.version.value += 1

    def set_speed(self, speed: int) -> None:
        """Set Play's speed (months per second)."""
        if speed not in SPEEDS:
            raise ValueError(f"speed {speed!r} is not offered")
        self.speed.value = speed

    # ------------------------------------------------------------------ stepping
    def step(self) -> bool:
        """Simulate one month in every run and redraw.

        Returns:
            True when run A advanced.
        """
        with self._lock:  # Play's thread and the Step button must not step at once
            return self._advance(lambda run: run.step())

    def run_to(self, text: str) -> None:
        """Simulate through a typed month (``YYYY-MM``), redrawing once at the end."""
        run = self.run.value
        if run is None:
            return
        try:
            month = parse_month_text(text, run.start, run.end)
        except ValueError as exc:
            self.error.value = str(exc)
            return
        if run.last_month and month <= run.last_month:
            self.error.value = f"Run to: {month} is already simulated (now {run.last_month})"
            return
        self.playing.value = False
        with self._lock:
            self._advance(lambda r: r.run_to(month) > 0)

    def run_to_next_event(self) -> None:
        """Simulate through the month of the next scripted event."""
        run = self.run.value
        event = run.next_event() if run else None
        if event is None:
            self.notice.value = "No scripted event is left in this scenario."
            return
        self.playing.value = False
        with self._lock:
            self._advance(lambda r: r.run_to(event.date) > 0)

    def _advance(self, how: Callable[[Run], bool]) -> bool:
        run = self.run.value
        if run is None:
            return False
        start = time.perf_counter()
        ok = how(run)
        run_b = self.run_b.value
        if run_b is not None and run_b.steps_done < run.steps_done:
            while run_b.steps_done < run.steps_done and run_b.step():
                pass
        if run.error:
            self.error.value = (run.error + ": the charts and the CSV show them. Change a "
                                "setting and press Reset to run again.")
            self.playing.value = False
        elif run_b is not None and run_b.error:
            self.error.value = "Run B: " + run_b.error
        elif not ok and not run.running:
            self.notice.value = "The scenario's horizon is reached; press Reset to run again."
            self.playing.value = False
        self.last_step_ms = (time.perf_counter() - start) * 1000.0
        self.version.value += 1
        return ok

    # ------------------------------------------------------------------ downloads
    def run_csv(self) -> bytes:
        """The run so far as CSV (one row per month, every output column)."""
        run = self.run.value
        df = run.frame() if run else pd.DataFrame()
        return df.drop(columns=["year"], errors="ignore").to_csv(index=False).encode()

    def events_csv(self) -> bytes:
        """The event log so far as CSV."""
        run = self.run.value
        return (run.events() if run else pd.DataFrame()).to_csv(index=False).encode()

    def file_stem(self) -> str:
        """Download name: scenario, seed and last month (no path, only offered values)."""
        run = self.run.value
        if run is None:
            return "run"
        return f"{run.settings.scenario}_seed{run.settings.seed}_{run.last_month or 'start'}"


# ---------------------------------------------------------------------- chart drawing
def _xlim(run: Run) -> tuple[float, float]:
    start = month_to_year(run.start) - 0.5 / 12.0
    return start, start + run.horizon / 12.0


def _markers(run: Run):
    return charts.event_markers(
        [(e.date, e.detail) for e in run.info.timeline(run.settings.alliance)],
        run.last_month, year_of=month_to_year)


def _frame_b(run_b: Run | None) -> pd.DataFrame | None:
    return run_b.frame() if run_b is not None else None


def _draw_prices(state: DashboardState, run: Run, run_b: Run | None, lay: Layout) -> str:
    return charts.price_chart(run.frame(), values=country_values, observed=observed_history(),
                              compare=_frame_b(run_b), xlim=_xlim(run), markers=_markers(run),
                              layout=lay, step=run.steps_done, log=state.log_prices.value)


def _draw_dependence(state, run, run_b, lay):
    return charts.dependence_chart(run.frame(), values=country_values,
                                   observed=observed_history(), compare=_frame_b(run_b),
                                   xlim=_xlim(run), layout=lay, step=run.steps_done)


def _draw_outside(state, run, run_b, lay):
    df = run.frame()
    codes = list(dict.fromkeys(countries_with(df, "mined") + countries_with(df, "refined")))
    return charts.outside_china_chart(df, values=country_values, codes=codes, names=NAMES,
                                      observed=observed_history(), xlim=_xlim(run), layout=lay,
                                      step=run.steps_done)


def _draw_shares(state, run, run_b, lay):
    return charts.shares_chart(run.frame(), observed=observed_history(),
                               compare=_frame_b(run_b), xlim=_xlim(run), layout=lay,
                               step=run.steps_done)


def _draw_stocks(state, run, run_b, lay):
    return charts.stocks_chart(run.frame(), values=country_values, names=NAMES,
                               compare=_frame_b(run_b), xlim=_xlim(run), layout=lay,
                               step=run.steps_done)


def _draw_network(state, run, run_b, lay):
    graph, bloc, size, country = run.network()
    pos = _positions(run)
    return charts.network_chart(graph, pos, bloc, size, country, title=_month_title(run),
                                step=run.steps_done, layout=lay, trade=run.trade_communities(),
                                concentration=run.concentration())


def _positions(run: Run):
    if "positions" not in run.view_cache:  # fixed per run: the nodes never change
        run.view_cache["positions"] = charts.network_layout(run.network()[0])
    return run.view_cache["positions"]


def _draw_flows(state, run, run_b, lay):
    flows, blocked = run.flows()
    return charts.flows_chart(flows, blocked, names=NAMES, step=run.steps_done, layout=lay,
                              title=f"Trade in {_month_title(run)}, t/month; a cross = link "
                                    "closed or capped by export controls")


def _draw_magnets(state, run, run_b, lay):
    return charts.magnet_chart(run.frame(), names=NAMES, code_of=CODE_OF_SLUG,
                               compare=_frame_b(run_b), xlim=_xlim(run), layout=lay,
                               step=run.steps_done)


def _month_title(run: Run) -> str:
    return run.last_month or f"{run.start} (not started)"


#: name -> (card title, drawing function); magnets only where the model has a magnet stage
CHARTS: dict[str, tuple[str, Callable]] = {
    "prices": ("Prices", _draw_prices),
    "dependence": ("Dependence on China", _draw_dependence),
    "outside": ("Mining and separation outside China", _draw_outside),
    "shares": ("China's share of mining and refining", _draw_shares),
    "stocks": ("Stockpiles, inventories and shortages", _draw_stocks),
    "network": ("Blocs and ties", _draw_network),
    "flows": ("Trade this month", _draw_flows),
    "magnets": ("Magnet prices", _draw_magnets),
}


def charts_for(run: Run) -> list[str]:
    """The charts this run can draw (magnets only when the frame has magnet prices)."""
    names = [n for n in CHARTS if n != "magnets"]
    if magnet_columns(run.frame()):
        names.append("magnets")
    return names


# ---------------------------------------------------------------------- components
@solara.component
def ChartCard(state: DashboardState, name: str, run: Run, run_b: Run | None, version: int):
    """One chart in a card, drawn at the width its frame reports."""
    projector = state.projector.value
    title, draw = CHARTS[name]
    extra = state.log_prices.value if name == "prices" else None
    with solara.Div(classes=["chart-card", "plain-card", f"card-{name}"]):
        solara.HTML(tag="h2", unsafe_innerHTML=html.escape(title), classes=["card-title"])
        SizedChart(name, title, lambda lay: draw(state, run, run_b, lay),
                   dependencies=[run, run_b, version, extra],
                   font=PROJECTOR_FONT if projector else DESK_FONT,
                   max_plot_height=470.0 if projector else 380.0,
                   filename=f"{state.file_stem()}_{name}")
        if name == "prices":
            SafeCheckbox("log scale", state.log_prices.value,
                         on_value=state.guard(lambda v: state.log_prices.set(v)),
                         on_refuse=state.refuse, classes=["log-scale"])


def _number_field(state: DashboardState, spec: LeverSpec, value: str, note: str = ""):
    error = state.field_errors.value.get(spec.name)
    hint = (f"{'whole number' if spec.kind is int else 'number'} from {_num(spec.lo)} to "
            f"{_num(spec.hi)}" + (f"; {note}" if note else ""))
    solara.InputText(spec.label, value=value,
                     on_value=state.guard(lambda t: state.set_field(spec, t)),
                     continuous_update=False, error=bool(error), message=hint)
    if spec.help:
        solara.Text(spec.help, classes=["lever-help"])
    if error:
        solara.Error(error, dense=True, classes=["field-error"])


@solara.component
def Controls(state: DashboardState):
    """Scenario picker, play / step / run to / reset, speed, seed, levers, compare, downloads."""
    run = state.run.value
    guard = state.guard
    names = scenario_names()
    options = [(n, scenario_info(n).title) for n in names]
    info = scenario_info(state.draft_scenario.value)
    with solara.Card("Run", margin=0, classes=["controls-run"]):
        SafeSelect("Scenario (starts at once)", options, state.draft_scenario.value,
                   on_value=guard(state.choose_scenario), on_refuse=state.refuse,
                   classes=["scenario-select"])
        RunButtons(state, run)
        _number_field(state, SEED_SPEC, state.draft_seed.value)
    with solara.Card("Levers - act on Reset", margin=0, classes=["controls-levers"]):
        alliance = lever_status(info, "alliance", state.draft_alliance.value)
        hidden = []
        if alliance.acts:
            SafeSelect("US-Japan framework (Oct 2025)", [(True, "on: as in history"),
                                                          (False, "off: without it")],
                       state.draft_alliance.value,
                       on_value=guard(lambda v: state.draft_alliance.set(v)),
                       on_refuse=state.refuse, hint=f"acts from {alliance.start}")
        else:
            hidden.append(f"US-Japan framework ({alliance.why})")
        for spec in RESET_LEVERS:
            status = lever_status(info, spec.name, state.draft_alliance.value)
            if not status.acts:
                hidden.append(f"{spec.label.split(' (')[0].lower()} ({status.why})")
                continue
            note = f"acts from {status.start}" if status.start else ""
            _number_field(state, spec, state.draft_levers.value.get(spec.name, ""), note)
        pending = state.pending()
        if pending:
            solara.Warning("Changed, waiting for Reset: " + ", ".join(pending), dense=True,
                           classes=["pending-note"])
        if hidden:
            solara.Text("Not offered here, since nothing in this scenario uses them: "
                        + "; ".join(hidden) + ".", classes=["hidden-levers"])
    with solara.Card("China's exports - live", margin=0, classes=["controls-china"]):
        solara.Text("From the next simulated month, no reset needed. Overrides the timeline "
                    "and China's own choice for that link.", classes=["lever-help"])
        for target, product in CHINA_POLICY_TARGETS:
            SafeSelect(f"To {country_name(target)}: {product}",
                       [(c, POLICY_LABELS[c]) for c in CHINA_POLICY_CHOICES],
                       state.china_policy.value.get((target, product), "scenario"),
                       on_value=guard(lambda c, t=target, p=product: state.set_policy(t, p, c)),
                       on_refuse=state.refuse)
    with solara.Card("Compare", margin=0, classes=["controls-compare"]):
        SafeCheckbox("Compare with run B (faded)", state.compare.value,
                     on_value=guard(state.set_compare), on_refuse=state.refuse)
        if state.compare.value:
            SafeSelect("Run B changes", state.compare_options(), state.compare_lever.value,
                       on_value=guard(state.set_compare_lever), on_refuse=state.refuse)
            choices = state.compare_value_options()
            if choices is not None:
                SafeSelect("Run B's value", choices, state.compare_value.value,
                           on_value=guard(state.set_compare_value), on_refuse=state.refuse)
            else:
                solara.InputText("Run B's value", value=state.compare_value.value,
                                 on_value=guard(state.set_compare_value),
                                 continuous_update=False)
            solara.Text("Run B = run A's settings with this one change; it is rebuilt and "
                        "caught up at once.", classes=["lever-help"])
    with solara.Card("Take away", margin=0, classes=["controls-downloads"]):
        solara.FileDownload(data=state.run_csv, filename=f"{state.file_stem()}.csv",
                            label="Download the run (CSV)")
        solara.FileDownload(data=state.events_csv, filename=f"{state.file_stem()}_events.csv",
                            label="Download the event log (CSV)")
        solara.Text("Each chart has SVG and PNG buttons; hover over a chart for values.",
                    classes=["lever-help"])


@solara.component
def RunButtons(state: DashboardState, run: Run | None):
    """Play / Step / Reset, speed, and run to a month or to the next event.

    Redrawn after every step (it reads the version): the next event's month moves on.
    """
    _ = state.version.value
    guard = state.guard
    running = run is not None and run.running
    with solara.Row(gap="4px", style="flex-wrap: wrap"):
        solara.Button("Pause" if state.playing.value else "Play",
                      icon_name="mdi-pause" if state.playing.value else "mdi-play",
                      on_click=guard(lambda: state.playing.set(not state.playing.value)),
                      color="primary", disabled=not running, small=True)
        solara.Button("Step", icon_name="mdi-skip-next", on_click=guard(state.step),
                      disabled=not running or state.playing.value, small=True)
        solara.Button("Reset", icon_name="mdi-restart", on_click=guard(state.reset),
                      small=True)
    SafeSelect("Speed (months per second)", [(s, f"{s} months/s") for s in SPEEDS],
               state.speed.value, on_value=guard(state.set_speed), on_refuse=state.refuse)
    with solara.Row(gap="4px", style="align-items: center; flex-wrap: wrap"):
        solara.InputText("Run to (YYYY-MM)", value=state.run_to_text,
                         continuous_update=True, style="max-width: 180px")
        solara.Button("Run to", on_click=guard(lambda: state.run_to(state.run_to_text.value)),
                      disabled=not running, small=True)
    nxt = run.next_event() if run else None
    solara.Button(f"Run to next event ({nxt.date})" if nxt else "No scripted event left",
                  on_click=guard(state.run_to_next_event), disabled=nxt is None or not running,
                  small=True, classes=["next-event"])


def _collapse(events: pd.DataFrame, kinds: frozenset[str], limit: int = 200) -> list[tuple]:
    """Newest-first timeline entries of the chosen kinds, repeats collapsed.

    Events of one month by one actor with the same action and source are one entry: their
    detail with ``(xN)`` when all are the same text, else the first and how many more.

    Returns:
        ``(date, kind, text, tooltip)`` tuples.
    """
    sources = {s: k for k, ss in TIMELINE_KINDS.items() for s in ss}
    rows = []
    if events is None or events.empty:
        return rows
    keep = events[events["source"].map(lambda s: sources.get(s, "model") in kinds)]
    groups: dict[tuple, list[str]] = {}
    order: list[tuple] = []
    for date, actor, action, source, detail in zip(keep["date"], keep["actor"], keep["action"],
                                                   keep["source"], keep["detail"], strict=True):
        key = (date, actor, action, source)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(str(detail))
    for key in reversed(order):
        details = groups[key]
        kind = sources.get(key[3], "model")
        if len(details) == 1:
            text = details[0]
        elif len(set(details)) == 1:
            text = f"{details[0]} (x{len(details)})"
        else:
            text = f"{details[0]} (and {len(details) - 1} more like it)"
        rows.append((key[0], kind, text, "\n".join(details) if len(details) > 1 else ""))
        if len(rows) >= limit:
            break
    return rows


@solara.component
def EventLog(state: DashboardState, run: Run, version: int):
    """The event log as a timeline, newest first, filtered by kind, repeats collapsed."""
    del version  # a prop only so that the list redraws after every step
    kinds = state.timeline_kinds.value
    labels = {"history": "history", "model": "model choices", "yours": "yours"}
    with solara.Row(gap="8px", style="flex-wrap: wrap"):
        for kind, label in labels.items():
            SafeCheckbox(label, kind in kinds, on_refuse=state.refuse,
                         on_value=state.guard(lambda on, k=kind: state.timeline_kinds.set(
                             frozenset(kinds | {k}) if on else frozenset(kinds - {k}))),
                         classes=[f"filter-{kind}"])
    items = []
    for date, kind, text, tip in _collapse(run.events(), kinds, limit=120):
        title = f' title="{html.escape(tip)}"' if tip else ""
        items.append(f'<li class="ev-{kind}"{title}><b>{html.escape(str(date))}</b> '
                     f"{html.escape(text)}</li>")
    body = "".join(items) or "<li class='ev-none'>No events of these kinds yet.</li>"
    solara.HTML(tag="div", classes=["view-events"],
                unsafe_innerHTML=f'<ul class="timeline">{body}</ul>')


@solara.component
def Narrative(run: Run):
    """The scenario's story for the class: what happened, what to look for, questions."""
    info = run.info
    nar = info.narrative
    parts = [f"**{info.title}**", "", info.description]
    if nar.get("history"):
        parts += ["", "**What happened.** " + " ".join(str(nar["history"]).split())]
    if nar.get("look_for"):
        parts += ["", "**What to look for.** " + " ".join(str(nar["look_for"]).split())]
    questions = nar.get("questions") or []
    if questions:
        parts += ["", "**Questions for the class**", ""]
        parts += [f"{i}. {q}" for i, q in enumerate(questions, 1)]
    with solara.Div(classes=["view-narrative"]):
        Prose("\n".join(parts))


COMPARE_ROWS = (("price_light_world", "Light price, world (US$/kg)"),
                ("price_heavy_world", "Heavy price, world (US$/kg)"),
                ("price_heavy_china", "Heavy price, China (US$/kg)"),
                ("shortage_usa", "Shortage USA (t/month)"),
                ("shortage_japan", "Shortage Japan (t/month)"),
                ("stockpile_usa", "Stockpile USA (t)"),
                ("stockpile_japan", "Stockpile Japan (t)"),
                ("china_import_share_japan", "Japan's purchases refined in China"),
                ("n_blocs", "Blocs"))


@solara.component
def CompareTable(state: DashboardState, run: Run, run_b: Run, version: int):
    """Run A against run B this month: key outcomes side by side."""
    del version
    a, b = run.frame(), run_b.frame()
    label_a, label_b = state.label_ab()
    head = (f"<tr><th></th><th>{html.escape(label_a)}</th>"
            f"<th>{html.escape(label_b)}</th></tr>")
    rows = []
    for col, name in COMPARE_ROWS:
        cells = []
        for df in (a, b):
            value = float(df[col].iloc[-1]) if len(df) and col in df else float("nan")
            exact = value.is_integer() or abs(value) >= 100
            cells.append(f"<td>{value:,.0f}</td>" if exact else f"<td>{value:,.2f}</td>")
        rows.append(f"<tr><td>{html.escape(name)}</td>{''.join(cells)}</tr>")
    month = html.escape(_month_title(run))
    solara.HTML(tag="div", classes=["view-compare"],
                unsafe_innerHTML=f"<p>Month {month}: run A solid, run B faded in the charts."
                f"</p><table class='compare'>{head}{''.join(rows)}</table>")


@solara.component
def Status(state: DashboardState, run: Run, version: int):
    """One line: scenario, month, progress; headlines; error and notice messages."""
    del version  # a prop only so that the line redraws after every step
    text = (f"{run.info.title} | month {_month_title(run)} | step {run.steps_done} of "
            f"{run.horizon} | seed {run.settings.seed}"
            + (f" | computed in {state.last_step_ms:.0f} ms" if run.steps_done else "")
            + (" | playing" if state.playing.value else ""))
    solara.Text(text, classes=["status-line"])
    if not state.projector.value:  # on a projector the chart needs the room
        lines = headlines(run.frame(), run.events())
        solara.HTML(tag="ul", classes=["view-headlines"],
                    unsafe_innerHTML="".join(f"<li>{html.escape(t)}</li>" for t in lines))
    Messages(state)


@solara.component
def Messages(state: DashboardState):
    """The page's error and notice lines."""
    if state.error.value:
        solara.Error(state.error.value, classes=["app-error"])
    if state.notice.value:
        solara.Info(state.notice.value, dense=True, classes=["app-notice"])


@solara.component
def Player(state: DashboardState):
    """Steps the model while Play is on, at the chosen speed (a threaded task per session)."""

    def loop():
        while state.playing.value:
            began = time.perf_counter()
            if not state.step():
                state.playing.value = False
                break
            pause = 1.0 / max(state.speed.value, 1) - (time.perf_counter() - began)
            time.sleep(max(pause, 0.01))

    solara.lab.use_task(loop, dependencies=[state.playing.value])


@solara.component
def InfoPanel(state: DashboardState, run: Run):
    """What the model is, how it works, how to use it, things to notice and to try, sources."""
    info = run.info
    levers = []
    for name, label in [("alliance", "US-Japan framework")] + [
            (s.name, s.label.split(" (")[0]) for s in RESET_LEVERS]:
        status = lever_status(info, name, run.settings.alliance)
        if status.acts:
            levers.append(label + (f" (from {status.start})" if status.start else ""))
    levers.append("China's exports to the USA and Japan (live)")
    obs = observed_history()
    window = obs[(obs["date"].str[:4] >= info.start[:4]) & (obs["date"].str[:4] <= info.end[:4])]
    sources = [f"{d} {v}: {val:,.4g} {u} - {s}" for d, v, val, u, s in
               zip(window["date"], window["variable"], window["value"], window["unit"],
                   window["source"], strict=True)]
    with solara.Div(classes=["view-info"]):
        Prose(info_markdown(info.title, info.description, info.narrative, levers,
                                      sources))


@solara.component
def Page():
    """The dashboard page: one :class:`DashboardState` per browser session."""
    state = solara.use_memo(DashboardState, dependencies=[])
    Dashboard(state)


@solara.component
def Header(state: DashboardState, run: Run | None):
    """Page heading and the buttons that switch what the page shows."""
    guard = state.guard
    with solara.Row(classes=["dash-header"], gap="8px", style="align-items: center; "
                    "flex-wrap: wrap"):
        solara.HTML(tag="h1", unsafe_innerHTML="Rare earths: a geopolitical market game",
                    classes=["page-title"])
        solara.Button("Model", on_click=guard(lambda: state.tab.set("model")),
                      text=state.tab.value != "model", small=True, classes=["tab-model"])
        solara.Button("Info", on_click=guard(lambda: state.tab.set("info")),
                      text=state.tab.value != "info", small=True, classes=["tab-info"])
        solara.Button("Projector mode: on" if state.projector.value else "Projector mode",
                      on_click=guard(lambda: _toggle_projector(state)),
                      text=not state.projector.value, small=True, classes=["projector-toggle"])
        solara.Button("Hide controls" if state.show_controls.value else "Show controls",
                      on_click=guard(lambda: state.show_controls.set(
                          not state.show_controls.value)),
                      text=True, small=True, classes=["controls-toggle"])
        solara.HTML(tag="a", unsafe_innerHTML="Classroom game",
                    attributes={"href": "classroom"}, classes=["classroom-link"])


def _toggle_projector(state: DashboardState) -> None:
    on = not state.projector.value
    state.projector.value = on
    state.show_controls.value = not on


@solara.component
def Dashboard(state: DashboardState):
    """Heading, controls (collapsible) and the views, all drawn from ``state``."""
    run, run_b, version = state.run.value, state.run_b.value, state.version.value
    Player(state)
    solara.Title("Rare earths: a geopolitical market game")
    solara.Style(CSS)
    root = ["dash-root"] + (["projector"] if state.projector.value else [])
    with solara.Div(classes=root):
        Header(state, run)
        grid = ["dash-grid"] + ([] if state.show_controls.value else ["no-controls"])
        with solara.Div(classes=grid):
            if state.show_controls.value:
                with solara.Div(classes=["controls"]):
                    Controls(state)
            with solara.Div(classes=["main"]):
                if run is None:
                    Messages(state)
                    return
                Status(state, run, version)
                if state.tab.value == "info":
                    InfoPanel(state, run)
                elif state.projector.value:
                    ProjectorViews(state, run, run_b, version)
                else:
                    DeskViews(state, run, run_b, version)


@solara.component
def DeskViews(state: DashboardState, run: Run, run_b: Run | None, version: int):
    """Every chart in a responsive grid, then the timeline, the comparison and the story."""
    with solara.Div(classes=["views"]):
        for name in charts_for(run):
            ChartCard(state, name, run, run_b, version)
        with solara.Card("Event timeline", margin=0, classes=["card-events"]):
            EventLog(state, run, version)
        with solara.Card("Compare A and B", margin=0, classes=["card-compare"]):
            if run_b is not None:
                CompareTable(state, run, run_b, version)
            else:
                solara.Text("Tick 'Compare with run B' to run a second world with one lever "
                            "changed next to this one.")
        with solara.Card("For the class", margin=0, classes=["card-narrative"]):
            Narrative(run)


@solara.component
def ProjectorViews(state: DashboardState, run: Run, run_b: Run | None, version: int):
    """One chart at the full width of the screen; buttons switch between the charts."""
    names = charts_for(run) + ["events"]
    focus = state.focus.value if state.focus.value in names else names[0]
    titles = {**{n: CHARTS[n][0] for n in CHARTS}, "events": "Event timeline"}
    i = names.index(focus)
    with solara.Row(gap="6px", classes=["projector-nav"], style="flex-wrap: wrap; "
                    "align-items: center"):
        solara.Button("< Previous", on_click=state.guard(
            lambda: state.focus.set(names[(i - 1) % len(names)])), small=True)
        solara.Button("Next >", on_click=state.guard(
            lambda: state.focus.set(names[(i + 1) % len(names)])), small=True,
            classes=["next-chart"])
        for name in names:
            solara.Button(titles[name], on_click=state.guard(lambda n=name: state.focus.set(n)),
                          text=name != focus, small=True, classes=[f"show-{name}"])
        running = run.running
        solara.Button("Step", icon_name="mdi-skip-next", on_click=state.guard(state.step),
                      disabled=not running or state.playing.value, small=True,
                      classes=["projector-step"])
    if focus == "events":
        with solara.Card("Event timeline", margin=0, classes=["card-events"]):
            EventLog(state, run, version)
    else:
        ChartCard(state, focus, run, run_b, version)


CSS = """
.dash-root { padding: 4px 8px; font-size: 15px; }
.dash-root h1.page-title, .dash-root .page-title h1 { font-size: 1.6em; margin: 4px 12px 4px 0;
  font-weight: 500; }
.dash-grid { display: grid; grid-template-columns: minmax(250px, 310px) minmax(0, 1fr);
  gap: 12px; align-items: start; }
.dash-grid.no-controls { grid-template-columns: minmax(0, 1fr); }
.controls { display: flex; flex-direction: column; gap: 8px; min-width: 0; }
.main { display: flex; flex-direction: column; gap: 8px; min-width: 0; }
.views { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 540px), 1fr));
  gap: 12px; align-items: start; }
.views > * { min-width: 0; }
.chart-card { min-width: 0; overflow: hidden; }
.plain-card { background: #fff; border-radius: 4px; padding: 10px 14px;
  box-shadow: 0 1px 3px rgba(0,0,0,0.2); }
.card-title, .plain-card h2 { font-size: 1.15em; font-weight: 500; margin: 0 0 6px; }
.status-line { font-weight: 500; }
.controls .v-select__selection-text { white-space: normal; overflow: visible;
  text-overflow: clip; }
.controls .v-field-label { white-space: normal; }
.view-headlines { margin: 0; padding-left: 1.2em; }
.lever-help, .hidden-levers { font-size: 0.85em; color: #555; display: block; margin: 0 0 6px; }
.view-events { max-height: 420px; overflow-y: auto; }
.timeline { list-style: none; padding-left: 0; margin: 0; }
.timeline li { padding: 2px 0 2px 8px; border-left: 4px solid #bbb; margin-bottom: 2px; }
.timeline li.ev-history { border-left-color: #D55E00; }
.timeline li.ev-yours { border-left-color: #0072B2; background: #eef5ff; }
.timeline li.ev-model { border-left-color: #999; }
table.compare { border-collapse: collapse; width: 100%; }
table.compare td, table.compare th { padding: 2px 6px; border-bottom: 1px solid #eee; }
table.compare td:not(:first-child) { text-align: right; }
.view-info { max-width: 70em; }
.prose ul, .prose ol { padding-left: 1.6em; margin: 4px 0 8px; }
.prose p { margin: 4px 0 8px; }
.prose h2 { font-size: 1.3em; font-weight: 500; margin: 14px 0 4px; }
.projector { font-size: 22px; }
.projector .v-btn { font-size: 18px; }
.projector .view-events { max-height: 70vh; }
.solara-credit { font-size: 12px; color: #666; padding: 12px 8px; text-align: right; }
@media (max-width: 900px) {
  .dash-grid { grid-template-columns: minmax(0, 1fr); }
}
"""
