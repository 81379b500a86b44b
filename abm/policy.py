"""Export-control instruments and scripted policy timelines.

Export policy of one exporter toward one target and product is an :class:`ExportPolicy`:

- ``open``: no cap;
- ``licence``: a share of the requested volume is approved, reaching that share
  ``licence_delay_months`` after the regime starts (applications pile up first). The requested
  volume is the link's reference flow (its average while it was open);
- ``quota``: tonnes REO per year; toward ``all`` it caps the sum of the exporter's foreign
  sales (as China's 2009-2014 export quotas did), converted into each product by the exporter's
  refined mix; toward one target it caps that link;
- ``ban``: nothing passes.

A scenario's ``[[events]]`` table lists dated actions (see :data:`ACTIONS`). An event can *pin*
the actor's choice (history replay: the actor does not choose freely while pinned) and a later
``free`` event releases it. Every applied event is written to the model's event log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from abm.errors import InputError

__all__ = ["ExportPolicy", "PolicyEvent", "ACTIONS", "INSTRUMENTS", "PRODUCTS", "parse_events"]

PRODUCTS = ("light", "heavy")
INSTRUMENTS = ("open", "licence", "quota", "ban")

#: action -> (required keys, optional keys) of an event's table
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "export": (("instrument",), ("target", "product", "share", "tonnes_per_yr")),
    "stockpile": (("mode",), ("product",)),
    "alliance": (("bloc",), ("member",)),
    "leave_alliance": ((), ()),
    "price_floor": (("usd_per_kg",), ("product", "miners", "upside_share")),
    "co_invest": (("country", "tonnes_reo_per_yr"), ("lead_months", "kind")),
    "offtake": (("miner",), ("bloc",)),
    "china_route": (("miner", "allowed"), ()),
    "free": ((), ()),
}

_COMMON = ("date", "actor", "action", "detail", "pin", "requires")


@dataclass(frozen=True)
class ExportPolicy:
    """An exporter's policy toward one target and product.

    Attributes:
        instrument: ``open``, ``licence``, ``quota`` or ``ban``.
        share: approved share of requests under ``licence`` (0-1).
        tonnes_per_yr: quota in t REO per year under ``quota``.
        since_step: model step at which the regime began (for the licence delay).
    """

    instrument: str = "open"
    share: float = 1.0
    tonnes_per_yr: float = float("inf")
    since_step: int = 0

    def label(self) -> str:
        """Short text such as ``licence 50%`` or ``quota 30,258 t/yr``."""
        if self.instrument == "licence":
            return f"licence {self.share:.0%}"
        if self.instrument == "quota":
            return f"quota {self.tonnes_per_yr:,.0f} t/yr"
        return self.instrument


@dataclass(frozen=True)
class PolicyEvent:
    """One dated action of a scenario timeline.

    Attributes:
        date: ``YYYY-MM`` when it applies.
        actor: state code (``CHN``) or miner id for miner actions.
        action: one of :data:`ACTIONS`.
        args: the action's arguments.
        detail: text for the event log and the dashboard timeline.
        pin: whether the actor's choice in this domain stays fixed until a ``free`` event.
        requires: a boolean parameter that must be true for the event to apply
            (``alliance`` removes the US-Japan framework as a counterfactual).
    """

    date: str
    actor: str
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    pin: bool = True
    requires: str = ""


def parse_events(rows: list, scenario: str) -> list[PolicyEvent]:
    """Validate the ``[[events]]`` rows of a scenario file.

    Raises:
        InputError: naming the scenario, the event's position and the problem.
    """
    from abm.scenario import PARAMS, parse_month

    events = []
    for i, row in enumerate(rows, start=1):
        where = f"scenario {scenario!r} event {i}"
        if not isinstance(row, dict):
            raise InputError(f"{where}: must be a table")
        for key in ("date", "actor", "action"):
            if key not in row:
                raise InputError(f"{where}: lacks {key!r}")
        parse_month(row["date"], f"{where} date")
        action = row["action"]
        if action not in ACTIONS:
            raise InputError(f"{where}: unknown action {action!r} (known: {', '.join(ACTIONS)})")
        required, optional = ACTIONS[action]
        missing = [k for k in required if k not in row]
        if missing:
            raise InputError(f"{where}: action {action!r} needs {', '.join(missing)}")
        extra = set(row) - set(required) - set(optional) - set(_COMMON)
        if extra:
            raise InputError(f"{where}: unknown keys {', '.join(sorted(extra))}")
        args = {k: row[k] for k in (*required, *optional) if k in row}
        if action == "export":
            if args["instrument"] not in INSTRUMENTS:
                raise InputError(f"{where}: instrument must be one of {', '.join(INSTRUMENTS)}")
            if args.get("product", "both") not in (*PRODUCTS, "both"):
                raise InputError(f"{where}: product must be light, heavy or both")
            if args["instrument"] == "quota" and "tonnes_per_yr" not in args:
                raise InputError(f"{where}: a quota needs tonnes_per_yr")
            share = args.get("share", None)
            if share is not None and not (0.0 <= float(share) <= 1.0):
                raise InputError(f"{where}: share must be within [0, 1]")
            if float(args.get("tonnes_per_yr", 0.0)) < 0:
                raise InputError(f"{where}: tonnes_per_yr must not be negative")
        if action == "stockpile" and args["mode"] not in ("build", "hold", "release"):
            raise InputError(f"{where}: stockpile mode must be build, hold or release")
        if action == "co_invest" and float(args["tonnes_reo_per_yr"]) < 0:
            raise InputError(f"{where}: tonnes_reo_per_yr must not be negative")
        if action == "price_floor" and float(args["usd_per_kg"]) < 0:
            raise InputError(f"{where}: usd_per_kg must not be negative")
        requires = row.get("requires", "")
        if requires and (requires not in PARAMS or PARAMS[requires].type is not bool):
            raise InputError(f"{where}: requires must name a true/false parameter")
        events.append(PolicyEvent(date=row["date"], actor=str(row["actor"]), action=action,
                                  args=args, detail=str(row.get("detail", "")),
                                  pin=bool(row.get("pin", True)), requires=requires))
    return sorted(events, key=lambda e: e.date)
