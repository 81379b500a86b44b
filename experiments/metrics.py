"""Outcome metrics: one number (or date) per run, computed from the monthly frame.

A metric reads one column over an optional inclusive window (``start``/``end`` given as
``"YYYY-MM"`` dates or step numbers) and reduces it with one statistic:

=============== =====================================================================
stat            value
=============== =====================================================================
``mean``        mean over the window (units of the column)
``median``      median over the window
``min``         minimum
``max``         maximum (the peak)
``std``         standard deviation over months (ddof = 0)
``sum``         sum over the window (cumulative; e.g. t of shortage for t/month columns)
``initial``     value in the first month of the window
``final``       value in the last month of the window (e.g. final dependence on China)
``change``      final minus initial
``peak_date``   ``YYYY-MM`` of the maximum (first one on ties)
``trough_date`` ``YYYY-MM`` of the minimum (first one on ties)
``months_above`` number of months with value above ``threshold``
=============== =====================================================================

An empty window gives NaN (or None for dates).

A custom outcome (``function = "module:callable"`` in the spec) is called as
``callable(frame, events, **args)`` with the run's monthly frame and its event log (one row
per policy change: ``date, step, actor, action, detail, source``), both cut to the metric's
window; it returns a number (the metric ``name``) or a dict of numbers (metrics
``<name>_<key>``). Ready-made outcomes live in :mod:`experiments.outcomes`.
"""

from __future__ import annotations

import importlib
import math
import numbers
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from experiments.spec import Metric


def _first(v: np.ndarray, d: np.ndarray, _t: float | None) -> float:
    return float(v[0])


def _last(v: np.ndarray, d: np.ndarray, _t: float | None) -> float:
    return float(v[-1])


STATS: dict[str, Callable[[np.ndarray, np.ndarray, float | None], Any]] = {
    "mean": lambda v, d, t: float(np.mean(v)),
    "median": lambda v, d, t: float(np.median(v)),
    "min": lambda v, d, t: float(np.min(v)),
    "max": lambda v, d, t: float(np.max(v)),
    "std": lambda v, d, t: float(np.std(v)),
    "sum": lambda v, d, t: float(np.sum(v)),
    "initial": _first,
    "final": _last,
    "change": lambda v, d, t: float(v[-1] - v[0]),
    "peak_date": lambda v, d, t: str(d[int(np.argmax(v))]),
    "trough_date": lambda v, d, t: str(d[int(np.argmin(v))]),
    "months_above": lambda v, d, t: float(np.sum(v > t)),
}
DATE_STATS = frozenset({"peak_date", "trough_date"})


def months_between(first: str, last: str) -> int:
    """Months from ``first`` to ``last`` (``YYYY-MM``): 0 for the same month, negative before."""
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7])


def window(frame: pd.DataFrame, start: str | int | None, end: str | int | None) -> pd.DataFrame:
    """Return the rows of ``frame`` inside an inclusive window.

    Args:
        frame: Monthly frame with ``date`` ('YYYY-MM') and ``step`` columns.
        start: First month (date string or step number), or None.
        end: Last month (date string or step number), or None.

    Returns:
        The selected rows.
    """
    mask = np.ones(len(frame), dtype=bool)
    for bound, ge in ((start, True), (end, False)):
        if bound is None:
            continue
        col = frame["date"].astype(str).str[:7] if isinstance(bound, str) else frame["step"]
        mask &= (col >= bound).to_numpy() if ge else (col <= bound).to_numpy()
    return frame[mask]


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def resolve_function(path: str) -> Callable[..., Any]:
    """Import the callable of a ``"module:callable"`` path (cached per process).

    Raises:
        ImportError: The module cannot be imported.
        AttributeError: The module has no such callable.
        TypeError: The attribute is not callable.
    """
    fn = _FUNCTIONS.get(path)
    if fn is None:
        module, _, attr = path.partition(":")
        fn = getattr(importlib.import_module(module), attr)
        if not callable(fn):
            raise TypeError(f"{path} is not callable")
        _FUNCTIONS[path] = fn
    return fn


def _events_window(events: pd.DataFrame, start: str | int | None, end: str | int | None
                   ) -> pd.DataFrame:
    if events.empty or (start is None and end is None):
        return events
    return window(events, start, end)


def custom_outcome(m: Metric, frame: pd.DataFrame, events: pd.DataFrame | None) -> dict[str, float]:
    """Evaluate a custom outcome; return its metric values (``name`` or ``name_key``).

    Raises:
        TypeError: The callable returned something other than a number or a dict of numbers.
    """
    if events is None:
        events = pd.DataFrame(columns=["date", "step", "actor", "action", "detail", "source"])
    fn = resolve_function(m.function or "")
    sel = window(frame, m.start, m.end) if (m.start, m.end) != (None, None) else frame
    value = fn(sel, _events_window(events, m.start, m.end), **dict(m.args))
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str) or not _KEY.match(key):
                raise TypeError(f"metric {m.name!r}: {m.function} returned the key {key!r}, "
                                "which is not an identifier")
            out[f"{m.name}_{key}"] = _number(m, v)
        return out
    return {m.name: _number(m, value)}


def _number(m: Metric, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"metric {m.name!r}: {m.function} returned {type(v).__name__} "
                        f"{v!r}, not a number or a dict of numbers")
    return float(v)


def compute_metrics(frame: pd.DataFrame, metrics: Iterable[Metric],
                    events: pd.DataFrame | None = None) -> dict[str, Any]:
    """Compute every metric for one run.

    Args:
        frame: The run's monthly frame (from ``abm.simulate``).
        metrics: Metric definitions.
        events: The run's event log (for custom outcomes); None = an empty log.

    Returns:
        Metric name -> float (or ``YYYY-MM`` string for date statistics; NaN/None when the
        window is empty).

    Raises:
        KeyError: A metric names a column the frame does not have.
    """
    out: dict[str, Any] = {}
    for m in metrics:
        if m.function:
            out.update(custom_outcome(m, frame, events))
            continue
        if m.column not in frame.columns:
            raise KeyError(f"metric {m.name!r}: the model output has no column {m.column!r}")
        sel = window(frame, m.start, m.end)
        if sel.empty:
            out[m.name] = None if m.stat in DATE_STATS else math.nan
            continue
        values = sel[m.column].to_numpy(dtype=float)
        dates = sel["date"].astype(str).to_numpy()
        out[m.name] = STATS[m.stat](values, dates, m.threshold)
    return out
