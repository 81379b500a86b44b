"""The registry of output columns: name, unit and meaning.

One entry per column family; ``{product}`` stands for ``light`` and ``heavy``, ``{country}``
for every state's slug (:func:`abm.countries.slug`), ``{foreign}`` for every state but China,
``{host}`` for every country that hosts a mine. The results frame, the model's DataCollector
(:mod:`abm.reporting`), the README's column table (``python -m abm columns``) and the
dashboard all read from here. The first columns are the design's public interface
(:data:`MODEL_COLUMNS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from abm.countries import slug
from abm.policy import OXIDES, PRODUCTS

__all__ = ["Column", "COLUMNS", "MODEL_COLUMNS", "expand", "markdown_table", "signed_columns"]


@dataclass(frozen=True)
class Column:
    """A column family.

    Attributes:
        name: the name, with ``{product}``, ``{country}``, ``{foreign}`` or ``{host}``.
        unit: unit of the values (``US$/kg``, ``t/month``, ``share``, ...).
        meaning: what the values are.
        signed: whether values may be negative (payoffs); all others are >= 0.
    """

    name: str
    unit: str
    meaning: str
    signed: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        """The placeholders in the name, in order."""
        return tuple(k for k in ("product", "oxide", "country", "foreign", "host")
                     if "{" + k + "}" in self.name)


_C = Column
COLUMNS: tuple[Column, ...] = (
    _C("date", "YYYY-MM", "month simulated"),
    _C("step", "months", "index of the month from the scenario start (0 = first)"),
    _C("production_reo", "t REO/month", "mine output, t of rare-earth oxide (all elements)"),
    _C("price_{product}_china", "US$/kg", "China's domestic (buyer-node) price"),
    _C("price_{product}_world", "US$/kg",
       "quantity-weighted price paid outside China (mean of other nodes when nobody buys)"),
    _C("price_{product}_{foreign}", "US$/kg", "the buyer-node price in that country"),
    _C("production_{product}", "t/month",
       "refined NdPr (light) or Dy/Tb (heavy) oxide; NdFeB magnets made (magnet)"),
    _C("consumption_{product}", "t/month",
       "used up: by firms, and (oxides) turned into magnets"),
    _C("china_share_mining", "share", "China's share of mine output (t REO)"),
    _C("china_mined_illegal", "t REO/month", "mined in China outside its mining quota"),
    _C("china_mined_recorded", "t REO/month",
       "China's mine output as official statistics count it (mined_china less illegal)"),
    _C("china_share_refining", "share",
       "share of REO refined in China (foreign concentrate included)"),
    _C("china_exports_{product}", "t/month", "oxide sold from China to other countries"),
    _C("china_import_share_{country}", "share",
       "share of the country's supply from China (t oxide-equivalent: the oxide it buys and "
       "the magnets it imports, by their oxide content; unrecorded trade included)"),
    _C("imports_from_china_{country}", "t/month",
       "what the country buys from China, t oxide-equivalent (recorded and unrecorded)"),
    _C("stockpile_{country}", "t", "the state's strategic stockpile (both oxides)"),
    _C("shortage_{country}", "t/month",
       "consumption firms wanted at this month's price that their stock could not cover "
       "(t oxide-equivalent)"),
    _C("n_blocs", "count", "alliance groups with two or more members (states and miners)"),
    _C("china_exports_reo", "t REO/month",
       "China's recorded exports of both oxides in t REO at its refined mix (the unit of its "
       "quotas)"),
    _C("china_exports_unrecorded_{product}", "t/month",
       "China's unrecorded exports (smuggling around caps and duties)"),
    _C("magnet_use_{oxide}", "t/month", "oxide turned into magnets"),
    _C("china_share_magnets", "share", "China's share of the magnets made"),
    _C("magnet_capacity_use", "share", "magnets made as a share of world magnet capacity"),
    _C("inventory_{product}", "t", "firms' inventories"),
    _C("stockpiles_{product}", "t", "all states' stockpiles (none of magnets)"),
    _C("substitution_{product}", "share", "demand-weighted share of demand thrifted away"),
    _C("producer_stock_{product}", "t", "unsold oxide held by producers"),
    _C("supply_share_china_bloc", "share", "share of mine output from miners in China's bloc"),
    _C("supply_share_other_blocs", "share", "share of mine output from miners in other blocs"),
    _C("supply_share_unaligned", "share", "share of mine output from miners in no bloc"),
    _C("demand_destroyed_{country}", "t/month",
       "consumption given up because the price rose over last month's (t oxide-equivalent)"),
    _C("risk_{country}", "0-1", "perceived supply risk"),
    _C("bloc_{country}", "name", "the state's alliance (- = none)"),
    _C("payoff_{country}", "US$ million/month", "the state's payoff (abm.payoff)",
       signed=True),
    _C("strategy_{country}_export", "name",
       "the export strategy the state plays (abm.strategies, recognised from its policies)"),
    _C("strategy_{country}_stockpile", "name", "the stockpile strategy the state plays"),
    _C("strategy_{country}_alliance", "name",
       "join while the state is in a bloc, else stay"),
    _C("relocated_{country}", "share",
       "share of the country's firms' demand (value) whose production moved into China"),
    _C("trade_bloc_{country}", "name",
       "the country's community in this month's trade network (Louvain), named after its "
       "largest trader"),
    _C("n_trade_blocs", "count", "communities of two or more countries in the trade network"),
    _C("hhi_mining", "0-1", "Herfindahl-Hirschman concentration of mine output by country"),
    _C("hhi_refining", "0-1", "Herfindahl-Hirschman concentration of separation by country"),
    _C("hhi_magnets", "0-1", "Herfindahl-Hirschman concentration of magnet making by country"),
    _C("mined_{host}", "t REO/month", "mine output in that host country"),
    _C("refined_{country}", "t REO/month", "REO separated in that country"),
    _C("inventory_{country}", "t",
       "firms' inventories in that country (t oxide-equivalent)"),
    _C("trader_stock_{product}", "t",
       "traders' speculative stocks (all desks; traders hold no magnets)"),
    _C("trader_stock_{country}", "t", "stock of the trading desk at that node (both oxides)"),
    _C("maker_stock_{product}", "t",
       "magnet makers' stock of the oxide, all nodes (0 unless magnet_stock_cover_months > 0; "
       "they hold no magnets)"),
    _C("chartist_share_{oxide}", "share",
       "capital-weighted share of traders following the trend rule (the rest expect prices to "
       "return to their fundamental level)"),
)

#: the public interface's columns (docs/architecture.md), in their order
MODEL_COLUMNS = (
    "date", "step", "production_reo", "price_light_china", "price_light_world",
    "price_heavy_china", "price_heavy_world", "price_light_usa", "price_light_japan",
    "price_heavy_usa", "price_heavy_japan", "production_light", "production_heavy",
    "consumption_light", "consumption_heavy", "china_share_mining", "china_share_refining",
    "china_exports_light", "china_exports_heavy", "china_import_share_japan",
    "china_import_share_usa", "stockpile_china", "stockpile_usa", "stockpile_japan",
    "shortage_usa", "shortage_japan", "n_blocs",
)


def expand(countries: tuple[str, ...], hosts: list[str]) -> list[tuple[str, Column, dict]]:
    """Every concrete column of a world: (name, family, placeholder values as codes).

    Args:
        countries: the states' codes (market nodes).
        hosts: the codes of countries hosting mines.

    Returns:
        [(column name, family, {"product": ..., "country": CODE, ...})], DESIGN columns first.
    """
    values = {"product": list(PRODUCTS), "oxide": list(OXIDES), "country": list(countries),
              "foreign": [c for c in countries if c != "CHN"], "host": sorted(hosts)}
    out = []
    for col in COLUMNS:
        combos: list[dict] = [{}]
        for key in col.keys:
            combos = [{**c, key: v} for c in combos for v in values[key]]
        for combo in combos:
            names = {k: (v if k in ("product", "oxide") else slug(v)) for k, v in combo.items()}
            out.append((col.name.format(**names), col, combo))
    first = {name: i for i, name in enumerate(MODEL_COLUMNS)}
    return sorted(out, key=lambda t: (first.get(t[0], len(first)),))


def markdown_table() -> str:
    """The column registry as a Markdown table (the README's)."""
    rows = ["| column | unit | meaning |", "|---|---|---|"]
    rows += [f"| `{c.name}` | {c.unit} | {c.meaning} |" for c in COLUMNS]
    return "\n".join(rows)


def signed_columns(names) -> list[str]:
    """The names among ``names`` whose family may take negative values."""
    import re

    patterns = [re.compile("^" + re.sub(r"\\\{\w+\\\}", "[a-z_]+", re.escape(c.name)) + "$")
                for c in COLUMNS if c.signed]
    return [n for n in names if any(p.match(n) for p in patterns)]
