"""The public table of scalar parameters: type, default, valid range, meaning and source.

Every behavioural constant of the model is a parameter here, so that scenario files, ``--set``
and experiment specs can reach it. A parameter's ``source`` is a citation, or the word
``assumption`` with the reason for the value. Numerical settings that change only the
resolution of a computation (the clearing's price grid, solver tolerances) are module
constants with their own docs, not parameters.

Units are in the names or the meanings: t (tonnes), months, US$/kg oxide, US$ million/month for
payoffs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from abm.errors import InputError

__all__ = ["Param", "PARAMS", "PAYOFF_WEIGHTS", "coerce_param", "parse_month", "add_months",
           "GROUPS"]


@dataclass(frozen=True)
class Param:
    """One scenario parameter.

    Attributes:
        type: ``int``, ``float``, ``bool`` or ``str``.
        default: value used when neither the scenario file nor an override sets it.
        lo: smallest valid value (numbers), or ``None``.
        hi: largest valid value (numbers), or ``None``.
        doc: meaning, with units.
        source: where the default comes from (a citation), or ``assumption`` and why.
        group: ``size``, ``demand``, ``supply``, ``trade``, ``states`` or ``payoff``.
    """

    type: type
    default: Any
    lo: float | None
    hi: float | None
    doc: str
    source: str = "assumption"
    group: str = ""


GROUPS = ("size", "demand", "supply", "trade", "states", "payoff")
_SPRECHER = "Sprecher et al., Environ. Sci. Technol. 2017 (docs/sources.md)"
_CAMERER = "Camerer and Ho, Econometrica 1999 (EWA); typical estimates 0.8-1.0"


def _p(group: str, type_: type, default, lo, hi, doc: str, source: str = "assumption") -> Param:
    return Param(type_, default, lo, hi, doc, source, group)


#: speculative storage by traders with heterogeneous expectations (abm/agents/traders.py)
_TRADER_PARAMS: dict[str, Param] = {
    "trader_capital_share": _p(
        "trade", float, 0.2, 0.0, 1.0,
        "traders' capital per product: the value at reference prices of this share of a year's "
        "world use (their position limit in t at the reference price); 0 = no traders",
        "assumption (order of magnitude): the Fanya exchange alone held 148.75 t of Dy oxide "
        "when it failed (Reuters/mining.com, Aug 2020, Asian Metal: its whole Dy stock), 5-10% "
        "of a year's Dy+Tb use in states.csv (2024, 2009); Roskill (Jan 2020) put Fanya's Dy "
        "and Tb stocks at 25% or more of annual demand. At steady prices desks hold ~1/5 of "
        "their limit (~4.5% of a year's use at the default)"),
    "trader_china_share": _p(
        "trade", float, 0.75, 0.0, 1.0,
        "share of traders' capital at China's node (the rest at the other consuming nodes in "
        "proportion to their use)",
        "assumption: speculative stocks sat mostly in China (Fanya, Kunming; 'speculative "
        "funds' buying in Ganzhou and Baotou, China Daily 30 Mar 2011) against small ones "
        "outside (Dacha Capital: 216 t of heavy rare earths in 2010, Metal Bulletin 27 Jul "
        "2010)"),
    "trader_horizon_months": _p(
        "trade", int, 6, 1, 60,
        "months over which traders compare today's price with the price they expect to sell "
        "at", "assumption: half a year (China allocated its export quotas in two batches a "
        "year)"),
    "trader_interest_rate_per_yr": _p(
        "trade", float, 0.06, 0.0, 0.5,
        "interest on the capital tied up in stock, per year",
        "People's Bank of China one-year benchmark lending rate 5.81-6.56% Dec 2010-Jun 2012 "
        "(China Daily rate table, 2012), 4.35% from Oct 2015"),
    "trader_storage_cost_per_yr": _p(
        "trade", float, 0.01, 0.0, 0.5,
        "warehousing and insurance of stock, share of the reference price per year",
        "assumption: oxide is compact and does not decay; rent and insurance ~1% of value"),
    "trader_convenience_yield_per_yr": _p(
        "trade", float, 0.2, 0.0, 2.0,
        "marginal convenience yield of the first tonne a trader holds, share of its value per "
        "year; falls linearly to 0 at the position limit (sets how much stock is held in calm "
        "times and how steeply traders' demand for stock falls with price)",
        "assumption (Kaldor 1939; Working 1949; Brennan 1958: convenience yield falls with "
        "stocks); with the defaults traders hold ~1/5 of their limit at steady prices"),
    "trader_risk_premium": _p(
        "trade", float, 0.2, 0.0, 2.0,
        "expected gain over the horizon, share of the value, a trader requires to hold its "
        "full position limit; it rises linearly with the position (mean-variance demand for "
        "a risky asset, as in Brock and Hommes 1998), so positions change gradually with "
        "expectations",
        "assumption: a fifth of the value over the horizon; without it desks swing between "
        "empty and full on small changes of expectation"),
    "trader_fundamental_weight": _p(
        "trade", float, 0.03, 0.0, 1.0,
        "weight of this month's price in the fundamental price fundamentalists expect prices "
        "to return to (EWMA; 0 = the reference price)",
        "assumption: a memory of about three years"),
    "trader_trend_weight": _p(
        "trade", float, 0.3, 0.0, 1.0,
        "weight of this month's price change in the trend chartists extrapolate (EWMA)",
        "assumption: the trend of the last three months or so"),
    "trader_trend_extrapolation": _p(
        "trade", float, 1.0, 0.0, 5.0,
        "chartists expect the trend to go on for this multiple of the horizon (Brock and "
        "Hommes' trend parameter g)", "assumption: g = 1, plain trend following"),
    "trader_choice_intensity": _p(
        "trade", float, 3.0, 0.0, 1000.0,
        "Brock-Hommes intensity of choice: rule shares go as exp(intensity x fitness), "
        "fitness being realised return on capital (share); 0 = equal shares for ever",
        "assumption: a rule earning 10 percentage points a month more than the other for "
        "months (fitness gap 0.1 / (1 - memory)) draws ~3/4 of traders; Brock and Hommes "
        "(1998) show the dynamics turn from stable to cycles and chaos as it rises"),
    "trader_fitness_memory": _p(
        "trade", float, 0.7, 0.0, 0.99,
        "weight of past realised profits in a rule's fitness (Brock-Hommes memory)",
        "Anufriev and Hommes (2012, American Economic Journal: Microeconomics): 0.7 fits "
        "learning-to-forecast experiments"),
}

PARAMS: dict[str, Param] = {
    # ---------------------------------------------------------------- size and switches
    "n_firms": _p("size", int, 200, 1, 1_000_000,
                  "number of downstream firms; country totals do not change with it",
                  "modelling choice: firms are sized so totals match states.csv"),
    "alliance": _p("size", bool, True, None, None,
                   "events marked requires = \"alliance\" (the US-Japan framework) on or off",
                   "switch for counterfactuals"),
    # ---------------------------------------------------------------- demand (firms)
    "demand_elasticity": _p("demand", float, 0.2, 0.0, 2.0,
                            "short-run price elasticity of firms' consumption (abs. value)",
                            "assumption: very inelastic short-run demand (docs/sources.md: "
                            "no good point estimate; magnets are a small share of cost)"),
    "inventory_price_elasticity": _p("demand", float, 2.0, 0.0, 10.0,
                                     "how fast firms' inventory target shrinks when the price "
                                     "is above the price they expect"),
    "demand_growth_per_yr": _p("demand", float, 0.04, -0.5, 0.5,
                               "growth of magnet demand per year (EV, wind)"),
    "base_cover_months": _p("demand", float, 2.0, 0.0, 24.0,
                            "firms' normal inventory cover, months of use"),
    "hoarding_sensitivity": _p("demand", float, 6.0, 0.0, 36.0,
                               "extra cover months firms want at perceived risk 1",
                               "assumption: precautionary buying amplified the 2010-11 spike "
                               "(docs/sources.md)"),
    "inventory_adjust_rate": _p("demand", float, 0.25, 0.0, 1.0,
                                "share of the inventory gap firms close per month"),
    "price_expectation_weight": _p("demand", float, 0.2, 0.0, 1.0,
                                   "weight of this month's price in the price firms expect "
                                   "(EWMA; 1 = expect last month's price)"),
    "price_memory_weight": _p("demand", float, 0.2, 0.0, 1.0,
                              "weight of this month's price in the price level firms "
                              "remember when they decide to thrift (EWMA)"),
    "substitution_threshold": _p("demand", float, 2.5, 1.0, 50.0,
                                 "median remembered price ratio to reference that starts "
                                 "thrifting"),
    "substitution_rate_per_yr": _p("demand", float, 0.10, 0.0, 1.0,
                                   "share of demand thrifted per year at high prices",
                                   _SPRECHER + ": up to ~10%/yr"),
    "substitution_max": _p("demand", float, 0.35, 0.0, 0.95,
                           "largest share of demand that can be substituted"),
    "substitution_decay_per_yr": _p("demand", float, 0.02, 0.0, 1.0,
                                    "share of substitution undone per year (sticky)"),
    "firm_size_sigma": _p("demand", float, 1.0, 0.0, 3.0,
                          "dispersion of firm sizes (sigma of a lognormal)",
                          "assumption: skewed firm sizes, few large magnet makers"),
    "firm_cover_sigma": _p("demand", float, 0.25, 0.0, 2.0,
                           "dispersion of firms' target cover around their country's "
                           "(sigma of a lognormal)"),
    "firm_threshold_sigma": _p("demand", float, 0.3, 0.0, 2.0,
                               "dispersion of firms' thrifting thresholds (lognormal sigma)"),
    "relocation_threshold": _p("demand", float, 1.5, 1.0, 100.0,
                               "median ratio of a firm's input prices at home to China's that "
                               "makes it move production into China (if it lasts)",
                               "assumption; 2010-2012: magnet and end-use makers moved plants "
                               "into China to secure supply (docs/validation_sources.md)"),
    "relocation_sigma": _p("demand", float, 0.3, 0.0, 2.0,
                           "dispersion of firms' relocation thresholds (lognormal sigma)"),
    "relocation_mobile_share": _p("demand", float, 0.3, 0.0, 1.0,
                                  "share of firms that can move production at all (the rest "
                                  "are tied to home: defence suppliers, local customers)",
                                  "assumption"),
    "relocation_delay_months": _p("demand", int, 24, 1, 240,
                                  "months a price gap above its threshold must last before a "
                                  "firm moves (a plant takes time to move)"),
    "risk_memory": _p("demand", float, 0.85, 0.0, 0.999,
                      "weight of last month's perceived supply risk (EWMA)"),
    "shortage_risk_factor": _p("demand", float, 5.0, 0.0, 100.0,
                               "perceived risk from a shortage: this factor x the share of "
                               "planned use not served (capped at 1)"),
    "panic_weight": _p("demand", float, 0.0, 0.0, 1.0,
                       "precautionary buying on price momentum: perceived supply risk is at "
                       "least this x the node's signal of a fast price rise (0 = off, the "
                       "default; a lead measured by scripts/panic_probe.py, not calibrated)"),
    "panic_lookback_months": _p("demand", int, 3, 1, 24,
                                "months over which a price rise counts as fast"),
    "panic_start_ratio": _p("demand", float, 1.414, 1.0, 10.0,
                            "price rise over the lookback (now / then) at which the signal "
                            "starts"),
    "panic_full_ratio": _p("demand", float, 2.0, 1.0, 100.0,
                           "price rise over the lookback at which the signal is full (1); "
                           "linear in log price from the start ratio"),
    "choke_price_ratio": _p("demand", float, 30.0, 2.0, 1000.0,
                            "price (multiple of reference) above which firms buy nothing; "
                            "demand beyond it is rationed and counted as shortage"),
    "magnet_share_of_use": _p("demand", float, 0.9, 0.0, 1.0,
                              "share of each country's NdPr use that reaches it as NdFeB "
                              "magnets (the rest is bought as oxide)",
                              "assumption: magnets are NdPr's main use; no published share "
                              "found (docs/validation_sources.md)"),
    # ---------------------------------------------------------------- supply (miners)
    "china_capacity_growth_per_yr": _p("supply", float, 0.04, -0.5, 0.5,
                                       "growth of China's mining quota and separation "
                                       "capacity per year"),
    "min_margin_ratio": _p("supply", float, 0.5, 0.0, 1.0,
                           "revenue/cost ratio at which a mine idles (full output at 1)"),
    "output_smoothing_months": _p("supply", int, 3, 1, 24,
                                  "months of revenue/cost ratios a mine averages to set output "
                                  "(no cobweb on one month's price)"),
    "byproduct_price_share": _p("supply", float, 1.0, 0.0, 1.0,
                                "share of the La/Ce price (data/byproduct_prices.csv) a miner "
                                "realises on the REO it mines beyond NdPr and Dy/Tb (0 = "
                                "revenue from NdPr and Dy/Tb only)",
                                "assumption: the whole price (the mines' cash costs in mines.csv "
                                "are for the whole tonne of REO, separation included); Lynas's "
                                "realised basket price, 62.18 US$/kg REO in Q4 2010 "
                                "(mine_events.csv), was about three times its NdPr and Dy/Tb "
                                "content's value"),
    "investment_hurdle": _p("supply", float, 1.6, 1.0, 10.0,
                            "mean revenue/cost ratio over the investment window that commits "
                            "an expansion"),
    "investment_window_months": _p("supply", int, 12, 1, 120,
                                   "months of margins a miner looks back on to invest"),
    "expansion_share": _p("supply", float, 0.10, 0.0, 1.0,
                          "capacity added by a brownfield expansion, share of capacity"),
    "expansion_lead_months": _p("supply", int, 30, 1, 240,
                                "lead time of a brownfield expansion, months"),
    "refining_lead_months": _p("supply", int, 72, 1, 240,
                               "lead time of new separation capacity, months",
                               "5-8 years (docs/sources.md)"),
    "seller_reserve_frac": _p("supply", float, 0.5, 0.0, 5.0,
                              "producers hold stock below this share of the reference price"),
    "bloc_switch_gain": _p("supply", float, 0.05, 0.0, 1.0,
                           "gain (share of its current revenue per kg) a miner needs to move "
                           "to another bloc"),
    "bloc_risk_discount": _p("supply", float, 0.1, 0.0, 1.0,
                             "a miner discounts a payer's offer by this factor x the payer "
                             "country's perceived supply risk"),
    "magnet_heavy_thrift_threshold": _p("supply", float, 1.5, 1.0, 50.0,
                                        "remembered Dy/Tb price (multiple of reference) above "
                                        "which magnet makers engineer Dy/Tb out of magnets"),
    "magnet_heavy_thrift_rate_per_yr": _p("supply", float, 0.1, 0.0, 1.0,
                                          "share of a magnet's Dy/Tb content engineered out per "
                                          "year of high Dy/Tb prices",
                                          "assumption; grain-boundary diffusion spread after "
                                          "2011 (docs/sources.md: substitution up to ~10%/yr)"),
    "magnet_heavy_thrift_max": _p("supply", float, 0.5, 0.0, 0.95,
                                  "largest share of a magnet's Dy/Tb content that can be "
                                  "engineered out", "assumption (approx.: grain-boundary "
                                  "diffusion roughly halves Dy use in high-coercivity grades)"),
    "magnet_target_utilisation": _p("supply", float, 0.85, 0.1, 1.0,
                                    "magnet makers expand when their plants' utilisation, "
                                    "averaged over the window, exceeds this share",
                                    "assumption: capacity planned ahead of demand (China's "
                                    "sintered output grew ~9%/yr 2010-2020, "
                                    "abm/data/magnets.csv)"),
    "magnet_stock_cover_months": _p("supply", float, 0.0, 0.0, 12.0,
                                    "months of their oxide use the magnet makers hold in "
                                    "stock, drawn on when the price jumps (0 = none, the "
                                    "default; a lead measured by "
                                    "scripts/magnet_stock_probe.py, not calibrated)"),
    "magnet_stock_release_ratio": _p("supply", float, 1.5, 1.0, 20.0,
                                     "the makers' stock is offered from this multiple of the "
                                     "price they expect at their node (its first quarter; the "
                                     "last from 1.75x it), and refilled at or below that "
                                     "expected price"),
    "magnet_investment_window_months": _p("supply", int, 12, 1, 120,
                                          "months of utilisation magnet makers look back on"),
    "magnet_expansion_share": _p("supply", float, 0.10, 0.0, 1.0,
                                 "capacity a magnet expansion adds, share of capacity"),
    "magnet_lead_months": _p("supply", int, 36, 1, 240,
                             "lead time of new magnet capacity, months",
                             "magnet plant ~3 years (docs/sources.md)"),
    "ramp_up_months": _p("supply", int, 30, 1, 240,
                         "months over which new mine capacity (a project or an expansion) "
                         "rises linearly to full output (1 = full output at once)",
                         "mine_events.csv: Lynas reached ~80% of nameplate in Q4 2014, ~24 "
                         "months after first feed (RER 10-K 2014): a linear ramp reaching 0.8 "
                         "at 24 months takes 30; Mountain Pass 2012-2014 was slower"),
    "refining_ramp_up_months": _p("supply", int, 30, 1, 240,
                                  "months over which new separation capacity rises linearly "
                                  "to full throughput",
                                  "mine_events.csv: Lynas's separation plant (LAMP) reached "
                                  "~80% of its 11,000 t/yr design ~24 months after first feed "
                                  "(RER 10-K 2014): 24 / 0.8 = 30"),
    "mothball_margin_ratio": _p("supply", float, 0.8, 0.0, 1.0,
                                "a mine outside China whose mean revenue/cost ratio over "
                                "mothball_window_months stays below this mothballs (zero "
                                "output, care-and-maintenance cost)",
                                "assumption: Dixit (1989, JPE) puts the exit trigger below "
                                "variable cost; Mountain Pass went to care and maintenance in "
                                "2015 at a Q3 2014 cash cost of 33.8 US$/kg against a "
                                "36.5 US$/kg selling price (mine_events.csv)"),
    "mothball_window_months": _p("supply", int, 6, 1, 60,
                                 "months of revenue/cost ratios a mine averages to decide to "
                                 "mothball or to restart"),
    "care_cost_share": _p("supply", float, 0.05, 0.0, 1.0,
                          "monthly care-and-maintenance cost of a mothballed mine, share of "
                          "its cash cost at full output"),
    "restart_cost_months": _p("supply", float, 6.0, 0.0, 120.0,
                              "cost of restarting a mothballed mine, months of its cash cost "
                              "at full output (sunk once paid)"),
    "restart_payback_months": _p("supply", float, 24.0, 1.0, 240.0,
                                 "months in which a restart must earn back its cost: a mine "
                                 "restarts when its mean revenue/cost ratio exceeds 1 + "
                                 "restart_cost_months / restart_payback_months (the hysteresis "
                                 "band of Dixit 1989)"),
    "restart_ramp_months": _p("supply", int, 12, 1, 240,
                              "months over which a restarted mine returns linearly to full "
                              "output", "assumption: Mountain Pass restarted in Q1 2018 after "
                              "29 months of care and maintenance and produced ~14 kt REO in "
                              "2018 (mine_events.csv)"),
    "exit_after_months": _p("supply", int, 60, 1, 1200,
                            "a mine mothballed this long exits: its capacity is written off "
                            "and only its next project can bring it back",
                            "assumption: Mountain Pass's 2015-2018 care and maintenance (29 "
                            "months) ended in a restart; its 2002-2012 idle needed a new "
                            "project (mine_events.csv)"),
    "offtake_risk_threshold": _p("supply", float, 0.3, 0.0, 1.0,
                                 "perceived supply risk above which a free importing state "
                                 "seeks an offtake contract with a miner outside China at its "
                                 "decision months (1 = never below certainty)"),
    "offtake_use_share": _p("supply", float, 0.1, 0.0, 1.0,
                            "volume of an offtake a state seeks, share of its monthly use of "
                            "NdPr",
                            "assumption: the Sojitz-Lynas contract of 2011 (8,500 t REO/yr, "
                            "~2,200 t NdPr) was about a third of Japan's NdPr use; a state "
                            "signs smaller contracts with several miners"),
    "offtake_contract_months": _p("supply", int, 120, 1, 600,
                                  "duration of an offtake a state signs, months",
                                  "mine_events.csv: Lynas-Sojitz 2011 and the 2025 DoD offtake "
                                  "with MP Materials run 10 years"),
    "offtake_collar_share": _p("supply", float, 0.2, 0.0, 1.0,
                               "an offtake a state signs pays the market price within a "
                               "floor and a ceiling this share below and above the price at "
                               "signing"),
    "offtake_take_or_pay": _p("supply", float, 0.8, 0.0, 1.0,
                              "share of the contracted volume the buyer of an offtake it "
                              "signed must take and pay even when the market is cheaper"),
    # ---------------------------------------------------------------- trade
    "link_cost_frac": _p("trade", float, 0.01, 0.0, 0.5,
                         "cost of shipping between countries, share of reference price"),
    "ally_preference_frac": _p("trade", float, 0.02, 0.0, 0.5,
                               "discount buyers give allied sellers, share of reference price"),
    "licence_delay_months": _p("trade", int, 2, 0, 24,
                               "months until licences are approved in full",
                               "2025: shipments stalled for weeks (docs/sources.md)"),
    "licence_share": _p("trade", float, 0.8, 0.0, 1.0,
                        "share of requested volume approved under a licence regime once the "
                        "delay has passed", "assumption (calibrated range 0.5-0.95)"),
    "sourcing_stickiness": _p("trade", float, 0.8, 0.0, 5.0,
                              "volume buyers take from a supplier at no switching cost, share "
                              "of the link's normal flow (sticky contracts); 0 = none"),
    "switching_cost_frac": _p("trade", float, 0.05, 0.0, 1.0,
                              "extra cost of buying beyond the usual volume from a supplier, "
                              "share of the reference price (0 = no stickiness)"),
    "magnet_switching_cost_frac": _p("trade", float, 0.3, 0.0, 2.0,
                                     "extra cost of buying magnets beyond the usual volume from "
                                     "a supplier, share of the magnet reference price (replaces "
                                     "switching_cost_frac for magnets)",
                                     "assumption: magnets are qualified part by part, and until "
                                     "2014 Hitachi Metals' NdFeB patents were licensed to few "
                                     "Chinese makers, so buyers could not switch magnet "
                                     "suppliers as fast as oxide suppliers"),
    "leakage_capacity_share": _p("trade", float, 0.3, 0.0, 2.0,
                                 "most a country can export unrecorded (smuggling), share of "
                                 "its normal exports, before enforcement",
                                 "assumption; China 2011: unrecorded exports estimated at "
                                 "3,700-21,000 t against 16,900 t recorded "
                                 "(abm/data/china_policy_history.csv)"),
    "leakage_premium": _p("trade", float, 0.5, 0.0, 20.0,
                          "cost of the cheapest unrecorded tranche, share of the reference "
                          "price; each further quarter of the capacity costs twice the last"),
    "normal_flow_weight": _p("trade", float, 0.1, 0.0, 1.0,
                             "weight of this month's flow in a link's normal flow (EWMA, "
                             "updated while the link is open); licences and quota strategies "
                             "are shares of it"),
    # ---------------------------------------------------------------- traders (agents/traders)
    **_TRADER_PARAMS,
    # ---------------------------------------------------------------- states
    "stockpile_target_months": _p("states", float, 3.0, 0.0, 36.0,
                                  "strategic stockpile a building state aims for, months of "
                                  "its consumption"),
    "stockpile_build_share": _p("states", float, 0.05, 0.0, 1.0,
                                "monthly purchase of a building state, share of its "
                                "consumption"),
    "stockpile_max_price_ratio": _p("states", float, 1.5, 0.1, 50.0,
                                    "a building state buys up to this multiple of the "
                                    "reference price"),
    "stockpile_release_share": _p("states", float, 1.0 / 6.0, 0.0, 1.0,
                                  "share of a releasing stockpile offered per month"),
    "stockpile_release_price_ratio": _p("states", float, 1.0, 0.0, 50.0,
                                        "a releasing state sells at no less than this "
                                        "multiple of the reference price"),
    "stockpile_valuation_months": _p("states", float, 6.0, 0.0, 60.0,
                                     "horizon over which a state values a stockpile build "
                                     "or release, months"),
    "quota_strategy_share": _p("states", float, 0.6, 0.0, 1.0,
                               "a state playing the quota strategy allows this share of each "
                               "link's normal flow"),
    "exporter_trade_share": _p("states", float, 0.05, 0.0, 1.0,
                               "a state decides an export policy when its refiners normally "
                               "sell more than this share of world trade (by value)"),
    "logit_intensity": _p("states", float, 3.0, 0.0, 100.0,
                          "how strategic states are: the best strategy is exp(intensity) "
                          "times as likely as the worst (0 = random)"),
    "ewa_memory": _p("states", float, 0.8, 0.0, 1.0,
                     "experience-weighted attraction decay (phi)", _CAMERER),
    "ewa_imagination": _p("states", float, 0.5, 0.0, 1.0,
                          "weight on forgone payoffs of strategies not played (delta)",
                          "Camerer and Ho 1999: estimates of delta ~0.3-0.8"),
    "decision_interval_months": _p("states", int, 6, 1, 60,
                                   "months between state decisions"),
    "free_from": _p("states", str, "", None, None,
                    "YYYY-MM from which unpinned states choose freely ('' = never; 'start' = "
                    "from the first month)", "switch"),
    "ionic_clay_heavy_share": _p("states", float, 0.02, 0.0, 1.0,
                                 "t Dy/Tb per t REO from which a mine counts as an ionic-clay "
                                 "deposit in a mining quota split into light and ionic-clay "
                                 "shares", "docs/sources.md: light deposits hold ~0.1% Dy+Tb, "
                                 "ionic clays several %"),
    "separation_recovery": _p("states", float, 0.94, 0.5, 1.0,
                              "t of separated oxide per t REO of concentrate fed; converts a "
                              "separation quota (t of products) into t REO of concentrate",
                              "derived: China's published separation quotas are 0.94-0.964 "
                              "of its mining quotas in every year both are known (2011 "
                              "90,400/93,800; 2019 127,000/132,000; 2021 162,000/168,000; "
                              "2024 254,000/270,000: the quota events of quota_2010.toml and "
                              "controls_2025.toml and their sources), the "
                              "two quotas being set together net of separation losses; the "
                              "lowest ratio is taken so the published pairs do not bind "
                              "beyond the mining quota"),
    "illegal_capacity_share": _p("states", float, 0.7, 0.0, 1.0,
                                 "share of the mine capacity a quota idles that is worked "
                                 "illegally, outside the quota (at a full illegal margin and "
                                 "no enforcement)",
                                 "derived: china_policy_history.csv puts ~29,700 t REO above "
                                 "the 89,200 t quota in 2010 and 30,000-40,000 t above the "
                                 "105,000 t quota in 2014; China's 2009 capacity (126,000 t, "
                                 "mines.csv) grown by china_capacity_growth_per_yr idles "
                                 "~42,000 t in 2010 (0.71) and ~52,000 t in 2014 (0.58-0.77)"),
    "illegal_cost_ratio": _p("states", float, 0.7, 0.1, 5.0,
                             "illegal miners' cash cost per kg REO, multiple of the legal "
                             "mine's cost (no environmental controls, no resource tax)"),
    "illegal_full_margin_ratio": _p("states", float, 1.5, 1.01, 20.0,
                                    "revenue/cost ratio of illegal miners at which their "
                                    "capacity runs in full; none runs at a ratio of 1 or "
                                    "below, linear in between"),
    "enforcement": _p("states", float, 0.0, 0.0, 1.0,
                      "enforcement against illegal mining at the start: share of illegal "
                      "output stopped (an enforcement event changes it)"),
    "crackdown_enforcement": _p("states", float, 0.5, 0.0, 1.0,
                                "enforcement a state sets when it plays the domestic strategy "
                                "cut (at least; never lowered by it)"),
    "domestic_quota_step": _p("states", float, 0.1, 0.0, 0.9,
                              "share by which the domestic strategies expand and cut change "
                              "a state's production quotas at a decision"),
    "domestic_quota_floor": _p("states", float, 0.5, 0.0, 1.0,
                               "cut never takes a mining quota below this share of the "
                               "state's mine capacity"),
    "domestic_policy_mining_share": _p("states", float, 0.3, 0.0, 1.0,
                                       "a state decides a domestic policy (quotas, "
                                       "enforcement, reserve) when its mines hold more than "
                                       "this share of world mine capacity",
                                       "assumption: only a dominant producer moves world "
                                       "supply with its own quotas (China ~69% in 2024)"),
    "reserve_buy_share": _p("states", float, 0.1, 0.0, 1.0,
                            "monthly purchase of a state reserve under a price band, share of "
                            "the state's use, while the price is at or below the support"),
    "reserve_target_months": _p("states", float, 6.0, 0.0, 60.0,
                                "a state reserve under a price band buys up to this many "
                                "months of the state's use"),
    "reserve_release_share": _p("states", float, 1.0 / 6.0, 0.0, 1.0,
                                "share of a state reserve offered per month at the band's "
                                "ceiling price"),
    "reserve_support_ratio": _p("states", float, 1.0, 0.0, 50.0,
                                "support price of a reserve band a state chooses, multiple of "
                                "the reference price"),
    "reserve_ceiling_ratio": _p("states", float, 2.0, 0.0, 100.0,
                                "ceiling price of a reserve band a state chooses, multiple of "
                                "the reference price (at or below the support: it never "
                                "sells)"),
    # ---------------------------------------------------------------- payoff weights
    "payoff_shortage_cost_ratio": _p("payoff", float, 3.0, 0.0, 100.0,
                                     "value lost per t short, multiple of the reference "
                                     "price"),
    "payoff_industry_weight": _p("payoff", float, 0.5, 0.0, 5.0,
                                 "share of the input-cost gap to foreign competitors that "
                                 "becomes industry advantage"),
    "payoff_leverage_weight": _p("payoff", float, 0.3, 0.0, 5.0,
                                 "value of a restricted target's pain (its capped price rise "
                                 "x its use x its dependence)"),
    "payoff_retaliation_weight": _p("payoff", float, 1.0, 0.0, 10.0,
                                    "expected loss per US$ of pain caused to targets that are "
                                    "in an alliance"),
    "payoff_stockpile_carry_per_yr": _p("payoff", float, 0.10, 0.0, 1.0,
                                        "holding cost of a stockpile, share of its value per "
                                        "year"),
    "payoff_security_weight": _p("payoff", float, 0.5, 0.0, 5.0,
                                 "value of stockpile cover against perceived risk, share of "
                                 "the state's use value"),
    "payoff_alliance_effectiveness": _p("payoff", float, 0.5, 0.0, 1.0,
                                        "share of perceived insecurity an alliance averts"),
    "payoff_membership_cost_share": _p("payoff", float, 0.02, 0.0, 1.0,
                                       "monthly cost of alliance commitments, share of the "
                                       "state's use value"),
    "payoff_downstream_weight": _p("payoff", float, 1.0, 0.0, 5.0,
                                   "share of the rise of the home price above the reference "
                                   "price on home purchases that counts as a cost to the "
                                   "state's downstream industry (1: its firms' extra input "
                                   "cost in full)", "assumption: national accounting; a "
                                   "state's refiners' revenue from home sales is its firms' "
                                   "cost"),
}

#: the payoff weights (names in :data:`PARAMS` without the ``payoff_`` prefix)
PAYOFF_WEIGHTS = tuple(k.removeprefix("payoff_") for k, p in PARAMS.items()
                       if p.group == "payoff")

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str, what: str = "date") -> tuple[int, int]:
    """Parse ``YYYY-MM`` into (year, month).

    Raises:
        InputError: when the text is not a valid month.
    """
    m = _MONTH.match(text) if isinstance(text, str) else None
    if not m:
        raise InputError(f"{what} must be YYYY-MM, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def add_months(month: str, k: int) -> str:
    """The month ``k`` months after ``month`` (``YYYY-MM``; ``k`` may be negative).

    Shared by the experiments and the dashboard; the month is not checked (see
    :func:`parse_month`).
    """
    m = int(month[:4]) * 12 + int(month[5:7]) - 1 + k
    return f"{m // 12:04d}-{m % 12 + 1:02d}"


def coerce_param(name: str, value: Any) -> Any:
    """Check and convert one parameter value.

    Strings (from the command line) are parsed into the parameter's type.

    Raises:
        InputError: unknown name, wrong type or value out of range.
    """
    if name not in PARAMS:
        raise InputError(f"unknown parameter {name!r} (known: {', '.join(sorted(PARAMS))})")
    p = PARAMS[name]
    if isinstance(value, str) and p.type is not str:
        value = _parse_text(name, p, value)
    value = _check_type(name, p, value)
    if p.lo is not None and value < p.lo or p.hi is not None and value > p.hi:
        raise InputError(f"parameter {name!r} = {value!r} is outside [{p.lo}, {p.hi}]")
    if name == "free_from" and value not in ("", "start"):
        parse_month(value, "free_from")
    return value


def _check_type(name: str, p: Param, value: Any) -> Any:
    if p.type is bool:
        if not isinstance(value, bool):
            raise InputError(f"parameter {name!r} must be true or false, got {value!r}")
    elif p.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise InputError(f"parameter {name!r} must be an integer, got {value!r}")
    elif p.type is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"parameter {name!r} must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise InputError(f"parameter {name!r} must be finite, got {value!r}")
    elif p.type is str and not isinstance(value, str):
        raise InputError(f"parameter {name!r} must be text, got {value!r}")
    return value


def _parse_text(name: str, p: Param, text: str) -> Any:
    t = text.strip()
    if p.type is bool:
        if t.lower() in ("true", "1", "yes", "on"):
            return True
        if t.lower() in ("false", "0", "no", "off"):
            return False
        raise InputError(f"parameter {name!r} must be true or false, got {text!r}")
    if not t.isascii():
        raise InputError(f"parameter {name!r} must be written in ASCII digits, got {text!r}")
    try:
        return int(t) if p.type is int else float(t)
    except ValueError:
        kind = "an integer" if p.type is int else "a number"
        raise InputError(f"parameter {name!r} must be {kind}, got {text!r}") from None
