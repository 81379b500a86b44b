"""RareEarthModel: wiring and monthly step order.

Each month (one step):

1. scripted policy events dated this month apply (:meth:`RareEarthModel._apply_events`);
2. free states whose decision month it is choose export, stockpile and alliance strategies;
3. miners choose output and investment, concentrate is routed to refineries (allied refining
   first, China otherwise); firms and states place orders;
4. each product's market clears under the export-policy link caps (:func:`abm.market.clear`);
5. stocks, inventories, substitution, perceived risk, capacity pipelines and payoffs update,
   the mass balance is checked, and a row of data is collected.

Units: t and t/month for quantities, US$/kg oxide for prices.
"""

from __future__ import annotations

from collections import defaultdict

import mesa
import networkx as nx
import numpy as np
import pandas as pd

from abm import strategies as rules
from abm.agents import Firm, FirmPopulation, Miner, Project, State
from abm.calibration import load_world, read_bloc_exclusions, read_links
from abm.errors import ConservationError, InputError
from abm.market import ClearingResult, MarketOrders, clear_market, price_grid
from abm.policy import PRODUCTS, ExportPolicy, PolicyEvent
from abm.scenario import RareEarthScenario, load_scenario, parse_month

__all__ = ["RareEarthModel", "simulate", "MODEL_COLUMNS"]

#: Columns promised by DESIGN.md (more are added).
MODEL_COLUMNS = (
    "date", "step", "production_reo", "price_light_china", "price_light_world",
    "price_heavy_china", "price_heavy_world", "price_light_usa", "price_light_japan",
    "price_heavy_usa", "price_heavy_japan", "production_light", "production_heavy",
    "consumption_light", "consumption_heavy", "china_share_mining", "china_share_refining",
    "china_exports_light", "china_exports_heavy", "china_import_share_japan",
    "china_import_share_usa", "stockpile_china", "stockpile_usa", "stockpile_japan",
    "shortage_usa", "shortage_japan", "n_blocs",
)

_NAMES = {"CHN": "china", "USA": "usa", "JPN": "japan", "EU": "eu", "AUS": "australia",
          "ROW": "row"}
_GRID_STEPS = 41
_GRID_SPAN = 25.0
_RELEASE_SHARE = 1.0 / 6.0  # share of a releasing stockpile offered per month


class RareEarthModel(mesa.Model):
    """The rare-earth market as a geopolitical game (see module docstring for the step order).

    Args:
        scenario: a scenario name (see :func:`abm.list_scenarios`), a path to a TOML file, or
            a :class:`~abm.scenario.RareEarthScenario`.
        rng: seed (int) or numpy generator; all randomness flows from it.
        **overrides: scenario parameters (``n_firms``, ``alliance``, ...); unknown or
            ill-typed names raise :class:`~abm.errors.InputError`.
    """

    def __init__(self, *, scenario="baseline", rng=None, **overrides):
        if "seed" in overrides:  # mesa.batch_run passes ``seed``; treat it as ``rng``
            seed = overrides.pop("seed")
            rng = seed if rng is None else rng
        sc = load_scenario(scenario, rng=rng, **overrides)
        super().__init__(scenario=sc)
        self.sc: RareEarthScenario = sc
        self.world = load_world(sc.data_year, sc.data_dir)
        self.start_year, self.start_month = parse_month(sc.start)
        self.horizon = int(sc.horizon_months)
        self.month = 0
        self._setup_world()
        self.event_log: list[dict] = []
        self._rows: list[dict] = []
        self._events_by_date: dict[str, list[PolicyEvent]] = defaultdict(list)
        for ev in sc.events:
            self._events_by_date[ev.date].append(ev)
        self._warm_up_reference_flows()
        self.datacollector = mesa.DataCollector(
            model_reporters={c: _reporter(c) for c in MODEL_COLUMNS})
        self.running = True

    # ------------------------------------------------------------------ setup
    def _setup_world(self) -> None:
        w, sc = self.world, self.sc
        st = w.states
        self.countries: tuple[str, ...] = tuple(st["code"])
        self.cidx = {c: i for i, c in enumerate(self.countries)}
        self._country_index = pd.Index(self.countries)  # reused: building it costs ~0.1 ms
        n = len(self.countries)
        self.p_ref = {p: w.reference_price(p) for p in PRODUCTS}
        self.states: dict[str, State] = {}
        for _, row in st.iterrows():
            self.states[row["code"]] = State(
                self, row["code"], row["name"], str(row["player"]).lower() == "true",
                {"light": row["stockpile_light_t"], "heavy": row["stockpile_heavy_t"]})
        self.miners: list[Miner] = [Miner(self, row) for _, row in w.mines.iterrows()]
        for m in self.miners:
            if m.refine_country not in self.cidx:
                raise InputError(f"mine {m.mine_id}: unknown refine_country {m.refine_country}")
        ref = dict(zip(w.refining["country"], w.refining["capacity_t_reo_per_yr"], strict=True))
        self.refining_tpm = np.array([ref.get(c, 0.0) / 12.0 for c in self.countries])
        self.refining_pipeline: list[tuple[str, Project]] = []
        self.demand_tpm = {p: st[f"consumption_{p}_tpy"].to_numpy(float) / 12.0
                           for p in PRODUCTS}
        self.firms = FirmPopulation.generate(
            self.rng, sc.n_firms, self.countries, self.demand_tpm, sc.base_cover_months,
            sc.substitution_threshold)
        self.firm_agents = [Firm(self, self.firms, i) for i in range(self.firms.size)]
        self.producer_stock = {p: np.zeros(n) for p in PRODUCTS}
        self.price = {p: np.full(n, self.p_ref[p]) for p in PRODUCTS}
        self.expected_price = {p: np.full(n, self.p_ref[p]) for p in PRODUCTS}
        self.steady_state_demand = False  # what-ifs value policies once expectations adapt
        self.seller_price = {p: np.full(n, self.p_ref[p]) for p in PRODUCTS}
        self.world_price = dict(self.p_ref)
        self.price_history = {p: [] for p in PRODUCTS}
        self.risk = np.zeros(n)
        self.policies: dict[tuple[str, str, str], ExportPolicy] = {}
        self.floor_offers: dict[str, float] = {}
        self.bloc_exclusions = read_bloc_exclusions(self.sc.data_dir)
        self.link_cost = {p: np.zeros((n, n)) for p in PRODUCTS}
        self.ref_flow = {p: np.zeros((n, n)) for p in PRODUCTS}
        self.last_flows = {p: pd.DataFrame(0.0, index=self._country_index,
                                           columns=self._country_index) for p in PRODUCTS}
        self.blocked_links: dict[str, set[tuple[str, str]]] = {p: set() for p in PRODUCTS}
        link_extra = np.full((n, n), sc.link_cost_frac)
        for _, row in read_links(self.sc.data_dir).iterrows():
            if row["seller"] in self.cidx and row["buyer"] in self.cidx:
                link_extra[self.cidx[row["seller"]], self.cidx[row["buyer"]]] = row["cost_frac"]
        np.fill_diagonal(link_extra, 0.0)
        self._link_frac = link_extra
        self.alliance_graph = nx.Graph()
        for code, s in self.states.items():
            self.alliance_graph.add_node(code, kind="state", label=s.name)
        for m in self.miners:
            self.alliance_graph.add_node(m.mine_id, kind="miner", label=m.name,
                                         country=m.country)
            if m.bloc in self.states:
                self.alliance_graph.add_edge(m.mine_id, m.bloc, kind="offtake")
        self.last_shortage = {p: np.zeros(n) for p in PRODUCTS}
        self.last_planned = {p: np.zeros(n) for p in PRODUCTS}
        self.last_destroyed = {p: np.zeros(n) for p in PRODUCTS}

    def _warm_up_reference_flows(self) -> None:
        """Clear one open-trade month without applying it, to know each link's normal flow."""
        saved = self.policies
        self.policies = {}
        orders = self._build_orders(*self._plan_month(dry=True))
        for p in PRODUCTS:
            self.ref_flow[p] = clear_market(orders[p][0]).flows.copy()
        self.policies = saved

    # ------------------------------------------------------------------ time
    @property
    def date(self) -> str:
        """Current month as ``YYYY-MM`` (the month the next step simulates)."""
        return self.month_date(self.month)

    def month_date(self, month_index: int) -> str:
        """``YYYY-MM`` of a month index counted from the scenario start."""
        k = self.start_month - 1 + month_index
        return f"{self.start_year + k // 12:04d}-{k % 12 + 1:02d}"

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """Simulate one month (see the module docstring for the order)."""
        self._apply_events()
        self._state_decisions()
        plan = self._plan_month()
        orders = self._build_orders(*plan)
        results = {p: clear_market(orders[p][0]) for p in PRODUCTS}
        self._settle(plan, orders, results)
        self.month += 1
        if self.month >= self.horizon:
            self.running = False

    # 1. events -----------------------------------------------------------
    def _apply_events(self) -> None:
        for ev in self._events_by_date.get(self.date, []):
            if ev.requires and not getattr(self.sc, ev.requires):
                continue
            self.apply_event(ev)

    def apply_event(self, ev: PolicyEvent) -> None:
        """Apply one policy event now and log it."""
        from abm.game import apply_action

        apply_action(self, ev.actor, ev.action, ev.args, pin=ev.pin, detail=ev.detail,
                     source="timeline")

    def set_export_policy(self, exporter: str, target: str, product: str, instrument: str, *,
                          share: float | None = None, tonnes_per_yr: float | None = None,
                          source: str = "user") -> None:
        """Set and pin an exporter's policy toward a target (``all`` or a state) and product.

        Used by the dashboard's levers and by scripts; it is logged like any other event.

        Raises:
            InputError: unknown exporter, target, product or instrument, or a bad number.
        """
        from abm.game import apply_action
        from abm.policy import INSTRUMENTS, parse_events

        if exporter not in self.states:
            raise InputError(f"unknown exporter {exporter!r}")
        if instrument not in INSTRUMENTS:
            raise InputError(f"instrument must be one of {', '.join(INSTRUMENTS)}")
        row = {"date": self.date, "actor": exporter, "action": "export",
               "instrument": instrument, "target": target, "product": product}
        if share is not None:
            row["share"] = share
        if tonnes_per_yr is not None:
            row["tonnes_per_yr"] = tonnes_per_yr
        ev = parse_events([row], "user")[0]
        apply_action(self, exporter, "export", ev.args, pin=True, source=source)

    def apply_action(self, actor: str, action: str, args: dict, *, pin: bool = False,
                     detail: str = "", source: str = "user") -> None:
        """Apply one policy action now (as a scenario event would) and log it.

        Args:
            actor: state code, or miner id for miner actions.
            action: an action name (see ``python -m abm events`` and the README).
            args: the action's arguments.
            pin: fix the actor's decision domain (the model's learning no longer chooses it).
            detail: event-log text; composed when empty.
            source: event-log source (``user``, ``player``, ``timeline``, ``choice``).

        Raises:
            InputError: unknown actor, target or argument.
        """
        from abm.game import apply_action

        apply_action(self, actor, action, args, pin=pin, detail=detail, source=source)

    def strategy_names(self, domain: str) -> tuple[str, ...]:
        """The strategies a state can play in a decision domain (export, stockpile, alliance)."""
        if domain not in rules.STRATEGY_SETS:
            raise InputError(f"unknown decision domain {domain!r} "
                             f"(known: {', '.join(rules.STRATEGY_SETS)})")
        return rules.STRATEGY_SETS[domain]

    def play_strategy(self, code: str, domain: str, name: str, *, source: str = "player") -> None:
        """A person (or script) plays a state's strategy: apply its actions now and pin it.

        The state's learning no longer chooses this domain until :meth:`release_strategy`.

        Raises:
            InputError: unknown state, domain or strategy.
        """
        from abm.game import apply_action

        if code not in self.states:
            raise InputError(f"unknown state {code!r}")
        if name not in self.strategy_names(domain):
            raise InputError(f"unknown {domain} strategy {name!r} "
                             f"(known: {', '.join(self.strategy_names(domain))})")
        state = self.states[code]
        if domain == "export":
            self.regime_clear(code)
        for action, args in rules.strategy_actions(self, state, domain, name):
            apply_action(self, code, action, args, pin=True, source=source)
        state.pinned.add(domain)

    def release_strategy(self, code: str, domain: str) -> None:
        """Hand a state's decision domain back to its learning (undo :meth:`play_strategy`)."""
        if code not in self.states:
            raise InputError(f"unknown state {code!r}")
        self.states[code].pinned.discard(domain)

    def export_instrument(self, exporter: str, target: str, product: str) -> str | None:
        """The instrument set for exactly this exporter, target and product, or ``None``.

        ``None`` means no policy names that target; the policy toward ``all`` may apply.
        """
        pol = self.policies.get((exporter, target, product))
        return pol.instrument if pol is not None else None

    def regime_clear(self, exporter: str) -> None:
        """Drop every export policy of an exporter (trade open until a new one is set)."""
        for key in [k for k in self.policies if k[0] == exporter]:
            del self.policies[key]

    def clear_export_policy(self, exporter: str, target: str, product: str, *,
                            source: str = "user", detail: str = "") -> None:
        """Remove an exporter's policy toward one target and product, and log it.

        The link falls back to the exporter's policy toward ``all``, or open trade.
        """
        self.policies.pop((exporter, target, product), None)
        self.log_event(exporter, "export", detail or f"{exporter}: exports of {product} to "
                       f"{target} back to the general policy", source)

    def log_event(self, actor: str, action: str, detail: str, source: str = "model") -> None:
        """Record a policy change in the event log (date, actor, action, detail, source)."""
        self.event_log.append({"date": self.date, "step": self.month, "actor": actor,
                               "action": action, "detail": detail, "source": source})

    # 2. states ----------------------------------------------------------
    def _state_decisions(self) -> None:
        from abm.game import state_decisions

        state_decisions(self)

    # 3. miners and firms ---------------------------------------------------
    def _plan_month(self, dry: bool = False):
        """Miners' output, routing and refining; firms' order coefficients.

        Returns:
            (refined, firm_coeffs, state_orders): refined product t per node; per product the
            firms' (a, b, need_at_last_price); per product (node, t, limit price) state bids.
        """
        sc = self.sc
        n = len(self.countries)
        growth = (1.0 + sc.china_capacity_growth_per_yr) ** (1.0 / 12.0)
        chn = self.cidx["CHN"]
        refined = {p: np.zeros(n) for p in PRODUCTS}
        mined = np.zeros(n)  # by host country is not needed; by refining country below
        self._mined_by_host = defaultdict(float)
        refined_reo = np.zeros(n)
        if not dry:
            self.refining_tpm[chn] *= growth  # China's separation grows with its quota
            for m in self.miners:
                self._miner_invest(m, growth)
        refining_left = self.refining_tpm.copy()
        ratios = {}
        for m in self.miners:
            node = self.cidx[m.refine_country]
            prices = {p: self.seller_price[p][node] for p in PRODUCTS}
            ratios[m.mine_id] = rules.miner_revenue_per_kg(m, prices) / max(
                m.cost_usd_per_kg, 1e-9)
        # refiners take the most valuable feed first (highest revenue per kg REO)
        for m in sorted(self.miners, key=lambda mm: -ratios[mm.mine_id] * mm.cost_usd_per_kg):
            node = self.cidx[m.refine_country]
            ratio = ratios[m.mine_id]
            if not dry:
                m.margin_history = (m.margin_history + [ratio])[-12:]
            # output follows the margin of the last three months (no cobweb on one price)
            recent = (m.margin_history[-3:] if not dry else m.margin_history[-2:] + [ratio])
            smooth = float(np.mean(recent)) if recent else ratio
            out = m.capacity_tpm * rules.miner_utilisation(smooth, sc.min_margin_ratio)
            here = min(out, refining_left[node])
            refining_left[node] -= here
            rest = out - here
            to_china = 0.0
            if rest > 0 and node != chn and m.china_route:
                to_china = min(rest, refining_left[chn])
                refining_left[chn] -= to_china
            out = here + to_china
            m.output_tpm = out
            m.routed = {m.refine_country: here, "CHN": to_china} if node != chn else {"CHN": here}
            self._mined_by_host[m.country] += out
            refined_reo[node] += here
            refined_reo[chn] += to_china
            for p in PRODUCTS:
                refined[p][node] += here * m.shares[p]
                refined[p][chn] += to_china * m.shares[p]
            mined[node] += out
        self._refined_reo = refined_reo
        # firms
        pop = self.firms
        years = self.month / 12.0
        cover = pop.cover_scale * (sc.base_cover_months
                                   + sc.hoarding_sensitivity * self.risk[pop.country])
        coeffs = {}
        for p in PRODUCTS:
            need_ref = (pop.base_demand[p] * (1.0 + sc.demand_growth_per_yr) ** years
                        * (1.0 - pop.substitution[p]))
            ck, kk, bk = rules.firm_order_params(pop, p, need_ref, cover,
                                                 sc.inventory_adjust_rate)
            f_last = rules.demand_factor(self.price[p][pop.country], self.p_ref[p],
                                         sc.demand_elasticity)
            coeffs[p] = (ck, kk, bk, need_ref, f_last)
        state_orders = {p: [] for p in PRODUCTS}
        for code, s in self.states.items():
            i = self.cidx[code]
            for p in PRODUCTS:
                if s.stockpile_mode[p] != "build":
                    continue
                target = sc.stockpile_target_months * self.demand_tpm[p][i]
                want = min(sc.stockpile_build_share * self.demand_tpm[p][i],
                           max(target - s.stockpile[p], 0.0))
                if want > 0:
                    state_orders[p].append((i, want, sc.stockpile_max_price_ratio * self.p_ref[p]))
        return refined, coeffs, state_orders

    def _miner_invest(self, m: Miner, growth: float) -> None:
        """Capacity growth (China's quota), finished projects, and new commitments."""
        sc = self.sc
        if m.is_chinese:
            m.capacity_tpm *= growth
        done = [pr for pr in m.pipeline if pr.ready_step <= self.month]
        for pr in done:
            m.capacity_tpm += pr.tonnes_reo_per_yr / 12.0
            m.pipeline.remove(pr)
            if m.refine_country != "CHN":
                self.refining_tpm[self.cidx[m.refine_country]] += pr.tonnes_reo_per_yr / 12.0
            self.log_event(m.mine_id, "capacity_online",
                           f"{m.name}: +{pr.tonnes_reo_per_yr:,.0f} t REO/yr in production")
        if m.is_chinese or m.pipeline or len(m.margin_history) < 12:
            return
        mean_ratio = float(np.mean(m.margin_history))
        if mean_ratio < sc.investment_hurdle:
            return
        if m.project_tpy > 0:
            size, lead, kind = m.project_tpy, m.project_lead, "project"
            m.project_tpy = 0.0
        elif m.capacity_tpm > 0 and sc.expansion_share > 0:
            size = m.capacity_tpm * 12.0 * sc.expansion_share
            lead, kind = sc.expansion_lead_months, "expansion"
        else:
            return
        m.pipeline.append(Project(size, self.month + lead, kind))
        self.log_event(m.mine_id, "invest",
                       f"{m.name}: commits {kind} of {size:,.0f} t REO/yr, ready "
                       f"{self.month_date(self.month + lead)}")

    # 4. orders and clearing ---------------------------------------------------
    def _build_orders(self, refined, coeffs, state_orders):
        """Per product: (MarketOrders, bookkeeping needed to settle)."""
        sc = self.sc
        n = len(self.countries)
        pop = self.firms
        out = {}
        for p in PRODUCTS:
            grid = self._price_grid(p)
            f_grid = rules.demand_factor(grid, self.p_ref[p], sc.demand_elasticity)
            ck, kk, bk, _, _ = coeffs[p]
            h_grid = f_grid[None, :] * self._price_patience(grid[None, :], p)
            cum = rules.aggregate_orders(pop.country, ck, kk, bk, f_grid, h_grid, n)
            for i, q, limit in state_orders[p]:
                cum[i, grid <= limit] += q
            steps = np.diff(cum, axis=1, prepend=0.0).clip(min=0.0)
            stock = self.producer_stock[p] + refined[p]
            sup_node = list(range(n))
            sup_qty = list(stock)
            sup_ask = [sc.seller_reserve_frac * self.p_ref[p]] * n
            release = []
            for code, s in self.states.items():
                if s.stockpile_mode[p] == "release" and s.stockpile[p] > 0:
                    q = s.stockpile[p] * _RELEASE_SHARE
                    release.append((len(sup_qty), code))
                    sup_node.append(self.cidx[code])
                    sup_qty.append(q)
                    sup_ask.append(self.p_ref[p])
            cap, export_cap = self.link_caps(p, refined)
            cost = self._link_frac * self.p_ref[p] + self._ally_cost(p)
            self.link_cost[p] = cost
            orders = MarketOrders(
                nodes=self.countries, supply_node=np.array(sup_node, dtype=int),
                supply_qty=np.array(sup_qty, dtype=float), supply_ask=np.array(sup_ask),
                demand_bid=grid, demand_qty=steps, link_cost=cost, link_cap=cap,
                export_cap=export_cap)
            out[p] = (orders, {"stock": stock, "release": release, "grid": grid})
        return out

    def _price_patience(self, prices: np.ndarray, product: str) -> np.ndarray:
        """(C, K) or (1, C) factor ``(price / expected price) ** -inventory_price_elasticity``.

        ``prices`` is either a (1, K) grid (result per country and grid price) or a (C,) vector
        of node prices (result (1, C)).
        """
        eps = 0.0 if self.steady_state_demand else self.sc.inventory_price_elasticity
        exp = self.expected_price[product]
        if prices.ndim == 2:
            ratio = prices / exp[:, None]
        else:
            ratio = (prices / exp)[None, :]
        return np.maximum(ratio, 1e-6) ** (-eps)

    def _price_grid(self, product: str) -> np.ndarray:
        """Demand-step prices: fine around last month's world price, capped at the choke price."""
        choke = self.sc.choke_price_ratio * self.p_ref[product]
        grid = price_grid(min(self.world_price[product], choke), _GRID_STEPS, _GRID_SPAN)
        return np.concatenate([[choke], grid[grid < choke]])

    def _ally_cost(self, product: str) -> np.ndarray:
        """Extra cost buyers see on links between non-allied countries (allied sourcing).

        Two countries are allied when their states share a bloc, or when a miner refined in
        the seller country has an offtake tie to the buyer state.
        """
        n = len(self.countries)
        allied = np.eye(n, dtype=bool)
        blocs = [self.states[c].bloc for c in self.countries]
        for i in range(n):
            for j in range(n):
                if blocs[i] and blocs[i] == blocs[j]:
                    allied[i, j] = True
        for m in self.miners:
            if m.bloc in self.cidx and m.output_tpm > 0:
                allied[self.cidx[m.refine_country], self.cidx[m.bloc]] = True
        return np.where(allied, 0.0, self.sc.ally_preference_frac * self.p_ref[product])

    def may_pay(self, payer: str, miner) -> bool:
        """Whether state ``payer`` may take ``miner`` into its floor or offtake.

        The exclusions come from ``data/bloc_exclusions.csv`` (by the miner's host country).
        """
        return miner.country not in self.bloc_exclusions.get(payer, frozenset())

    def link_caps(self, product: str, refined=None):
        """Link caps (t/month) and aggregate export caps from the export policies in force.

        A policy toward one target overrides the exporter's policy toward ``all`` on that link;
        an aggregate quota toward ``all`` still caps the sum of foreign sales.

        Returns:
            (cap, export_cap): (N, N) and (N,) arrays; ``inf`` where open.
        """
        n = len(self.countries)
        cap = np.full((n, n), np.inf)
        export_cap = np.full(n, np.inf)
        specific = {(e, t) for (e, t, pp) in self.policies if pp == product and t != "all"}
        for (exporter, target, prod), pol in self.policies.items():
            if prod != product or pol.instrument == "open":
                continue
            s = self.cidx[exporter]
            # a policy toward one target takes precedence over the exporter's policy toward
            # all on that link (an aggregate quota toward all still caps the sum)
            targets = [c for c in self.countries if c != exporter
                       and (exporter, c) not in specific] if target == "all" else [target]
            if pol.instrument == "quota":
                mix = self._export_mix(s, product, refined)
                if target == "all":
                    export_cap[s] = min(export_cap[s], pol.tonnes_per_yr / 12.0 * mix)
                    continue
            for t in targets:
                b = self.cidx[t]
                if pol.instrument == "ban":
                    val = 0.0
                elif pol.instrument == "licence":
                    months = self.month - pol.since_step
                    ramp = 1.0 if self.sc.licence_delay_months == 0 else min(
                        1.0, (months + 1) / (self.sc.licence_delay_months + 1))
                    val = pol.share * ramp * self.ref_flow[product][s, b]
                else:
                    val = pol.tonnes_per_yr / 12.0 * self._export_mix(s, product, refined)
                cap[s, b] = min(cap[s, b], val)
        return cap, export_cap

    def _export_mix(self, node: int, product: str, refined) -> float:
        """T of ``product`` per t REO refined at ``node`` (converts REO quotas to products)."""
        reo = self._refined_reo[node] if hasattr(self, "_refined_reo") else 0.0
        if refined is None or reo <= 0:
            shares = [m.shares[product] for m in self.miners if m.refine_country ==
                      self.countries[node]]
            return float(np.mean(shares)) if shares else 0.0
        return float(refined[product][node] / reo)

    # 5. settle ---------------------------------------------------------------
    def _settle(self, plan, orders, results: dict[str, ClearingResult]) -> None:
        refined, coeffs, state_orders = plan
        sc = self.sc
        pop = self.firms
        n = len(self.countries)
        row: dict = {"date": self.date, "step": self.month}
        self._balance_before = self._holdings()
        cons_total = {}
        for p in PRODUCTS:
            o, book = orders[p]
            r = results[p]
            # sellers
            sold = r.sold
            self.producer_stock[p] = book["stock"] - sold[:n]
            if np.any(self.producer_stock[p] < -1e-6):
                raise ConservationError(f"producer stock of {p} went negative")
            self.producer_stock[p] = self.producer_stock[p].clip(min=0.0)
            for k, code in book["release"]:
                self.states[code].add_stock(p, -sold[k])
            # buyers: firms and building states, pro rata at the node price
            purchases = r.purchases
            ck, kk, bk, need_ref, f_last = coeffs[p]
            f_now = rules.demand_factor(r.price, self.p_ref[p], sc.demand_elasticity)
            h_now = f_now * self._price_patience(r.price, p)[0]
            firm_order = rules.firm_orders_at(ck, kk, bk, f_now[pop.country],
                                              h_now[pop.country])
            tot = np.bincount(pop.country, weights=firm_order, minlength=n)
            st_q = np.zeros(n)
            st_list = []
            for i, q, limit in state_orders[p]:
                if r.price[i] <= limit * (1 + 1e-9):
                    st_q[i] += q
                    st_list.append((i, q))
            tot = tot + st_q
            # A node can buy on a grid step whose price lies just above where the firms'
            # continuous curves reach zero (step discretisation): book it to the firms in
            # proportion to their needs so that no tonne goes unbooked.
            orphan = (purchases > 0) & (tot <= 0)
            if orphan.any():
                need_c = np.bincount(pop.country, weights=need_ref, minlength=n)
                if np.any(orphan & (need_c <= 0)):
                    raise ConservationError(f"{p}: purchases with no buyer to book them to")
                firm_order = np.where(orphan[pop.country], need_ref, firm_order)
                tot = np.bincount(pop.country, weights=firm_order, minlength=n) + st_q
            with np.errstate(invalid="ignore", divide="ignore"):
                fill = np.where(tot > 0, purchases / tot, 0.0)
            pop.inventory[p] = pop.inventory[p] + firm_order * fill[pop.country]
            for i, q in st_list:
                self.states[self.countries[i]].add_stock(p, q * fill[i])
            want = need_ref * f_now[pop.country]
            consumed = np.minimum(pop.inventory[p], want)
            pop.inventory[p] = pop.inventory[p] - consumed
            # shortage: consumption wanted at this month's price that stock could not cover
            short = want - consumed
            # demand given up because the price rose above last month's (not a shortage)
            destroyed = np.clip(need_ref * (f_last - f_now[pop.country]), 0.0, None)
            self.last_destroyed[p] = np.bincount(pop.country, weights=destroyed, minlength=n)
            planned = want
            cons_c = np.bincount(pop.country, weights=consumed, minlength=n)
            self.last_shortage[p] = np.bincount(pop.country, weights=short, minlength=n)
            self.last_planned[p] = np.bincount(pop.country, weights=planned, minlength=n)
            cons_total[p] = cons_c
            # prices and memories
            self.price[p] = r.price
            self.expected_price[p] = 0.8 * self.expected_price[p] + 0.2 * r.price
            self.seller_price[p] = r.seller_price
            outside = purchases.copy()
            outside[self.cidx["CHN"]] = 0.0
            mask = np.arange(n) != self.cidx["CHN"]
            self.world_price[p] = float(
                (r.price * outside).sum() / outside.sum() if outside.sum() > 0
                else r.price[mask].mean())
            self.price_history[p].append(r.price.copy())
            ratio = r.price[pop.country] / self.p_ref[p]
            pop.price_memory[p] = 0.8 * pop.price_memory[p] + 0.2 * ratio
            high = pop.price_memory[p] > pop.sub_threshold
            s = pop.substitution[p]
            s = np.where(high, np.minimum(s + sc.substitution_rate_per_yr / 12.0,
                                          sc.substitution_max),
                         s * (1.0 - sc.substitution_decay_per_yr / 12.0))
            pop.substitution[p] = s
            self.last_flows[p] = pd.DataFrame(r.flows, index=self._country_index,
                                              columns=self._country_index)
            self.blocked_links[p] = self._blocked(p, o)
            open_links = np.isinf(o.link_cap)
            self.ref_flow[p] = np.where(open_links, 0.9 * self.ref_flow[p] + 0.1 * r.flows,
                                        self.ref_flow[p])
            self._pay_floors(p, r)
            row.update(self._product_columns(p, r, refined[p], cons_c))
        row["china_exports_reo"] = self._china_exports_reo(row, refined)
        self._check_balance(refined, cons_total)
        self._update_risk(orders)
        from abm.game import after_market

        after_market(self, results)
        row.update(self._common_columns())
        self._row = row
        self._rows.append(row)
        self.datacollector.collect(self)

    def _blocked(self, product: str, o: MarketOrders) -> set[tuple[str, str]]:
        cap = o.link_cap
        return {(self.countries[i], self.countries[j]) for i, j in zip(*np.nonzero(cap <= 0),
                                                                      strict=True) if i != j}

    def _pay_floors(self, product: str, r: ClearingResult) -> None:
        """States pay floor-covered miners the gap between floor and price on volume sold."""
        for m in self.miners:
            floor = m.floor_usd_per_kg[product]
            if floor <= 0 or not m.floor_payer:
                continue
            node = self.cidx[m.refine_country]
            price = r.seller_price[node]
            vol_t = m.routed.get(m.refine_country, 0.0) * m.shares[product]
            gap = floor - price
            pay = gap * vol_t * 1000.0 if gap > 0 else -m.floor_upside_share * (-gap) * vol_t * 1e3
            self.states[m.floor_payer].floor_cost_usd += pay

    def _holdings(self) -> dict[str, float]:
        return {p: float(self.firms.inventory[p].sum() + self.producer_stock[p].sum()
                         + sum(s.stockpile[p] for s in self.states.values()))
                for p in PRODUCTS}

    def _check_balance(self, refined, cons_total) -> None:
        """Production = consumption + change in all stocks, per product (rel. error < 1e-9)."""
        after = self._holdings()
        for p in PRODUCTS:
            prod = float(refined[p].sum())
            rhs = float(cons_total[p].sum()) + after[p] - self._balance_before[p]
            scale = max(1.0, prod, after[p])
            if abs(prod - rhs) > 1e-9 * scale:
                raise ConservationError(
                    f"{p}: production {prod:.6f} t != consumption + stock change {rhs:.6f} t")
            self._balance_before[p] = after[p]

    def _update_risk(self, orders) -> None:
        """Update perceived supply risk per country (EWMA of two signals).

        The signals are the share of its normal imports cut by export restrictions (weighted
        by how far caps fall below normal flows) and its physical shortage. Price rises alone
        do not count, or hoarding would feed on itself.
        """
        sc = self.sc
        n = len(self.countries)
        signal = np.zeros(n)
        for p in PRODUCTS:
            o = orders[p][0]
            ref = self.ref_flow[p].copy()
            np.fill_diagonal(ref, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                # severity of each link's restriction: 1 - cap / normal flow (ban = 1)
                sev = np.where(ref > 0, np.clip(1.0 - o.link_cap / ref, 0.0, 1.0), 0.0)
                exports = ref.sum(axis=1)
                sev_x = np.where(exports > 0, np.clip(1.0 - o.export_cap / exports, 0, 1), 0)
                sev = np.maximum(sev, sev_x[:, None])
                imports = ref.sum(axis=0)
                share = np.where(imports > 0, (ref * sev).sum(axis=0) / imports, 0.0)
                short = np.where(self.last_planned[p] > 0,
                                 self.last_shortage[p] / self.last_planned[p], 0.0)
            signal = np.maximum.reduce([signal, share, np.clip(5 * short, 0, 1)])
        self.risk = sc.risk_memory * self.risk + (1 - sc.risk_memory) * signal

    # data ----------------------------------------------------------------
    def _product_columns(self, p, r: ClearingResult, refined, cons_c) -> dict:
        chn = self.cidx["CHN"]
        cols = {
            f"price_{p}_china": float(r.price[chn]),
            f"price_{p}_world": self.world_price[p],
            f"production_{p}": float(refined.sum()),
            f"consumption_{p}": float(cons_c.sum()),
            f"china_exports_{p}": float(r.flows[chn].sum() - r.flows[chn, chn]),
            f"inventory_{p}": float(self.firms.inventory[p].sum()),
            f"stockpiles_{p}": float(sum(s.stockpile[p] for s in self.states.values())),
            f"substitution_{p}": float(np.average(self.firms.substitution[p],
                                                  weights=self.firms.base_demand[p])
                                       if self.firms.base_demand[p].sum() > 0 else 0.0),
            f"producer_stock_{p}": float(self.producer_stock[p].sum()),
        }
        for c, i in self.cidx.items():
            if c != "CHN":
                cols[f"price_{p}_{_NAMES.get(c, c.lower())}"] = float(r.price[i])
        return cols

    def _china_exports_reo(self, row: dict, refined) -> float:
        """China's exports of both products in t REO (at China's refined mix this month).

        Export quotas are set in t REO and converted into products by the same mix
        (:meth:`_export_mix`), so when a quota toward ``all`` binds on both products this
        equals the quota's monthly tonnage.
        """
        chn = self.cidx["CHN"]
        reo = self._refined_reo[chn]
        prod = sum(refined[p][chn] for p in PRODUCTS)
        if reo <= 0 or prod <= 0:
            return 0.0
        return float(sum(row[f"china_exports_{p}"] for p in PRODUCTS) * reo / prod)

    def _common_columns(self) -> dict:
        chn = self.cidx["CHN"]
        total_mined = sum(self._mined_by_host.values())
        refined_reo = self._refined_reo
        comps = [c for c in nx.connected_components(self.alliance_graph) if len(c) >= 2]
        china_bloc = next((c for c in comps if "CHN" in c), set())
        in_other = set().union(*[c for c in comps if "CHN" not in c]) if comps else set()
        shares = {"china_bloc": 0.0, "other_blocs": 0.0, "unaligned": 0.0}
        for m in self.miners:
            key = ("china_bloc" if m.mine_id in china_bloc else
                   "other_blocs" if m.mine_id in in_other else "unaligned")
            shares[key] += m.output_tpm
        cols = {
            "production_reo": float(total_mined),
            **{f"supply_share_{k}": float(v / total_mined) if total_mined > 0 else 0.0
               for k, v in shares.items()},
            "china_share_mining": float(self._mined_by_host.get("CHN", 0.0) / total_mined)
            if total_mined > 0 else 0.0,
            "china_share_refining": float(refined_reo[chn] / refined_reo.sum())
            if refined_reo.sum() > 0 else 0.0,
            "n_blocs": len(comps),
        }
        for c, i in self.cidx.items():
            name = _NAMES.get(c, c.lower())
            s = self.states[c]
            buys = sum(self.last_flows[p].to_numpy()[:, i].sum() for p in PRODUCTS)
            from_chn = sum(self.last_flows[p].to_numpy()[chn, i] for p in PRODUCTS)
            cols[f"china_import_share_{name}"] = float(from_chn / buys) if buys > 0 else 0.0
            cols[f"stockpile_{name}"] = float(sum(s.stockpile.values()))
            cols[f"shortage_{name}"] = float(sum(self.last_shortage[p][i] for p in PRODUCTS))
            cols[f"demand_destroyed_{name}"] = float(
                sum(self.last_destroyed[p][i] for p in PRODUCTS))
            cols[f"risk_{name}"] = float(self.risk[i])
            cols[f"bloc_{name}"] = s.bloc or "-"
        for host, t in sorted(self._mined_by_host.items()):
            cols[f"mined_{host.lower()}"] = float(t)
        for c, i in self.cidx.items():
            name = _NAMES.get(c, c.lower())
            cols[f"refined_{name}"] = float(refined_reo[i])
            cols[f"inventory_{name}"] = float(sum(
                self.firms.inventory_by_country(p)[i] for p in PRODUCTS))
        for code in ("USA", "JPN", "CHN"):
            if code not in self.cidx:
                name = _NAMES[code]
                for k in ("china_import_share", "stockpile", "shortage"):
                    cols.setdefault(f"{k}_{name}", 0.0)
        return cols

    def results_frame(self) -> pd.DataFrame:
        """One row per simulated month with every output column (see README)."""
        df = pd.DataFrame(self._rows)
        if df.empty:
            return pd.DataFrame(columns=list(MODEL_COLUMNS))
        first = [c for c in MODEL_COLUMNS if c in df.columns]
        return df[first + [c for c in df.columns if c not in first]]

    def event_log_frame(self) -> pd.DataFrame:
        """The event log: one row per policy change (date, step, actor, action, detail)."""
        return pd.DataFrame(self.event_log,
                            columns=["date", "step", "actor", "action", "detail", "source"])


def _reporter(column: str):
    def report(model: RareEarthModel):
        return model._row.get(column)

    report.__name__ = f"report_{column}"
    return report


def simulate(scenario="baseline", *, steps: int | None = None, rng=0,
             **overrides) -> pd.DataFrame:
    """Run a scenario and return one row per month.

    Args:
        scenario: scenario name, TOML path or scenario object.
        steps: months to simulate; ``None`` runs the scenario's own horizon.
        rng: seed; the same seed and overrides give an identical DataFrame.
        **overrides: scenario parameters.

    Returns:
        A DataFrame with the columns listed in :data:`MODEL_COLUMNS` and more.
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                              or steps < 0):
        raise InputError(f"steps must be a non-negative integer, got {steps!r}")
    model = RareEarthModel(scenario=scenario, rng=rng, **overrides)
    n = model.horizon if steps is None else steps
    for _ in range(n):
        model.step()
    return model.results_frame()

