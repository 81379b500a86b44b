"""What-if valuation of a state's strategies (the forgone payoffs its learning needs).

Export strategies are valued by clearing this month's market under each alternative regime
(:func:`export_payoffs`): a pure function of the regime and the demand mode passed in, which
changes nothing in the model. Demand is taken as it is once firms' price expectations have
adapted: a policy is kept for months, so a state values its sustained effect, not the first
month in which buyers live off their stocks. Domestic strategies (quotas, enforcement, a
reserve band) are valued the same way, by clearing this month's market with the miners' output
and the reserve's orders they would bring (:func:`domestic_payoffs`), counting the producers'
mining cost. Stockpile and alliance strategies are valued from their costs and the cover they
buy against the state's perceived risk. Payoffs in US$ million/month (see :mod:`abm.payoff`).
"""

from __future__ import annotations

from abm import payoff
from abm.actions import ACTIONS
from abm.exchange import build_orders
from abm.policy import OXIDES, PRODUCTS, ExportPolicy, PolicyRegime, products_of
from abm.strategies import STRATEGIES

__all__ = ["forgone_payoffs", "export_payoffs", "domestic_payoffs", "stockpile_payoffs",
           "alliance_payoffs", "regime_with"]


def regime_with(model, state, base: PolicyRegime, strategy: str) -> PolicyRegime:
    """``base`` without the state's policies, plus the policies of an export strategy."""
    regime = base.without(state.code)
    for _action, args in STRATEGIES[strategy].actions(model, state):
        if args["instrument"] == "open":
            continue
        pol = ExportPolicy(args["instrument"], float(args.get("share", model.sc.licence_share)),
                           float(args.get("tonnes_per_yr", float("inf"))), model.month)
        for p in products_of(args["product"]):
            regime.set(state.code, args["target"], p, pol)
    return regime


def export_payoffs(model, state, options, plan, base: PolicyRegime) -> dict[str, float]:
    """Market payoff each export strategy would earn this month, US$ million.

    Args:
        model: read-only source of agents, prices and parameters.
        state: the valuing state.
        options: export strategy names.
        plan: this month's plan (:meth:`abm.model.RareEarthModel.plan_month` without recording).
        base: the regime in force (other states' policies are kept).
    """
    w = model.payoff_weights
    out = {}
    for opt in options:
        regime = regime_with(model, state, base, opt)
        orders = build_orders(model, plan, regime, steady_state=True)
        res = model.clear(orders, validate=False)
        parts = payoff.market_payoff(model, state.code, res, state.restricted_targets(regime),
                                     w, orders)
        out[opt] = float(sum(parts.values()))
    return out


def domestic_payoffs(model, state, options) -> dict[str, float]:
    """Payoff each domestic strategy would earn this month, US$ million.

    For each option the strategy's actions are applied to a copy of the state's domestic
    policy (the state's own is restored after, so nothing changes), the month is planned with
    the miners' output under it and cleared under the regime in force with demand once
    expectations have adapted; the payoff is the market terms plus the mining cost of what the
    state's refiners separate.
    """
    w = model.payoff_weights
    saved = state.domestic
    out = {}
    try:
        for opt in options:
            state.domestic = saved.copy()
            for name, args in STRATEGIES[opt].actions(model, state):
                act = ACTIONS[name]
                act.apply(model, state.code, act.check(dict(args), f"what-if {opt}"))
            plan = model.plan_month(record=False)
            orders = build_orders(model, plan, model.regime, steady_state=True)
            res = model.clear(orders, validate=False)
            parts = payoff.market_payoff(model, state.code, res,
                                         state.restricted_targets(model.regime), w, orders)
            parts["mining"] = payoff.mining_cost(state.code, model.miners, plan.supply,
                                                 model.sc.illegal_cost_ratio)
            out[opt] = float(sum(parts.values()))
    finally:
        state.domestic = saved
    return out


def stockpile_payoffs(model, state, options) -> dict[str, float]:
    """Security minus carrying cost of each stockpile strategy after its valuation horizon.

    A build adds ``stockpile_build_share`` of monthly use per month, a release sheds
    ``stockpile_release_share`` of the stock per month, over ``stockpile_valuation_months``.
    """
    sc, w = model.sc, model.payoff_weights
    i = state.index
    months = sc.stockpile_valuation_months
    use = {p: float(model.oxide_use_tpm[p][i]) for p in OXIDES}
    out = {}
    for opt in options:
        stock = dict(state.stockpile)
        for p in OXIDES:
            if opt == "build":
                stock[p] += months * sc.stockpile_build_share * use[p]
            elif opt == "release":
                stock[p] *= (1.0 - sc.stockpile_release_share) ** months
        carry = payoff.stockpile_carry(w["stockpile_carry_per_yr"], stock, model.p_ref)
        out[opt] = payoff.security(w["security_weight"], float(model.risk[i]), use,
                                   model.p_ref, stock, sc.stockpile_target_months) + carry
    return out


def alliance_payoffs(model, state, options) -> dict[str, float]:
    """Value of membership: averted insecurity minus commitments (0 outside a bloc).

    Allies share stockpiles, prefer each other's supply and co-invest, which averts
    ``alliance_effectiveness`` of the insecurity the state perceives; membership costs
    ``membership_cost_share`` of its use value.
    """
    w = model.payoff_weights
    i = state.index
    use = payoff.use_value({p: float(model.demand_tpm[p][i]) for p in PRODUCTS}, model.p_ref)
    gain = w["security_weight"] * w["alliance_effectiveness"] * float(model.risk[i]) * use
    member = gain + payoff.alliance_cost(w["membership_cost_share"], use)
    values = {"join": member, "stay": member if state.bloc else 0.0, "leave": 0.0}
    return {opt: values.get(opt, 0.0) for opt in options}


def forgone_payoffs(model, state, domain: str, options) -> dict[str, float]:
    """Payoff each strategy of a domain would earn this month, US$ million."""
    if domain == "export":
        return export_payoffs(model, state, options, model.plan_month(record=False),
                              model.regime)
    if domain == "domestic":
        return domestic_payoffs(model, state, options)
    if domain == "stockpile":
        return stockpile_payoffs(model, state, options)
    return alliance_payoffs(model, state, options)
