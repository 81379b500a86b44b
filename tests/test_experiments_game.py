"""The game's equilibria (issue 13 item 8): the solver layer on hand-solved games, independent
of the model, and the profile runner on a stand-in model whose normal form is known."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import experiments
from experiments.equilibria import (
    NormalFormGame,
    best_responses,
    pure_equilibria,
    regret,
    solve,
)
from experiments.errors import ExperimentError, SpecError
from experiments.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
HOOKS = "tests.experiment_hooks"


def two_player(a, b, names=(("C", "D"), ("C", "D"))) -> NormalFormGame:
    return NormalFormGame(["row", "col"], [list(names[0]), list(names[1])],
                          np.stack([np.array(a, float), np.array(b, float)], axis=-1))


def profiles(sol, kind):
    return sorted(tuple(int(np.argmax(s)) for s in e.strategies) for e in sol.of_kind(kind))


def test_prisoners_dilemma_unique_equilibrium_is_mutual_defection():
    # (C,C)=3,3 (C,D)=0,5 (D,C)=5,0 (D,D)=1,1: D strictly dominates C for both
    g = two_player([[3, 0], [5, 1]], [[3, 5], [0, 1]])
    assert pure_equilibria(g) == [(1, 1)]
    sol = solve(g, lambdas=[0.0, 50.0])
    assert not sol.failures
    assert profiles(sol, "pure_nash") == [(1, 1)]
    assert profiles(sol, "mixed_nash") == [(1, 1)]  # no other equilibrium, mixed or not
    low, high = sorted(sol.of_kind("logit_qre"), key=lambda e: e.lam)
    assert low.lam == 0.0 and low.strategies == [[0.5, 0.5], [0.5, 0.5]]  # uniform play
    assert high.lam == pytest.approx(50.0) and high.strategies[0][1] > 0.999  # defect


def test_matching_pennies_unique_mixed_equilibrium_half_half():
    g = two_player([[1, -1], [-1, 1]], [[-1, 1], [1, -1]], (("H", "T"), ("H", "T")))
    assert pure_equilibria(g) == []
    sol = solve(g)
    assert sol.of_kind("pure_nash") == []
    (eq,) = sol.of_kind("mixed_nash")
    np.testing.assert_allclose(eq.strategies, [[0.5, 0.5], [0.5, 0.5]], atol=1e-9)
    assert eq.payoffs == pytest.approx([0.0, 0.0]) and eq.regret < 1e-9
    for q in sol.of_kind("logit_qre"):  # symmetric: the QRE is 1/2-1/2 at every lambda
        np.testing.assert_allclose(q.strategies, [[0.5, 0.5], [0.5, 0.5]], atol=1e-6)


def test_battle_of_the_sexes_two_pure_and_one_mixed():
    # row prefers O (2,1), col prefers F (1,2); mismatch 0,0. Mixed: row plays O with
    # p = 2/3 (makes col indifferent: 1 p = 2 (1-p)), col plays O with q = 1/3.
    g = two_player([[2, 0], [0, 1]], [[1, 0], [0, 2]], (("O", "F"), ("O", "F")))
    assert pure_equilibria(g) == [(0, 0), (1, 1)]
    sol = solve(g)
    assert profiles(sol, "pure_nash") == [(0, 0), (1, 1)]
    mixed = sol.of_kind("mixed_nash")
    assert len(mixed) == 3
    strict = [e for e in mixed if max(e.strategies[0]) < 0.99]
    assert len(strict) == 1
    np.testing.assert_allclose(strict[0].strategies, [[2 / 3, 1 / 3], [1 / 3, 2 / 3]],
                               atol=1e-9)
    assert strict[0].payoffs == pytest.approx([2 / 3, 2 / 3])


def brute_force_pure(payoffs: np.ndarray) -> list[tuple[int, ...]]:
    """Independent brute force: try every unilateral deviation of every profile."""
    shape = payoffs.shape[:-1]
    out = []
    for prof in itertools.product(*(range(n) for n in shape)):
        ok = True
        for i, n in enumerate(shape):
            for dev in range(n):
                alt = list(prof)
                alt[i] = dev
                if payoffs[(*alt, i)] > payoffs[(*prof, i)]:
                    ok = False
        if ok:
            out.append(prof)
    return out


def test_three_player_game_against_brute_force():
    rng = np.random.default_rng(7)
    payoffs = rng.integers(0, 10, size=(2, 3, 2, 3)).astype(float)
    g = NormalFormGame(["A", "B", "C"], [["a0", "a1"], ["b0", "b1", "b2"], ["c0", "c1"]],
                       payoffs)
    expected = brute_force_pure(payoffs)
    assert pure_equilibria(g) == expected
    sol = solve(g)
    assert not sol.failures
    assert profiles(sol, "pure_nash") == expected
    (eq,) = sol.of_kind("mixed_nash")  # logit_solve: one equilibrium, checked by its regret
    assert eq.regret < 1e-6
    for e in sol.of_kind("logit_qre"):  # probabilities sum to one for every player
        assert all(abs(sum(s) - 1) < 1e-9 for s in e.strategies)


def test_regret_and_best_responses_by_hand():
    g = two_player([[1, -1], [-1, 1]], [[-1, 1], [1, -1]])
    half = [np.array([0.5, 0.5])] * 2
    assert regret(g, half) == 0.0
    assert regret(g, [np.array([1.0, 0.0]), np.array([1.0, 0.0])]) == 2.0  # col gains 2
    pd_game = two_player([[3, 0], [5, 1]], [[3, 5], [0, 1]])
    assert best_responses(pd_game, 0) == {(0,): [1], (1,): [1]}
    assert best_responses(pd_game, 1) == {(0,): [1], (1,): [1]}


def test_solver_that_hangs_is_reported_and_the_others_kept(monkeypatch):
    from experiments import equilibria

    g = two_player([[3, 0], [5, 1]], [[3, 5], [0, 1]])
    real = equilibria._run_child
    calls = []

    def flaky(game, jobs, lambdas, timeout):
        calls.append([m for _, m in jobs])
        if jobs[0][1] == "enumpure_solve":  # finishes the first solver, then hangs
            done, _ = real(game, jobs[:1], lambdas, timeout)
            return done, "no answer within 60 s"
        return real(game, jobs, lambdas, timeout)

    monkeypatch.setattr(equilibria, "_run_child", flaky)
    sol = solve(g, lambdas=[1.0], timeout=60)
    assert sol.failures == {"enummixed_solve": "no answer within 60 s"}
    assert profiles(sol, "pure_nash") == [(1, 1)] and len(sol.of_kind("logit_qre")) == 1
    assert sol.of_kind("mixed_nash") == []
    assert calls == [["enumpure_solve", "enummixed_solve", "logit_solve_lambda"],
                     ["logit_solve_lambda"]]


def test_a_real_timeout_kills_the_solver_process():
    from experiments import equilibria

    g = two_player([[3, 0], [5, 1]], [[3, 5], [0, 1]])
    done, error = equilibria._run_child(g, [("pure", "enumpure_solve")], [], timeout=-9.99)
    assert done == [] and error.startswith("no answer within")


# -- the profile runner ---------------------------------------------------------------------
GAME = """
[experiment]
name = "pd-game"
description = "A prisoner's dilemma between China's exports and the USA's stockpile."
scenario = "baseline"
steps = 12
root_seed = 9
seeds = 3

[game]
players = ["CHN", "USA"]
start = "2024-04"
qre_lambdas = [0.0, 20.0]
compare_scenario = "strategic"

[game.strategies.CHN]
export = ["open", "ban"]

[game.strategies.USA]
stockpile = ["hold", "build"]
"""


def test_game_spec_becomes_a_factorial_over_strategy_overrides():
    spec = parse_spec(GAME)
    assert spec.parameters == {"strategy.CHN.export": ["open", "ban"],
                               "strategy.USA.stockpile": ["hold", "build"]}
    assert [(m.name, m.column, m.stat, m.start) for m in spec.metrics] == [
        ("payoff_china", "payoff_china", "mean", "2024-04"),
        ("payoff_usa", "payoff_usa", "mean", "2024-04")]
    assert len(spec.tasks()) == 4 * 3


@pytest.mark.parametrize(("edit", "message"), [
    (("players = [\"CHN\", \"USA\"]", "players = [\"CHN\"]"), "two or more state codes"),
    (("export = [\"open\", \"ban\"]", "export = [\"open\"]"), "single strategy"),
    (("stockpile = [", "trade = ["), "unknown key 'trade'"),
    (("[game]\n", "[sweep]\ndesign = \"factorial\"\n[sweep.parameters]\nx = [1]\n[game]\n"),
     "exclude each other"),
])
def test_malformed_game_sections_one_line(edit, message):
    with pytest.raises(SpecError) as err:
        parse_spec(GAME.replace(*edit))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_strategy_name_is_refused_before_running(tmp_path):
    from experiments.game import run_game

    spec = parse_spec(GAME.replace('"ban"]', '"embargo"]'))
    with pytest.raises(ExperimentError, match="unknown strategy 'embargo' \\(the model's: open"):
        run_game(spec, tmp_path / "g", workers=1, simulate=f"{HOOKS}:game_model",
                 progress=False)
    assert not (tmp_path / "g").exists()


@pytest.mark.slow
def test_game_command_finds_the_dilemma_and_compares_learning(tmp_path):
    from tests import experiment_hooks as hooks

    spec = tmp_path / "game.toml"
    spec.write_text(GAME)
    out = tmp_path / "g"
    res = subprocess.run([sys.executable, "-m", "experiments", "game", str(spec), "--out",
                          str(out), "--workers", "2", "--no-progress",
                          "--simulate", f"{HOOKS}:game_model"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "1 pure Nash equilibrium" in res.stdout
    eq = pd.read_csv(out / "equilibria.csv")
    pure = eq[(eq["kind"] == "pure_nash") & (eq["probability"] == 1.0)]
    assert dict(zip(pure["player"], pure["strategy"], strict=True)) == {"CHN": "ban",
                                                                       "USA": "build"}
    # payoffs: the PD table plus noise of mean ~0 over months and seeds (|noise| <= 0.05)
    pay = pd.read_csv(out / "payoffs.csv")
    for (chn, usa), values in hooks.PD.items():
        rows = pay[(pay["CHN"] == chn) & (pay["USA"] == usa)].set_index("player")
        assert rows.loc["CHN", "mean"] == pytest.approx(values[0], abs=0.05)
        assert rows.loc["USA", "mean"] == pytest.approx(values[1], abs=0.05)
        assert rows.loc["CHN", "n"] == 3
    # learning: window from step 3: CHN plays ban in all 9 months, the USA holds in 5 of 9
    learn = pd.read_csv(out / "learning.csv").set_index(["player", "strategy"])["share"]
    assert learn[("CHN", "ban")] == 1.0 and learn[("CHN", "open")] == 0.0
    assert learn[("USA", "hold")] == pytest.approx(5 / 9)
    md = (out / "game.md").read_text()
    assert "## Pure Nash equilibria" in md and "- CHN=ban, USA=build" in md
    assert "## What the learning states choose (strategic)" in md
    # the profile directory is an ordinary result set, and a rerun resumes
    runs = experiments.load_results(out)
    assert len(runs) == 12 and set(runs["strategy.CHN.export"]) == {"open", "ban"}
    again = subprocess.run([sys.executable, "-m", "experiments", "game", str(spec), "--out",
                            str(out), "--workers", "1", "--no-progress",
                            "--simulate", f"{HOOKS}:game_model"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
