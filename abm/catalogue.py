"""Text tables of what the model offers: parameters, columns, strategies, scenario events.

These are what ``python -m abm params | columns | strategies | events SCENARIO`` print, and
the README's parameter and column tables are generated from them (a test keeps the README in
step).
"""

from __future__ import annotations

from abm.columns import markdown_table
from abm.events import event_fields
from abm.params import GROUPS, PARAMS
from abm.scenario import load_scenario
from abm.strategies import DOMAINS, STRATEGIES

__all__ = ["params_table", "columns_table", "strategies_table", "events_table"]


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value) if isinstance(value, str) else str(value)


def params_table() -> str:
    """Every parameter as a Markdown table by group: type, default, range, meaning, source."""
    rows = ["| name | type | default | range | meaning | source |", "|---|---|---|---|---|---|"]
    for group in GROUPS:
        for name, p in PARAMS.items():
            if p.group != group:
                continue
            rng = "" if p.lo is None else f"{_fmt(p.lo)} - {_fmt(p.hi)}"
            rows.append(f"| `{name}` | {p.type.__name__} | {_fmt(p.default)} | {rng} | "
                        f"{p.doc} | {p.source} |")
    return "\n".join(rows)


def columns_table() -> str:
    """Every output column family as a Markdown table (column, unit, meaning)."""
    return markdown_table()


def strategies_table() -> str:
    """The states' strategies by decision domain (name and what it does)."""
    rows = ["| domain | strategy | what it does |", "|---|---|---|"]
    for domain in DOMAINS:
        for s in STRATEGIES.values():
            if s.domain == domain:
                doc = (type(s).__doc__ or "").strip().splitlines()[0]
                rows.append(f"| {domain} | `{s.name}` | {doc} |")
    return "\n".join(rows)


def events_table(scenario: str) -> str:
    """A scenario's events: date, id, actor, action, and the fields an id lets you edit.

    Raises:
        InputError: unknown or malformed scenario.
    """
    sc = load_scenario(scenario)
    lines = [f"{sc.name}: {len(sc.events)} events (edit one with --set "
             "event.<id>.<field>=<value>)"]
    for ev in sc.events:
        shown = {"date": ev.date, **ev.args}
        fields = ", ".join(f"{k}={shown[k]}" if k in shown else k
                           for k in event_fields(ev.action))
        lines.append(f"  {ev.date}  {ev.id or '(no id)':22s} {ev.actor:8s} {ev.action:14s} "
                     f"{fields}")
    return "\n".join(lines)
