"""The game layer: applying policy actions, states' strategic choices and learning.

Actions (from the scenario timeline or from a free state's choice) change the model through
:func:`apply_action`, which also writes the event log. :func:`state_decisions` lets every free
state choose, at its decision months, an export, a stockpile and an alliance strategy by logit
choice over experience-weighted attractions (see :mod:`abm.strategies`);
:func:`after_market` computes payoffs and updates attractions and miners' bloc alignment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from abm import strategies as rules
from abm.agents import Project
from abm.errors import InputError
from abm.policy import PRODUCTS, ExportPolicy

if TYPE_CHECKING:
    from abm.model import RareEarthModel

__all__ = ["apply_action", "state_decisions", "after_market", "DOMAINS"]

#: decision domain of each action (an event pins its actor's domain)
DOMAINS = {"export": "export", "stockpile": "stockpile", "alliance": "alliance",
           "leave_alliance": "alliance"}


def _products(arg: str | None) -> tuple[str, ...]:
    return PRODUCTS if arg in (None, "both") else (arg,)


def apply_action(model: RareEarthModel, actor: str, action: str, args: dict, *,
                 pin: bool = False, detail: str = "", source: str = "model") -> None:
    """Apply one action and log it.

    Args:
        model: the model.
        actor: state code, or miner id for miner actions (``offtake``, ``china_route``).
        action: one of :data:`abm.policy.ACTIONS`.
        args: the action's arguments.
        pin: fix the actor's choice in this domain until a ``free`` event (history replay).
        detail: text for the event log; a default is composed when empty.
        source: ``timeline`` for scripted events, ``choice`` for strategic decisions.

    Raises:
        InputError: the action names an unknown state, miner or country.
    """
    state = model.states.get(actor)
    miner = next((m for m in model.miners if m.mine_id == actor), None)
    if action in ("offtake", "china_route"):
        miner = next((m for m in model.miners if m.mine_id == args["miner"]), None)
        if miner is None:
            raise InputError(f"event at {model.date}: unknown miner {args['miner']!r}")
    elif state is None and miner is None:
        raise InputError(f"event at {model.date}: unknown actor {actor!r}")
    text = detail
    if action == "export":
        target = args.get("target", "all")
        if target != "all" and target not in model.states:
            raise InputError(f"event at {model.date}: unknown export target {target!r}")
        pol = ExportPolicy(instrument=args["instrument"],
                           share=float(args.get("share", model.sc.licence_share)),
                           tonnes_per_yr=float(args.get("tonnes_per_yr", float("inf"))),
                           since_step=model.month)
        for p in _products(args.get("product")):
            prev = model.policies.get((actor, target, p))
            keep_since = prev is not None and prev.instrument == pol.instrument
            model.policies[(actor, target, p)] = ExportPolicy(
                pol.instrument, pol.share, pol.tonnes_per_yr,
                prev.since_step if keep_since else model.month)
            if target == "all":  # a regime toward all replaces target-specific ones
                for key in [k for k in model.policies if k[0] == actor and k[2] == p
                            and k[1] != "all"]:
                    del model.policies[key]
        text = text or (f"{state.name}: exports of {args.get('product', 'both')} to "
                        f"{target} -> {pol.label()}")
    elif action == "stockpile":
        for p in _products(args.get("product")):
            state.stockpile_mode[p] = args["mode"]
        text = text or f"{state.name}: stockpile {args['mode']} ({args.get('product', 'both')})"
    elif action == "alliance":
        members = [actor] + ([args["member"]] if args.get("member") else [])
        for code in members:
            if code not in model.states:
                raise InputError(f"event at {model.date}: unknown state {code!r}")
            _join(model, code, args["bloc"])
        text = text or f"{state.name}: joins {args['bloc']}"
    elif action == "leave_alliance":
        old = state.bloc
        _leave(model, actor)
        text = text or f"{state.name}: leaves {old or 'no bloc'}"
    elif action == "price_floor":
        miners = args.get("miners", "allied")
        targets = [m for m in model.miners if (m.mine_id in miners if isinstance(miners, list)
                   else m.bloc in (actor, state.bloc) and m.bloc and model.may_pay(actor, m))]
        for m in targets:
            for p in _products(args.get("product", "light")):
                m.floor_usd_per_kg[p] = float(args["usd_per_kg"])
            m.floor_payer = actor
            m.floor_upside_share = float(args.get("upside_share", 0.0))
        model.floor_offers[actor] = float(args["usd_per_kg"])
        text = text or (f"{state.name}: price floor {args['usd_per_kg']} US$/kg for "
                        f"{', '.join(m.name for m in targets) or 'allied miners'}")
    elif action == "co_invest":
        country = args["country"]
        if country not in model.cidx:
            raise InputError(f"event at {model.date}: unknown country {country!r}")
        lead = int(args.get("lead_months", model.sc.refining_lead_months))
        model.refining_pipeline.append(
            (country, Project(float(args["tonnes_reo_per_yr"]), model.month + lead,
                              args.get("kind", "refining"))))
        text = text or (f"{state.name}: co-invests in {args['tonnes_reo_per_yr']:,} t REO/yr "
                        f"{args.get('kind', 'refining')} capacity in {country}, ready "
                        f"{model.month_date(model.month + lead)}")
    elif action == "offtake":
        bloc = args.get("bloc", actor)
        _align_miner(model, miner, bloc)
        text = text or f"{miner.name}: offtake with {bloc}"
    elif action == "china_route":
        miner.china_route = bool(args["allowed"])
        text = text or (f"{miner.name}: concentrate to China "
                        f"{'allowed' if miner.china_route else 'stopped'}")
    elif action == "free":
        if state is not None:
            state.pinned.clear()
        text = text or f"{actor}: policy no longer scripted"
    if state is not None and action in DOMAINS:
        if pin:
            state.pinned.add(DOMAINS[action])
    model.log_event(actor, action, text, source)


def _join(model: RareEarthModel, code: str, bloc: str) -> None:
    s = model.states[code]
    if s.bloc == bloc:
        return
    if s.bloc:
        _leave(model, code)
    s.bloc = bloc
    for other in model.states.values():
        if other.code != code and other.bloc == bloc:
            model.alliance_graph.add_edge(code, other.code, kind="alliance", bloc=bloc)


def _leave(model: RareEarthModel, code: str) -> None:
    s = model.states[code]
    for nb in list(model.alliance_graph.neighbors(code)):
        if model.alliance_graph.edges[code, nb].get("kind") == "alliance":
            model.alliance_graph.remove_edge(code, nb)
    s.bloc = ""


def _align_miner(model: RareEarthModel, miner, bloc_or_state: str) -> None:
    """Tie a miner to a state (offtake); drop its previous tie."""
    g = model.alliance_graph
    for nb in list(g.neighbors(miner.mine_id)):
        g.remove_edge(miner.mine_id, nb)
    miner.bloc = bloc_or_state
    if bloc_or_state in model.states:
        g.add_edge(miner.mine_id, bloc_or_state, kind="offtake")


def _refresh_graph_attributes(model: RareEarthModel, results) -> None:
    """Set each node's ``bloc`` and ``size`` on the alliance graph, for views and analysis.

    Size is a miner's output (t REO/month) or a state's purchases (t of both products).
    """
    g = model.alliance_graph
    for comp in nx.connected_components(g):
        name = bloc_of(model, next(iter(comp))) if len(comp) >= 2 else "-"
        for node in comp:
            g.nodes[node]["bloc"] = name
    for m in model.miners:
        g.nodes[m.mine_id]["size"] = float(m.output_tpm)
    for code, i in model.cidx.items():
        g.nodes[code]["size"] = float(sum(r.flows[:, i].sum() for r in results.values()))


def bloc_of(model: RareEarthModel, node: str) -> str:
    """Name of the bloc (connected group of two or more) a state or miner is in, or ``-``."""
    comp = nx.node_connected_component(model.alliance_graph, node)
    if len(comp) < 2:
        return "-"
    states = sorted(c for c in comp if c in model.states)
    named = sorted({model.states[c].bloc for c in states if model.states[c].bloc})
    return named[0] if named else "+".join(states)


def state_decisions(model: RareEarthModel) -> None:
    """Let every free state choose its strategies at its decision months."""
    sc = model.sc
    if not sc.free_from:
        return
    if sc.free_from != "start" and model.date < sc.free_from:
        return
    if model.month % sc.decision_interval_months != 0:
        return
    for s in model.states.values():
        if not s.player:
            continue
        for domain in ("export", "stockpile", "alliance"):
            if domain in s.pinned:
                continue
            options = rules.STRATEGY_SETS[domain]
            if domain == "export" and not rules.is_exporter(model, s.code):
                continue
            if domain == "alliance" and not rules.is_importer(model, s.code) and not s.bloc:
                continue  # alliances are for supply security: exporters do not seek them
            payoffs = rules.forgone_payoffs(model, s, domain, options)
            att = s.attractions.setdefault(domain, dict.fromkeys(options, 0.0))
            current = rules.current_strategy(model, s, domain)
            rules.ewa_update(att, s.experience, domain, current, payoffs, sc.ewa_memory,
                             sc.ewa_imagination)
            choice = rules.logit_choice(att, sc.logit_intensity, model.rng)
            if choice != current:
                if domain == "export":  # a new export strategy replaces the old one
                    for key in [k for k in model.policies if k[0] == s.code]:
                        del model.policies[key]
                for action, args in rules.strategy_actions(model, s, domain, choice):
                    apply_action(model, s.code, action, args, source="choice")


def after_market(model: RareEarthModel, results) -> None:
    """Payoffs, refining projects coming online and miners' bloc choices after clearing."""
    done = [(c, pr) for c, pr in model.refining_pipeline if pr.ready_step <= model.month]
    for c, pr in done:
        model.refining_tpm[model.cidx[c]] += pr.tonnes_reo_per_yr / 12.0
        model.refining_pipeline.remove((c, pr))
        model.log_event(c, "capacity_online",
                        f"{model.states[c].name}: +{pr.tonnes_reo_per_yr:,.0f} t REO/yr "
                        f"{pr.kind} capacity online")
    for s in model.states.values():
        s.payoff_parts = rules.state_payoff(model, s, results)
        s.payoff = float(sum(s.payoff_parts.values()))
    _refresh_graph_attributes(model, results)
    if model.floor_offers:
        for m in model.miners:
            bloc = rules.miner_bloc_choice(model, m)
            if bloc is not None and bloc != m.bloc:
                _align_miner(model, m, bloc)
                payer = bloc if bloc in model.floor_offers else ""
                if payer:
                    m.floor_usd_per_kg["light"] = model.floor_offers[payer]
                    m.floor_payer = payer
                    m.china_route = False
                model.log_event(m.mine_id, "offtake",
                                f"{m.name}: sells to {bloc}"
                                + (f" under its {model.floor_offers[payer]:.0f} US$/kg floor"
                                   if payer else ""), "choice")
    np.nan_to_num(model.risk, copy=False)
