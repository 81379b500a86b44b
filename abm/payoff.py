"""States' payoffs: each term a pure function of numbers, in US$ million per month.

Units: tonnes (t) x US$/kg = US$ thousand, hence the factor 1e-3 to US$ million. Weights are
the ``payoff_*`` parameters of :data:`abm.params.PARAMS` (passed in as ``w``, a mapping from the
weight's name without the prefix to its value).

The terms (sum = the state's payoff):

- ``revenue``: what its refiners' sales fetch at home and abroad, flows x (buyer price - link
  cost and duty), so the rent of a binding export cap goes to the exporter; unrecorded exports
  at the home seller price (the smuggling rent is lost to the state); and its magnet makers'
  margin (magnets made x (magnet price - conversion cost - oxide content));
- ``duties``: export duties collected on recorded exports;
- ``industry``: its firms' input-cost advantage over foreign competitors, ``industry_weight``
  x home purchases x (world price - home price), the gap capped at +/- the reference price;
- ``downstream``: its firms' extra input cost, - ``downstream_weight`` x home purchases x (home
  price - reference price): what its refiners gain on home sales its industry pays;
- ``leverage``: for a restrictor, ``leverage_weight`` x a target's dependence on it (its share
  of the target's normal imports) x the target's use x its price rise, capped at the reference
  price;
- ``retaliation``: for a restrictor, - ``retaliation_weight`` x the pain it causes targets that
  are in an alliance (their price rise over reference x their use);
- ``shortage``: - shortage (t) x reference price x ``shortage_cost_ratio``;
- ``stockpile``: - carrying cost, stockpile value x ``stockpile_carry_per_yr`` / 12;
- ``security``: - ``security_weight`` x perceived risk x use value x the share of the
  stockpile target not covered;
- ``floor``: - price-floor payments made this month;
- ``alliance``: - ``membership_cost_share`` x use value, while in a bloc;
- ``mining``: - the cash cost of the ore its refiners separated this month (illegal ore at
  the illegal miners' cost) and the care-and-maintenance and restart costs of its mines, so
  that ``revenue + mining`` is its producers' margin;
- ``contracts``: offtake contracts: a buyer's saving against its market price on the volume
  delivered (negative when take-or-pay makes it take volume dearer than the market), a
  seller country's refiners' contract revenue.
"""

from __future__ import annotations

import numpy as np

from abm.params import PAYOFF_WEIGHTS

__all__ = ["revenue", "industry", "downstream", "leverage", "retaliation", "shortage_cost",
           "stockpile_carry", "security", "use_value", "alliance_cost", "market_payoff",
           "mining_cost", "world_price", "TERMS", "weights_from"]

TERMS = ("revenue", "duties", "industry", "downstream", "leverage", "retaliation",
         "shortage", "stockpile", "security", "floor", "alliance", "mining", "contracts")


def weights_from(params) -> dict[str, float]:
    """The payoff weights (names without ``payoff_``) from a scenario or parameter mapping."""
    get = params.get if isinstance(params, dict) else lambda k: getattr(params, k)
    return {k: float(get(f"payoff_{k}")) for k in PAYOFF_WEIGHTS}


def revenue(flows_out: np.ndarray, buyer_price: np.ndarray, link_cost_out: np.ndarray) -> float:
    """Sales revenue of one seller node: sum of flows x (buyer price - link cost)+, US$ m."""
    net = np.clip(buyer_price - link_cost_out, 0.0, None)
    return float((flows_out * net).sum()) * 1e-3


def industry(weight: float, home_purchases_t: float, world_price: float, home_price: float,
             reference: float) -> float:
    """Input-cost advantage of home firms, US$ m: weight x purchases x capped price gap."""
    gap = min(max(world_price - home_price, -reference), reference)
    return weight * home_purchases_t * gap * 1e-3


def world_price(price: np.ndarray, purchases: np.ndarray, chn: int) -> float:
    """Quantity-weighted price paid outside China, US$/kg (mean of other nodes if none buy).

    The same measure as :attr:`abm.exchange.Exchange.world_price`, for any clearing result
    (a what-if's included).
    """
    outside = purchases.copy()
    outside[chn] = 0.0
    if outside.sum() > 0:
        return float((price * outside).sum() / outside.sum())
    return float(np.delete(price, chn).mean())


def downstream(weight: float, home_purchases_t: float, home_price: float,
               reference: float) -> float:
    """Home firms' input cost above the reference price, US$ m (negative when dearer)."""
    return -weight * home_purchases_t * (home_price - reference) * 1e-3


def mining_cost(code: str, miners, supply, illegal_cost_ratio: float) -> float:
    """Cash cost of the ore a state's refiners separated this month, US$ m (<= 0).

    Ore refined in the state's country (a miner's home-refined output where it refines
    there, concentrate routed to China for ``CHN``) at each miner's unit cost, its illegal
    part at ``illegal_cost_ratio`` x that cost; plus this month's care-and-maintenance and
    restart costs of the mines in the state's country.

    Args:
        code: the state.
        miners: the miners (``mine_id``, ``refine_country``, ``country``,
            ``cost_usd_per_kg``, ``month_fixed_cost_usd``).
        supply: the month's :class:`abm.refining.SupplyPlan`.
        illegal_cost_ratio: illegal miners' cost as a multiple of the legal cost.
    """
    usd_k = 0.0
    for m in miners:
        home, to_china = supply.routes.get(m.mine_id, (0.0, 0.0))
        ore = (home if m.refine_country == code else 0.0) + (to_china if code == "CHN" else 0.0)
        illegal = supply.illegal.get(m.mine_id, 0.0) if m.refine_country == code else 0.0
        usd_k += (ore - illegal + illegal * illegal_cost_ratio) * m.cost_usd_per_kg
        if m.country == code:
            usd_k += m.month_fixed_cost_usd * 1e-3
    return -usd_k * 1e-3


def leverage(weight: float, dependence: float, target_price: float, reference: float,
             target_use_t: float) -> float:
    """Value of a restricted target's pain, US$ m: weight x dependence x capped rise x use."""
    rise = min(max(target_price - reference, 0.0), reference)
    return weight * dependence * rise * target_use_t * 1e-3


def retaliation(weight: float, target_price: float, reference: float,
                target_use_t: float) -> float:
    """Expected retaliation by an allied target, US$ m (negative): its uncapped pain."""
    pain = max(target_price - reference, 0.0) * target_use_t
    return -weight * pain * 1e-3


def shortage_cost(cost_ratio: float, shortage_t: float, reference: float) -> float:
    """Cost of unserved use, US$ m (negative): shortage x reference price x ratio."""
    return -shortage_t * reference * cost_ratio * 1e-3


def stockpile_carry(carry_per_yr: float, stock_t: dict[str, float],
                    reference: dict[str, float]) -> float:
    """Monthly carrying cost of a stockpile (of each product in ``stock_t``), US$ m (< 0)."""
    return -sum(stock_t[p] * reference[p] for p in stock_t) * 1e-3 * (carry_per_yr / 12.0)


def security(weight: float, risk: float, use_tpm: dict[str, float], reference: dict[str, float],
             stock_t: dict[str, float], target_months: float) -> float:
    """Insecurity left uncovered by the stockpile, US$ m (<= 0).

    Per product in ``stock_t``: - weight x risk x use x reference price x (1 - cover), where
    cover is the stockpile as a share of ``target_months`` of use (at most 1; 1 when the state
    uses none).
    """
    tgt = max(target_months, 1e-9)
    out = 0.0
    for p in stock_t:
        use = use_tpm[p]
        cover = min(1.0, stock_t[p] / (tgt * use)) if use > 0 else 1.0
        out -= weight * risk * use * reference[p] * 1e-3 * (1.0 - cover)
    return out


def use_value(use_tpm: dict[str, float], reference: dict[str, float]) -> float:
    """Monthly value of a country's use at reference prices, US$ m.

    Every product in ``use_tpm`` counts.
    """
    return sum(use_tpm[p] * reference[p] for p in use_tpm) * 1e-3


def alliance_cost(share: float, value: float) -> float:
    """Monthly cost of alliance commitments, US$ m (negative)."""
    return -share * value


def processing_margin(made_t: float, magnet_price: float, cost: float,
                      content: dict[str, float], oxide_price: dict[str, float]) -> float:
    """Magnet makers' margin, US$ m: t made x (magnet price - cost - oxide content value)."""
    unit = magnet_price - cost - sum(a * oxide_price[p] for p, a in content.items())
    return made_t * unit * 1e-3


def market_payoff(model, code: str, results: dict, restricted: list[str],
                  w: dict[str, float], orders: dict,
                  world: dict[str, float] | None = None) -> dict[str, float]:
    """The market terms of a state's payoff for one cleared month, US$ million.

    The industry term compares the home price with the world price of the same clearing, so
    a what-if is scored at the prices it would bring.

    Args:
        model: read-only source of reference prices, world prices, normal flows, use, last
            shortages and the magnet makers' recipe and costs (duck-typed).
        code: the state.
        results: product -> :class:`abm.market.ClearingResult`.
        restricted: the targets the state restricts (state codes, in country order).
        w: payoff weights.
        orders: product -> (:class:`abm.market.MarketOrders`, :class:`abm.exchange.Book`) of
            the clearing (link costs including duties, and the duties).
        world: product -> :func:`world_price` of ``results``, when the caller has it already
            (the month's own clearing: the exchange's world prices); computed if ``None``.

    Returns:
        ``revenue`` (oxide sales net of link costs and duties, unrecorded sales at the home
        seller price, magnet makers' margin), ``duties`` (export duties collected),
        ``industry``, ``downstream``, ``leverage``, ``retaliation`` and ``shortage``.
    """
    i = model.cidx[code]
    out = dict.fromkeys(("revenue", "duties", "industry", "downstream", "leverage", "retaliation",
                         "shortage"), 0.0)
    for p, r in results.items():
        o, book = orders[p]
        pref = model.p_ref[p]
        home_t = float(r.flows[:, i].sum())
        out["revenue"] += _sales_value(model, i, p, r, o)
        out["duties"] += float((r.flows[i] * book.duty[i]).sum()) * 1e-3
        world_p = (world[p] if world is not None
                   else world_price(r.price, r.purchases, model.cidx["CHN"]))
        out["industry"] += industry(w["industry_weight"], home_t, world_p, float(r.price[i]),
                                    pref)
        out["downstream"] += downstream(w["downstream_weight"], home_t, float(r.price[i]), pref)
        ref = model.exchange.normal_flow[p]
        for t in restricted:
            b = model.cidx[t]
            imports = float(ref[:, b].sum() - ref[b, b])
            dependence = float(ref[i, b]) / imports if imports > 0 else 0.0
            use = float(model.demand_tpm[p][b])
            out["leverage"] += leverage(w["leverage_weight"], dependence, float(r.price[b]),
                                        pref, use)
            if model.states[t].bloc:
                # allied targets answer in proportion to the pain the restriction causes them
                out["retaliation"] += retaliation(w["retaliation_weight"], float(r.price[b]),
                                                  pref, use)
        out["shortage"] += shortage_cost(w["shortage_cost_ratio"],
                                         float(model.firms.last_shortage[p][i]), pref)
    return out


def _sales_value(model, i: int, p: str, r, o) -> float:
    """What node ``i``'s sellers of product ``p`` earn this month, US$ m."""
    if r.converted_out is not None and r.converted_out[i] > 0:
        mag = model.magnets
        oxide = {q: float(model.exchange.price[q][i]) for q in mag.recipe}
        return processing_margin(float(r.converted_out[i]), float(r.seller_price[i]),
                                 float(mag.cost[i]), mag.recipe, oxide)
    value = revenue(r.flows[i], r.price, o.link_cost[i])
    if r.grey_flows is not None:  # unrecorded sales fetch the home price; smugglers keep the rest
        value += float(r.grey_flows[i].sum() * r.seller_price[i]) * 1e-3
    return value
