"""Solara components of the dashboard: controls, views and the page that lays them out.

State lives in :class:`DashboardState` (one per browser session, created by :func:`Page`),
holding reactive values: the current :class:`~abm_dashboard.session.Run` (and a second one in
compare mode), a version counter bumped after every step (views redraw from it), the draft
values of the controls and the messages shown to the user. The model itself is only driven
through :mod:`abm_dashboard.session`.
"""

from __future__ import annotations

import functools
import html
import threading
import time
from importlib import resources

import pandas as pd
import solara
import solara.lab

import abm
from abm_dashboard import charts
from abm_dashboard.session import (
    CHINA_POLICY_CHOICES,
    CHINA_POLICY_TARGETS,
    COUNTRY_NAMES,
    RESET_LEVERS,
    SEED_SPEC,
    LeverSpec,
    Run,
    Settings,
    headlines,
    month_to_year,
    parse_lever,
)

__all__ = ["Dashboard", "DashboardState", "Page", "observed_history"]

DEFAULT_SCENARIO = "baseline"
POLICY_LABELS = {"scenario": "as in scenario", "open": "open", "licence": "licence",
                 "ban": "ban"}


@functools.cache
def observed_history() -> pd.DataFrame:
    """Load the observed history (``abm/data/observed_history.csv``) with a ``year`` column.

    Returns:
        Columns ``date, variable, value, unit, source, year``; empty if the file is missing.
    """
    try:
        with resources.files("abm").joinpath("data/observed_history.csv").open() as f:
            df = pd.read_csv(f, dtype={"date": str})
    except (FileNotFoundError, OSError):
        return pd.DataFrame(columns=["date", "variable", "value", "unit", "source", "year"])
    df["year"] = df["date"].map(month_to_year)
    return df


def _locked(method):
    """Run a state method under the session's lock (Play's thread also steps the model)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class DashboardState:
    """Reactive state of one dashboard session and the actions the controls call.

    Args:
        scenario: scenario shown first.
    """

    def __init__(self, scenario: str = DEFAULT_SCENARIO):
        self.settings = solara.reactive(Settings(scenario=scenario,
                                                 alliance=self._scenario_alliance(scenario)))
        self.draft_scenario = solara.reactive(scenario)
        self.draft_seed = solara.reactive("0")
        self.draft_alliance = solara.reactive(self._scenario_alliance(scenario))
        self.draft_levers = solara.reactive(self._scenario_levers(scenario))
        self.field_errors: solara.Reactive[dict[str, str]] = solara.reactive({})
        self.china_policy = solara.reactive(dict.fromkeys(CHINA_POLICY_TARGETS, "scenario"))
        self.compare = solara.reactive(False)
        self.log_prices = solara.reactive(False)
        self.compare_alliance = solara.reactive(False)
        self.run: solara.Reactive[Run | None] = solara.reactive(None)
        self.run_b: solara.Reactive[Run | None] = solara.reactive(None)
        self.version = solara.reactive(0)
        self.playing = solara.reactive(False)
        self.speed = solara.reactive(4)
        self.error = solara.reactive("")
        self.notice = solara.reactive("")
        self.last_step_ms = 0.0  # model time of the last step (shown after each redraw)
        self._lock = threading.RLock()
        self.reset()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _scenario_alliance(scenario: str) -> bool:
        try:
            return bool(abm.load_scenario(scenario).params.get("alliance", True))
        except abm.InputError:
            return True

    @staticmethod
    def _scenario_levers(scenario: str) -> dict[str, str]:
        try:
            params = abm.load_scenario(scenario).params
        except abm.InputError:
            params = {}
        return {spec.name: _show(params.get(spec.name, "")) for spec in RESET_LEVERS}

    def pending(self) -> list[str]:
        """List the controls changed since the last reset (they wait for Reset).

        Returns:
            Labels of changed controls.
        """
        s = self.settings.value
        out = []
        if self.draft_scenario.value != s.scenario:
            out.append("scenario")
        if self.draft_seed.value.strip() != str(s.seed):
            out.append("seed")
        if self.draft_alliance.value != s.alliance:
            out.append("US-Japan alliance")
        run = self.run.value
        current = run.scenario.params if run else {}
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
        """Validate a typed number; store it as a draft or show why it is refused.

        Args:
            spec: the control's lever.
            text: what was typed.
        """
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

        The seed keeps its current draft; levers and the alliance take the scenario's values.

        Args:
            name: scenario name.
        """
        self.draft_scenario.value = name
        self.draft_levers.value = self._scenario_levers(name)
        self.draft_alliance.value = self._scenario_alliance(name)
        self.field_errors.value = {k: v for k, v in self.field_errors.value.items()
                                   if k == SEED_SPEC.name}
        self.reset()

    def _draft_settings(self) -> Settings:
        seed = parse_lever(SEED_SPEC, self.draft_seed.value)
        defaults = abm.load_scenario(self.draft_scenario.value).params
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
        except (ValueError, abm.InputError) as exc:
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

    def _settings_b(self, settings: Settings) -> Settings:
        return settings.replace(alliance=self.compare_alliance.value)

    def set_compare(self, on: bool) -> None:
        """Switch compare mode; run B starts and catches up with run A.

        Args:
            on: compare mode wanted.
        """
        self.compare.value = on
        run = self.run.value
        if not on or run is None:
            self.run_b.value = None
            self.version.value += 1
            return
        self.rebuild_b()

    def set_compare_alliance(self, on: bool) -> None:
        """Set run B's US-Japan alliance (B is rebuilt and caught up at once).

        Args:
            on: alliance in run B.
        """
        self.compare_alliance.value = on
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
        except (ValueError, abm.InputError) as exc:
            self.error.value = f"Run B not started: {exc}"
            return
        self.run_b.value = run_b
        self.version.value += 1

    @_locked
    def set_policy(self, target: str, product: str, choice: str) -> None:
        """Change China's export policy toward one target and product (live, next month).

        Args:
            target: state code (``USA`` or ``JPN``).
            product: ``light`` or ``heavy``.
            choice: one of :data:`~abm_dashboard.session.CHINA_POLICY_CHOICES`.
        """
        policy = {**self.china_policy.value, (target, product): choice}
        self.china_policy.value = policy
        changes = []
        for run in (self.run.value, self.run_b.value):
            if run is not None:
                changes = run.set_china_policy(policy) or changes
        if changes:
            self.notice.value = ("Live: China's export policy changed (" + ", ".join(changes)
                                 + "); it applies from the next simulated month.")
        self.version.value += 1

    def step(self) -> bool:
        """Simulate one month in every run and redraw.

        Returns:
            True when run A advanced.
        """
        with self._lock:  # Play's thread and the Step button must not step at once
            return self._step()

    def _step(self) -> bool:
        run = self.run.value
        if run is None:
            return False
        start = time.perf_counter()
        ok = run.step()
        run_b = self.run_b.value
        if run_b is not None and run_b.steps_done < run.steps_done:
            run_b.step()
        if run.error:
            self.error.value = run.error + " - press Reset to start again."
            self.playing.value = False
        elif run_b is not None and run_b.error:
            self.error.value = "Run B: " + run_b.error
        elif not ok:
            self.notice.value = "The scenario's horizon is reached; press Reset to run again."
            self.playing.value = False
        self.last_step_ms = (time.perf_counter() - start) * 1000.0
        self.version.value += 1
        return ok


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def _show(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return str(value)


# ---------------------------------------------------------------------- controls
@solara.component
def NumberField(state: DashboardState, spec: LeverSpec, value: str):
    """A text field for a number: refuses bad input with a visible message.

    Args:
        state: dashboard state.
        spec: the lever (label, type, range).
        value: current draft text.
    """
    error = state.field_errors.value.get(spec.name)
    solara.InputText(spec.label, value=value, on_value=lambda t: state.set_field(spec, t),
                     continuous_update=False, error=bool(error),
                     message=f"{spec.kind.__name__} in [{_num(spec.lo)}, {_num(spec.hi)}]")
    if error:
        solara.Error(error, dense=True, classes=["field-error"])


@solara.component
def Controls(state: DashboardState):
    """Scenario picker, play / step / reset, speed, seed, and the class levers."""
    run = state.run.value
    with solara.Card("Run", margin=0):
        solara.Select("Scenario (starts at once)", values=abm.list_scenarios(),
                      value=state.draft_scenario.value, on_value=state.choose_scenario)
        with solara.Row(gap="4px", style="flex-wrap: wrap"):
            solara.Button("Pause" if state.playing.value else "Play",
                          icon_name="mdi-pause" if state.playing.value else "mdi-play",
                          on_click=lambda: state.playing.set(not state.playing.value),
                          color="primary", disabled=run is None or not run.running,
                          small=True)
            solara.Button("Step", icon_name="mdi-skip-next", on_click=state.step,
                          disabled=run is None or not run.running or state.playing.value,
                          small=True)
            solara.Button("Reset", icon_name="mdi-restart", on_click=state.reset, small=True)
        solara.SliderInt("Speed (months per second)", value=state.speed, min=1, max=12)
        NumberField(state, SEED_SPEC, state.draft_seed.value)
    with solara.Card("Levers - take effect on Reset", margin=0):
        solara.Switch(label="US-Japan alliance (framework of Oct 2025)",
                      value=state.draft_alliance)
        for spec in RESET_LEVERS:
            NumberField(state, spec, state.draft_levers.value.get(spec.name, ""))
        pending = state.pending()
        if pending:
            solara.Warning("Changed, waiting for Reset: " + ", ".join(pending), dense=True,
                           classes=["pending-note"])
    with solara.Card("China's exports - live", margin=0):
        solara.Text("Takes effect from the next simulated month, no reset needed. Overrides "
                    "the timeline and China's own choice for that link; 'open' lifts only a "
                    "link-specific control, not one China applies to all.",
                    style="font-size: 12px")
        for target, product in CHINA_POLICY_TARGETS:
            solara.Select(f"To {COUNTRY_NAMES[target]}: {product}",
                          values=list(CHINA_POLICY_CHOICES),
                          value=state.china_policy.value.get((target, product), "scenario"),
                          on_value=lambda c, t=target, p=product: state.set_policy(t, p, c))
    with solara.Card("Compare", margin=0):
        solara.Checkbox(label="Compare with run B (dashed)", value=state.compare.value,
                        on_value=state.set_compare)
        if state.compare.value:
            solara.Switch(label="Run B: US-Japan alliance", value=state.compare_alliance.value,
                          on_value=state.set_compare_alliance)
            solara.Text("Run B = run A's settings with this alliance setting; it is rebuilt "
                        "and caught up at once.", style="font-size: 12px")


# ---------------------------------------------------------------------- views
@solara.component
def SvgView(svg: str, name: str):
    """Show an SVG chart.

    Args:
        svg: the ``<svg>`` element.
        name: CSS class suffix (``view-<name>``) for tests and styling.
    """
    solara.HTML(tag="div", unsafe_innerHTML=svg, classes=[f"view-{name}"], style="width: 100%")


def _drawn(draw, name: str) -> str:
    """Call a chart function; on failure return a visible error box instead of raising.

    A view that cannot draw (unexpected model data) must not take the page down with it.

    Args:
        draw: zero-argument function returning SVG text.
        name: the view's name for the message.

    Returns:
        The SVG, or an HTML error message.
    """
    try:
        return draw()
    except Exception as exc:  # noqa: BLE001 - shown to the user, the page keeps working
        return (f'<div class="view-error" style="color:#b00020">Could not draw the {name}: '
                f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</div>")


def _axis(run: Run) -> dict:
    sc = run.scenario
    return {"start_year": month_to_year(sc.start) - 0.5 / 12.0,
            "horizon_years": sc.horizon_months / 12.0}


@solara.component
def PriceView(run: Run, run_b: Run | None, version: int, log: bool = False):
    """Prices, light and heavy: China, world, USA, Japan; observed history; run B dashed."""
    svg = solara.use_memo(
        lambda: _drawn(lambda: charts.price_chart(
            run.frame(), observed=observed_history(), compare=run_b.frame() if run_b else None,
            step=run.steps_done, log=log, **_axis(run)), "prices"),
        dependencies=[run, run_b, version, log])
    SvgView(svg, "prices")


@solara.component
def SharesView(run: Run, version: int):
    """Mining and refining shares by country (stacked areas)."""
    svg = solara.use_memo(
        lambda: _drawn(lambda: charts.shares_chart(
            run.frame(), names=COUNTRY_NAMES, step=run.steps_done, **_axis(run)), "shares"),
        dependencies=[run, version])
    SvgView(svg, "shares")


@solara.component
def StocksView(run: Run, run_b: Run | None, version: int):
    """Stockpiles, firm inventories and shortages by country."""
    svg = solara.use_memo(
        lambda: _drawn(lambda: charts.stocks_chart(
            run.frame(), compare=run_b.frame() if run_b else None, names=COUNTRY_NAMES,
            step=run.steps_done, **_axis(run)), "stocks"),
        dependencies=[run, run_b, version])
    SvgView(svg, "stocks")


@solara.component
def NetworkView(run: Run, version: int):
    """The bloc network on a fixed, seeded layout (colour = bloc, size = output/use)."""
    pos = solara.use_memo(lambda: charts.network_layout(run.model.alliance_graph),
                          dependencies=[run])
    svg = solara.use_memo(
        lambda: _drawn(lambda: charts.network_chart(
            *_network(run, pos), title=_last_month(run), step=run.steps_done), "network"),
        dependencies=[run, version])
    SvgView(svg, "network")


def _network(run: Run, pos):
    graph, bloc, size = run.network()
    return graph, pos, bloc, size


@solara.component
def FlowsView(run: Run, version: int):
    """This month's trade flows, seller x buyer per product, blocked links crossed out."""
    svg = solara.use_memo(
        lambda: _drawn(lambda: charts.flows_chart(
            run.model.last_flows, run.model.blocked_links, names=COUNTRY_NAMES,
            step=run.steps_done, title=f"Trade in {_last_month(run)}, t/month; red cross = "
                                       "link blocked or capped by export controls"), "flows"),
        dependencies=[run, version])
    SvgView(svg, "flows")


def _last_month(run: Run) -> str:
    df = run.frame()
    return str(df["date"].iloc[-1]) if len(df) else f"{run.scenario.start} (not started)"


@solara.component
def EventLog(run: Run, version: int):
    """The event log as a timeline, newest first ("2025-04 China: licences ...")."""
    events = run.events()
    items = []
    for _, ev in events.iloc[::-1].head(300).iterrows():
        cls = "ev-user" if ev.get("source") == "user" else (
            "ev-china" if ev["actor"] == "CHN" else "ev")
        items.append(f'<li class="{cls}"><b>{html.escape(str(ev["date"]))}</b> '
                     f'{html.escape(str(ev["detail"]))}</li>')
    body = "".join(items) or "<li class='ev'>No policy events yet.</li>"
    solara.HTML(tag="div", classes=["view-events"],
                unsafe_innerHTML=f'<ul class="timeline">{body}</ul>',
                style="max-height: 330px; overflow-y: auto; font-size: 13px")


@solara.component
def Narrative(run: Run):
    """The scenario's story for educators: history, what to look for, questions."""
    sc = run.scenario
    nar = sc.narrative or {}
    parts = [f"**{sc.title}**", "", " ".join(str(sc.description or "").split())]
    if nar.get("history"):
        parts += ["", "**What happened.** " + " ".join(str(nar["history"]).split())]
    if nar.get("look_for"):
        parts += ["", "**What to look for.** " + " ".join(str(nar["look_for"]).split())]
    questions = nar.get("questions") or []
    if questions:
        parts += ["", "**Questions for the class**", ""]
        parts += [f"{i}. {q}" for i, q in enumerate(questions, 1)]
    with solara.Div(classes=["view-narrative"]):
        solara.Markdown("\n".join(parts), style="font-size: 13px")


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
def CompareTable(run: Run, run_b: Run, version: int):
    """Run A against run B this month: key outcomes side by side."""
    a, b = run.frame(), run_b.frame()
    label = {True: "alliance on", False: "alliance off"}
    head = (f"<tr><th></th><th>A ({label[run.settings.alliance]})</th>"
            f"<th>B ({label[run_b.settings.alliance]})</th></tr>")
    rows = []
    for col, name in COMPARE_ROWS:
        cells = []
        for df in (a, b):
            value = float(df[col].iloc[-1]) if len(df) and col in df else float("nan")
            exact = value.is_integer() or abs(value) >= 100
            cells.append(f"<td>{value:,.0f}</td>" if exact else f"<td>{value:,.2f}</td>")
        rows.append(f"<tr><td>{html.escape(name)}</td>{''.join(cells)}</tr>")
    solara.HTML(tag="div", classes=["view-compare"],
                unsafe_innerHTML=f"<p>Month {html.escape(_last_month(run))}: run A solid, run B "
                f"dashed in the charts.</p><table class='compare'>{head}{''.join(rows)}</table>")


@solara.component
def Status(state: DashboardState, run: Run, version: int):
    """One line: scenario, month, progress; plus error and notice messages."""
    del version  # a prop only so that the line redraws after every step
    sc = run.scenario
    text = (f"{sc.name} | month {_last_month(run)} | step {run.steps_done} of "
            f"{sc.horizon_months} | seed {run.settings.seed}"
            + (f" | model step {state.last_step_ms:.0f} ms" if run.steps_done else "")
            + (" | playing" if state.playing.value else ""))
    solara.Text(text, classes=["status-line"], style="font-weight: 500")
    lines = headlines(run.frame(), run.events())
    solara.HTML(tag="ul", classes=["view-headlines"],
                unsafe_innerHTML="".join(f"<li>{html.escape(t)}</li>" for t in lines),
                style="margin: 0; font-size: 13px")
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
def Page():
    """The dashboard page: one :class:`DashboardState` per browser session."""
    state = solara.use_memo(DashboardState, dependencies=[])
    Dashboard(state)


@solara.component
def Dashboard(state: DashboardState):
    """Controls on the left, views on the right, all drawn from ``state``."""
    run, run_b, version = state.run.value, state.run_b.value, state.version.value
    Player(state)
    solara.Title("Rare earths: a geopolitical market game")
    solara.Style(CSS)
    with solara.Columns([1, 4], gutters_dense=True):
        with solara.Column(gap="8px", classes=["controls"]):
            Controls(state)
        with solara.Column(gap="8px"):
            if run is None:
                solara.Error(state.error.value or "No run.", classes=["app-error"])
                return
            Status(state, run, version)
            with solara.Columns([3, 2], gutters_dense=True):
                with solara.Card("Prices", margin=0):
                    PriceView(run, run_b, version, state.log_prices.value)
                    solara.Checkbox(label="log scale", value=state.log_prices,
                                    style="margin-top: -8px")
                with solara.Card("Bloc network", margin=0):
                    NetworkView(run, version)
            with solara.Columns([3, 2], gutters_dense=True):
                with solara.Card("Who mines and who refines", margin=0):
                    SharesView(run, version)
                with solara.Card("Trade flows this month", margin=0):
                    FlowsView(run, version)
            with solara.Columns([3, 2], gutters_dense=True):
                with solara.Card("Stockpiles, inventories and shortages", margin=0):
                    StocksView(run, run_b, version)
                with solara.Card("Event timeline", margin=0):
                    EventLog(run, version)
            with solara.Columns([3, 2], gutters_dense=True):
                with solara.Card("For the class", margin=0):
                    Narrative(run)
                with solara.Card("Compare A and B", margin=0):
                    if run_b is not None:
                        CompareTable(run, run_b, version)
                    else:
                        solara.Text("Tick 'Compare with run B' to run a second world "
                                    "(e.g. without the alliance) next to this one.")


CSS = """
.controls .v-card { padding-bottom: 4px; }
.timeline { list-style: none; padding-left: 0; margin: 0; }
.timeline li { padding: 2px 0 2px 8px; border-left: 3px solid #ccc; margin-bottom: 2px; }
.timeline li.ev-china { border-left-color: #d62728; }
.timeline li.ev-user { border-left-color: #1f77b4; background: #eef5ff; }
table.compare { border-collapse: collapse; font-size: 13px; width: 100%; }
table.compare td, table.compare th { padding: 2px 6px; border-bottom: 1px solid #eee; }
table.compare td:not(:first-child) { text-align: right; }
"""
