"""RareEarthModel: wiring and the month's schedule.

One step is one month:

1. scripted events dated this month apply (the timeline);
2. free states whose decision month it is choose export, stockpile and alliance strategies;
3. miners invest and choose output, concentrate is routed to refineries, firms and states
   plan their orders;
4. the products' markets clear together under the export-policy link caps, magnets made from
   oxide at the nodes that can (:func:`abm.market.clear_chain`);
5. sellers, firms and states settle; stocks, beliefs and payoffs update; miners choose blocs;
   the mass balance is checked and the DataCollector records the month.

The agents own their behaviour (:mod:`abm.agents`); the policy regime, the alliance network,
the refining capacity and the exchange are components with methods (:mod:`abm.policy`,
:mod:`abm.network`, :mod:`abm.refining`, :mod:`abm.exchange`). Units: t and t/month for
quantities, US$/kg oxide for prices.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from abm import setup
from abm.actions import ACTIONS, apply_action
from abm.agents import Miner, State
from abm.columns import MODEL_COLUMNS
from abm.errors import ConservationError, InputError
from abm.exchange import MonthPlan, build_orders, perceived_risk, price_panic
from abm.market import clear_chain
from abm.policy import INSTRUMENTS, OXIDES, PRODUCTS, PolicyRegime
from abm.refining import route_concentrate
from abm.reporting import MonthRecord, reporters
from abm.scenario import load_scenario
from abm.strategies import STRATEGIES, strategy_names

__all__ = ["RareEarthModel", "simulate", "MODEL_COLUMNS"]


class RareEarthModel(mesa.Model):
    """The rare-earth market as a geopolitical game (see the module docstring for the month).

    Args:
        scenario: a scenario name (see :func:`abm.list_scenarios`), a path to a TOML file, or
            a :class:`~abm.scenario.RareEarthScenario`.
        rng: seed (int) or numpy generator; all randomness flows from it.
        **overrides: scenario parameters (``n_firms``, ``alliance``, ...), ``event.<id>.<field>``
            edits and ``strategy.<STATE>.<domain>`` pins; unknown or ill-typed names raise
            :class:`~abm.errors.InputError`.
    """

    def __init__(self, *, scenario="baseline", rng=None, **overrides):
        if "seed" in overrides:  # mesa.batch_run passes ``seed``; treat it as ``rng``
            seed = overrides.pop("seed")
            rng = seed if rng is None else rng
        _check_rng(rng)
        sc = load_scenario(scenario, rng=rng, **overrides)
        super().__init__(scenario=sc)
        self.sc = sc
        self.month = 0
        self.event_log: list[dict] = []
        setup.populate(self)
        warm = build_orders(self, self.plan_month(record=False), PolicyRegime(),
                            steady_state=False, sourcing=False)
        warm_results = self.clear(warm)
        self.exchange.warm_up(warm_results)
        # the magnet makers' stock of oxide: off by default (a lead, docs/validation.md)
        self.magnets.fill_stock(warm_results)
        self.participants += self.magnets.stores()
        self.last_month: MonthRecord | None = None
        self.datacollector = mesa.DataCollector(model_reporters=reporters(self))
        self.running = True

    # ---------------------------------------------------------------- time
    @property
    def date(self) -> str:
        """Current month as ``YYYY-MM`` (the month the next step simulates)."""
        return self.month_date(self.month)

    @property
    def month_ordinal(self) -> int:
        """This month as ``12 * year + month - 1`` (calendar months since year 0)."""
        return 12 * self.start_year + self.start_month - 1 + self.month

    def month_date(self, month_index: int) -> str:
        """``YYYY-MM`` of a month index counted from the scenario start."""
        k = self.start_month - 1 + month_index
        return f"{self.start_year + k // 12:04d}-{k % 12 + 1:02d}"

    # ---------------------------------------------------------------- the month
    def step(self) -> None:
        """Simulate one month (see the module docstring)."""
        states, miners = self.agents_by_type[State], self.agents_by_type[Miner]
        self.apply_timeline()
        states.do("decide")
        self.refining.grow("CHN", self.china_growth)
        miners.do("invest")
        self.magnets.invest()
        plan = self.plan_month(record=True)
        orders = build_orders(self, plan, self.regime, steady_state=False)
        results = self.clear(orders)
        self.last_orders = orders
        self.settle(plan, orders, results)
        self.traders.do("learn")
        states.do("score", results, orders)
        self.network.refresh(_node_sizes(self, results))
        if self.floor_offers():
            miners.do("choose_bloc")
        np.nan_to_num(self.risk, copy=False)
        self.datacollector.collect(self)
        self.month += 1
        if self.month >= self.horizon:
            self.running = False

    def apply_timeline(self) -> None:
        """Apply this month's scripted events, then any strategy fixed by an override."""
        for ev in self.timeline.due(self.date):
            if ev.requires and not getattr(self.sc, ev.requires):
                continue
            state = self.states.get(ev.actor)
            if state is not None and ACTIONS[ev.action].domain in state.fixed:
                self.log_event(ev.actor, ev.action, f"skipped (strategy fixed): {ev.detail}",
                               "timeline")
                continue
            apply_action(self, ev.actor, ev.action, ev.args, pin=ev.pin, detail=ev.detail,
                         source="timeline")
        if self.month == self.pin_month:
            for (code, domain), name in self.sc.strategy_pins.items():
                self.states[code].fixed.add(domain)
                self.states[code].enact(domain, name, source="spec", pin=True)

    def clear(self, orders: dict, *, validate: bool = True) -> dict:
        """Clear every product together (magnets made from oxide in the same clearing)."""
        return clear_chain({p: orders[p][0] for p in PRODUCTS}, self.magnets.conversion(),
                           validate=validate)

    def plan_month(self, *, record: bool) -> MonthPlan:
        """Miners' output and routing, firms' order curves and states' purchases.

        Args:
            record: the real month (miners keep their output and margins); ``False`` for
                what-ifs, which change nothing.
        """
        supply = route_concentrate(self.miners, self.refining.tpm, self.cidx,
                                   self.exchange.seller_price, record)
        self.contracts.plan(self, supply)  # offtake deliveries, withheld from the market
        if record:
            for m in self.miners:
                m.record_output(*supply.routes[m.mine_id])
        return MonthPlan(supply, self.firms.order_plan(self.month, self.risk,
                                                       self.exchange.price))

    def settle(self, plan: MonthPlan, orders: dict, results: dict) -> None:
        """Sellers, buyers and memories after the clearing; floors, balance check and risk."""
        before = self.holdings()
        self.contracts.settle(self, plan.supply)  # contract oxide to buyers' firms, payments
        for p in PRODUCTS:
            o, book = orders[p]
            r = results[p]
            self.exchange.settle_sellers(p, book, r)
            delivered = self.firms.receive(p, r.price, r.purchases, plan.firm_coeffs[p],
                                           book.bids)
            for (who, *_order), q in zip(book.bids, delivered, strict=True):
                who.take_purchases(p, [q])
            self.exchange.remember(p, o, r, self.sc.normal_flow_weight)
            self.firms.learn(p, r.price)
        self.magnets.record(results)
        self.magnets.remember_stock(results)
        self.magnets.thrift_heavy(self.exchange.world_price["heavy"])
        moved = self.firms.relocate(self.exchange.price)
        if moved:
            self.log_event("CHN", "relocation", f"{moved} firm(s) move production into China",
                           "model")
        for p in OXIDES:
            node_price = results[p].seller_price
            for m in self.miners:
                if m.floor_payer:
                    self.states[m.floor_payer].pay_floor(
                        m.floor_payment(p, node_price[self.cidx[m.refine_country]]))
        _check_balance(self, plan, results, before)
        f = self.firms
        self.risk = perceived_risk(self.risk, {p: orders[p][0] for p in PRODUCTS},
                                   self.exchange.normal_flow, f.last_shortage, f.last_planned,
                                   self.sc.risk_memory, self.sc.shortage_risk_factor)
        if self.sc.panic_weight > 0:  # off by default: a lead, docs/validation.md
            self.risk = np.maximum(self.risk, self.sc.panic_weight * price_panic(
                self.exchange.price_history, OXIDES, self.sc.panic_lookback_months,
                self.sc.panic_start_ratio, self.sc.panic_full_ratio))
        for c, pr in self.refining.complete(self.month):
            self.log_event(c, "capacity_online",
                           f"{self.states[c].name}: +{pr.tonnes_reo_per_yr:,.0f} t REO/yr "
                           f"{pr.kind} capacity online")
        self.last_month = MonthRecord(plan, results)

    def holdings(self) -> dict[str, float]:
        """T of each product held anywhere (the stocks of the mass balance).

        Firms' inventories, producers' unsold stock, states' stockpiles, traders' stocks and
        the magnet makers' stock of oxide.
        """
        return {p: float(self.firms.inventory[p].sum() + self.exchange.producer_stock[p].sum()
                         + sum(s.stockpile.get(p, 0.0) for s in self.states.values())
                         + sum(t.stock.get(p, 0.0) for t in self.traders))
                + self.magnets.stock_of(p)
                for p in PRODUCTS}

    # ---------------------------------------------------------------- queries
    def miner(self, mine_id: str) -> Miner | None:
        """The miner with this id, or ``None``."""
        return self._miners_by_id.get(mine_id)

    def export_mix(self, node: int, product: str, supply=None) -> float:
        """T of ``product`` per t REO refined at ``node`` (converts REO quotas to products).

        With a supply plan and REO refined there, the plan's mix; otherwise the mean product
        share of the miners refined in that country.
        """
        if product not in OXIDES:
            return 1.0  # magnet quotas are in t of magnet
        reo = supply.refined_reo[node] if supply is not None else 0.0
        if reo <= 0:
            shares = [m.shares[product] for m in self.miners
                      if m.refine_country == self.countries[node]]
            return float(np.mean(shares)) if shares else 0.0
        return float(supply.refined[product][node] / reo)

    def may_pay(self, payer: str, miner: Miner) -> bool:
        """Whether state ``payer`` may take ``miner`` into its floor or offtake.

        The exclusions come from ``data/bloc_exclusions.csv`` (by the miner's host country).
        """
        return miner.country not in self.bloc_exclusions.get(payer, frozenset())

    def floor_offers(self) -> dict[str, float]:
        """State code -> the NdPr price floor (US$/kg) it offers, for states offering one."""
        return {s.code: s.floor_offer_usd_per_kg for s in self.states.values()
                if s.floor_offer_usd_per_kg is not None}

    def link_caps(self, product: str):
        """(N, N) link caps and (N,) export caps (t/month) from the policies in force."""
        return self.regime.link_caps(product, self.countries, self.exchange.normal_flow[product],
                                     lambda s: self.export_mix(s, product), self.month,
                                     self.sc.licence_delay_months)

    @property
    def alliance_graph(self):
        """The alliance network's graph (read-only for views and analysis)."""
        return self.network.graph

    @property
    def last_flows(self) -> dict[str, pd.DataFrame]:
        """Product -> last month's flows (t), seller rows and buyer columns."""
        return self.exchange.last_flows

    @property
    def blocked_links(self) -> dict[str, set[tuple[str, str]]]:
        """Product -> (seller, buyer) links closed by policy last month."""
        return self.exchange.blocked_links

    # ---------------------------------------------------------------- acting
    def log_event(self, actor: str, action: str, detail: str, source: str = "model") -> None:
        """Record a policy change in the event log (date, actor, action, detail, source)."""
        self.event_log.append({"date": self.date, "step": self.month, "actor": actor,
                               "action": action, "detail": detail, "source": source})

    def apply_action(self, actor: str, action: str, args: dict, *, pin: bool = False,
                     detail: str = "", source: str = "user") -> None:
        """Apply one policy action now (as a scenario event would) and log it.

        Arguments are validated like a scenario file's; ``pin`` keeps the actor's decision
        domain out of its learning.

        Raises:
            InputError: unknown action, actor, target or a bad argument.
        """
        if action not in ACTIONS:
            raise InputError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        args = ACTIONS[action].check(dict(args), f"{source} action {action}")
        apply_action(self, actor, action, args, pin=pin, detail=detail, source=source)

    def strategy_names(self, domain: str) -> tuple[str, ...]:
        """The strategies a state can play in a decision domain (export, stockpile, alliance)."""
        names = strategy_names(domain)
        if not names:
            raise InputError(f"unknown decision domain {domain!r} "
                             "(known: export, stockpile, alliance)")
        return names

    def play_strategy(self, code: str, domain: str, name: str, *, source: str = "player") -> None:
        """A person (or script) plays a state's strategy: apply its actions now and pin it.

        Raises:
            InputError: unknown state, domain or strategy.
        """
        if code not in self.states:
            raise InputError(f"unknown state {code!r}")
        if name not in self.strategy_names(domain):
            raise InputError(f"unknown {domain} strategy {name!r} "
                             f"(known: {', '.join(self.strategy_names(domain))})")
        self.states[code].enact(domain, STRATEGIES[name].name, source=source, pin=True)

    def release_strategy(self, code: str, domain: str) -> None:
        """Hand a state's decision domain back to its learning (undo :meth:`play_strategy`)."""
        if code not in self.states:
            raise InputError(f"unknown state {code!r}")
        self.states[code].unpin(domain)

    def export_instrument(self, exporter: str, target: str, product: str) -> str | None:
        """The instrument set for exactly this exporter, target and product, or ``None``."""
        pol = self.regime.get(exporter, target, product)
        return pol.instrument if pol is not None else None

    def set_export_policy(self, exporter: str, target: str, product: str, instrument: str, *,
                          share: float | None = None, tonnes_per_yr: float | None = None,
                          source: str = "user") -> None:
        """Set and pin an exporter's policy toward a target (``all`` or a state) and product.

        Raises:
            InputError: unknown exporter, target, product or instrument, or a bad number.
        """
        if exporter not in self.states:
            raise InputError(f"unknown exporter {exporter!r}")
        if instrument not in INSTRUMENTS:
            raise InputError(f"instrument must be one of {', '.join(INSTRUMENTS)}")
        args = {"instrument": instrument, "target": target, "product": product}
        args |= {k: v for k, v in (("share", share), ("tonnes_per_yr", tonnes_per_yr))
                 if v is not None}
        self.apply_action(exporter, "export", args, pin=True, source=source)

    def clear_export_policy(self, exporter: str, target: str, product: str, *,
                            source: str = "user", detail: str = "") -> None:
        """Remove an exporter's policy toward one target and product, and log it.

        The link falls back to the exporter's policy toward ``all``, or open trade.
        """
        self.regime.remove(exporter, target, product)
        self.log_event(exporter, "export", detail or f"{exporter}: exports of {product} to "
                       f"{target} back to the general policy", source)

    # ---------------------------------------------------------------- results
    def results_frame(self) -> pd.DataFrame:
        """One row per simulated month with every output column (see :mod:`abm.columns`)."""
        if self.last_month is None:
            return pd.DataFrame(columns=list(MODEL_COLUMNS))
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def event_log_frame(self) -> pd.DataFrame:
        """The event log: one row per policy change (date, step, actor, action, detail)."""
        return pd.DataFrame(self.event_log,
                            columns=["date", "step", "actor", "action", "detail", "source"])


def production(plan: MonthPlan, results: dict, product: str) -> float:
    """T of a product made this month: oxide refined, or magnets converted."""
    if product in OXIDES:
        return float(plan.supply.refined[product].sum())
    made = results[product].converted_out
    return float(made.sum()) if made is not None else 0.0


def consumption(firms, results: dict, product: str) -> float:
    """T of a product used up this month: by firms, and (oxides) by magnet makers."""
    used = results[product].converted_in
    return float(firms.last_consumed[product].sum()) + (float(used.sum()) if used is not None
                                                         else 0.0)


def _check_rng(rng) -> None:
    """A seed is a non-negative integer below 2**64 (or a numpy Generator, or None).

    Raises:
        InputError: naming the bad seed.
    """
    if rng is None or isinstance(rng, np.random.Generator | np.random.SeedSequence):
        return
    if isinstance(rng, bool) or not isinstance(rng, int | np.integer) or not 0 <= rng < 2**64:
        raise InputError(f"rng (the seed) must be an integer from 0 to 2**64-1, got {rng!r}")



def _check_balance(model: RareEarthModel, plan: MonthPlan, results: dict,
                   before: dict[str, float]) -> None:
    """Production = consumption + change in all stocks, per product (rel. error < 1e-9).

    Oxide turned into magnets counts as consumed; magnets made count as produced.
    """
    after = model.holdings()
    for p in PRODUCTS:
        prod = production(plan, results, p)
        rhs = consumption(model.firms, results, p) + after[p] - before[p]
        if abs(prod - rhs) > 1e-9 * max(1.0, prod, after[p]):
            raise ConservationError(
                f"{p}: production {prod:.6f} t != consumption + stock change {rhs:.6f} t")


def _node_sizes(model: RareEarthModel, results: dict) -> dict[str, float]:
    """Size of each node of the trade network: miners' output and countries' imports, t."""
    sizes = {m.mine_id: m.output_tpm for m in model.miners}
    for code, i in model.cidx.items():
        sizes[code] = float(sum(r.flows[:, i].sum() for r in results.values()))
    return sizes


def simulate(scenario="baseline", *, steps: int | None = None, rng=0,
             **overrides) -> pd.DataFrame:
    """Run a scenario and return one row per month.

    Args:
        scenario: scenario name, TOML path or scenario object.
        steps: months to simulate; ``None`` runs the scenario's own horizon.
        rng: seed; the same seed and overrides give an identical DataFrame.
        **overrides: scenario parameters, ``event.`` edits and ``strategy.`` pins.

    Returns:
        A DataFrame with the columns of :mod:`abm.columns` (DESIGN's first).
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                              or not 0 <= steps <= setup.MAX_STEPS):
        raise InputError(f"steps must be an integer from 0 to {setup.MAX_STEPS}, got {steps!r}")
    model = RareEarthModel(scenario=scenario, rng=rng, **overrides)
    n = model.horizon if steps is None else steps
    for _ in range(n):
        model.step()
    return model.results_frame()
