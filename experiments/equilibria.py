"""Normal-form games and their equilibria (solved with Gambit through pygambit).

A :class:`NormalFormGame` holds players, their strategy names and a payoff array of shape
``(n_1, ..., n_k, k)``: ``payoffs[s_1, ..., s_k, i]`` is player i's payoff when each player j
plays strategy s_j. :func:`solve` finds

* every **pure Nash equilibrium** (``enumpure_solve``);
* **mixed Nash equilibria**: with two players every extreme equilibrium
  (``enummixed_solve``, exact vertex enumeration); with more players one equilibrium, the
  end of the principal branch of the logit QRE correspondence (``logit_solve``; McKelvey
  and Palfrey 1995), which is the equilibrium selected by the tracing of bounded
  rationality as it vanishes;
* the **logit quantal-response equilibrium** at given precisions lambda
  (``qre.logit_solve_lambda``): each player plays strategy s with probability proportional to
  ``exp(lambda x expected payoff of s)``; lambda = 0 is uniform play, lambda -> inf a Nash
  equilibrium. Lambda is in 1/payoff units.

Each solver runs in a child process with a timeout (``python -m experiments.equilibria``):
some Gambit solvers can run for minutes or take the process down on unlucky input, and a
game report must survive that (the result then says which solver failed). Payoffs are passed
as floats.

:func:`pure_equilibria` and :func:`regret` are plain numpy, independent of Gambit: the tests
use them to cross-check it, and the report uses :func:`best_responses` for its tables.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from experiments.errors import ExperimentError

GAMBIT_MISSING = (
    "solving the game needs pygambit: pip install 'rare-earth-abm[game]' (or pip install pygambit)"
)
TOL = 1e-9


@dataclass
class NormalFormGame:
    """A finite game in normal form (see the module docstring)."""

    players: list[str]
    strategies: list[list[str]]
    payoffs: np.ndarray

    def __post_init__(self) -> None:
        self.payoffs = np.asarray(self.payoffs, dtype=float)
        shape = tuple(len(s) for s in self.strategies)
        if len(self.players) != len(self.strategies) or len(self.players) < 2:
            raise ExperimentError("a game needs two or more players, each with strategies")
        if self.payoffs.shape != (*shape, len(self.players)):
            raise ExperimentError(
                f"payoffs have shape {self.payoffs.shape}, expected {(*shape, len(self.players))}"
            )
        if not np.isfinite(self.payoffs).all():
            raise ExperimentError("every profile needs finite payoffs (rerun missing profiles)")

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of strategies per player."""
        return self.payoffs.shape[:-1]

    def profiles(self) -> list[tuple[int, ...]]:
        """Every pure profile (a strategy index per player), in array order."""
        return list(itertools.product(*(range(n) for n in self.shape)))

    def label(self, profile: tuple[int, ...]) -> str:
        """``"CHN=ban, USA=build"``."""
        return ", ".join(f"{p}={s[i]}" for p, s, i in
                         zip(self.players, self.strategies, profile, strict=True))


def best_responses(game: NormalFormGame, player: int) -> dict[tuple[int, ...], list[int]]:
    """Player's best responses to each profile of the others (ties within 1e-9 all kept).

    Returns:
        ``{others' profile (the player's position removed): [best strategy indices]}``.
    """
    pay = np.moveaxis(game.payoffs[..., player], player, -1)
    out = {}
    for others in itertools.product(*(range(n) for k, n in enumerate(game.shape) if k != player)):
        row = pay[others]
        out[others] = [int(i) for i in np.flatnonzero(row >= row.max() - TOL)]
    return out


def pure_equilibria(game: NormalFormGame) -> list[tuple[int, ...]]:
    """Every pure Nash equilibrium by brute force: no player gains by deviating alone."""
    found = []
    for prof in game.profiles():
        stable = True
        for i in range(len(game.players)):
            idx = list(prof)
            idx[i] = slice(None)
            if game.payoffs[(*idx, i)].max() > game.payoffs[(*prof, i)] + TOL:
                stable = False
                break
        if stable:
            found.append(prof)
    return found


def expected_payoffs(game: NormalFormGame, mixed: list[np.ndarray]) -> np.ndarray:
    """Each player's expected payoff under independent mixed strategies."""
    t = game.payoffs
    for m in mixed:  # contract each player's axis, leading axis first
        t = np.tensordot(m, t, axes=([0], [0]))
    return np.asarray(t, dtype=float)


def regret(game: NormalFormGame, mixed: list[np.ndarray]) -> float:
    """Largest gain any player gets from deviating to a pure strategy (0 at a Nash eq.)."""
    worst = 0.0
    for i in range(len(game.players)):
        t = np.moveaxis(game.payoffs[..., i], i, -1)  # the others' axes first, then i's
        for m in (m for k, m in enumerate(mixed) if k != i):
            t = np.tensordot(m, t, axes=([0], [0]))
        worst = max(worst, float(t.max() - t @ mixed[i]))
    return worst


@dataclass
class Equilibrium:
    """One equilibrium (pure, mixed or QRE): each player's mixed strategy and payoff.

    Attributes:
        kind: ``pure_nash``, ``mixed_nash`` or ``logit_qre``.
        method: The Gambit solver that found it.
        strategies: Per player, the probability of each strategy.
        payoffs: Per player, the expected payoff.
        lam: The QRE precision (None for Nash equilibria).
        regret: Largest gain from a unilateral deviation (numpy recomputation).
    """

    kind: str
    method: str
    strategies: list[list[float]]
    payoffs: list[float]
    lam: float | None = None
    regret: float = 0.0


@dataclass
class Solution:
    """Every equilibrium found, and the solvers that failed (with their one-line reason)."""

    equilibria: list[Equilibrium] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[Equilibrium]:
        """Equilibria of one kind."""
        return [e for e in self.equilibria if e.kind == kind]


def default_lambdas(game: NormalFormGame) -> list[float]:
    """QRE precisions on the game's own scale: 0.5, 2 and 8 over the payoffs' std."""
    spread = float(np.std(game.payoffs)) or 1.0
    return [k / spread for k in (0.5, 2.0, 8.0)]


def solve(game: NormalFormGame, *, lambdas: list[float] | None = None,
          timeout: float = 60.0) -> Solution:
    """Pure and mixed Nash equilibria and logit QRE of a game (solvers in child processes).

    Args:
        game: The game.
        lambdas: QRE precisions (default :func:`default_lambdas`).
        timeout: Seconds each solver may take.

    Returns:
        A :class:`Solution`.

    Raises:
        ExperimentError: pygambit is not installed.
    """
    try:
        import pygambit  # noqa: F401
    except ImportError:
        raise ExperimentError(GAMBIT_MISSING) from None
    lambdas = default_lambdas(game) if lambdas is None else list(lambdas)
    solution = Solution()
    jobs = [("pure", "enumpure_solve"),
            ("mixed", "enummixed_solve" if len(game.players) == 2 else "logit_solve")]
    if lambdas:
        jobs.append(("qre", "logit_solve_lambda"))
    while jobs:  # one child for all solvers; one that hangs or crashes is dropped, then retry
        done, error = _run_child(game, jobs, lambdas, timeout)
        for method, found in done:
            for eq in found:
                mixed = [np.array(p) for p in eq["strategies"]]
                solution.equilibria.append(Equilibrium(
                    kind=eq["kind"], method=method, strategies=eq["strategies"],
                    payoffs=expected_payoffs(game, mixed).tolist(), lam=eq.get("lam"),
                    regret=regret(game, mixed)))
        jobs = jobs[len(done):]
        if error is not None and jobs:
            solution.failures[jobs[0][1]] = error
            jobs = jobs[1:]
    return solution


def _run_child(game: NormalFormGame, jobs: list[tuple[str, str]], lambdas: list[float],
               timeout: float) -> tuple[list[tuple[str, list[dict[str, Any]]]], str | None]:
    """Run solvers in a child process; return the finished ones and the failure, if any.

    The child prints one JSON line per finished solver, so the work done before a solver
    hangs (killed after ``timeout`` s of its own) or crashes the process is kept.
    """
    payload = {"jobs": jobs, "payoffs": game.payoffs.tolist(), "lambdas": lambdas}
    proc = subprocess.Popen([sys.executable, "-m", "experiments.equilibria"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    error = None
    try:
        out, err = proc.communicate(json.dumps(payload), timeout=timeout * len(jobs) + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        error = f"no answer within {timeout:g} s"
    done = [(d["method"], d["found"]) for d in map(json.loads, out.splitlines()) if d]
    if error is None and proc.returncode != 0:
        error = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    return done, error


def _solve_one(g: Any, kind: str, method: str, lambdas: list[float]) -> list[dict[str, Any]]:
    """Run one Gambit solver on a pygambit game; return JSON-able equilibria."""
    import pygambit as gbt

    def probs(profile: Any) -> list[list[float]]:
        return [[float(profile[s]) for s in p.strategies] for p in g.players]

    if kind == "qre":  # lambda 0 is uniform play by definition (Gambit's tracer needs > 0)
        uniform = [[1.0 / len(p.strategies)] * len(p.strategies) for p in g.players]
        positive = sorted(float(v) for v in lambdas if v > 0)
        found = [{"kind": "logit_qre", "lam": 0.0, "strategies": uniform}
                 for v in lambdas if v <= 0][:1]
        if positive:
            found += [{"kind": "logit_qre", "lam": float(q.lam), "strategies": probs(q.profile)}
                      for q in gbt.qre.logit_solve_lambda(g, lam=positive)]
        return found
    if method == "enumpure_solve":
        found = gbt.nash.enumpure_solve(g).equilibria
        return [{"kind": "pure_nash", "strategies": probs(e)} for e in found]
    if method == "enummixed_solve":
        found = gbt.nash.enummixed_solve(g, rational=False).equilibria
    else:
        found = gbt.nash.logit_solve(g).equilibria
    return [{"kind": "mixed_nash", "strategies": probs(e)} for e in found]


def _child(payload: dict[str, Any]) -> None:
    """Solve in this (child) process, printing one JSON line per finished solver."""
    import pygambit as gbt

    payoffs = np.asarray(payload["payoffs"], dtype=float)
    arrays = [np.ascontiguousarray(payoffs[..., i]) for i in range(payoffs.shape[-1])]
    g = gbt.Game.from_arrays(*arrays, title="experiments")
    for kind, method in payload["jobs"]:
        found = _solve_one(g, kind, method, payload["lambdas"])
        print(json.dumps({"method": method, "found": found}), flush=True)


if __name__ == "__main__":
    _child(json.load(sys.stdin))
