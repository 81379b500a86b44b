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

from abm.contracts import CONTRACT_PRODUCTS, PRICE_RULES, Contract, check_contract
from abm.domestic import ReserveBand
from abm.errors import InputError
from abm.policy import INSTRUMENTS, PRODUCT_CHOICES, ExportPolicy, products_of

__all__ = ["Field", "Action", "ACTIONS", "register", "apply_action"]


@dataclass(frozen=True)
class Field:
    """One field of an action: its kind, whether it is required, and its valid values.

    Attributes:
        kind: ``number`` (finite float), ``int``, ``bool``, ``text``, or ``miners`` (a list of
            miner ids, or the text ``allied`` or ``open``).
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
    if value in ("allied", "open"):
        return value
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise InputError(f"{where}: {name} must be a list of miner ids, \"allied\" or \"open\", "
                     f"got {value!r}")


_PRODUCT = Field("text", choices=PRODUCT_CHOICES,
                 doc="light, heavy, magnet, both (oxides; the default) or all")
_LIGHT = Field("text", choices=PRODUCT_CHOICES,
               doc="light (the default), heavy, magnet, both (oxides) or all")


class Action:
    """Base class of a policy action (subclasses register with :func:`register`).

    Attributes:
        name: the ``action`` key of an event.
        domain: decision domain an event pins (``export``, ``stockpile``, ``alliance``,
            ``domestic``) or ``None``.
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
    """A state pays named (or its allied) miners the gap between a floor and the price.

    A floor that names its miners (as the real deals do: the US floor of July 2025 names MP
    Materials) binds only them. ``allied`` grants it to the miners tied to the actor or its
    bloc and leaves the offer open to other miners' bloc choice; ``open`` grants it to none
    at once and leaves it open to every miner the actor's law lets it pay.
    """

    name = "price_floor"
    fields = {
        "usd_per_kg": Field("number", True, lo=0.0, hi=1e5, doc="floor, US$/kg oxide"),
        "product": _LIGHT,
        "miners": Field("miners", doc="miner ids (bound to them), allied (default: miners "
                                      "tied to the actor or its bloc, offer open to others) "
                                      "or open (offer open to any miner)"),
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
        elif miners == "open":
            targets = []
        else:
            targets = [m for m in model.miners if m.bloc in (actor, state.bloc) and m.bloc
                       and model.may_pay(actor, m)]
        for m in targets:
            m.grant_floor(products_of(args.get("product", "light")), usd, actor,
                          float(args.get("upside_share", 0.0)))
        # a floor that names its miners (as the real deals do) binds only them; "allied"
        # leaves the offer open to other miners' bloc choice
        state.offer_floor(usd, miners if isinstance(miners, list) else None)
        return (f"{state.name}: price floor {args['usd_per_kg']} US$/kg for "
                f"{', '.join(m.name for m in targets) or miners + ' miners'}"
                + (" (open to other miners)" if not isinstance(miners, list) else ""))


@register
class CoInvest(Action):
    """Finance new refining (separation) capacity in a country, online after a lead time.

    The plant then ramps up to full throughput over ``refining_ramp_up_months``.
    """

    name = "co_invest"
    fields = {
        "country": Field("text", True, doc="country code where the plant is built"),
        "tonnes_reo_per_yr": Field("number", True, lo=0.0, hi=1e7, doc="capacity, t REO/yr"),
        "lead_months": Field("int", lo=0, hi=600,
                             doc="months to production (default refining_lead_months)"),
        "kind": Field("text", doc="label, e.g. separation"),
        "ramp_months": Field("int", lo=1, hi=600,
                             doc="months from first output to full throughput (default "
                                 "refining_ramp_up_months)"),
    }

    def references(self, actor, args):  # noqa: D102
        return [("state", actor), ("country", args["country"])]

    def apply(self, model, actor, args):  # noqa: D102
        country = args["country"]
        if country not in model.cidx:
            raise InputError(f"event at {model.date}: unknown country {country!r}")
        lead = int(args.get("lead_months", model.sc.refining_lead_months))
        kind = args.get("kind", "refining")
        ramp = int(args.get("ramp_months", model.sc.refining_ramp_up_months))
        model.refining.commission(country, float(args["tonnes_reo_per_yr"]),
                                  model.month + lead, kind, ramp)
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


_TPY = Field("number", lo=0.0, hi=1e9, doc="t REO per year")


@register
class MiningQuota(Action):
    """Cap the legal output of the mines in the actor's country (t REO/yr), split or not.

    Kinds without a quota of their own share what the total leaves, by capacity; a new quota
    replaces the old one and its split. ``lift = true`` removes the mining quota.
    """

    name = "mining_quota"
    domain = "domestic"
    fields = {"tonnes_per_yr": Field("number", lo=0.0, hi=1e9, doc="total, t REO/yr"),
              "light_tonnes_per_yr": Field("number", lo=0.0, hi=1e9,
                                           doc="light-deposit mines, t REO/yr"),
              "ionic_tonnes_per_yr": Field("number", lo=0.0, hi=1e9,
                                           doc="ionic-clay mines, t REO/yr"),
              "lift": Field("bool", doc="true: no mining quota from now")}

    def check_combination(self, args, where):  # noqa: D102
        given = [k for k in ("tonnes_per_yr", "light_tonnes_per_yr", "ionic_tonnes_per_yr")
                 if k in args]
        if bool(given) == bool(args.get("lift")):
            raise InputError(f"{where}: a mining quota needs tonnes_per_yr (or its light and "
                             "ionic shares), or lift = true, not both")

    def apply(self, model, actor, args):  # noqa: D102
        d = model.states[actor].domestic
        d.mining_quota_tpy = args.get("tonnes_per_yr")
        d.light_quota_tpy = args.get("light_tonnes_per_yr")
        d.ionic_quota_tpy = args.get("ionic_tonnes_per_yr")
        d.stance = ""
        if args.get("lift"):
            return f"{model.states[actor].name}: mining quota lifted"
        parts = [f"{args[k]:,.0f} {label}" for k, label in (
            ("light_tonnes_per_yr", "light"), ("ionic_tonnes_per_yr", "ionic clay"))
                 if k in args]
        total = f"{args['tonnes_per_yr']:,.0f} t REO/yr" if "tonnes_per_yr" in args else ""
        return (f"{model.states[actor].name}: mining quota {total}"
                + (f" ({', '.join(parts)})" if parts else ""))


@register
class SeparationQuota(Action):
    """Cap the separation of concentrate mined in the actor's country (t REO/yr)."""

    name = "separation_quota"
    domain = "domestic"
    fields = {"tonnes_per_yr": Field("number", lo=0.0, hi=1e9, doc="t REO/yr"),
              "lift": Field("bool", doc="true: no separation quota from now")}

    def check_combination(self, args, where):  # noqa: D102
        if ("tonnes_per_yr" in args) == bool(args.get("lift")):
            raise InputError(f"{where}: a separation quota needs tonnes_per_yr or lift = true")

    def apply(self, model, actor, args):  # noqa: D102
        d = model.states[actor].domestic
        d.separation_quota_tpy = args.get("tonnes_per_yr")
        d.stance = ""
        if args.get("lift"):
            return f"{model.states[actor].name}: separation quota lifted"
        return (f"{model.states[actor].name}: separation quota {args['tonnes_per_yr']:,.0f} "
                "t REO/yr")


@register
class Enforcement(Action):
    """Set the actor's enforcement: share of illegal output and of smuggling capacity stopped."""

    name = "enforcement"
    domain = "domestic"
    fields = {"level": Field("number", True, lo=0.0, hi=1.0, doc="share stopped, 0-1")}

    def apply(self, model, actor, args):  # noqa: D102
        d = model.states[actor].domestic
        d.enforcement = float(args["level"])
        d.stance = ""
        return (f"{model.states[actor].name}: enforcement against illegal mining and smuggling "
                f"{d.enforcement:.0%}")


@register
class StateReserve(Action):
    """Run the actor's state reserve by a price band: buy below a support, sell above a ceiling.

    The support is a price, or a multiple of last month's price at the actor's node. The
    reserve buys up to ``buy_tonnes_per_month`` (default ``reserve_buy_share`` of use) until
    it holds ``tonnes`` more than now (default: ``reserve_target_months`` of use), and offers
    ``reserve_release_share`` of its stock at the ceiling (none without one). ``mode = "off"``
    ends the band (the stockpile mode applies again).
    """

    name = "state_reserve"
    domain = "domestic"
    fields = {
        "mode": Field("text", True, choices=("band", "off"), doc="band or off"),
        "product": _PRODUCT,
        "support_usd_per_kg": Field("number", lo=0.0, hi=1e6, doc="support price, US$/kg"),
        "support_market_ratio": Field("number", lo=0.0, hi=100.0,
                                      doc="support as a multiple of last month's home price"),
        "ceiling_usd_per_kg": Field("number", lo=0.0, hi=1e6,
                                    doc="release price, US$/kg (default: never release)"),
        "buy_tonnes_per_month": Field("number", lo=0.0, hi=1e9, doc="t per month at most"),
        "tonnes": Field("number", lo=0.0, hi=1e9, doc="t to add to the reserve"),
    }

    def check_combination(self, args, where):  # noqa: D102
        if args["mode"] != "band":
            return
        if ("support_usd_per_kg" in args) == ("support_market_ratio" in args):
            raise InputError(f"{where}: a reserve band needs support_usd_per_kg or "
                             "support_market_ratio (one of them)")
        if args.get("ceiling_usd_per_kg", float("inf")) <= args.get("support_usd_per_kg", 0.0):
            raise InputError(f"{where}: the ceiling must lie above the support")

    def apply(self, model, actor, args):  # noqa: D102
        state, sc = model.states[actor], model.sc
        d = state.domestic
        d.stance = ""
        products = products_of(args.get("product"))
        if args["mode"] == "off":
            for p in products:
                d.reserve_band.pop(p, None)
            return f"{state.name}: state reserve price band off ({args.get('product', 'both')})"
        i = model.cidx[actor]
        for p in products:
            use = float(model.demand_tpm[p][i])
            support = args.get("support_usd_per_kg",
                               args.get("support_market_ratio", 1.0) * model.exchange.price[p][i])
            target = (state.stockpile[p] + args["tonnes"] if "tonnes" in args
                      else sc.reserve_target_months * use)
            d.reserve_band[p] = ReserveBand(
                float(support), float(args.get("ceiling_usd_per_kg", float("inf"))),
                float(args.get("buy_tonnes_per_month", sc.reserve_buy_share * use)),
                float(target))
        bands = ", ".join(f"{p} buys at <= {b.support:,.1f}" + (
            f", sells at >= {b.ceiling:,.1f}" if b.ceiling != float("inf") else "")
            for p, b in d.reserve_band.items() if p in products)
        return f"{state.name}: state reserve price band ({bands} US$/kg)"


@register
class OfftakeContract(Action):
    """The actor (a buyer state) signs an offtake contract with a miner.

    From this month the miner delivers ``tonnes_per_month`` (t of NdPr oxide, of Dy/Tb oxide,
    or t REO of its mix) to the actor's firms for ``months`` months at a price rule, with
    take-or-pay (see :mod:`abm.contracts`).
    """

    name = "offtake_contract"
    fields = {
        "miner": Field("text", True, doc="the seller's miner id"),
        "product": Field("text", choices=CONTRACT_PRODUCTS, doc="light, heavy or reo "
                                                               "(default light)"),
        "tonnes_per_month": Field("number", True, lo=0.0, hi=1e7, doc="t per month"),
        "months": Field("int", True, lo=1, hi=1200, doc="duration, months"),
        "price_rule": Field("text", choices=PRICE_RULES, doc="fixed, collar or market "
                                                            "(default market)"),
        "usd_per_kg": Field("number", lo=0.0, hi=1e6, doc="fixed price, US$/kg"),
        "floor_usd_per_kg": Field("number", lo=0.0, hi=1e6, doc="collar floor, US$/kg"),
        "ceiling_usd_per_kg": Field("number", lo=0.0, hi=1e6, doc="collar ceiling, US$/kg"),
        "take_or_pay": Field("number", lo=0.0, hi=1.0,
                             doc="share paid for and taken in any case (default: parameter "
                                 "offtake_take_or_pay)"),
    }

    def check_combination(self, args, where):  # noqa: D102
        rule = args.get("price_rule", "market")
        if rule == "fixed" and "usd_per_kg" not in args:
            raise InputError(f"{where}: a fixed-price contract needs usd_per_kg")
        if rule == "collar":
            if "floor_usd_per_kg" not in args or "ceiling_usd_per_kg" not in args:
                raise InputError(f"{where}: a collar needs floor_usd_per_kg and "
                                 "ceiling_usd_per_kg")
            if args["floor_usd_per_kg"] > args["ceiling_usd_per_kg"]:
                raise InputError(f"{where}: the collar's floor lies above its ceiling")

    def references(self, actor, args):  # noqa: D102
        return [("state", actor), ("miner", args["miner"])]

    def apply(self, model, actor, args):  # noqa: D102
        c = Contract(args["miner"], actor, args.get("product", "light"),
                     float(args["tonnes_per_month"]), model.month, int(args["months"]),
                     args.get("price_rule", "market"), float(args.get("usd_per_kg", 0.0)),
                     float(args.get("floor_usd_per_kg", 0.0)),
                     float(args.get("ceiling_usd_per_kg", float("inf"))),
                     float(args.get("take_or_pay", model.sc.offtake_take_or_pay)))
        check_contract(model, c)
        model.contracts.add(c)
        return f"{model.states[actor].name}: offtake with {model.miner(c.miner).name}: " + (
            c.describe())


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
