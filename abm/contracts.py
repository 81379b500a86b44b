"""Offtake contracts: volumes delivered outside the market, with a price rule and take-or-pay.

A :class:`Contract` binds a miner (the seller) to a buyer state for a volume per month (t of
NdPr oxide, t of Dy/Tb oxide, or t REO of the miner's mix) over a number of months, at a price
set by a rule: ``fixed`` (US$/kg), ``collar`` (the market price kept between a floor and a
ceiling) or ``market``. The market price is the seller's node price of the month before, per
kg of the product (per kg REO, the value of its NdPr and Dy/Tb, for ``reo`` contracts).

Each month, before the market (:meth:`ContractBook.plan`), every active contract delivers from
the oxide its miner refined in its own refining country this month: the buyer takes the whole
volume when the contract price is at or below its own market price, and otherwise only the
take-or-pay share (which it pays for anyway, so it takes it). The delivered oxide is withheld
from the seller's market supply (``SupplyPlan.contracted``) and arrives as inventory of the
buyer country's firms when the month settles (:meth:`ContractBook.settle`). A delivery across
a border whose seller country restricts exports of the product to the buyer is suspended for
the month (force majeure): the volume goes to the market at home.

The book also creates contracts that importing states seek when they feel insecure
(:meth:`ContractBook.seek`): a collar around the current price with a miner outside China that
the state's law lets it deal with, accepted by the miner when the floor covers its cash cost.

Units: t/month, US$/kg, US$.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from abm.errors import InputError
from abm.policy import OXIDES

__all__ = ["Contract", "ContractBook", "Delivery", "PRICE_RULES", "CONTRACT_PRODUCTS",
           "contract_price", "taken_share", "check_contract"]

PRICE_RULES = ("fixed", "collar", "market")
CONTRACT_PRODUCTS = (*OXIDES, "reo")


def contract_price(rule: str, market: float, usd_per_kg: float = 0.0, floor: float = 0.0,
                   ceiling: float = float("inf")) -> float:
    """Price per kg under a contract's rule at a market price, US$/kg."""
    if rule == "fixed":
        return usd_per_kg
    if rule == "collar":
        return min(max(market, floor), ceiling)
    return market


def taken_share(price: float, buyer_market: float, take_or_pay: float) -> float:
    """Share of the contracted volume the buyer takes (and pays for).

    All of it when the contract price is at or below what the buyer would pay on its market;
    otherwise only the take-or-pay share.
    """
    return 1.0 if price <= buyer_market else take_or_pay


@dataclass
class Contract:
    """An offtake contract between a miner and a buyer state.

    Attributes:
        miner: seller's mine id.
        buyer: buyer state code (its firms receive the oxide).
        product: ``light``, ``heavy`` or ``reo`` (the miner's mix of both, per t REO).
        tonnes_per_month: contracted volume, t of the product (t REO for ``reo``) per month.
        start: first month of delivery (model step).
        months: duration, months.
        rule: ``fixed``, ``collar`` or ``market``.
        usd_per_kg: fixed price, US$/kg (``fixed``).
        floor: collar floor, US$/kg.
        ceiling: collar ceiling, US$/kg.
        take_or_pay: share of the volume the buyer pays for (and takes) in any case.
        delivered_t: product -> t delivered so far.
        paid_usd: US$ paid so far by the buyer.
    """

    miner: str
    buyer: str
    product: str
    tonnes_per_month: float
    start: int
    months: int
    rule: str = "market"
    usd_per_kg: float = 0.0
    floor: float = 0.0
    ceiling: float = float("inf")
    take_or_pay: float = 1.0
    delivered_t: dict[str, float] = field(default_factory=lambda: dict.fromkeys(OXIDES, 0.0))
    paid_usd: float = 0.0

    @property
    def end(self) -> int:
        """First month after the contract (model step)."""
        return self.start + self.months

    def active(self, month: int) -> bool:
        """Whether the contract delivers in ``month``."""
        return self.start <= month < self.end

    def volumes(self, shares: dict[str, float]) -> dict[str, float]:
        """Contracted t per month of each product (``reo``: the miner's mix)."""
        if self.product == "reo":
            return {p: self.tonnes_per_month * shares.get(p, 0.0) for p in OXIDES}
        return {p: self.tonnes_per_month if p == self.product else 0.0 for p in OXIDES}

    def market_value(self, shares: dict[str, float], prices: dict[str, float]) -> float:
        """Market price per kg of the contract's unit (kg of the product, or kg REO), US$."""
        if self.product == "reo":
            return sum(shares.get(p, 0.0) * prices[p] for p in OXIDES)
        return prices[self.product]

    def price(self, shares: dict[str, float], prices: dict[str, float]) -> float:
        """Contract price per kg of its unit at the given market prices, US$/kg."""
        return contract_price(self.rule, self.market_value(shares, prices), self.usd_per_kg,
                              self.floor, self.ceiling)

    def describe(self) -> str:
        """Short text for the event log."""
        rule = {"fixed": f"fixed {self.usd_per_kg:,.1f} US$/kg",
                "collar": f"collar {self.floor:,.1f}-{self.ceiling:,.1f} US$/kg",
                "market": "market price"}[self.rule]
        return (f"{self.tonnes_per_month:,.0f} t/month of {self.product} for {self.months} "
                f"months at {rule}, take-or-pay {self.take_or_pay:.0%}")


@dataclass
class Delivery:
    """One contract's delivery this month: t per product and the price per kg of its unit."""

    contract: Contract
    tonnes: dict[str, float]
    units_t: float
    price: float
    seller_node: int
    buyer_node: int


class ContractBook:
    """Every offtake contract, their monthly deliveries, payments and payoff terms.

    Attributes:
        contracts: the contracts signed (active, future and ended), in signing order.
        month_terms: state code -> this month's ``contracts`` payoff term, US$ million.
    """

    def __init__(self):
        self.contracts: list[Contract] = []
        self.month_terms: dict[str, float] = {}

    def add(self, contract: Contract) -> None:
        """Sign a contract."""
        self.contracts.append(contract)

    def active_for(self, mine_id: str, month: int) -> list[Contract]:
        """The miner's contracts delivering in ``month``."""
        return [c for c in self.contracts if c.miner == mine_id and c.active(month)]

    # ---------------------------------------------------------------- a miner's revenue
    def miner_revenue(self, model, miner, prices: dict[str, float],
                      floors: dict[str, float]) -> float | None:
        """Revenue per kg REO of a miner at full output with its contracts, US$/kg.

        Contracted volume (at most its output) earns the contract price, the rest the market
        price (or its floor). ``None`` when it has no active contract or no capacity.
        """
        active = self.active_for(miner.mine_id, model.month)
        cap = miner.capacity_tpm
        if not active or cap <= 0:
            return None
        left = {p: cap * miner.shares.get(p, 0.0) for p in OXIDES}
        usd_k = 0.0  # US$ thousand per month
        for c in active:
            want = c.volumes(miner.shares)
            frac = min([1.0] + [left[p] / want[p] for p in OXIDES if want[p] > 0])
            buyer = self._market_prices(model, model.cidx[c.buyer])
            price = c.price(miner.shares, prices)
            take = taken_share(price, c.market_value(miner.shares, buyer), c.take_or_pay)
            for p in OXIDES:
                left[p] -= want[p] * frac * take
            usd_k += c.tonnes_per_month * frac * take * price
        usd_k += sum(left[p] * max(prices[p], floors[p]) for p in OXIDES)
        return usd_k / cap

    @staticmethod
    def _market_prices(model, node: int) -> dict[str, float]:
        return {p: float(model.exchange.price[p][node]) for p in OXIDES}

    # ---------------------------------------------------------------- the month
    def plan(self, model, supply) -> None:
        """Set this month's deliveries on a supply plan (changes nothing else).

        Fills ``supply.contracted`` (withheld at seller nodes), ``supply.arrivals`` (buyer
        nodes) and ``supply.deliveries``.
        """
        supply.deliveries = []
        left: dict[str, dict[str, float]] = {}
        for c in self.contracts:
            if not c.active(model.month):
                continue
            miner = model.miner(c.miner)
            s, b = model.cidx[miner.refine_country], model.cidx[c.buyer]
            if not self._deliverable(model, miner.refine_country, c.buyer):
                continue
            home = supply.routes.get(c.miner, (0.0, 0.0))[0]
            have = left.setdefault(c.miner, {p: home * miner.shares.get(p, 0.0)
                                            for p in OXIDES})
            seller = {p: float(model.exchange.seller_price[p][s]) for p in OXIDES}
            price = c.price(miner.shares, seller)
            take = taken_share(price, c.market_value(miner.shares, self._market_prices(model, b)),
                               c.take_or_pay)
            want = {p: q * take for p, q in c.volumes(miner.shares).items()}
            # the share of the contract that can be met: only a shortfall can bind (a
            # product with enough, however tiny its volume, would only add a ratio >= 1)
            frac = min([1.0] + [have[p] / want[p] for p in OXIDES if want[p] > have[p]])
            # never more than is there (min: no rounding can withhold more than was refined)
            tonnes = {p: min(want[p] * frac, have[p]) for p in OXIDES}
            if sum(tonnes.values()) <= 0:
                continue
            for p in OXIDES:
                have[p] -= tonnes[p]
                supply.contracted[p][s] += tonnes[p]
                supply.arrivals[p][b] += tonnes[p]
            units = c.tonnes_per_month * take * frac
            supply.deliveries.append(Delivery(c, tonnes, units, price, s, b))

    @staticmethod
    def _deliverable(model, seller_country: str, buyer: str) -> bool:
        """Whether the seller country's export policy lets contract oxide reach the buyer."""
        if seller_country == buyer:
            return True
        for p in OXIDES:
            pol = (model.regime.get(seller_country, buyer, p)
                   or model.regime.get(seller_country, "all", p))
            if pol is not None and pol.instrument != "open":
                return False
        return True

    def settle(self, model, supply) -> None:
        """Deliver the month's contract oxide to buyers' firms, book payments and terms.

        The buyer state's term is the saving against its market price (negative when it
        takes volume dearer than the market under take-or-pay); the seller country's term is
        its refiners' contract revenue (their market sales are in the ``revenue`` term).
        Contracts that end this month are logged.
        """
        self.month_terms = {}
        for p in OXIDES:
            if supply.arrivals[p].sum() > 0:
                model.firms.take_delivery(p, supply.arrivals[p])
        for d in supply.deliveries:
            c = d.contract
            usd = d.units_t * d.price * 1e3
            c.paid_usd += usd
            for p in OXIDES:
                c.delivered_t[p] += d.tonnes[p]
            buyer_prices = {p: float(model.exchange.price[p][d.buyer_node]) for p in OXIDES}
            shares = model.miner(c.miner).shares
            market = d.units_t * c.market_value(shares, buyer_prices) * 1e3
            seller = model.countries[d.seller_node]
            self.month_terms[c.buyer] = self.month_terms.get(c.buyer, 0.0) + (market - usd) * 1e-6
            self.month_terms[seller] = self.month_terms.get(seller, 0.0) + usd * 1e-6
        for c in self.contracts:
            if c.end == model.month + 1:
                model.log_event(c.buyer, "contract_end", f"{c.buyer}: offtake from {c.miner} "
                                f"ends ({sum(c.delivered_t.values()):,.0f} t delivered, "
                                f"US$ {c.paid_usd / 1e6:,.1f} m paid)")

    def term(self, code: str) -> float:
        """This month's ``contracts`` payoff term of a state, US$ million."""
        return self.month_terms.get(code, 0.0)

    # ---------------------------------------------------------------- signing
    def seek(self, model, state) -> Contract | None:
        """An insecure importing state signs an NdPr offtake with a miner, if one accepts.

        The state seeks one when its perceived risk exceeds ``offtake_risk_threshold``:
        ``offtake_use_share`` of its monthly NdPr use for ``offtake_contract_months`` months
        at a collar ``offtake_collar_share`` around the miner's current price, take-or-pay
        ``offtake_take_or_pay``. Candidates are miners outside China, refined outside China,
        producing, not mothballed, that the state's law lets it deal with and that are not
        tied to another state's bloc; the one with the most NdPr not yet contracted is asked
        first. A miner accepts when the collar's floor covers its cash cost. A state holds one
        such contract at a time (signed, running or about to start).
        """
        sc, i = model.sc, state.index
        if float(model.risk[i]) <= sc.offtake_risk_threshold:
            return None
        want = sc.offtake_use_share * float(model.demand_tpm["light"][i])
        if want <= 0 or any(c.buyer == state.code and c.end > model.month
                            for c in self.contracts):
            return None
        best, room = None, 0.0
        for m in self._candidates(model, state):
            free = m.capacity_tpm * m.shares["light"] - sum(
                c.volumes(m.shares)["light"] for c in self.active_for(m.mine_id, model.month))
            if free > room:
                best, room = m, free
        if best is None:
            return None
        node = model.cidx[best.refine_country]
        now = float(model.exchange.seller_price["light"][node])
        band = sc.offtake_collar_share
        floor = now * (1 - band)
        others = sum(best.shares.get(p, 0.0) * float(model.exchange.seller_price[p][node])
                     for p in OXIDES if p != "light")
        if floor * best.shares["light"] + others < best.cost_usd_per_kg:
            return None  # the floor does not cover the miner's cash cost: it declines
        c = Contract(best.mine_id, state.code, "light", min(want, room), model.month + 1,
                     sc.offtake_contract_months, "collar", floor=floor,
                     ceiling=now * (1 + band), take_or_pay=sc.offtake_take_or_pay)
        self.add(c)
        model.log_event(state.code, "offtake_contract",
                        f"{state.name}: offtake with {best.name}: {c.describe()}", "choice")
        return c

    @staticmethod
    def _candidates(model, state) -> list:
        allied = {"", "none", state.code} | ({state.bloc} if state.bloc else set())
        allied |= {c for c, s in model.states.items() if state.bloc and s.bloc == state.bloc}
        return [m for m in model.miners
                if not m.is_chinese and m.refine_country != "CHN" and m.capacity_tpm > 0
                and m.status == "operating" and model.may_pay(state.code, m)
                and m.bloc in allied]


def check_contract(model, contract: Contract) -> None:
    """Reject a contract whose miner or buyer cannot deliver or receive.

    Raises:
        InputError: unknown miner, or a buyer whose firms do not use a product the contract
            delivers (its oxide would have nowhere to go).
    """
    miner = model.miner(contract.miner)
    if miner is None:
        raise InputError(f"event at {model.date}: unknown miner {contract.miner!r}")
    b = model.cidx[contract.buyer]
    for p, q in contract.volumes(miner.shares).items():
        if q > 0 and model.demand_tpm[p][b] <= 0:
            raise InputError(f"event at {model.date}: {contract.buyer}'s firms use no {p}, "
                             f"which the contract with {contract.miner} would deliver")
