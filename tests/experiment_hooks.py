"""Stand-in models for the experiments tests (``--simulate tests.experiment_hooks:NAME``).

Each is called like ``abm.simulate(scenario, steps=, rng=, **overrides)`` and returns a
monthly frame whose values are known in closed form, so the tests' expected values come from
the formulas here, not from the machinery under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

START = (2024, 1)


def _dates(steps: int) -> list[str]:
    y, m = START
    return [f"{y + (m - 1 + k) // 12:04d}-{(m - 1 + k) % 12 + 1:02d}" for k in range(steps)]


def function_model(scenario="baseline", *, steps=None, rng=0, **overrides):
    """Outputs of three inputs x1, x2, x3 in [0, 1] (no noise; ``steps`` months, default 3).

    Columns: ``y = x1 * x2``; ``box = 1`` inside x1 > 0.6 and x2 < 0.3, else 0;
    ``ramp = step * x3``.
    """
    n = 3 if steps is None else steps
    x1, x2, x3 = (float(overrides.get(k, 0.5)) for k in ("x1", "x2", "x3"))
    inside = float(x1 > 0.6 and x2 < 0.3)
    return pd.DataFrame({
        "date": _dates(n),
        "step": np.arange(n),
        "y": np.full(n, x1 * x2),
        "box": np.full(n, inside),
        "ramp": np.arange(n) * x3,
    })


#: value of column ``v`` per (arm, level, seed) in :func:`arm_model` (hand-written table)
ARM_TABLE = {
    ("a", 1, 11): 1.0, ("a", 1, 22): 2.0, ("a", 1, 33): 3.0,
    ("b", 1, 11): 2.0, ("b", 1, 22): 4.0, ("b", 1, 33): 3.5,
    ("c", 1, 11): 0.0, ("c", 1, 22): 3.0, ("c", 1, 33): 1.0,
    ("a", 2, 11): 10.0, ("a", 2, 22): 10.0, ("a", 2, 33): 10.0,
    ("b", 2, 11): 9.0, ("b", 2, 22): 8.0, ("b", 2, 33): 7.0,
    ("c", 2, 11): 10.0, ("c", 2, 22): 10.0, ("c", 2, 33): 10.0,
}


def arm_model(scenario="baseline", *, steps=None, rng=0, **overrides):
    """Column ``v`` constant over months at the value of :data:`ARM_TABLE`; an event log."""
    n = 2 if steps is None else steps
    v = ARM_TABLE[(overrides["arm"], int(overrides["level"]), int(rng))]
    frame = pd.DataFrame({"date": _dates(n), "step": np.arange(n), "v": np.full(n, v)})
    events = pd.DataFrame([
        {"date": _dates(n)[0], "step": 0, "actor": "CHN", "action": "export",
         "detail": "x", "source": "timeline"},
        {"date": _dates(n)[-1], "step": n - 1, "actor": "USA", "action": "stockpile",
         "detail": "y", "source": "choice"},
    ])
    return frame, events


def window_outcome(frame, events, *, scale=1.0):
    """A custom outcome: the sum of ``v`` over the window times scale, and the event count."""
    return {"total": float(frame["v"].sum()) * scale, "events": float(len(events))}


def bad_outcome(frame, events):
    """A custom outcome that returns text (a failed run, with its traceback)."""
    return "not a number"


# -- a game with a known normal form ---------------------------------------------------------
STATES = ["CHN", "USA", "JPN"]
STRATEGIES = {"export": ("open", "licence", "ban"), "stockpile": ("build", "hold", "release"),
              "alliance": ("join", "stay", "leave")}
#: prisoner's dilemma: CHN cooperates with open exports, the USA by holding its stockpile
PD = {("open", "hold"): (3.0, 3.0), ("open", "build"): (0.0, 5.0),
      ("ban", "hold"): (5.0, 0.0), ("ban", "build"): (1.0, 1.0)}
#: what the "learning" states of game_model play, month by month (12 months)
LEARNED = {"CHN": ["open"] * 3 + ["ban"] * 9, "USA": ["build", "hold"] * 6}


def strategy_names(domain):
    """The hook's strategy registry (as model.strategy_names)."""
    if domain not in STRATEGIES:
        raise ValueError(f"unknown decision domain {domain!r}")
    return STRATEGIES[domain]


def game_model(scenario="baseline", *, steps=None, rng=0, **overrides):
    """Payoffs of :data:`PD` plus zero-mean seed noise (+-0.05); learning columns otherwise.

    With the overrides ``strategy.CHN.export`` and ``strategy.USA.stockpile`` the states play
    those strategies all run long; without them they play :data:`LEARNED`.
    """
    n = 12 if steps is None else steps
    chn, usa = overrides.get("strategy.CHN.export"), overrides.get("strategy.USA.stockpile")
    noise = np.random.default_rng(int(rng)).uniform(-0.05, 0.05, size=(n, 2))
    if chn is not None and usa is not None:
        pay = np.array(PD[(chn, usa)]) + noise
        plays = {"CHN": [chn] * n, "USA": [usa] * n}
    else:
        plays = {k: (v * n)[:n] for k, v in LEARNED.items()}
        pay = np.array([PD[(c, u)] for c, u in zip(plays["CHN"], plays["USA"], strict=True)])
    return pd.DataFrame({
        "date": _dates(n), "step": np.arange(n),
        "payoff_china": pay[:, 0], "payoff_usa": pay[:, 1],
        "strategy_china_export": plays["CHN"], "strategy_usa_stockpile": plays["USA"],
    })
