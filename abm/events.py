"""Scripted policy events: parsing, validation, edits by id, and the timeline.

A scenario's ``[[events]]`` table lists dated actions (see :mod:`abm.actions`). Common keys:
``date`` (``YYYY-MM``), ``actor`` (a state code, or a miner id), ``action``, and optionally
``id`` (letters, digits and ``_``; unique in the file), ``detail`` (text for the event log),
``pin`` (default true: the actor's decision domain stays scripted until a ``free`` event) and
``requires`` (a true/false parameter that must be true for the event to apply). The other keys
are the action's fields.

An event with an ``id`` can be edited before a run by an override named
``event.<id>.<field>`` (for example ``event.quota_2011.tonnes_per_yr = 20000`` or
``event.floor.date = "2026-01"``), given like any parameter to :func:`abm.load_scenario`,
``--set`` or an experiment spec; the edited event is validated like the file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from abm.actions import ACTIONS, Field
from abm.errors import InputError
from abm.params import PARAMS, parse_month

__all__ = ["PolicyEvent", "Timeline", "parse_event", "parse_events", "apply_event_overrides",
           "event_fields", "EVENT_PREFIX"]

EVENT_PREFIX = "event."
_COMMON = ("date", "actor", "action", "detail", "pin", "requires", "id")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_COMMON_FIELDS = {
    "date": Field("text", True, doc="YYYY-MM when the event applies"),
    "actor": Field("text", True, doc="state code or miner id"),
    "detail": Field("text", doc="event-log text"),
    "pin": Field("bool", doc="keep the actor's domain scripted (default true)"),
}


@dataclass(frozen=True)
class PolicyEvent:
    """One dated action of a scenario timeline.

    Attributes:
        date: ``YYYY-MM`` when it applies.
        actor: state code (``CHN``) or miner id for miner actions.
        action: a name in :data:`abm.actions.ACTIONS`.
        args: the action's arguments, typed.
        detail: text for the event log and the dashboard timeline.
        pin: whether the actor's choice in this domain stays fixed until a ``free`` event.
        requires: a boolean parameter that must be true for the event to apply.
        id: the event's id in its file (``""`` when it has none).
    """

    date: str
    actor: str
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    pin: bool = True
    requires: str = ""
    id: str = ""


def parse_events(rows: list, scenario: str) -> list[PolicyEvent]:
    """Validate the ``[[events]]`` rows of a scenario file, sorted by date (stable).

    Raises:
        InputError: naming the scenario, the event's position (or id) and the problem.
    """
    if not isinstance(rows, list):
        raise InputError(f"scenario {scenario!r}: events must be an array of tables")
    events, seen = [], set()
    for i, row in enumerate(rows, start=1):
        ev = parse_event(row, f"scenario {scenario!r} event {i}")
        if ev.id and ev.id in seen:
            raise InputError(f"scenario {scenario!r}: event id {ev.id!r} is used twice")
        seen.add(ev.id)
        events.append(ev)
    return sorted(events, key=lambda e: e.date)


def parse_event(row: Any, where: str) -> PolicyEvent:
    """Validate one event row (a scenario file's ``[[events]]`` table).

    Args:
        row: the event's fields.
        where: how an error names the event (e.g. ``extra event 2``).

    Raises:
        InputError: naming ``where`` (and the id) and the problem.
    """
    if not isinstance(row, dict):
        raise InputError(f"{where}: must be a table")
    for key in ("date", "actor", "action"):
        if key not in row:
            raise InputError(f"{where}: lacks {key!r}")
    if row.get("id"):
        where = f"{where} ({row['id']})"
    date = _COMMON_FIELDS["date"].coerce(row["date"], where, "date")
    parse_month(date, f"{where} date")
    action = row["action"]
    if action not in ACTIONS:
        raise InputError(f"{where}: unknown action {action!r} (known: {', '.join(ACTIONS)})")
    args = ACTIONS[action].check({k: v for k, v in row.items() if k not in _COMMON}, where)
    ev_id = row.get("id", "")
    if not isinstance(ev_id, str) or ev_id and not _ID.match(ev_id):
        raise InputError(f"{where}: id must be letters, digits and _, starting with a letter")
    requires = row.get("requires", "")
    if requires and (requires not in PARAMS or PARAMS[requires].type is not bool):
        raise InputError(f"{where}: requires must name a true/false parameter")
    return PolicyEvent(
        date=date, actor=_COMMON_FIELDS["actor"].coerce(row["actor"], where, "actor"),
        action=action, args=args,
        detail=_COMMON_FIELDS["detail"].coerce(row["detail"], where, "detail")
        if row.get("detail") else "",
        pin=_COMMON_FIELDS["pin"].coerce(row.get("pin", True), where, "pin"),
        requires=requires, id=ev_id)


def event_fields(action: str) -> dict[str, Field]:
    """Fields an event of this action offers to ``event.<id>.<field>`` edits."""
    return {"date": _COMMON_FIELDS["date"], **ACTIONS[action].fields}


def apply_event_overrides(rows: list, overrides: dict[str, Any], scenario: str) -> list:
    """Edit raw event rows by ``event.<id>.<field>`` overrides (validated by parsing after).

    Raises:
        InputError: an unknown id or field, or a malformed key.
    """
    if not overrides:
        return rows
    rows = [dict(r) if isinstance(r, dict) else r for r in rows]
    by_id = {r.get("id"): r for r in rows if isinstance(r, dict) and r.get("id")}
    for key, value in overrides.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "event" or not parts[1] or not parts[2]:
            raise InputError(f"event override {key!r} must be event.<id>.<field>")
        row = by_id.get(parts[1])
        if row is None:
            known = ", ".join(sorted(by_id)) or "none"
            raise InputError(f"scenario {scenario!r} has no event with id {parts[1]!r} "
                             f"(ids: {known})")
        fields = event_fields(row.get("action", ""))
        if parts[2] not in fields:
            raise InputError(f"event {parts[1]!r} ({row.get('action')}) has no field "
                             f"{parts[2]!r} (fields: {', '.join(fields)})")
        row[parts[2]] = fields[parts[2]].coerce(value, f"override {key}", parts[2])
    return rows


class Timeline:
    """A scenario's events by month; yields the events due in a month, in file order."""

    def __init__(self, events: list[PolicyEvent]):
        self._by_date: dict[str, list[PolicyEvent]] = defaultdict(list)
        for ev in events:
            self._by_date[ev.date].append(ev)

    def due(self, date: str) -> list[PolicyEvent]:
        """Events dated ``date`` (``YYYY-MM``)."""
        return list(self._by_date.get(date, ()))
