"""States: strategic stockpiles, export policy, policy at home, alliances, payoffs, learning.

A :class:`State` decides at its decision months (when free) an export, a stockpile, an
alliance and (a dominant producer) a domestic strategy: it values every strategy of a domain
(:mod:`abm.valuation`), updates its experience-weighted attractions and chooses by logit
(:mod:`abm.learning`), then puts the choice into force through the policy actions
(:mod:`abm.actions`). At home it may cap its mines' output by quotas, fight illegal mining and
run its reserve by a price band (:mod:`abm.domestic`); an insecure importer may sign offtake
contracts (:mod:`abm.contracts`). After each market it scores its payoff (:mod:`abm.payoff`).
Units: t, US$/kg, US$ million/month.
"""

from __future__ import annotations

import mesa

from abm import payoff
from abm.actions import apply_action
from abm.domestic import DomesticPolicy, quota_caps, reserve_orders
from abm.errors import ConservationError
from abm.learning import ewa_update, logit_choice
from abm.policy import OXIDES, PRODUCTS
from abm.strategies import (
    DOMAINS,
    STRATEGIES,
    is_importer,
    recognise,
    strategy_names,
    targets_outside_bloc,
)
from abm.valuation import forgone_payoffs

__all__ = ["State"]


class State(mesa.Agent):
    """A state: strategic stockpile per product, stockpile mode, bloc, payoff and learning.

    Attributes:
        code: ISO-like code (``CHN``, ``USA``, ``JPN``, ...).
        name: English name.
        player: whether the state chooses strategies (``ROW`` is a passive aggregate).
        stockpile: t per product held by the state.
        stockpile_mode: ``build``, ``hold`` or ``release`` per product.
        pinned: decision domains fixed by the timeline or by a player (not chosen by learning).
        fixed: domains fixed for the whole run by a ``strategy.`` override (never unpinned).
        attractions: learned attraction per domain and strategy (experience-weighted).
        experience: EWA experience weight per domain.
        payoff: last payoff (sum of ``payoff_parts``), US$ million/month.
        payoff_parts: last payoff by term (:data:`abm.payoff.TERMS`).
        floor_offer_usd_per_kg: the NdPr price floor the state offers miners (None = none).
        floor_offer_miners: the miners a floor offer is bound to (``None``: open to any miner
            its law lets it pay, through their bloc choice).
        floor_cost_usd: cumulative price-floor payments, US$.
        domestic: its policy at home (:class:`abm.domestic.DomesticPolicy`), its
            enforcement against smuggling and illegal mining among it.
    """

    def __init__(self, model, code: str, name: str, player: bool, stockpile: dict[str, float]):
        super().__init__(model)
        self.code = code
        self.name = name
        self.player = player
        self.stockpile = {p: float(stockpile[p]) for p in OXIDES}
        self.stockpile_mode = dict.fromkeys(OXIDES, "hold")
        self.pinned: set[str] = set()
        self.fixed: set[str] = set()
        self.attractions: dict[str, dict[str, float]] = {}
        self.experience: dict[str, float] = {}
        self.payoff = 0.0
        self.payoff_parts: dict[str, float] = {}
        self.floor_offer_usd_per_kg: float | None = None
        self.floor_offer_miners: frozenset[str] | None = None
        self.floor_cost_usd = 0.0
        self._floor_cost_seen = 0.0
        self.domestic = DomesticPolicy(enforcement=float(model.sc.enforcement))

    # ---------------------------------------------------------------- simple state
    @property
    def bloc(self) -> str:
        """The alliance the state belongs to (``""`` = none); owned by the alliance network."""
        return self.model.network.bloc(self.code)

    @property
    def index(self) -> int:
        """The state's node index in the market."""
        return self.model.cidx[self.code]

    def add_stock(self, product: str, tonnes: float) -> None:
        """Add (or with a negative number, take) tonnes to the stockpile, never below zero."""
        new = self.stockpile[product] + tonnes
        if new < -1e-9 * max(1.0, abs(tonnes)):
            raise ConservationError(f"{self.code} stockpile of {product} would go negative")
        self.stockpile[product] = max(new, 0.0)

    def set_stockpile_mode(self, products: tuple[str, ...], mode: str) -> None:
        """Build, hold or release the stockpile of the given oxides (magnets are not kept)."""
        for p in products:
            if p in self.stockpile_mode:
                self.stockpile_mode[p] = mode

    def offer_floor(self, usd_per_kg: float, miners: list[str] | None = None) -> None:
        """Offer a price floor (US$/kg NdPr) paid by this state.

        Args:
            usd_per_kg: the floor.
            miners: the miners the offer is bound to (the real deals name them); ``None``
                opens it to every miner the state's law lets it pay.
        """
        self.floor_offer_usd_per_kg = usd_per_kg
        self.floor_offer_miners = frozenset(miners) if miners is not None else None

    def floor_open_to(self, mine_id: str) -> bool:
        """Whether this state's floor offer (if any) is open to the miner."""
        return self.floor_offer_miners is None or mine_id in self.floor_offer_miners

    def quota_caps(self) -> dict[str, float]:
        """Legal output each mine in the state's country may produce, t REO/month.

        From its quotas (:func:`abm.domestic.quota_caps`); ``inf`` where none caps.
        """
        mines = [(m.mine_id, m.deposit, m.capacity_tpm) for m in self.model.miners
                 if m.country == self.code]
        return quota_caps(mines, self.domestic, self.model.sc.separation_recovery)

    def pay_floor(self, usd: float) -> None:
        """Record a price-floor payment (negative: the state's share of the upside), US$."""
        self.floor_cost_usd += usd

    def pin(self, domain: str) -> None:
        """Keep a decision domain out of the state's learning (scripted or played)."""
        self.pinned.add(domain)

    def unpin(self, domain: str) -> None:
        """Hand a domain back to the state's learning (unless fixed for the run)."""
        if domain not in self.fixed:
            self.pinned.discard(domain)

    def unpin_all(self) -> None:
        """Hand every domain back to learning (a ``free`` event), except fixed ones."""
        self.pinned = set(self.fixed)

    # ---------------------------------------------------------------- market orders
    def bids(self, product: str) -> list[tuple[int, float, float]]:
        """A building state's order: [(node, t this month, limit price US$/kg)] or none.

        It buys ``stockpile_build_share`` of its monthly use until the stockpile reaches
        ``stockpile_target_months`` of use, at up to ``stockpile_max_price_ratio`` x the
        reference price. A reserve band in force for the product replaces the stockpile
        mode: the reserve bids at the band's support price (:func:`abm.domestic.reserve_orders`).
        """
        band = self.domestic.reserve_band.get(product)
        if band is not None:
            want, limit, _q, _ask = reserve_orders(self.stockpile[product], band,
                                                   self.model.sc.reserve_release_share)
            return [(self.index, want, limit)] if want > 0 else []
        if self.stockpile_mode.get(product) != "build":
            return []
        sc, m = self.model.sc, self.model
        i = self.index
        target = sc.stockpile_target_months * m.oxide_use_tpm[product][i]
        want = min(sc.stockpile_build_share * m.oxide_use_tpm[product][i],
                   max(target - self.stockpile[product], 0.0))
        if want <= 0:
            return []
        return [(i, want, sc.stockpile_max_price_ratio * m.p_ref[product])]

    def offers(self, product: str) -> list[tuple[int, float, float]]:
        """A releasing state's offer: [(node, t, ask)], or none when it is not releasing.

        It offers ``stockpile_release_share`` of its stock at ``stockpile_release_price_ratio``
        x the reference price; under a reserve band, the band's offer at its ceiling.
        """
        band = self.domestic.reserve_band.get(product)
        if band is not None:
            _w, _limit, q, ask = reserve_orders(self.stockpile[product], band,
                                                self.model.sc.reserve_release_share)
            return [(self.index, q, ask)] if q > 0 else []
        if self.stockpile_mode.get(product) == "release" and self.stockpile.get(product, 0) > 0:
            sc = self.model.sc
            return [(self.index, self.stockpile[product] * sc.stockpile_release_share,
                     sc.stockpile_release_price_ratio * self.model.p_ref[product])]
        return []

    def take_sales(self, product: str, tonnes: list[float]) -> None:
        """Hand over what the stockpile sold."""
        for t in tonnes:
            self.add_stock(product, -t)

    def take_purchases(self, product: str, tonnes: list[float]) -> None:
        """Receive what the stockpile bought."""
        for t in tonnes:
            self.add_stock(product, t)

    # ---------------------------------------------------------------- deciding
    def decision_month(self) -> bool:
        """Whether free states decide this month (scenario's ``free_from`` and interval)."""
        sc, m = self.model.sc, self.model
        if not sc.free_from:
            return False
        if sc.free_from != "start" and m.date < sc.free_from:
            return False
        return m.month % sc.decision_interval_months == 0

    def decide(self) -> None:
        """Choose strategies in every free domain at a decision month (EWA + logit)."""
        if not self.player or not self.decision_month():
            return
        sc = self.model.sc
        for domain, spec in DOMAINS.items():
            if domain in self.pinned or not spec.eligible(self.model, self):
                continue
            options = strategy_names(domain)
            payoffs = forgone_payoffs(self.model, self, domain, options)
            att = self.attractions.setdefault(domain, dict.fromkeys(options, 0.0))
            current = recognise(self.model, self, domain)
            ewa_update(att, self.experience, domain, current, payoffs, sc.ewa_memory,
                       sc.ewa_imagination)
            choice = logit_choice(att, sc.logit_intensity, self.model.rng)
            if choice != current or domain == "domestic" and choice != "steady":
                self.enact(domain, choice, source="choice")
        if "alliance" not in self.pinned and is_importer(self.model, self.code):
            self.model.contracts.seek(self.model, self)

    def enact(self, domain: str, name: str, *, source: str, pin: bool = False) -> None:
        """Put a strategy into force now (a new export strategy replaces the old one).

        Domestic strategies that move quotas (``expand``, ``cut``) move them again each time
        they are chosen.
        """
        if domain == "export":
            self.model.regime.clear(self.code)
        for action, args in STRATEGIES[name].actions(self.model, self):
            apply_action(self.model, self.code, action, args, pin=pin, source=source)
        if domain == "domestic":
            self.domestic.stance = name
        if pin:
            self.pin(domain)

    # ---------------------------------------------------------------- scoring
    def restricted_targets(self, regime) -> list[str]:
        """States the given regime lets this state restrict, in country order."""
        restricted = regime.restricted_targets(self.code)
        if "all" in restricted:
            return targets_outside_bloc(self.model, self)
        return [c for c in self.model.countries if c in restricted]

    def score(self, results: dict, orders: dict) -> None:
        """Compute this month's payoff terms (:mod:`abm.payoff`) after the market cleared."""
        m = self.model
        w = m.payoff_weights
        i = self.index
        use = {p: float(m.demand_tpm[p][i]) for p in PRODUCTS}
        oxide_use = {p: float(m.oxide_use_tpm[p][i]) for p in OXIDES}
        # the month's results: the exchange has their world prices (the same measure)
        parts = payoff.market_payoff(m, self.code, results, self.restricted_targets(m.regime),
                                     w, orders, m.exchange.world_price)
        parts["stockpile"] = payoff.stockpile_carry(w["stockpile_carry_per_yr"],
                                                    self.stockpile, m.p_ref)
        parts["security"] = payoff.security(w["security_weight"], float(m.risk[i]), oxide_use,
                                            m.p_ref, self.stockpile,
                                            m.sc.stockpile_target_months)
        parts["floor"] = -(self.floor_cost_usd - self._floor_cost_seen) * 1e-6
        self._floor_cost_seen = self.floor_cost_usd
        parts["mining"] = payoff.mining_cost(self.code, m.miners, m.last_month.plan.supply,
                                             m.sc.illegal_cost_ratio)
        parts["contracts"] = m.contracts.term(self.code)
        parts["alliance"] = (payoff.alliance_cost(w["membership_cost_share"],
                                                  payoff.use_value(use, m.p_ref))
                             if self.bloc else 0.0)
        self.payoff_parts = parts
        self.payoff = float(sum(parts.values()))
