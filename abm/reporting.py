"""Reporters: how each output column of :mod:`abm.columns` is measured on the model.

:func:`reporters` gives the model's Mesa ``DataCollector`` one reporter per concrete column;
the DataCollector is the model's record and :meth:`abm.RareEarthModel.results_frame` reads it.
Reporters read the model after the month's step, mostly through its :class:`MonthRecord`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from abm.columns import expand
from abm.countries import slug
from abm.louvain import louvain_communities
from abm.policy import OXIDES, PRODUCTS
from abm.strategies import recognise

__all__ = ["MonthRecord", "reporters"]


@dataclass
class MonthRecord:
    """What one month produced, kept for the reporters and views.

    Attributes:
        plan: the month's :class:`abm.exchange.MonthPlan`.
        results: product -> :class:`abm.market.ClearingResult`.
        cache: values several reporters share (computed once per month).
    """

    plan: object
    results: dict
    cache: dict = field(default_factory=dict)

    def groups(self, model) -> list[set[str]]:
        """The month's blocs (connected groups of two or more), computed once."""
        if "groups" not in self.cache:
            self.cache["groups"] = model.network.groups()
        return self.cache["groups"]


def _rec(model) -> MonthRecord:
    return model.last_month


# ---------------------------------------------------------------- per product
def _price_at(model, product, country):
    return float(_rec(model).results[product].price[model.cidx[country]])


def _price_world(model, product):
    return model.exchange.world_price[product]


def _production(model, product):
    """Oxide refined, or magnets made, t."""
    rec = _rec(model)
    if product in rec.plan.supply.refined:
        return float(rec.plan.supply.refined[product].sum())
    made = rec.results[product].converted_out
    return float(made.sum()) if made is not None else 0.0


def _consumption(model, product):
    """Used up by firms, and (oxides) turned into magnets, t."""
    used = _rec(model).results[product].converted_in
    return float(model.firms.last_consumed[product].sum()) + (
        float(used.sum()) if used is not None else 0.0)


def _magnet_use(model, product):
    used = _rec(model).results[product].converted_in
    return float(used.sum()) if used is not None else 0.0


def _china_exports_unrecorded(model, product):
    g = _rec(model).results[product].grey_flows
    return float(g[model.cidx["CHN"]].sum()) if g is not None else 0.0


def _china_share_magnets(model):
    made = _rec(model).results["magnet"].converted_out
    total = float(made.sum()) if made is not None else 0.0
    return float(made[model.cidx["CHN"]] / total) if total > 0 else 0.0


def _magnet_capacity_use(model):
    cap = float(model.magnets.capacity_tpm.sum())
    made = _rec(model).results["magnet"].converted_out
    return float(made.sum() / cap) if cap > 0 and made is not None else 0.0


def _china_exports(model, product):
    f = _rec(model).results[product].flows
    chn = model.cidx["CHN"]
    return float(f[chn].sum() - f[chn, chn])


def _china_exports_reo(model):
    """China's recorded oxide exports in t REO at China's refined mix this month."""
    chn = model.cidx["CHN"]
    supply = _rec(model).plan.supply
    reo = supply.refined_reo[chn]
    prod = sum(supply.refined[p][chn] for p in OXIDES)
    if reo <= 0 or prod <= 0:
        return 0.0
    return float(sum(_china_exports(model, p) for p in OXIDES) * reo / prod)


def _inventory(model, product):
    return float(model.firms.inventory[product].sum())


def _stockpiles(model, product):
    return float(sum(s.stockpile.get(product, 0.0) for s in model.states.values()))


def _substitution(model, product):
    f = model.firms
    w = f.base_demand[product]
    return float(np.average(f.substitution[product], weights=w) if w.sum() > 0 else 0.0)


def _producer_stock(model, product):
    return float(model.exchange.producer_stock[product].sum())


# ---------------------------------------------------------------- mining and blocs
def _total_mined(model):
    return sum(_rec(model).plan.supply.mined_by_host.values())


def _production_reo(model):
    return float(_total_mined(model))


def _mined(model, host):
    return float(_rec(model).plan.supply.mined_by_host.get(host, 0.0))


def _china_illegal(model):
    """T REO mined in China outside its mining quota this month."""
    chinese = {m.mine_id for m in model.miners if m.country == "CHN"}
    return float(sum(t for k, t in _rec(model).plan.supply.illegal.items() if k in chinese))


def _china_recorded(model):
    """China's mine output as official statistics count it (within the quota)."""
    return _mined(model, "CHN") - _china_illegal(model)


def _china_share_mining(model):
    total = _total_mined(model)
    mined = _rec(model).plan.supply.mined_by_host.get("CHN", 0.0)
    return float(mined / total) if total > 0 else 0.0


def _china_share_refining(model):
    reo = _rec(model).plan.supply.refined_reo
    return float(reo[model.cidx["CHN"]] / reo.sum()) if reo.sum() > 0 else 0.0


def _refined(model, country):
    return float(_rec(model).plan.supply.refined_reo[model.cidx[country]])


def _n_blocs(model):
    return len(_rec(model).groups(model))


def _supply_shares(model) -> dict[str, float]:
    rec = _rec(model)
    if "supply_shares" not in rec.cache:
        comps = rec.groups(model)
        china_bloc = next((c for c in comps if "CHN" in c), set())
        in_other = set().union(*[c for c in comps if "CHN" not in c]) if comps else set()
        shares = {"china_bloc": 0.0, "other_blocs": 0.0, "unaligned": 0.0}
        for m in model.miners:
            key = ("china_bloc" if m.mine_id in china_bloc else
                   "other_blocs" if m.mine_id in in_other else "unaligned")
            shares[key] += m.output_tpm
        total = _total_mined(model)
        rec.cache["supply_shares"] = {k: float(v / total) if total > 0 else 0.0
                                      for k, v in shares.items()}
    return rec.cache["supply_shares"]


def _supply_share(model, key):
    return _supply_shares(model)[key]


# ---------------------------------------------------------------- per country
def _oxide_weight(model, product) -> float:
    """T of oxide in one t of the product (magnets count their oxide content)."""
    return model.magnets.oxide_per_magnet if product == "magnet" else 1.0


def _china_supply(model, country) -> tuple[float, float]:
    """(t oxide-equivalent bought from China, t bought in all) by a country this month."""
    rec = _rec(model)
    if "china_supply" not in rec.cache:  # every country at once
        chn, n = model.cidx["CHN"], len(model.countries)
        buys, from_chn = np.zeros(n), np.zeros(n)
        for p in PRODUCTS:
            inflow = rec.results[p].all_flows.T.copy()  # row i: what country i bought
            if p == "magnet":
                np.fill_diagonal(inflow, 0.0)
            w = _oxide_weight(model, p)
            buys += inflow.sum(axis=1) * w
            from_chn += inflow[:, chn] * w
        rec.cache["china_supply"] = (from_chn, buys)
    from_chn, buys = rec.cache["china_supply"]
    i = model.cidx[country]
    return float(from_chn[i]), float(buys[i])


def _imports_from_china(model, country):
    if country == "CHN":
        return 0.0
    return _china_supply(model, country)[0]


def _china_import_share(model, country):
    """Share of the country's supply (t oxide-equivalent, recorded and not) from China.

    Its supply is the oxide it buys (from anywhere, itself included) and the magnets it
    imports, by their oxide content; magnets made at home are left out, since the oxide they
    are made of is counted already.
    """
    from_chn, buys = _china_supply(model, country)
    return from_chn / buys if buys > 0 else (1.0 if country == "CHN" else 0.0)


def _stockpile(model, country):
    return float(sum(model.states[country].stockpile.values()))


def _shortage(model, country):
    i = model.cidx[country]
    return float(sum(model.firms.last_shortage[p][i] * _oxide_weight(model, p)
                     for p in PRODUCTS))


def _destroyed(model, country):
    i = model.cidx[country]
    return float(sum(model.firms.last_destroyed[p][i] * _oxide_weight(model, p)
                     for p in PRODUCTS))


def _risk(model, country):
    return float(model.risk[model.cidx[country]])


def _bloc(model, country):
    return model.states[country].bloc or "-"


def _strategy(model, country, domain):
    state = model.states[country]
    if domain == "alliance":
        return "join" if state.bloc else "stay"
    return recognise(model, state, domain)


def _payoff(model, country):
    return float(model.states[country].payoff)


#: below this much trade in a month (t) there is no network to partition (a numerical guard:
#: modularity divides by the squared total weight)
_MIN_TRADE_T = 1e-6


def _trade_weights(model) -> np.ndarray:
    """(N, N) symmetric t oxide-equivalent traded between two countries this month, 0 diagonal.

    Recorded and unrecorded flows of every product, both directions added.
    """
    n = len(model.countries)
    w = np.zeros((n, n))
    for p in PRODUCTS:
        w += _rec(model).results[p].all_flows * _oxide_weight(model, p)
    w = w + w.T
    np.fill_diagonal(w, 0.0)
    return w


def _trade_communities(model) -> dict[str, str]:
    """Communities of the month's trade network (Louvain), as country -> community hub.

    Nodes are countries; an undirected edge weighs the t oxide-equivalent traded between two
    countries this month (recorded and unrecorded, both directions, all products). Louvain
    (Blondel et al. 2008) with the model's seed finds the communities (:mod:`abm.louvain`,
    which gives networkx's partitions); each is named after its member with the most trade.
    Han et al. (2025, iScience) follow the divergence of rare-earth trade networks the same way.
    """
    rec = _rec(model)
    if "communities" not in rec.cache:
        w = _trade_weights(model)
        if w.sum() < _MIN_TRADE_T:  # (next to) no trade: every country on its own
            parts = [{c} for c in model.countries]
        else:
            parts = louvain_communities(w, model.countries, model.seed_int)
        trade = dict(zip(model.countries, w.sum(axis=1), strict=True))
        rec.cache["communities"] = {c: max(sorted(part), key=lambda x: trade[x])
                                    for part in parts for c in part}
    return rec.cache["communities"]


def _trade_bloc(model, country):
    return slug(_trade_communities(model)[country])


def _n_trade_blocs(model):
    hubs = _trade_communities(model)
    sizes = {}
    for hub in hubs.values():
        sizes[hub] = sizes.get(hub, 0) + 1
    return sum(1 for s in sizes.values() if s >= 2)


def hhi(shares) -> float:
    """Herfindahl-Hirschman index of shares (0-1; 1 = one supplier)."""
    s = np.asarray(shares, dtype=float)
    total = s.sum()
    return float(((s / total) ** 2).sum()) if total > 0 else 0.0


def _hhi_mining(model):
    return hhi(list(_rec(model).plan.supply.mined_by_host.values()))


def _hhi_refining(model):
    return hhi(_rec(model).plan.supply.refined_reo)


def _hhi_magnets(model):
    made = _rec(model).results["magnet"].converted_out
    return hhi(made) if made is not None else 0.0


def _relocated(model, country):
    rec = _rec(model)
    if "relocated" not in rec.cache:  # one pass over the firms for every country's column
        rec.cache["relocated"] = model.firms.relocated_shares()
    return float(rec.cache["relocated"][model.cidx[country]])


def _inventory_at(model, country):
    rec = _rec(model)
    if "firm_inventory" not in rec.cache:  # t oxide-equivalent, every country at once
        rec.cache["firm_inventory"] = sum(model.firms.inventory_by_country(p)
                                          * _oxide_weight(model, p) for p in PRODUCTS)
    return float(rec.cache["firm_inventory"][model.cidx[country]])


# ---------------------------------------------------------------- traders
def _trader_stock(model, product):
    return float(sum(t.stock.get(product, 0.0) for t in model.traders))


def _trader_stock_at(model, country):
    return float(sum(sum(t.stock.values()) for t in model.traders if t.code == country))


def _maker_stock(model, product):
    return model.magnets.stock_of(product)


def _chartist_share(model, product):
    desks = list(model.traders)
    if not desks:
        return 0.0
    w = np.array([t.capital[product] for t in desks])
    share = np.array([t.rule_share(product, "chartist") for t in desks])
    return float(np.average(share, weights=w) if w.sum() > 0 else share.mean())


_FAMILY = {
    "date": lambda model: model.date, "step": lambda model: model.month,
    "production_reo": _production_reo, "price_{product}_china": partial(
        _price_at, country="CHN"),
    "price_{product}_world": _price_world, "price_{product}_{foreign}": _price_at,
    "production_{product}": _production, "consumption_{product}": _consumption,
    "china_share_mining": _china_share_mining, "china_share_refining": _china_share_refining,
    "china_exports_{product}": _china_exports, "china_import_share_{country}":
        _china_import_share,
    "stockpile_{country}": _stockpile, "shortage_{country}": _shortage, "n_blocs": _n_blocs,
    "china_exports_reo": _china_exports_reo, "inventory_{product}": _inventory,
    "stockpiles_{product}": _stockpiles, "substitution_{product}": _substitution,
    "producer_stock_{product}": _producer_stock,
    "supply_share_china_bloc": partial(_supply_share, key="china_bloc"),
    "supply_share_other_blocs": partial(_supply_share, key="other_blocs"),
    "supply_share_unaligned": partial(_supply_share, key="unaligned"),
    "demand_destroyed_{country}": _destroyed, "risk_{country}": _risk,
    "bloc_{country}": _bloc, "payoff_{country}": _payoff,
    "strategy_{country}_export": partial(_strategy, domain="export"),
    "strategy_{country}_stockpile": partial(_strategy, domain="stockpile"),
    "strategy_{country}_alliance": partial(_strategy, domain="alliance"), "mined_{host}": _mined,
    "refined_{country}": _refined, "inventory_{country}": _inventory_at,
    "magnet_use_{oxide}": _magnet_use, "china_exports_unrecorded_{product}":
        _china_exports_unrecorded, "china_share_magnets": _china_share_magnets,
    "magnet_capacity_use": _magnet_capacity_use, "relocated_{country}": _relocated,
    "imports_from_china_{country}": _imports_from_china, "trade_bloc_{country}": _trade_bloc,
    "n_trade_blocs": _n_trade_blocs, "china_mined_illegal": _china_illegal,
    "china_mined_recorded": _china_recorded,
    "hhi_mining": _hhi_mining, "hhi_refining": _hhi_refining, "hhi_magnets": _hhi_magnets,
    "trader_stock_{product}": _trader_stock, "trader_stock_{country}": _trader_stock_at,
    "maker_stock_{product}": _maker_stock,
    "chartist_share_{oxide}": _chartist_share,
}

#: DESIGN columns kept (as 0) in worlds without that state
_ALWAYS = ("china_import_share_{country}", "stockpile_{country}", "shortage_{country}")


def reporters(model) -> dict[str, partial]:
    """Column name -> reporter ``f(model)`` for the model's world, in column order."""
    hosts = sorted({m.country for m in model.miners})
    out: dict[str, partial] = {}
    for name, col, combo in expand(model.countries, hosts):
        keys = {("country" if k == "foreign" else "product" if k == "oxide" else k): v
                for k, v in combo.items()}
        out[name] = partial(_FAMILY[col.name], **keys)
    for code, slug_ in (("USA", "usa"), ("JPN", "japan"), ("CHN", "china")):
        if code not in model.cidx:
            for fam in _ALWAYS:
                out.setdefault(fam.format(country=slug_), partial(_zero))
    return out


def _zero(model):
    return 0.0
