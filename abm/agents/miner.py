"""Miners: output from margins, investment, ramp-ups, mothballing, bloc choice, support.

A miner runs at a utilisation set by its smoothed margin (revenue/cost ratio, with any price
floor and offtake contract), within its capacity and, at home in a state with production
quotas, within its quota allocation; part of the capacity a quota idles is worked illegally,
outside the quota (:mod:`abm.domestic`). New capacity ramps up over months
(:class:`abm.refining.Ramp`). A mine outside China whose margin stays below a mothball trigger
mothballs (no output, a care-and-maintenance cost), restarts only when its margin exceeds a
restart trigger that covers the restart cost (the hysteresis band of Dixit 1989, "Entry and
exit decisions under uncertainty", JPE 97(3)), and exits after a long mothball
(:func:`abm.strategies.next_mine_status`).

Units: t REO/month for capacity and output, US$/kg REO for cost and revenue per kg mined,
US$ for costs paid.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.domestic import deposit_kind, illegal_output
from abm.policy import OXIDES
from abm.refining import Project, Ramp, ramp_share
from abm.strategies import miner_utilisation, next_mine_status, restart_trigger, revenue_per_kg

__all__ = ["Miner"]


class Miner(mesa.Agent):
    """A mine or producer group: capacity, cost, product shares, refining route, bloc.

    Attributes:
        mine_id: id from mines.csv.
        name: English name.
        country: host country code.
        capacity_tpm: mining capacity, t REO/month.
        cost_usd_per_kg: unit cash cost incl. separation, US$/kg REO.
        shares: t of each product per t REO mined.
        refine_country: where its concentrate is refined when that country has room.
        china_route: whether concentrate that finds no other refinery may go to China.
        bloc: the state or bloc it sells under (``CHN``, ``JPN``, a bloc name, or ``none``).
        project_tpy: size of the miner's next project (t REO/yr; 0 = none left).
        project_lead: months from commitment to production.
        pipeline: projects under construction.
        ramps: capacity from finished projects still ramping up.
        margin_history: recent revenue/cost ratios (for output and investment).
        output_tpm: this month's output, t REO (illegal output included).
        illegal_tpm: this month's output mined outside its state's quota, t REO.
        routed: this month's output by refining country, t REO.
        floor_usd_per_kg: price floor per product paid by ``floor_payer`` (0 = none).
        floor_payer: the state paying the floor (``""`` = none).
        floor_upside_share: share of the price above the floor the payer takes.
        status: ``operating``, ``mothballed`` or ``closed``.
        months_idle: months in the current mothball.
        restart_step: month of the last restart (output ramps back from it), or ``None``.
        care_cost_usd: care-and-maintenance costs paid, US$ (cumulative).
        restart_cost_usd: restart costs paid, US$ (cumulative).
        month_fixed_cost_usd: care-and-maintenance and restart costs paid this month, US$.
    """

    def __init__(self, model, row):
        super().__init__(model)
        self.mine_id = row["id"]
        self.name = row["name"]
        self.country = row["country"]
        if row["capacity_t_reo_per_yr"] < 0:
            raise ValueError(f"negative capacity for {self.mine_id}")
        self.capacity_tpm = float(row["capacity_t_reo_per_yr"]) / 12.0
        self.cost_usd_per_kg = float(row["cost_usd_per_kg_reo"])
        self.shares = {"light": float(row["light_share"]), "heavy": float(row["heavy_share"])}
        self.refine_country = row["refine_country"]
        self.china_route = True
        self.bloc = row["bloc"]
        self.project_tpy = float(row["project_capacity_t_reo_per_yr"])
        self.project_lead = int(row["project_lead_months"])
        self.pipeline: list[Project] = []
        self.margin_history: list[float] = []
        self.output_tpm = 0.0
        self.routed: dict[str, float] = {}
        self.floor_usd_per_kg = dict.fromkeys(OXIDES, 0.0)
        self.floor_payer = ""
        self.floor_upside_share = 0.0
        self.ramps: list[Ramp] = []
        self.illegal_tpm = 0.0
        self.status = "operating"
        self.months_idle = 0
        self.restart_step: int | None = None
        self.care_cost_usd = 0.0
        self.restart_cost_usd = 0.0
        self.month_fixed_cost_usd = 0.0

    @property
    def is_chinese(self) -> bool:
        """Whether the mine is in China (quota-governed)."""
        return self.country == "CHN"

    @property
    def deposit(self) -> str:
        """``light`` or ``ionic_clay`` (by its Dy/Tb share; see ``ionic_clay_heavy_share``)."""
        return deposit_kind(self.shares["heavy"], self.model.sc.ionic_clay_heavy_share)

    # ---------------------------------------------------------------- output
    def margin_ratio(self, seller_price: dict[str, np.ndarray]) -> float:
        """Revenue/cost ratio at its refining node's seller prices (with floor and contracts).

        With offtake contracts, the contracted volume earns the contract price
        (:meth:`abm.contracts.ContractBook.miner_revenue`).
        """
        node = self.model.cidx[self.refine_country]
        prices = {p: float(seller_price[p][node]) for p in OXIDES}
        rev = self.model.contracts.miner_revenue(self.model, self, prices, self.floor_usd_per_kg)
        if rev is None:
            rev = revenue_per_kg(self.shares, prices, self.floor_usd_per_kg)
        return (rev + self.byproduct_revenue()) / max(self.cost_usd_per_kg, 1e-9)

    def byproduct_revenue(self) -> float:
        """Revenue from the rest of its tonne (La, Ce and the others), US$/kg REO mined.

        The share of REO beyond NdPr and Dy/Tb, at this month's by-product price
        (:class:`abm.calibration.ByproductPrices`) in the market it sells concentrate to:
        inside China when it is refined there, FOB China otherwise; times
        ``byproduct_price_share``. 0 without a by-product series.
        """
        m = self.model
        if m.byproducts is None or m.sc.byproduct_price_share <= 0:
            return 0.0
        market = "china" if self.refine_country == "CHN" else "world"
        rest = max(1.0 - self.shares["light"] - self.shares["heavy"], 0.0)
        return m.sc.byproduct_price_share * rest * m.byproducts.at(m.month_ordinal)[market]

    def planned_output(self, ratio: float, record: bool) -> tuple[float, float]:
        """Output it wants this month, t REO: (legal, illegal).

        Legal output is capacity x utilisation at the mean margin of the last
        ``output_smoothing_months`` (no cobweb on one month's price), times the restart ramp,
        within its state's quota allocation; none while mothballed or closed. Under a quota,
        ``illegal_capacity_share`` of the capacity the quota idles is worked illegally
        (:func:`abm.domestic.illegal_output`).
        ``record`` stores this month's margin in its history (the real month; what-ifs do
        not).
        """
        sc = self.model.sc
        keep = max(sc.investment_window_months, sc.output_smoothing_months,
                   sc.mothball_window_months)
        k = sc.output_smoothing_months
        if record:
            self.margin_history = (self.margin_history + [ratio])[-keep:]
            recent = self.margin_history[-k:]
        else:
            recent = (self.margin_history[-(k - 1):] if k > 1 else []) + [ratio]
        smooth = float(np.mean(recent)) if recent else ratio
        legal = (self.capacity_tpm * miner_utilisation(smooth, sc.min_margin_ratio)
                 * _restart_factor(self) if self.status == "operating" else 0.0)
        illegal = 0.0
        state = self.model.states.get(self.country)
        if state is not None and state.domestic.has_quota:
            cap = state.quota_caps()[self.mine_id]
            legal = min(legal, cap)
            idle = max(self.capacity_tpm - cap, 0.0) if self.status == "operating" else 0.0
            illegal = illegal_output(sc.illegal_capacity_share * idle,
                                     smooth * self.cost_usd_per_kg, self.cost_usd_per_kg,
                                     sc.illegal_cost_ratio, sc.illegal_full_margin_ratio,
                                     state.domestic.enforcement)
        if record:
            self.illegal_tpm = illegal
        return legal, illegal

    def record_output(self, home: float, to_china: float) -> None:
        """Store this month's refined output by route, t REO."""
        self.output_tpm = home + to_china
        self.routed = ({self.refine_country: home, "CHN": to_china}
                       if self.refine_country != "CHN" else {"CHN": home})

    # ---------------------------------------------------------------- investment
    def invest(self) -> None:
        """Capacity growth, finished projects ramping up, mothball/restart/exit, commitments.

        China's mines grow with ``china_capacity_growth_per_yr``. A finished project starts
        producing and ramps up linearly over ``ramp_up_months`` (its refining country's
        separation with it, over ``refining_ramp_up_months``). Elsewhere a miner reviews its
        status (:meth:`review_status`), and an operating miner whose mean margin over
        ``investment_window_months`` beats ``investment_hurdle`` commits its next project
        (from mines.csv) or a brownfield expansion, ready after the lead time.
        """
        m, sc = self.model, self.model.sc
        if self.is_chinese:
            self.capacity_tpm *= m.china_growth
        for pr in [pr for pr in self.pipeline if pr.ready_step <= m.month]:
            self.pipeline.remove(pr)
            if self.status == "closed":  # a new project brings an exited mine back
                self.status, self.months_idle, self.restart_step = "operating", 0, None
            self.ramps.append(Ramp(pr.tonnes_reo_per_yr / 12.0, m.month, sc.ramp_up_months))
            if self.refine_country != "CHN":
                m.refining.ramp_in(self.refine_country, pr.tonnes_reo_per_yr / 12.0, m.month,
                                   sc.refining_ramp_up_months)
            m.log_event(self.mine_id, "capacity_online",
                        f"{self.name}: +{pr.tonnes_reo_per_yr:,.0f} t REO/yr starts producing "
                        f"(full output in {sc.ramp_up_months} months)")
        for ramp in self.ramps:
            self.capacity_tpm += ramp.advance(m.month)
        self.ramps = [r for r in self.ramps if not r.done(m.month)]
        if not self.is_chinese and (self.capacity_tpm > 0 or self.status != "operating"):
            self.review_status()
        window = sc.investment_window_months
        if (self.is_chinese or self.pipeline or self.status == "mothballed"
                or len(self.margin_history) < window):
            return
        if float(np.mean(self.margin_history[-window:])) < sc.investment_hurdle:
            return
        if self.project_tpy > 0:
            size, lead, kind = self.project_tpy, self.project_lead, "project"
            self.project_tpy = 0.0
        elif self.capacity_tpm > 0 and sc.expansion_share > 0:
            size = self.capacity_tpm * 12.0 * sc.expansion_share
            lead, kind = sc.expansion_lead_months, "expansion"
        else:
            return
        self.pipeline.append(Project(size, m.month + lead, kind))
        m.log_event(self.mine_id, "invest", f"{self.name}: commits {kind} of {size:,.0f} t "
                    f"REO/yr, ready {m.month_date(m.month + lead)}")

    # ---------------------------------------------------------------- mothball and restart
    def review_status(self) -> None:
        """Mothball, restart or exit from the mean margin of ``mothball_window_months``.

        A mothballed mine pays ``care_cost_share`` of its full-output cash cost each month; a
        restart costs ``restart_cost_months`` of it and output ramps back over
        ``restart_ramp_months``; an exit writes its capacity off.
        """
        sc = self.model.sc
        paid = self.care_cost_usd + self.restart_cost_usd
        window = sc.mothball_window_months
        mean = (float(np.mean(self.margin_history[-window:]))
                if len(self.margin_history) >= window else None)
        full_cost_usd = self.cost_usd_per_kg * self.capacity_tpm * 1e3  # US$/month
        if self.status == "mothballed":
            self.months_idle += 1
        new = next_mine_status(self.status, self.months_idle, mean, sc.mothball_margin_ratio,
                               restart_trigger(sc.restart_cost_months,
                                               sc.restart_payback_months),
                               sc.exit_after_months)
        if new != self.status:
            self._change_status(new, mean, full_cost_usd)
        if self.status == "mothballed":
            self.care_cost_usd += sc.care_cost_share * full_cost_usd
        self.month_fixed_cost_usd = self.care_cost_usd + self.restart_cost_usd - paid

    def _change_status(self, new: str, mean: float | None, full_cost_usd: float) -> None:
        m, sc = self.model, self.model.sc
        self.status = new
        margin = f"mean revenue/cost {mean:.2f}" if mean is not None else ""
        if new == "mothballed":
            self.months_idle = 0
            text = f"{self.name}: mothballed ({margin})"
        elif new == "operating":
            self.restart_step = m.month
            self.restart_cost_usd += sc.restart_cost_months * full_cost_usd
            text = (f"{self.name}: restarts after {self.months_idle} months ({margin}; restart "
                    f"cost US$ {sc.restart_cost_months * full_cost_usd / 1e6:,.1f} m)")
        else:
            self.capacity_tpm = 0.0
            self.ramps = []
            text = f"{self.name}: exits after {self.months_idle} months mothballed"
        action = {"mothballed": "mothball", "operating": "restart", "closed": "exit"}[new]
        m.log_event(self.mine_id, action, text, "model")

    # ---------------------------------------------------------------- blocs and support
    def align(self, bloc: str) -> None:
        """Sell under a state or bloc (an offtake tie); drops the previous tie."""
        self.bloc = bloc
        self.model.network.tie_miner(self.mine_id, bloc if bloc in self.model.states else None)

    def grant_floor(self, products: tuple[str, ...], usd_per_kg: float, payer: str,
                    upside_share: float) -> None:
        """Accept a price floor paid by ``payer`` on the given products."""
        for p in products:
            self.floor_usd_per_kg[p] = usd_per_kg
        self.floor_payer = payer
        self.floor_upside_share = upside_share

    def floor_payment(self, product: str, seller_price: float) -> float:
        """US$ the floor's payer owes this month on the volume the miner refines at home.

        The payer pays the gap below the floor; above it the payer takes
        ``floor_upside_share`` of the gap (a negative payment).
        """
        floor = self.floor_usd_per_kg[product]
        if floor <= 0 or not self.floor_payer:
            return 0.0
        vol_t = self.routed.get(self.refine_country, 0.0) * self.shares[product]
        gap = floor - seller_price
        if gap > 0:
            return gap * vol_t * 1000.0
        return -self.floor_upside_share * (-gap) * vol_t * 1e3

    def bloc_offers(self) -> dict[str, float] | None:
        """Revenue per kg REO under its current bloc and under every floor it may take.

        ``None`` when it cannot choose: Chinese mines, concentrate refined in China, or no
        capacity. A payer's offer pays ``max(price, floor)`` for NdPr at the payer's market,
        discounted by ``bloc_risk_discount`` x that market's perceived supply risk. Only
        offers open to the miner count: a floor that names its miners binds only them.
        """
        m = self.model
        if self.is_chinese or self.refine_country == "CHN" or self.capacity_tpm <= 0:
            return None
        node = m.cidx[self.refine_country]
        base = {p: float(m.exchange.seller_price[p][node]) for p in OXIDES}
        extra = self.byproduct_revenue()  # La/Ce sell at the same price whoever buys the NdPr
        offers = {self.bloc: revenue_per_kg(self.shares, base, self.floor_usd_per_kg) + extra}
        for payer, floor in m.floor_offers().items():
            if not m.states[payer].floor_open_to(self.mine_id):
                continue  # a floor bound to named miners (the real deals) binds only them
            if not m.may_pay(payer, self):
                continue  # e.g. US defence law excludes Chinese and Russian material
            pay_node = m.cidx[payer]
            prices = {p: float(m.exchange.price[p][pay_node]) for p in OXIDES}
            prices["light"] = max(prices["light"], floor)
            risk = float(m.risk[pay_node])
            offers[payer] = (sum(self.shares[p] * prices[p] for p in OXIDES)
                             * (1 - m.sc.bloc_risk_discount * risk) + extra)
        return offers

    def choose_bloc(self) -> None:
        """Move to the bloc that pays best net of risk, if it beats staying by enough."""
        offers = self.model.floor_offers() and self.bloc_offers()
        if not offers:
            return
        best = max(sorted(offers), key=lambda k: offers[k])
        if best == self.bloc or offers[best] <= (1 + self.model.sc.bloc_switch_gain) * offers[
                self.bloc]:
            return
        self.align(best)
        floors = self.model.floor_offers()
        if best in floors:
            self.floor_usd_per_kg["light"] = floors[best]
            self.floor_payer = best
            self.china_route = False
        self.model.log_event(self.mine_id, "offtake", f"{self.name}: sells to {best}" + (
            f" under its {floors[best]:.0f} US$/kg floor" if best in floors else ""), "choice")


def _restart_factor(miner: Miner) -> float:
    """Share of capacity a restarted mine has reached (1 unless it is ramping up)."""
    if miner.restart_step is None:
        return 1.0
    return ramp_share(miner.model.month - miner.restart_step + 1,
                      miner.model.sc.restart_ramp_months)
