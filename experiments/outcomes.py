"""Ready-made custom outcomes for ``[[metrics]] function = "experiments.outcomes:NAME"``.

Each is called as ``fn(frame, events, **args)`` with a run's monthly frame and its event log
(both cut to the metric's window) and returns a number or a dict of numbers (see
:mod:`experiments.metrics`). They double as examples for writing your own: any importable
``module:callable`` with this signature works, and its module becomes part of the model
fingerprint of the result directory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def count_events(frame: pd.DataFrame, events: pd.DataFrame, *, action: str | None = None,
                 actor: str | None = None, source: str | None = None) -> float:
    """Number of event-log entries (policy changes) matching every filter given.

    Args:
        frame: The run's monthly frame (unused).
        events: The run's event log.
        action: Keep only this action (e.g. ``"export"``, ``"stockpile"``, ``"alliance"``).
        actor: Keep only this actor (a state code or a miner id).
        source: Keep only this source (``"timeline"``, ``"choice"``, ``"model"``...).

    Returns:
        The count (a float, for the results table).
    """
    sel = events
    for col, value in (("action", action), ("actor", actor), ("source", source)):
        if value is not None:
            sel = sel[sel[col] == value]
    return float(len(sel))


def spell_lengths(frame: pd.DataFrame, events: pd.DataFrame, *, column: str,
                  above: float = 0.0) -> dict[str, float]:
    """Spells of consecutive months with ``column`` above a threshold.

    Args:
        frame: The run's monthly frame.
        events: The run's event log (unused).
        column: The column to read (e.g. ``"shortage_japan"``, t/month).
        above: The threshold (in the column's units).

    Returns:
        ``{"count": number of spells, "longest": months of the longest spell,
        "first_step": step where the first spell starts (NaN if none)}``.
    """
    hit = (frame[column].to_numpy(dtype=float) > above).astype(int)
    edges = np.diff(np.r_[0, hit, 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    steps = frame["step"].to_numpy()
    return {
        "count": float(len(lengths)),
        "longest": float(lengths.max()) if len(lengths) else 0.0,
        "first_step": float(steps[starts[0]]) if len(starts) else float("nan"),
    }


def price_gap(frame: pd.DataFrame, events: pd.DataFrame, *, product: str = "light") -> float:
    """Mean two-tier price gap: the world price over China's domestic price, minus 1.

    Args:
        frame: The run's monthly frame (``price_<product>_world`` and ``..._china``, US$/kg).
        events: The run's event log (unused).
        product: ``"light"`` (NdPr oxide) or ``"heavy"`` (Dy/Tb oxide).

    Returns:
        The mean over months of ``world / china - 1`` (dimensionless; 0 = one world price).
    """
    world = frame[f"price_{product}_world"].to_numpy(dtype=float)
    china = frame[f"price_{product}_china"].to_numpy(dtype=float)
    return float(np.mean(world / china - 1.0))
