"""Building a model's world from its scenario and calibration data.

:func:`populate` loads the data year's tables, creates the agents (states, miners, one firm
population) and the components (policy regime, alliance network, refining capacity, exchange,
timeline), and checks that every event and strategy override names a state, miner or country
that exists, so bad input fails before the first month.
"""

from __future__ import annotations

import numpy as np
from mesa.agent import AgentSet

from abm.actions import ACTIONS
from abm.agents import FirmPopulation, MagnetMakers, Miner, State
from abm.agents.traders import desks
from abm.calibration import load_world, read_bloc_exclusions, read_byproduct_prices, read_links
from abm.contracts import ContractBook
from abm.errors import InputError
from abm.events import Timeline
from abm.exchange import Exchange
from abm.network import AllianceNetwork
from abm.params import parse_month
from abm.payoff import weights_from
from abm.policy import OXIDES, PRODUCTS, PolicyRegime
from abm.refining import RefiningCapacity
from abm.safeio import MAX_MONTHS

__all__ = ["populate", "MAX_STEPS"]

#: most months one run may simulate (100 years)
MAX_STEPS = MAX_MONTHS


def populate(model) -> None:
    """Create the world of ``model.sc`` on the model (agents, components, beliefs)."""
    sc = model.sc
    w = load_world(sc.data_year, sc.data_dir)
    model.world = w
    model.start_year, model.start_month = parse_month(sc.start)
    model.horizon = int(sc.horizon_months)
    model.pin_month = _pin_month(model)
    model.payoff_weights = weights_from(sc)
    model.china_growth = (1.0 + sc.china_capacity_growth_per_yr) ** (1.0 / 12.0)
    st = w.states
    model.countries = tuple(st["code"])
    model.cidx = {c: i for i, c in enumerate(model.countries)}
    model.p_ref = {p: w.reference_price(p) if p in w.prices["product"].values else 1.0
                   for p in PRODUCTS}
    model.oxide_use_tpm = {p: st[f"consumption_{p}_tpy"].to_numpy(float) / 12.0 for p in OXIDES}
    model.demand_tpm = split_demand(model.oxide_use_tpm, w.recipe, sc.magnet_share_of_use)
    model.risk = np.zeros(len(model.countries))
    model.contracts = ContractBook()
    model.regime = PolicyRegime()
    model.network = AllianceNetwork()
    model.states = {}
    for _, row in st.iterrows():
        model.network.add_state(row["code"], row["name"])
        model.states[row["code"]] = State(
            model, row["code"], row["name"], str(row["player"]).lower() == "true",
            {"light": row["stockpile_light_t"], "heavy": row["stockpile_heavy_t"]})
    model.miners = [Miner(model, row) for _, row in w.mines.iterrows()]
    model._miners_by_id = {m.mine_id: m for m in model.miners}
    for m in model.miners:
        if m.refine_country not in model.cidx:
            raise InputError(f"mine {m.mine_id}: unknown refine_country {m.refine_country}")
        model.network.add_miner(m.mine_id, m.name, m.country)
        if m.bloc in model.states:
            model.network.tie_miner(m.mine_id, m.bloc)
    ref = dict(zip(w.refining["country"], w.refining["capacity_t_reo_per_yr"], strict=True))
    model.refining = RefiningCapacity(
        model.countries, np.array([ref.get(c, 0.0) / 12.0 for c in model.countries]))
    model.magnets = _magnet_makers(model, w)
    model.firms = FirmPopulation.generate(model, sc.n_firms, model.countries, model.demand_tpm,
                                         model.p_ref, sc)
    model.bloc_exclusions = read_bloc_exclusions(sc.data_dir)
    model.byproducts = read_byproduct_prices(sc.data_dir)
    model.exchange = Exchange(model.countries, model.p_ref, _link_frac(model))
    model.timeline = Timeline(sc.events)
    #: an integer seed for the analyses that need one (trade communities); not model.rng's
    model.seed_int = int(model._seed) % (2**32)
    #: who besides producers and firms offers and bids in the markets (see exchange.Book)
    model.traders = AgentSet(desks(model), random=model.random)
    model.participants = list(model.states.values()) + list(model.traders)
    check_references(model)


def split_demand(oxide_use: dict[str, np.ndarray], recipe: dict[str, float],
                 magnet_share: float) -> dict[str, np.ndarray]:
    """Firms' demand per product (t/month) from each country's oxide-equivalent use.

    ``magnet_share`` of the NdPr use arrives as magnets (t of magnet = NdPr / its content); the
    rest, and the Dy/Tb not contained in those magnets, is bought as oxide. Without a recipe
    (a world with no magnet stage) everything is bought as oxide.
    """
    if not recipe:
        return {**{p: oxide_use[p].copy() for p in OXIDES},
                "magnet": np.zeros_like(oxide_use["light"])}
    magnets = magnet_share * oxide_use["light"] / recipe["light"]
    direct = {p: np.clip(oxide_use[p] - magnets * recipe.get(p, 0.0), 0.0, None) for p in OXIDES}
    return {**direct, "magnet": magnets}


def _magnet_makers(model, w) -> MagnetMakers:
    cap = dict(zip(w.magnet_capacity["country"], w.magnet_capacity["capacity_t_per_yr"],
                   strict=True))
    cost = dict(zip(w.magnet_capacity["country"],
                    w.magnet_capacity["conversion_cost_usd_per_kg"], strict=True))
    default = float(np.mean(list(cost.values()))) if cost else 0.0
    return MagnetMakers(model, model.countries, w.recipe,
                        np.array([cap.get(c, 0.0) / 12.0 for c in model.countries]),
                        np.array([cost.get(c, default) for c in model.countries]))


def _link_frac(model) -> np.ndarray:
    n = len(model.countries)
    frac = np.full((n, n), model.sc.link_cost_frac)
    for _, row in read_links(model.sc.data_dir).iterrows():
        if row["seller"] in model.cidx and row["buyer"] in model.cidx:
            frac[model.cidx[row["seller"]], model.cidx[row["buyer"]]] = row["cost_frac"]
    np.fill_diagonal(frac, 0.0)
    return frac


def _pin_month(model) -> int:
    """Month index from which ``strategy.`` overrides hold: when the state would go free."""
    free = model.sc.free_from
    if free in ("", "start"):
        return 0
    y, m = parse_month(free)
    return max(0, (y - model.start_year) * 12 + m - model.start_month)


def check_references(model) -> None:
    """Every state, miner and country named by events and overrides must exist.

    Raises:
        InputError: naming the event (date, actor) or override and the unknown code.
    """
    known = {"state": set(model.states), "miner": set(model._miners_by_id),
             "country": set(model.cidx)}
    known["any"] = known["state"] | known["miner"]
    for ev in model.sc.events:
        for kind, code in ACTIONS[ev.action].references(ev.actor, ev.args):
            if code not in known[kind]:
                what = "actor" if kind == "any" else kind
                raise InputError(f"scenario {model.sc.name!r} event {ev.date} {ev.actor} "
                                 f"{ev.action}: unknown {what} {code!r}")
    for code, domain in model.sc.strategy_pins:
        if code not in model.states:
            raise InputError(f"strategy.{code}.{domain}: unknown state {code!r} "
                             f"(known: {', '.join(model.states)})")
