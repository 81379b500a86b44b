"""Decision rules: firms' orders, miners' output and investment, states' strategies.

Every rule is a function of the agent state and the model's last observations; the model calls
them in its step order. State strategy rules are chosen by a string key from
:data:`STATE_RULES`, so experiments can sweep them.
"""

from __future__ import annotations

import numpy as np

from abm.agents import FirmPopulation, Miner
from abm.policy import PRODUCTS

__all__ = [
    "demand_factor",
    "firm_order_params",
    "aggregate_orders",
    "firm_orders_at",
    "miner_utilisation",
]


def demand_factor(price, reference: float, elasticity: float):
    """Constant-elasticity demand multiplier ``(price / reference) ** -elasticity``."""
    ratio = np.maximum(np.asarray(price, dtype=float) / reference, 1e-6)
    return ratio ** (-elasticity)


def firm_order_params(pop: FirmPopulation, product: str, need_tpm: np.ndarray,
                      cover_months: np.ndarray, adjust_rate: float):
    """Coefficients of each firm's order curve ``max(0, c * f(p) + k * h(p) - b)``.

    A firm orders what it will consume at price ``p`` (``need * f(p)``) plus a share
    ``adjust_rate`` of the gap between its target inventory and the inventory it holds; with a
    surplus it orders less. The target is ``cover * need * f(p) * g(p)``: it shrinks when the
    price is above what the firm expected (``g``), so firms live off their stock through a
    price spike instead of bidding without limit (``h = f * g``).

    Args:
        pop: the firms.
        product: ``light`` or ``heavy``.
        need_tpm: (F,) t/month consumed at the reference price (after substitution, growth).
        cover_months: (F,) target inventory cover, months.
        adjust_rate: share of the inventory gap closed per month.

    Returns:
        (c, k, b): (F,) arrays, t/month.
    """
    return need_tpm, adjust_rate * cover_months * need_tpm, adjust_rate * pop.inventory[product]


def aggregate_orders(country: np.ndarray, c: np.ndarray, k: np.ndarray, b: np.ndarray,
                     f_grid: np.ndarray, h_grid: np.ndarray, n_countries: int,
                     chunk: int = 8192) -> np.ndarray:
    """Sum the firms' order curves per country on the price grid, exactly.

    Firms are stored sorted by country, so each country is a contiguous slice; the curves are
    evaluated in chunks of firms x grid prices (bounded memory, no per-firm Python loop).

    Args:
        country: (F,) country index of each firm, sorted ascending.
        c: (F,) consumption coefficients, t/month.
        k: (F,) inventory-target coefficients, t/month.
        b: (F,) inventory offsets, t/month.
        f_grid: (K,) demand multipliers at the grid prices.
        h_grid: (C, K) inventory-target multipliers at the grid prices, per country.
        n_countries: number of countries C.
        chunk: firms evaluated at once.

    Returns:
        (C, K) t/month ordered at each grid price.
    """
    out = np.zeros((n_countries, f_grid.size))
    starts = np.searchsorted(country, np.arange(n_countries), side="left")
    ends = np.searchsorted(country, np.arange(n_countries), side="right")
    for cc in range(n_countries):
        for lo in range(starts[cc], ends[cc], chunk):
            hi = min(lo + chunk, ends[cc])
            m = (c[lo:hi, None] * f_grid[None, :] + k[lo:hi, None] * h_grid[cc][None, :]
                 - b[lo:hi, None])
            out[cc] += np.clip(m, 0.0, None).sum(axis=0)
    return out


def firm_orders_at(c: np.ndarray, k: np.ndarray, b: np.ndarray, f: np.ndarray,
                   h: np.ndarray) -> np.ndarray:
    """Each firm's order at its country's clearing price (t/month)."""
    return np.clip(c * f + k * h - b, 0.0, None)


def miner_utilisation(margin_ratio: float, min_margin_ratio: float) -> float:
    """Share of capacity a mine runs at, from its revenue/cost ratio.

    Full output when revenue covers cost; idle at ``min_margin_ratio``; linear in between
    (mines keep running at a loss for a while rather than close at once).
    """
    if margin_ratio >= 1.0:
        return 1.0
    if min_margin_ratio >= 1.0:
        return 0.0
    return float(np.clip((margin_ratio - min_margin_ratio) / (1.0 - min_margin_ratio), 0, 1))


def miner_revenue_per_kg(miner: Miner, prices: dict[str, float]) -> float:
    """Revenue per kg REO mined at the given product prices (US$/kg), with any price floor."""
    return sum(
        miner.shares[p] * max(prices[p], miner.floor_usd_per_kg[p]) for p in miner.shares
    )


# ----------------------------------------------------------------------------- states' game
#: strategies a free state chooses from, per decision domain
STRATEGY_SETS: dict[str, tuple[str, ...]] = {
    "export": ("open", "licence_heavy", "licence", "quota", "ban"),
    "stockpile": ("build", "hold", "release"),
    "alliance": ("join", "stay", "leave"),
}

#: weights of the payoff components (dimensionless multipliers on US$ million/month)
PAYOFF_WEIGHTS = {
    "shortage_cost_ratio": 3.0,  # value lost per t short, in multiples of the reference price
    "industry_weight": 0.5,  # share of the input-cost gap that becomes industry advantage
    "leverage_weight": 0.3,  # value of targets' pain (capped price rise x their use)
    "retaliation_weight": 1.0,  # expected loss per US$ of pain caused to allied targets
    "stockpile_carry_per_yr": 0.10,  # holding cost of a stockpile, share of its value per year
    "security_weight": 0.5,  # value of cover against perceived risk, share of use value
    "alliance_effectiveness": 0.5,  # share of perceived insecurity an alliance averts
    "membership_cost_share": 0.02,  # monthly cost of alliance commitments, share of use value
}


def is_exporter(model, code: str) -> bool:
    """Whether a state's refiners normally sell abroad more than 5% of world trade.

    Normal flows (each link's average while it was open) are used, so a state that has cut
    its exports still counts as an exporter and keeps deciding its export policy.
    """
    i = model.cidx[code]
    exports = trade = 0.0
    for p in PRODUCTS:
        ref = model.ref_flow[p]
        exports += float(ref[i].sum() - ref[i, i]) * model.p_ref[p]
        trade += float(ref.sum() - np.trace(ref)) * model.p_ref[p]
    return trade > 0 and exports / trade > 0.05


def is_importer(model, code: str) -> bool:
    """Whether a state normally imports more than it exports (value at reference prices)."""
    i = model.cidx[code]
    net = 0.0
    for p in PRODUCTS:
        ref = model.ref_flow[p]
        net += float(ref[:, i].sum() - ref[i].sum()) * model.p_ref[p]
    return net > 0


def current_strategy(model, state, domain: str) -> str:
    """The strategy a state is playing now in a domain (for learning)."""
    if domain == "stockpile":
        modes = set(state.stockpile_mode.values())
        return modes.pop() if len(modes) == 1 else "hold"
    if domain == "alliance":
        return "stay"
    pols = {(t, p): pol for (e, t, p), pol in model.policies.items() if e == state.code}
    kinds = {p: {pol.instrument for (t, pp), pol in pols.items() if pp == p} - {"open"}
             for p in PRODUCTS}
    if not kinds["light"] and not kinds["heavy"]:
        return "open"
    if not kinds["light"] and kinds["heavy"] == {"licence"}:
        return "licence_heavy"
    for k in ("ban", "quota", "licence"):
        if k in kinds["light"] | kinds["heavy"]:
            return k
    return "open"


def _targets(model, state) -> list[str]:
    return [c for c in model.countries
            if c != state.code and not (state.bloc and model.states[c].bloc == state.bloc)]


def strategy_actions(model, state, domain: str, choice: str) -> list[tuple[str, dict]]:
    """The policy actions that put a strategy into force."""
    if domain == "stockpile":
        return [("stockpile", {"mode": choice, "product": "both"})]
    if domain == "alliance":
        if choice == "leave" and state.bloc:
            return [("leave_alliance", {})]
        if choice == "join":
            bloc = _bloc_to_join(model, state)
            if bloc and bloc != state.bloc:
                return [("alliance", {"bloc": bloc})]
        return []
    acts: list[tuple[str, dict]] = []
    if choice == "open":
        return [("export", {"instrument": "open", "target": "all", "product": "both"})]
    i = model.cidx[state.code]
    for t in _targets(model, state):
        for p in PRODUCTS:
            if choice == "licence_heavy" and p == "light":
                continue
            inst = "licence" if choice.startswith("licence") else choice
            args = {"instrument": inst, "target": t, "product": p}
            if inst == "quota":
                b = model.cidx[t]
                flow_t = float(model.ref_flow[p][i, b])
                mix = max(model._export_mix(i, p, None), 1e-9)
                args["tonnes_per_yr"] = 0.6 * flow_t * 12.0 / mix
            acts.append(("export", args))
    return acts


def _bloc_to_join(model, state) -> str:
    """The importers' bloc a state would join: the largest bloc of other states, else new."""
    counts: dict[str, int] = {}
    for s in model.states.values():
        if s.code != state.code and s.bloc and s.player:
            counts[s.bloc] = counts.get(s.bloc, 0) + 1
    if counts:
        return max(sorted(counts), key=lambda b: counts[b])
    return "Partners"


def _use_value(model, i: int) -> float:
    """Monthly value of a country's consumption at reference prices, US$ million."""
    return sum(float(model.demand_tpm[p][i]) * model.p_ref[p] for p in PRODUCTS) * 1e-3


def _security(model, state, stock: dict[str, float]) -> float:
    """Value of stockpile cover against perceived risk (negative: insecurity), US$ million."""
    i = model.cidx[state.code]
    w = PAYOFF_WEIGHTS["security_weight"]
    tgt = max(model.sc.stockpile_target_months, 1e-9)
    out = 0.0
    for p in PRODUCTS:
        use = float(model.demand_tpm[p][i])
        cover = min(1.0, stock[p] / (tgt * use)) if use > 0 else 1.0
        out -= w * model.risk[i] * use * model.p_ref[p] * 1e-3 * (1.0 - cover)
    return out


def market_payoff(model, state, results) -> dict[str, float]:
    """A state's market payoff components for a cleared month, US$ million/month.

    - ``revenue``: what its refiners' sales fetch, at home and abroad: flows x (buyer price -
      link cost), so the rent of a binding export cap goes to the exporter;
    - ``industry``: its firms' input-cost advantage over foreign competitors,
      ``industry_weight`` x home purchases x (world price - home price), the gap capped at the
      reference price (cheaper inputs help, but market share gains are bounded);
    - ``leverage``: for a restrictor, ``leverage_weight`` x each target's dependence on it (its
      share of their normal imports) x their use x their price rise, capped at the reference
      price;
    - ``retaliation``: for a restrictor, - ``retaliation_weight`` x the pain it causes targets
      that are in an alliance (their price rise over reference x their use): allied states can
      answer together, and the harder they are hit the harder they answer;
    - ``shortage``: - shortage (t) x reference price x ``shortage_cost_ratio``.
    """
    i = model.cidx[state.code]
    w = PAYOFF_WEIGHTS
    out = dict.fromkeys(("revenue", "industry", "leverage", "retaliation", "shortage"), 0.0)
    restricted = {t for (e, t, _p), pol in model.policies.items()
                  if e == state.code and pol.instrument != "open"}
    if "all" in restricted:
        restricted = set(_targets(model, state))
    for p, r in results.items():
        pref = model.p_ref[p]
        net = np.clip(r.price - model.link_cost[p][i], 0.0, None)
        out["revenue"] += float((r.flows[i] * net).sum()) * 1e-3
        gap = min(max(model.world_price[p] - float(r.price[i]), -pref), pref)
        out["industry"] += w["industry_weight"] * float(r.flows[:, i].sum()) * gap * 1e-3
        ref = model.ref_flow[p]
        for t in restricted:
            b = model.cidx[t]
            imports = float(ref[:, b].sum() - ref[b, b])
            dependence = float(ref[i, b]) / imports if imports > 0 else 0.0
            rise = min(max(float(r.price[b]) - pref, 0.0), pref)
            out["leverage"] += (w["leverage_weight"] * dependence * rise
                                * float(model.demand_tpm[p][b]) * 1e-3)
            if model.states[t].bloc:
                # allied targets answer in proportion to the pain the restriction causes them
                pain = max(float(r.price[b]) - pref, 0.0) * float(model.demand_tpm[p][b])
                out["retaliation"] -= w["retaliation_weight"] * pain * 1e-3
        out["shortage"] -= (float(model.last_shortage[p][i]) * pref
                            * w["shortage_cost_ratio"] * 1e-3)
    return out


def state_payoff(model, state, results) -> dict[str, float]:
    """All payoff components of a state this month, US$ million (sum = the payoff).

    Market components (:func:`market_payoff`) plus ``stockpile`` (carry cost), ``security``
    (cover against perceived risk), ``floor`` (price-floor payments) and ``alliance``
    (membership commitments).
    """
    w = PAYOFF_WEIGHTS
    out = market_payoff(model, state, results)
    out["stockpile"] = -sum(state.stockpile[p] * model.p_ref[p] for p in PRODUCTS) * 1e-3 * (
        w["stockpile_carry_per_yr"] / 12.0)
    out["security"] = _security(model, state, state.stockpile)
    out["floor"] = -(state.floor_cost_usd - state.floor_cost_seen) * 1e-6
    state.floor_cost_seen = state.floor_cost_usd
    out["alliance"] = (-w["membership_cost_share"] * _use_value(model, model.cidx[state.code])
                       if state.bloc else 0.0)
    return out


def forgone_payoffs(model, state, domain: str, options) -> dict[str, float]:
    """Payoff each strategy would earn this month, US$ million (for experience weighting).

    Export strategies are evaluated by clearing this month's market under each policy
    (a what-if that changes nothing in the model), with firms' demand as it is once their
    price expectations have adapted: a policy is kept for months, so a state values its
    sustained effect, not the first month in which buyers live off their stocks. Stockpile
    and alliance strategies are valued from their costs and the cover they buy against the
    state's perceived risk.
    """
    from abm.market import clear_market

    i = model.cidx[state.code]
    w = PAYOFF_WEIGHTS
    if domain == "export":
        plan = model._plan_month(dry=True)
        saved = dict(model.policies)
        model.steady_state_demand = True
        out = {}
        for opt in options:
            model.policies = {k: v for k, v in saved.items() if k[0] != state.code}
            for _action, args in strategy_actions(model, state, "export", opt):
                if args["instrument"] == "open":
                    continue
                for p in ((args["product"],) if args["product"] != "both" else PRODUCTS):
                    model.policies[(state.code, args["target"], p)] = _policy_from(model, args)
            orders = model._build_orders(*plan)
            res = {p: clear_market(orders[p][0], validate=False) for p in PRODUCTS}
            keep_pol = model.policies
            out[opt] = float(sum(market_payoff(model, state, res).values()))
            model.policies = keep_pol
        model.policies = saved
        model.steady_state_demand = False
        return out
    use = _use_value(model, i)
    if domain == "stockpile":
        months = 6.0  # horizon over which a build or release changes the stockpile
        out = {}
        for opt in options:
            stock = dict(state.stockpile)
            for p in PRODUCTS:
                d = float(model.demand_tpm[p][i])
                if opt == "build":
                    stock[p] += months * model.sc.stockpile_build_share * d
                elif opt == "release":
                    stock[p] *= (1.0 - 1.0 / 6.0) ** months
            carry = sum(stock[p] * model.p_ref[p] for p in PRODUCTS) * 1e-3 * (
                w["stockpile_carry_per_yr"] / 12.0)
            out[opt] = _security(model, state, stock) - carry
        return out
    # alliance: allies share stockpiles, prefer each other's supply and co-invest, which
    # averts part of the insecurity the state perceives; membership costs a share of its use
    gain = w["security_weight"] * w["alliance_effectiveness"] * float(model.risk[i]) * use
    member = gain - w["membership_cost_share"] * use
    if state.bloc:
        return {"join": member, "stay": member, "leave": 0.0}
    return {"join": member, "stay": 0.0, "leave": 0.0}


def _policy_from(model, args):
    from abm.policy import ExportPolicy

    return ExportPolicy(args["instrument"], float(args.get("share", model.sc.licence_share)),
                        float(args.get("tonnes_per_yr", float("inf"))), model.month)


def ewa_update(att: dict[str, float], experience: dict[str, float], domain: str, chosen: str,
               payoffs: dict[str, float], phi: float, delta: float) -> None:
    """Experience-weighted attraction update (Camerer and Ho, Econometrica 1999), in place.

    ``N = phi * N_prev + 1`` and ``A_j = (phi * N_prev * A_j + (delta + (1 - delta) * [j ==
    chosen]) * payoff_j) / N``: the strategy played is reinforced with its payoff, the others
    with ``delta`` times their forgone payoff.
    """
    n_prev = experience.get(domain, 0.0)
    n_new = phi * n_prev + 1.0
    for j in att:
        weight = delta + (1.0 - delta) * (j == chosen)
        att[j] = (phi * n_prev * att[j] + weight * payoffs.get(j, 0.0)) / n_new
    experience[domain] = n_new


def logit_choice(att: dict[str, float], intensity: float, rng: np.random.Generator) -> str:
    """Pick a strategy with probability proportional to ``exp(intensity * A_j / scale)``.

    Attractions are divided by their spread (best minus worst), so ``intensity`` is
    dimensionless: the best strategy is ``exp(intensity)`` times as likely as the worst;
    0 chooses at random, large values choose the best almost surely.
    """
    keys = list(att)
    a = np.array([att[k] for k in keys])
    spread = float(a.max() - a.min())
    if spread <= 1e-12 * max(1.0, float(np.abs(a).max())):
        return keys[int(rng.integers(len(keys)))]
    z = intensity * (a - a.max()) / spread
    prob = np.exp(z)
    prob /= prob.sum()
    return keys[int(rng.choice(len(keys), p=prob))]


def miner_bloc_choice(model, miner) -> str | None:
    """The bloc a non-Chinese miner sells to: the one that pays best net of risk.

    Only miners whose concentrate is refined outside China can choose. A bloc offering a
    price floor pays ``max(price, floor)`` for NdPr at its own market, discounted by 10% of
    that market's perceived supply risk; staying pays the miner's current route. A miner
    switches only for a gain above 5%, and never to a payer that excludes its host country
    (``data/bloc_exclusions.csv``).
    """
    if miner.is_chinese or miner.refine_country == "CHN" or miner.capacity_tpm <= 0:
        return None  # concentrate refined in China cannot be sold to another bloc
    node = model.cidx[miner.refine_country]
    base = {p: float(model.seller_price[p][node])
            for p in PRODUCTS}
    options = {miner.bloc: sum(miner.shares[p] * max(base[p], miner.floor_usd_per_kg[p])
                               for p in PRODUCTS)}
    for payer, floor in model.floor_offers.items():
        if not model.may_pay(payer, miner):
            continue  # e.g. US defence law excludes Chinese and Russian material
        pay_node = model.cidx[payer]
        prices = {p: float(model.price[p][pay_node]) for p in PRODUCTS}
        prices["light"] = max(prices["light"], floor)
        risk = float(model.risk[pay_node])
        options[payer] = sum(miner.shares[p] * prices[p] for p in PRODUCTS) * (1 - 0.1 * risk)
    best = max(sorted(options), key=lambda k: options[k])
    if best != miner.bloc and options[best] > 1.05 * options[miner.bloc]:
        return best
    return None
