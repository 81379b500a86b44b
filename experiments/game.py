"""The model's policy game in normal form: profiles, payoffs, equilibria, learning.

``python -m experiments game SPEC --out DIR`` takes a spec with a ``[game]`` section::

    [game]
    players = ["CHN", "USA", "JPN"]      # state codes
    start = "2026-12"                    # payoff window (optional; default the whole run)
    end = "2030-12"
    qre_lambdas = [0.1, 1.0]             # optional logit QRE precisions (1/payoff units)
    compare_scenario = "strategic"       # learning states to compare with ('' = none)

    [game.strategies.CHN]                # per player, per decision domain, strategy names
    export = ["open", "licence", "ban"]  # from the model's registry: model.strategy_names()
    [game.strategies.USA]
    stockpile = ["build", "hold"]
    [game.strategies.JPN]
    alliance = ["join", "stay"]

Every profile (one strategy per player and domain; a player with several domains plays
their combinations) is a point of a factorial sweep over the overrides
``"strategy.<STATE>.<domain>" = "<name>"``, which pin the state's strategy for the whole run,
and runs over the spec's seeds (common random numbers) through the normal, resumable runner,
so ``DIR`` is an ordinary result directory (``report``, ``discover`` and ``load_results``
work on it). A player's payoff in a profile is the mean over the window of the model's output
column ``payoff_<country>`` (US$ million/month), averaged over seeds (with its 95% CI).

The payoff array forms a normal-form game, solved by :mod:`experiments.equilibria` (pure
and mixed Nash equilibria, logit QRE). Then the scenario ``compare_scenario`` (default
``strategic``, where every state learns by experience-weighted attraction and logit choice)
runs over the same seeds and horizon, and the share of months each player spends in each of
its strategies over the window is set against the equilibria.

Outputs: ``DIR/equilibria.csv`` (one row per equilibrium, player and strategy: ``kind``
pure_nash / mixed_nash / logit_qre, ``method``, ``lambda``, ``probability``, the player's
``expected_payoff`` and the equilibrium's ``regret``), ``DIR/payoffs.csv`` (per profile and
player: mean, CI, seeds), ``DIR/learning.csv`` and ``DIR/game.md`` (payoff tables, best
responses, equilibria, comparison with learning).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.equilibria import NormalFormGame, Solution, best_responses, solve
from experiments.errors import ExperimentError
from experiments.report import ensemble_stats, markdown_table, write_csv
from experiments.spec import COUNTRY_SLUGS, STRATEGY_PREFIX, Spec, parse_spec, payoff_column

LEARNING_DIR = "learning"


@dataclass
class GameResult:
    """What ``python -m experiments game`` did: its message and exit status."""

    message: str
    exit_code: int
    solution: Solution | None = None


def player_strategies(game: dict[str, Any], player: str) -> tuple[list[str], list[str]]:
    """A player's domains and its strategy labels (``"ban"`` or ``"export=ban+...``)."""
    table = game["strategies"][player]
    domains = list(table)
    combos = list(itertools.product(*(table[d] for d in domains)))
    if len(domains) == 1:
        return domains, [c[0] for c in combos]
    return domains, ["+".join(f"{d}={n}" for d, n in zip(domains, c, strict=True))
                     for c in combos]


def check_strategies(spec: Spec, simulate: str) -> None:
    """Check players and strategy names against the model's registry before running.

    With the default model a scenario's model is built once (``model.states`` and
    ``model.strategy_names(domain)``); a ``--simulate`` hook module may offer
    ``strategy_names(domain)`` and ``STATES`` for the same check.

    Raises:
        ExperimentError: An unknown player or strategy, in one line.
    """
    game = spec.game or {}
    if simulate == "abm:simulate":
        import abm

        try:
            model = abm.RareEarthModel(scenario=spec.scenario, rng=0, **spec.fixed)
        except ValueError as exc:
            raise ExperimentError(f"spec {spec.name!r}: the model rejects it: {exc}") from None
        states, names = set(model.states), model.strategy_names
    else:
        import importlib

        module = importlib.import_module(simulate.partition(":")[0])
        names = getattr(module, "strategy_names", None)
        states = set(getattr(module, "STATES", game["players"]))
        if names is None:
            return
    for p in game["players"]:
        if p not in states:
            raise ExperimentError(
                f"[game] player {p!r} is not a state of the model ({', '.join(sorted(states))})"
            )
        for domain, wanted in game["strategies"][p].items():
            try:
                known = tuple(names(domain))
            except ValueError as exc:
                raise ExperimentError(f"[game.strategies.{p}] {exc}") from None
            bad = [n for n in wanted if n not in known]
            if bad:
                raise ExperimentError(
                    f"[game.strategies.{p}] {domain}: unknown strategy {bad[0]!r} "
                    f"(the model's: {', '.join(known)})"
                )


def build_game(spec: Spec, runs: pd.DataFrame) -> tuple[NormalFormGame, pd.DataFrame]:
    """The normal-form game of a finished profile sweep, and its payoff table.

    Returns:
        The game (payoff = mean over seeds of each player's window-mean payoff) and a table
        with one row per profile and player: the profile's strategies, ``player``,
        ``strategy``, ``n``, ``mean``, ``ci_low``, ``ci_high``.

    Raises:
        ExperimentError: A profile has no run that finished ok.
    """
    game = spec.game or {}
    players = game["players"]
    labels = {p: player_strategies(game, p) for p in players}
    ok = runs[runs["status"] == "ok"]
    shape = tuple(len(labels[p][1]) for p in players)
    payoffs = np.full((*shape, len(players)), np.nan)
    rows = []
    missing = []
    for idx in itertools.product(*(range(n) for n in shape)):
        sel = ok
        profile = {}
        for p, i in zip(players, idx, strict=True):
            domains, names = labels[p]
            combo = list(itertools.product(*(game["strategies"][p][d] for d in domains)))[i]
            for d, name in zip(domains, combo, strict=True):
                sel = sel[sel[f"{STRATEGY_PREFIX}{p}.{d}"] == name]
            profile[p] = names[i]
        if sel.empty:
            missing.append(", ".join(f"{k}={v}" for k, v in profile.items()))
            continue
        for k, p in enumerate(players):
            s = ensemble_stats(sel[payoff_column(p)])
            payoffs[(*idx, k)] = s["mean"]
            rows.append({**profile, "player": p, "strategy": profile[p], "n": s["n"],
                         "mean": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]})
    if missing:
        raise ExperimentError(
            f"{len(missing)} profile(s) have no finished run (e.g. {missing[0]}); rerun the "
            "same command to finish them"
        )
    nfg = NormalFormGame(players, [labels[p][1] for p in players], payoffs)
    return nfg, pd.DataFrame(rows)


def equilibria_table(game: NormalFormGame, solution: Solution) -> pd.DataFrame:
    """One row per equilibrium, player and strategy (see the module docstring)."""
    rows = []
    counters: dict[str, int] = {}
    for eq in solution.equilibria:
        k = counters[eq.kind] = counters.get(eq.kind, 0) + 1
        for i, p in enumerate(game.players):
            for name, prob in zip(game.strategies[i], eq.strategies[i], strict=True):
                rows.append({"kind": eq.kind, "id": k, "method": eq.method, "lambda": eq.lam,
                             "player": p, "strategy": name, "probability": prob,
                             "expected_payoff": eq.payoffs[i], "regret": eq.regret})
    return pd.DataFrame(rows, columns=["kind", "id", "method", "lambda", "player", "strategy",
                                       "probability", "expected_payoff", "regret"])


# -- the learning states ---------------------------------------------------------------------
def strategy_column(code: str, domain: str) -> str:
    """Output column of the strategy a state plays in a domain: ``strategy_<country>_<d>``."""
    return f"strategy_{COUNTRY_SLUGS.get(code, code.lower())}_{domain}"


def simulate_learning(scenario="strategic", *, steps=None, rng=0, **overrides):
    """Run the model and record each state's strategy per domain every month.

    Adds ``strategy_<country>_<domain>`` columns (unless the model outputs them itself):
    the export and stockpile strategies as the model's own ``recognise`` reads them,
    and for alliances ``join`` when the state is in a bloc, else ``stay``. Returns the frame
    and the event log, like the runner's default.
    """
    import abm
    from abm import strategies as rules

    model = abm.RareEarthModel(scenario=scenario, rng=rng, **overrides)
    n = model.horizon if steps is None else steps
    record: list[dict[str, str]] = []
    for _ in range(n):
        model.step()
        row = {}
        for code, state in model.states.items():
            for domain in ("export", "stockpile"):
                row[strategy_column(code, domain)] = rules.recognise(model, state, domain)
            row[strategy_column(code, "alliance")] = "join" if state.bloc else "stay"
        record.append(row)
    frame = model.results_frame()
    extra = pd.DataFrame(record, index=frame.index)
    frame = pd.concat([frame, extra[[c for c in extra.columns if c not in frame.columns]]],
                      axis=1)
    return frame, model.event_log_frame()


def strategy_shares(frame: pd.DataFrame, events: pd.DataFrame, *, column: str,
                    names: list[str] | tuple[str, ...]) -> dict[str, float]:
    """A custom outcome: share of the window's months a strategy column shows each name."""
    values = frame[column].astype(str)
    return {name: float((values == name).mean()) if len(values) else math.nan
            for name in names}


def learning_spec(spec: Spec) -> Spec:
    """The spec of the comparison runs: the compare scenario, free states, same seeds."""
    game = spec.game or {}
    lines = [
        "[experiment]",
        f'name = "{spec.name}-learning"',
        f'description = "Learning states in {game["compare_scenario"]} (compared with the '
        f'equilibria of {spec.name})"',
        f'scenario = "{game["compare_scenario"]}"',
        *([f"steps = {spec.steps}"] if spec.steps else []),
        f"seeds = [{', '.join(str(s) for s in spec.seeds)}]",
    ]
    if spec.fixed:
        lines.append("\n[fixed]")
        lines += [f'"{k}" = {_toml(v)}' for k, v in spec.fixed.items()
                  if not k.startswith(STRATEGY_PREFIX)]
    for p in game["players"]:
        for domain, names in game["strategies"][p].items():
            lines += [
                "\n[[metrics]]",
                f'name = "share_{COUNTRY_SLUGS.get(p, p.lower())}_{domain}"',
                'function = "experiments.game:strategy_shares"',
                f'args = {{ column = "{strategy_column(p, domain)}", names = '
                f'[{", ".join(_toml(n) for n in names)}] }}',
                *([f'start = {_toml(game["start"])}'] if game["start"] is not None else []),
                *([f'end = {_toml(game["end"])}'] if game["end"] is not None else []),
            ]
    lines += ["\n[store]", "metrics_only = true", ""]
    return parse_spec("\n".join(lines))


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def learning_table(spec: Spec, runs: pd.DataFrame) -> pd.DataFrame:
    """Mean share of months per player, domain and strategy over the learning runs."""
    game = spec.game or {}
    ok = runs[runs["status"] == "ok"]
    rows = []
    for p in game["players"]:
        for domain, names in game["strategies"][p].items():
            base = f"share_{COUNTRY_SLUGS.get(p, p.lower())}_{domain}"
            for name in names:
                col = f"{base}_{name}"
                s = ensemble_stats(ok[col]) if col in ok else ensemble_stats(pd.Series([]))
                rows.append({"player": p, "domain": domain, "strategy": name,
                             "share": s["mean"], "ci_low": s["ci_low"],
                             "ci_high": s["ci_high"], "seeds": s["n"]})
    return pd.DataFrame(rows)


# -- the command ----------------------------------------------------------------------------
def run_game(spec: Spec, out: str | Path, *, workers: int | None = None,
             scheduler: str | None = None, simulate: str = "abm:simulate",
             progress: bool = True, timeout: float = 60.0) -> GameResult:
    """Run every profile of a game spec, solve the game, compare with learning, report.

    Args:
        spec: A spec with a ``[game]`` section.
        out: Result directory (reruns resume).
        workers: Local worker processes.
        scheduler: Dask scheduler address.
        simulate: ``"module:function"`` of the simulate callable.
        progress: Show progress bars.
        timeout: Seconds each equilibrium solver may take.

    Returns:
        A :class:`GameResult` (exit status 0, or 1 when runs failed or were lost).

    Raises:
        ExperimentError: Not a game spec, unknown players or strategies, a spec the model
            rejects, or pygambit missing.
    """
    from experiments.runner import run_experiment
    from experiments.store import load_results

    if spec.game is None:
        raise ExperimentError(f"spec {spec.name!r} has no [game] section")
    try:
        import pygambit  # noqa: F401
    except ImportError:
        from experiments.equilibria import GAMBIT_MISSING

        raise ExperimentError(GAMBIT_MISSING) from None
    check_strategies(spec, simulate)
    out = Path(out)
    summary = run_experiment(spec, out, workers=workers, scheduler=scheduler,
                             simulate=simulate, progress=progress)
    if summary.failed or summary.lost:
        return GameResult(
            f"{spec.name}: {summary.failed} profile run(s) failed and {summary.lost} were lost; "
            f"see `python -m experiments report {out}`; rerun to finish", 1)
    runs = load_results(out)
    game, payoffs = build_game(spec, runs)
    lambdas = spec.game.get("qre_lambdas")
    solution = solve(game, lambdas=lambdas, timeout=timeout)
    write_csv(equilibria_table(game, solution), out / "equilibria.csv")
    write_csv(payoffs, out / "payoffs.csv")
    learning = None
    compare = spec.game.get("compare_scenario")
    if compare:
        lspec = learning_spec(spec)
        learn_sim = "experiments.game:simulate_learning" if simulate == "abm:simulate" \
            else simulate
        s = run_experiment(lspec, out / LEARNING_DIR, workers=workers, scheduler=scheduler,
                           simulate=learn_sim, progress=progress)
        if not (s.failed or s.lost):
            learning = learning_table(spec, load_results(out / LEARNING_DIR))
            write_csv(learning, out / "learning.csv")
    path = write_game_report(spec, game, payoffs, solution, learning, out)
    n_pure = len(solution.of_kind("pure_nash"))
    return GameResult(
        f"{spec.name}: {int(np.prod(game.shape))} profiles x {len(spec.seeds)} seeds; "
        f"{n_pure} pure Nash equilibri{'um' if n_pure == 1 else 'a'}, "
        f"{len(solution.of_kind('mixed_nash'))} mixed, {len(solution.of_kind('logit_qre'))} "
        f"QRE points" + (f"; solvers failed: {', '.join(solution.failures)}"
                         if solution.failures else "") + f" -> {path}",
        0, solution)


def _fmt_prob(probs: list[float], names: list[str]) -> str:
    return ", ".join(f"{n} {p:.2f}" for n, p in zip(names, probs, strict=True) if p > 5e-3)


def write_game_report(spec: Spec, game: NormalFormGame, payoffs: pd.DataFrame,
                      solution: Solution, learning: pd.DataFrame | None, out: Path) -> Path:
    """Write ``DIR/game.md``; return its path."""
    from experiments import store

    g = spec.game or {}
    window = f"{g.get('start') or 'start'} to {g.get('end') or 'end'}"
    lines = [
        f"# Game: {spec.name}",
        "",
        spec.description.strip(),
        "",
        f"- scenario `{spec.scenario}`, {spec.steps or 'the scenario horizon in'} months, "
        f"{len(spec.seeds)} seeds per profile (common random numbers); payoff window "
        f"{window}",
        "- players and strategies: " + "; ".join(
            f"{p}: {', '.join(s)}" for p, s in zip(game.players, game.strategies, strict=True)),
        "- payoff: mean of the state's `payoff_<country>` output over the window "
        "(US$ million/month), averaged over seeds, with the 95% CI over seeds",
        "",
        "## Payoffs per profile (mean [95% CI]); * = a best response to the others' profile",
        "",
    ]
    brs = [best_responses(game, i) for i in range(len(game.players))]
    table = []
    for prof in game.profiles():
        row = {p: game.strategies[i][s] for i, (p, s) in enumerate(zip(game.players, prof,
                                                                        strict=True))}
        for i, p in enumerate(game.players):
            others = tuple(s for k, s in enumerate(prof) if k != i)
            sel = payoffs[(payoffs["player"] == p) & np.logical_and.reduce(
                [payoffs[q] == row[q] for q in game.players])]
            r = sel.iloc[0]
            star = "*" if prof[i] in brs[i][others] else ""
            ci = f" [{r['ci_low']:.4g}, {r['ci_high']:.4g}]" if r["n"] > 1 else ""
            row[f"payoff {p}"] = f"{r['mean']:.4g}{ci}{star}"
        table.append(row)
    lines += [markdown_table(pd.DataFrame(table)), ""]
    pure = solution.of_kind("pure_nash")
    lines += ["## Pure Nash equilibria", ""]
    if pure:
        for e in pure:
            prof = tuple(int(np.argmax(s)) for s in e.strategies)
            lines.append(f"- {game.label(prof)}: payoffs " + ", ".join(
                f"{p} {v:.4g}" for p, v in zip(game.players, e.payoffs, strict=True)))
    else:
        lines.append("None: in every profile some player gains by deviating alone.")
    lines += ["", "## Mixed Nash equilibria", ""]
    for e in solution.of_kind("mixed_nash"):
        lines.append(f"- ({e.method}) " + "; ".join(
            f"{p}: {_fmt_prob(s, names)}" for p, s, names in
            zip(game.players, e.strategies, game.strategies, strict=True))
            + f" (regret {e.regret:.2g})")
    lines += ["", "## Logit quantal-response equilibrium", "",
              "Each player plays a strategy with probability proportional to exp(lambda x its "
              "expected payoff); lambda in 1/(US$ million/month). Small lambda: noisy play; "
              "large: close to a Nash equilibrium.", ""]
    qre_rows = [{"lambda": f"{e.lam:.4g}", **{p: _fmt_prob(s, names) for p, s, names in
                                               zip(game.players, e.strategies, game.strategies,
                                                   strict=True)}}
                for e in solution.of_kind("logit_qre")]
    lines += [markdown_table(pd.DataFrame(qre_rows)) if qre_rows else "(not computed)", ""]
    if solution.failures:
        lines += ["Solvers that failed: " + "; ".join(
            f"{k}: {v}" for k, v in solution.failures.items()), ""]
    if learning is not None:
        lines += [
            f"## What the learning states choose ({g.get('compare_scenario')})",
            "",
            "Share of the window's months each player spends in each strategy when it "
            "learns (experience-weighted attraction, logit choice), mean over the same seeds "
            "[95% CI], next to the strategy's probability in the most precise QRE and its "
            "weight in the pure equilibria.",
            "",
        ]
        qre = solution.of_kind("logit_qre")
        top = max(qre, key=lambda e: e.lam or 0) if qre else None
        rows = []
        for r in learning.itertuples():
            row = {"player": r.player, "domain": r.domain, "strategy": r.strategy,
                   "learned share": f"{r.share:.2f}" + (
                       f" [{r.ci_low:.2f}, {r.ci_high:.2f}]" if r.seeds > 1 else "")}
            i = game.players.index(r.player)
            names = game.strategies[i]
            matches = [k for k, n in enumerate(names) if n == r.strategy
                       or f"{r.domain}={r.strategy}" in n.split("+")]
            if top is not None:
                row["QRE probability"] = f"{sum(top.strategies[i][k] for k in matches):.2f}"
            if pure:
                weight = np.mean([sum(e.strategies[i][k] for k in matches) for e in pure])
                row["in pure equilibria"] = f"{weight:.2f}"
            rows.append(row)
        lines += [markdown_table(pd.DataFrame(rows)), ""]
    lines += ["All equilibria: `equilibria.csv`; payoffs with CIs: `payoffs.csv`.", ""]
    path = out / "game.md"
    store.atomic_write_text(path, "\n".join(lines))
    return path


__all__ = ["GameResult", "run_game", "build_game", "simulate_learning",
           "strategy_shares", "learning_spec", "check_strategies"]
