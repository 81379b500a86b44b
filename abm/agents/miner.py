"""Miners: output from margins, investment with lead times, bloc choice, support contracts.

Units: t REO/month for capacity and output, US$/kg REO for cost and revenue per kg mined.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.policy import OXIDES
from abm.refining import Project
from abm.strategies import miner_utilisation, revenue_per_kg

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
        margin_history: recent revenue/cost ratios (for output and investment).
        output_tpm: this month's output, t REO.
        routed: this month's output by refining country, t REO.
        floor_usd_per_kg: price floor per product paid by ``floor_payer`` (0 = none).
        floor_payer: the state paying the floor (``""`` = none).
        floor_upside_share: share of the price above the floor the payer takes.
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

    @property
    def is_chinese(self) -> bool:
        """Whether the mine is in China (quota-governed)."""
        return self.country == "CHN"

    # ---------------------------------------------------------------- output
    def margin_ratio(self, seller_price: dict[str, np.ndarray]) -> float:
        """Revenue/cost ratio at its refining node's seller prices (with any floor)."""
        node = self.model.cidx[self.refine_country]
        prices = {p: seller_price[p][node] for p in OXIDES}
        return revenue_per_kg(self.shares, prices, self.floor_usd_per_kg) / max(
            self.cost_usd_per_kg, 1e-9)

    def planned_output(self, ratio: float, record: bool) -> float:
        """Output it wants this month, t REO: capacity x utilisation at its smoothed margin.

        Output follows the mean margin of the last ``output_smoothing_months`` (no cobweb on
        one month's price). ``record`` stores this month's margin in its history (the real
        month; what-ifs do not).
        """
        sc = self.model.sc
        keep = max(sc.investment_window_months, sc.output_smoothing_months)
        k = sc.output_smoothing_months
        if record:
            self.margin_history = (self.margin_history + [ratio])[-keep:]
            recent = self.margin_history[-k:]
        else:
            recent = (self.margin_history[-(k - 1):] if k > 1 else []) + [ratio]
        smooth = float(np.mean(recent)) if recent else ratio
        return self.capacity_tpm * miner_utilisation(smooth, sc.min_margin_ratio)

    def record_output(self, home: float, to_china: float) -> None:
        """Store this month's refined output by route, t REO."""
        self.output_tpm = home + to_china
        self.routed = ({self.refine_country: home, "CHN": to_china}
                       if self.refine_country != "CHN" else {"CHN": home})

    # ---------------------------------------------------------------- investment
    def invest(self) -> None:
        """Capacity growth (China's quota), finished projects, and new commitments.

        China's mines grow with ``china_capacity_growth_per_yr``. Elsewhere a miner whose mean
        margin over ``investment_window_months`` beats ``investment_hurdle`` commits its next
        project (from mines.csv) or a brownfield expansion; capacity arrives after the lead
        time, and its refining country's separation grows with it.
        """
        m, sc = self.model, self.model.sc
        if self.is_chinese:
            self.capacity_tpm *= m.china_growth
        for pr in [pr for pr in self.pipeline if pr.ready_step <= m.month]:
            self.capacity_tpm += pr.tonnes_reo_per_yr / 12.0
            self.pipeline.remove(pr)
            if self.refine_country != "CHN":
                m.refining.add(self.refine_country, pr.tonnes_reo_per_yr / 12.0)
            m.log_event(self.mine_id, "capacity_online",
                        f"{self.name}: +{pr.tonnes_reo_per_yr:,.0f} t REO/yr in production")
        window = sc.investment_window_months
        if self.is_chinese or self.pipeline or len(self.margin_history) < window:
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
        discounted by ``bloc_risk_discount`` x that market's perceived supply risk.
        """
        m = self.model
        if self.is_chinese or self.refine_country == "CHN" or self.capacity_tpm <= 0:
            return None
        node = m.cidx[self.refine_country]
        base = {p: float(m.exchange.seller_price[p][node]) for p in OXIDES}
        offers = {self.bloc: revenue_per_kg(self.shares, base, self.floor_usd_per_kg)}
        for payer, floor in m.floor_offers().items():
            if not m.may_pay(payer, self):
                continue  # e.g. US defence law excludes Chinese and Russian material
            pay_node = m.cidx[payer]
            prices = {p: float(m.exchange.price[p][pay_node]) for p in OXIDES}
            prices["light"] = max(prices["light"], floor)
            risk = float(m.risk[pay_node])
            offers[payer] = (sum(self.shares[p] * prices[p] for p in OXIDES)
                             * (1 - m.sc.bloc_risk_discount * risk))
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
