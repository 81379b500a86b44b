"""Policy actions: the registry of what a scripted event, a state's choice or a player can do.

Each action is one class registered by name in :data:`ACTIONS`. It declares its fields (type,
whether required, valid range) so scenario files are validated before a run, and it applies
itself to a model through the model's public methods only (the policy regime, the alliance
network, the refining capacity, agents' own methods). A new instrument is one new class
decorated with :func:`register`; scenario files, experiment specs (``event.<id>.<field>``),
``python -m abm events`` and the docs pick it up from here.

The model is passed in duck-typed (this module sits below the model layer and never imports
it); see :class:`abm.model.RareEarthModel` for the methods used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from abm.errors import InputError
from abm.policy import INSTRUMENTS, PRODUCT_CHOICES, ExportPolicy, products_of

__all__ = ["Field", "Action", "ACTIONS", "register", "apply_action"]


@dataclass(frozen=True)
class Field:
    """One field of an action: its kind, whether it is required, and its valid values.

    Attributes:
        kind: ``number`` (finite float), ``int``, ``bool``, ``text``, or ``miners`` (a list of
            miner ids, or the text ``allied``).
        required: whether an event must give it.
        lo: smallest valid number.
        hi: largest valid number.
        choices: valid texts.
        doc: meaning and unit.
    """

    kind: str
    required: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""

    def coerce(self, value: Any, where: str, name: str) -> Any:
        """Check a value (parsing text from the command line) and return it typed.

        Raises:
            InputError: naming ``where`` and the field.
        """
        if isinstance(value, str) and self.kind in ("number", "int", "bool"):
            value = _parse(value, self.kind, where, name)
        if self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                    value):
                raise InputError(f"{where}: {name} must be a finite number, got {value!r}")
            value = float(value)
        elif self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{where}: {name} must be an integer, got {value!r}")
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise InputError(f"{where}: {name} must be true or false, got {value!r}")
        elif self.kind == "miners":
            value = _miners(value, where, name)
        elif not isinstance(value, str) or not value.strip():
            raise InputError(f"{where}: {name} must be a non-empty text, got {value!r}")
        if self.choices and value not in self.choices:
            raise InputError(f"{where}: {name} must be one of {', '.join(self.choices)}, "
                             f"got {value!r}")
        if self.lo is not None and value < self.lo or self.hi is not None and value > self.hi:
            raise InputError(f"{where}: {name} = {value!r} is outside [{self.lo}, {self.hi}]")
        return value


def _parse(text: str, kind: str, where: str, name: str) -> Any:
    t = text.strip()
    if kind == "bool":
        if t.lower() in ("true", "false"):
            return t.lower() == "true"
        raise InputError(f"{where}: {name} must be true or false, got {text!r}")
    if not t.isascii():
        raise InputError(f"{where}: {name} must be written in ASCII digits, got {text!r}")
    try:
        return int(t) if kind == "int" else float(t)
    except ValueError:
        raise InputError(f"{where}: {name} must be a number, got {text!r}") from None


def _miners(value: Any, where: str, name: str) -> Any:
    if value == "allied":
        return value
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise InputError(f"{where}: {name} must be a list of miner ids or \"allied\", got {value!r}")


_PRODUCT = Field("text", choices=PRODUCT_CHOICES,
                 doc="light, heavy, magnet, both (oxides; the default) or all")
_LIGHT = Field("text", choices=PRODUCT_CHOICES,
               doc="light (the default), heavy, magnet, both (oxides) or all")


class Action:
    """Base class of a policy action (subclasses register with :func:`register`).

    Attributes:
        name: the ``action`` key of an event.
        domain: decision domain an event pins (``export``, ``stockpile``, ``alliance``) or
            ``None``.
        actor: ``state`` or ``miner``: who may perform it.
        fields: field name -> :class:`Field`.
    """

    name: ClassVar[str]
    domain: ClassVar[str | None] = None
    actor: ClassVar[str] = "state"
    fields: ClassVar[dict[str, Field]] = {}

    def check(self, args: dict, where: str) -> dict:
        """Validate an event's arguments and return them typed.

        Raises:
            InputError: a missing required field, an unknown field or a bad value.
        """
        missing = [k for k, f in self.fields.items() if f.required and k not in args]
        if missing:
            raise InputError(f"{where}: action {self.name!r} needs {', '.join(missing)}")
        extra = set(args) - set(self.fields)
        if extra:
            raise InputError(f"{where}: unknown keys {', '.join(sorted(extra))}")
        out = {k: self.fields[k].coerce(v, where, k) for k, v in args.items()}
        self.check_combination(out, where)
        return out

    def check_combination(self, args: dict, where: str) -> None:
        """Rules that involve several fields (none by default)."""

    def references(self, actor: str, args: dict) -> list[tuple[str, str]]:
        """(kind, code) pairs the action names: ``state``, ``target``, ``country``, ``miner``.

        The model checks them against its world before the first month.
        """
        return [(self.actor, actor)]

    def apply(self, model, actor: str, args: dict) -> str:
        """Change the model and return the default event-log text."""
        raise NotImplementedError


#: action name -> action object
ACTIONS: dict[str, Action] = {}


def register(cls: type[Action]) -> type[Action]:
    """Class decorator: add an action to :data:`ACTIONS` under its ``name``."""
    ACTIONS[cls.name] = cls()
    return cls


@register
class Export(Action):
    """Set an export policy toward a target (a state, or ``all``) for a product."""

    name = "export"
    domain = "export"
    fields = {
        "instrument": Field("text", True, choices=INSTRUMENTS, doc="open, licence, quota, ban"),
        "target": Field("text", doc="a state code or all (default all)"),
        "product": _PRODUCT,
        "share": Field("number", lo=0.0, hi=1.0, doc="licence: approved share (default: "
                                                     "parameter licence_share)"),
        "tonnes_per_yr": Field("number", lo=0.0, hi=1e9, doc="quota: t REO per year"),
    }

    def check_combination(self, args, where):  # noqa: D102
        if args["instrument"] == "quota" and "tonnes_per_yr" not in args:
            raise InputError(f"{where}: a quota needs tonnes_per_yr")

    def references(self, actor, args):  # noqa: D102
        target = args.get("target", "all")
        return [("state", actor)] + ([("state", target)] if target != "all" else [])

    def apply(self, model, actor, args):  # noqa: D102
        target = args.get("target", "all")
        if target != "all" and target not in model.states:
            raise InputError(f"event at {model.date}: unknown export target {target!r}")
        pol = ExportPolicy(instrument=args["instrument"],
                           share=float(args.get("share", model.sc.licence_share)),
                           tonnes_per_yr=float(args.get("tonnes_per_yr", float("inf"))),
                           since_step=model.month)
        for p in products_of(args.get("product")):
            model.regime.set(actor, target, p, pol)
        return (f"{model.states[actor].name}: exports of {args.get('product', 'both')} to "
                f"{target} -> {pol.label()}")


@register
class ExportDuty(Action):
    """Put an ad valorem export duty on a product (0 lifts it)."""

    name = "export_duty"
    domain = "export"
    fields = {"rate": Field("number", True, lo=0.0, hi=1.0,
                            doc="duty, share of the export price (0.25 = 25%)"),
              "product": _PRODUCT}

    def apply(self, model, actor, args):  # noqa: D102
        for p in products_of(args.get("product")):
            model.regime.set_duty(actor, p, float(args["rate"]))
        return (f"{model.states[actor].name}: export duty on {args.get('product', 'both')} "
                f"{args['rate']:.0%}")


@register
class Enforcement(Action):
    """Set how hard a state fights smuggling and illegal mining (0 = not at all, 1 = fully)."""

    name = "enforcement"
    fields = {"level": Field("number", True, lo=0.0, hi=1.0, doc="0-1")}

    def apply(self, model, actor, args):  # noqa: D102
        state = model.states[actor]
        state.enforcement = float(args["level"])
        return f"{state.name}: enforcement against smuggling and illegal mining {args['level']:.0%}"


@register
class Stockpile(Action):
    """Build, hold or release a state's strategic stockpile."""

    name = "stockpile"
    domain = "stockpile"
    fields = {"mode": Field("text", True, choices=("build", "hold", "release")),
              "product": _PRODUCT}

    def apply(self, model, actor, args):  # noqa: D102
        state = model.states[actor]
        state.set_stockpile_mode(products_of(args.get("product")), args["mode"])
        return f"{state.name}: stockpile {args['mode']} ({args.get('product', 'both')})"


@register
class Alliance(Action):
    """Join a bloc (with an optional second member joining at once)."""

    name = "alliance"
    domain = "alliance"
    fields = {"bloc": Field("text", True, doc="bloc name"),
              "member": Field("text", doc="another state joining with the actor")}

    def references(self, actor, args):  # noqa: D102
        return [("state", actor)] + ([("state", args["member"])] if "member" in args else [])

    def apply(self, model, actor, args):  # noqa: D102
        members = [actor] + ([args["member"]] if args.get("member") else [])
        for code in members:
            if code not in model.states:
                raise InputError(f"event at {model.date}: unknown state {code!r}")
            model.network.join(code, args["bloc"])
        return f"{model.states[actor].name}: joins {args['bloc']}"


@register
class LeaveAlliance(Action):
    """Leave the actor's bloc."""

    name = "leave_alliance"
    domain = "alliance"

    def apply(self, model, actor, args):  # noqa: D102
        old = model.network.bloc(actor)
        model.network.leave(actor)
        return f"{model.states[actor].name}: leaves {old or 'no bloc'}"


@register
class PriceFloor(Action):
    """A state pays named (or its allied) miners the gap between a floor and the price."""

    name = "price_floor"
    fields = {
        "usd_per_kg": Field("number", True, lo=0.0, hi=1e5, doc="floor, US$/kg oxide"),
        "product": _LIGHT,
        "miners": Field("miners", doc="miner ids, or allied (default): miners tied to the "
                                      "actor or its bloc that its law lets it pay"),
        "upside_share": Field("number", lo=0.0, hi=1.0,
                              doc="share of the price above the floor the state takes"),
    }

    def references(self, actor, args):  # noqa: D102
        miners = args.get("miners", "allied")
        return [("state", actor)] + ([("miner", m) for m in miners]
                                     if isinstance(miners, list) else [])

    def apply(self, model, actor, args):  # noqa: D102
        state = model.states[actor]
        miners = args.get("miners", "allied")
        usd = float(args["usd_per_kg"])
        if isinstance(miners, list):
            targets = [m for m in model.miners if m.mine_id in miners]
        else:
            targets = [m for m in model.miners if m.bloc in (actor, state.bloc) and m.bloc
                       and model.may_pay(actor, m)]
        for m in targets:
            m.grant_floor(products_of(args.get("product", "light")), usd, actor,
                          float(args.get("upside_share", 0.0)))
        state.offer_floor(usd)
        return (f"{state.name}: price floor {args['usd_per_kg']} US$/kg for "
                f"{', '.join(m.name for m in targets) or 'allied miners'}")


@register
class CoInvest(Action):
    """Finance new refining (separation) capacity in a country, online after a lead time."""

    name = "co_invest"
    fields = {
        "country": Field("text", True, doc="country code where the plant is built"),
        "tonnes_reo_per_yr": Field("number", True, lo=0.0, hi=1e7, doc="capacity, t REO/yr"),
        "lead_months": Field("int", lo=0, hi=600,
                             doc="months to production (default refining_lead_months)"),
        "kind": Field("text", doc="label, e.g. separation"),
    }

    def references(self, actor, args):  # noqa: D102
        return [("state", actor), ("country", args["country"])]

    def apply(self, model, actor, args):  # noqa: D102
        country = args["country"]
        if country not in model.cidx:
            raise InputError(f"event at {model.date}: unknown country {country!r}")
        lead = int(args.get("lead_months", model.sc.refining_lead_months))
        kind = args.get("kind", "refining")
        model.refining.commission(country, float(args["tonnes_reo_per_yr"]),
                                  model.month + lead, kind)
        return (f"{model.states[actor].name}: co-invests in {args['tonnes_reo_per_yr']:,.0f} "
                f"t REO/yr {kind} capacity in {country}, ready "
                f"{model.month_date(model.month + lead)}")


@register
class Offtake(Action):
    """Tie a miner to a state or bloc (its output is sold there first)."""

    name = "offtake"
    actor = "miner"
    fields = {"miner": Field("text", True, doc="miner id"),
              "bloc": Field("text", doc="state or bloc (default: the actor)")}

    def references(self, actor, args):  # noqa: D102
        return [("miner", args["miner"])]

    def apply(self, model, actor, args):  # noqa: D102
        miner = model.miner(args["miner"])
        bloc = args.get("bloc", actor)
        miner.align(bloc)
        return f"{miner.name}: offtake with {bloc}"


@register
class ChinaRoute(Action):
    """Allow or stop a miner's concentrate going to China for refining."""

    name = "china_route"
    actor = "miner"
    fields = {"miner": Field("text", True, doc="miner id"),
              "allowed": Field("bool", True, doc="true or false")}

    def references(self, actor, args):  # noqa: D102
        return [("miner", args["miner"])]

    def apply(self, model, actor, args):  # noqa: D102
        miner = model.miner(args["miner"])
        miner.china_route = bool(args["allowed"])
        return (f"{miner.name}: concentrate to China "
                f"{'allowed' if miner.china_route else 'stopped'}")


@register
class Free(Action):
    """Release the actor's scripted (pinned) decisions: it chooses freely from now on."""

    name = "free"
    actor = "any"

    def references(self, actor, args):  # noqa: D102
        return [("any", actor)]

    def apply(self, model, actor, args):  # noqa: D102
        state = model.states.get(actor)
        if state is not None:
            state.unpin_all()
        return f"{actor}: policy no longer scripted"


def apply_action(model, actor: str, action: str, args: dict, *, pin: bool = False,
                 detail: str = "", source: str = "model") -> None:
    """Apply one action to the model, pin its domain if asked, and log it.

    Args:
        model: the model (duck-typed: ``states``, ``miner()``, ``regime``, ``network``, ...).
        actor: state code, or miner id for miner actions.
        action: a name in :data:`ACTIONS`.
        args: the action's (validated) arguments.
        pin: fix the actor's choice in this domain (history replay, players).
        detail: event-log text; the action's own text when empty.
        source: ``timeline``, ``choice``, ``user``, ``player`` or ``model``.

    Raises:
        InputError: unknown action, state, miner or country.
    """
    act = ACTIONS.get(action)
    if act is None:
        raise InputError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    state = model.states.get(actor)
    if act.actor == "miner":
        if model.miner(args["miner"]) is None:
            raise InputError(f"event at {model.date}: unknown miner {args['miner']!r}")
    elif state is None and (act.actor == "state" or model.miner(actor) is None):
        raise InputError(f"event at {model.date}: unknown actor {actor!r}")
    text = act.apply(model, actor, args)
    if state is not None and act.domain is not None and pin:
        state.pin(act.domain)
    model.log_event(actor, action, detail or text, source)
