"""A state's policy at home: production quotas, enforcement, illegal mining, reserve band.

China manages its industry at home as well as at the border: a mining quota (t REO/yr, split
into light and ionic-clay shares from 2011), a separation quota on the concentrate mined at
home, campaigns against illegal mining, and purchases and releases by its state reserve.
:class:`DomesticPolicy` holds what a state has in force; the rules are pure functions of
numbers, so they can be solved by hand:

- :func:`quota_caps`: the legal output each home mine may produce under the quotas;
- :func:`illegal_output`: output mined outside the quota on capacity the quota idles, growing
  with the illegal miners' margin and shrinking with enforcement;
- :func:`reserve_orders`: the state reserve's bid at the band's support price and its offer
  at the ceiling price.

Imported concentrate is separated outside the separation quota: China's 2023-2024 separation
quotas (243,850 and 254,000 t) were below its mining quotas (255,000 and 270,000 t) while it
also separated concentrate from Myanmar and the USA (``data/china_policy_history.csv``;
USGS MCS 2025). Units: t REO/yr for quotas, t REO/month for caps and output, US$/kg.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["DomesticPolicy", "ReserveBand", "LIGHT", "IONIC", "deposit_kind", "quota_caps",
           "illegal_output", "reserve_orders", "BAND_GAP"]

LIGHT = "light"
IONIC = "ionic_clay"
#: a band's ceiling is at least this factor above its support (no wash trades at one price)
BAND_GAP = 1.001


@dataclass(frozen=True)
class ReserveBand:
    """A state reserve's price rule for one product.

    Attributes:
        support: the reserve buys at or below this price, US$/kg.
        ceiling: it sells at or above this price, US$/kg (``inf`` = never).
        buy_tpm: most it buys per month, t.
        target_t: it buys until its stock of the product reaches this, t.
    """

    support: float
    ceiling: float
    buy_tpm: float
    target_t: float


@dataclass
class DomesticPolicy:
    """What a state has in force at home (nothing by default).

    Attributes:
        mining_quota_tpy: cap on the legal output of its mines, t REO/yr (``None`` = none).
        light_quota_tpy: cap on its light-deposit mines, t REO/yr (``None`` = not split).
        ionic_quota_tpy: cap on its ionic-clay mines, t REO/yr (``None`` = not split).
        separation_quota_tpy: cap on separating concentrate mined at home, t REO/yr.
        enforcement: share of illegal output stopped (0-1).
        reserve_band: product -> the state reserve's price band (:class:`ReserveBand`).
        stance: the domestic strategy last enacted (``""`` when scripted or none).
    """

    mining_quota_tpy: float | None = None
    light_quota_tpy: float | None = None
    ionic_quota_tpy: float | None = None
    separation_quota_tpy: float | None = None
    enforcement: float = 0.0
    reserve_band: dict[str, ReserveBand] = field(default_factory=dict)
    stance: str = ""

    def copy(self) -> DomesticPolicy:
        """An independent copy (for what-if valuation)."""
        return replace(self, reserve_band=dict(self.reserve_band))

    @property
    def has_mining_quota(self) -> bool:
        """Whether any mining quota is in force (illegal mining is output outside it)."""
        return any(q is not None for q in (self.mining_quota_tpy, self.light_quota_tpy,
                                           self.ionic_quota_tpy))

    @property
    def has_quota(self) -> bool:
        """Whether any quota caps the state's mines."""
        return self.has_mining_quota or self.separation_quota_tpy is not None


def deposit_kind(heavy_share: float, ionic_heavy_share: float) -> str:
    """``ionic_clay`` for a deposit with at least ``ionic_heavy_share`` t Dy/Tb per t REO."""
    return IONIC if heavy_share >= ionic_heavy_share else LIGHT


def _kind_caps(policy: DomesticPolicy, capacity: dict[str, float]) -> dict[str, float]:
    """Monthly cap per deposit kind from the mining quotas (``inf`` where uncapped)."""
    own = {LIGHT: policy.light_quota_tpy, IONIC: policy.ionic_quota_tpy}
    caps = {k: own[k] / 12.0 if own[k] is not None else float("inf") for k in capacity}
    if policy.mining_quota_tpy is not None:
        total = policy.mining_quota_tpy / 12.0
        given = sum(caps[k] for k in capacity if own[k] is not None)
        if given > total:  # the split asks for more than the total: scale it down
            for k in capacity:
                if own[k] is not None:
                    caps[k] *= total / given
            given = total
        rest = [k for k in capacity if own[k] is None]
        rest_cap = sum(capacity[k] for k in rest)
        for k in rest:  # kinds without their own quota share what is left, by capacity
            caps[k] = ((total - given) * capacity[k] / rest_cap if rest_cap > 0
                       else (total - given) / len(rest))
    return caps


def quota_caps(mines: list[tuple[str, str, float]], policy: DomesticPolicy,
               recovery: float = 1.0) -> dict[str, float]:
    """Legal output each home mine may produce this month under the state's quotas.

    Each deposit kind's cap is its own quota, or its capacity share of the total quota (what
    the kinds with their own quota leave); the separation quota then scales every kind down
    in proportion so that the legal output it allows (at most its capacity) fits in the
    separation quota. Within a kind, mines share the cap in proportion to capacity.

    The separation quota counts separated oxide; the mining quota and the model's flows count
    REO in concentrate. ``recovery`` (t separated per t REO fed) converts the first into the
    second: a separation quota of Q t allows Q / recovery t REO of concentrate.

    Args:
        mines: (mine id, deposit kind, capacity t REO/month) of the state's home mines.
        policy: the state's domestic policy.
        recovery: t of separated oxide per t REO of concentrate (0-1].

    Returns:
        mine id -> t REO/month (``inf`` when no quota caps the mine).
    """
    if not policy.has_quota:
        return {mid: float("inf") for mid, _k, _c in mines}
    capacity: dict[str, float] = {}
    for _mid, kind, cap in mines:
        capacity[kind] = capacity.get(kind, 0.0) + cap
    caps = _kind_caps(policy, capacity)
    if policy.separation_quota_tpy is not None:
        wanted = sum(min(caps[k], capacity[k]) for k in capacity)
        allowed = policy.separation_quota_tpy / 12.0 / max(recovery, 1e-9)
        scale = min(1.0, allowed / wanted) if wanted > 0 else 1.0
        caps = {k: min(caps[k], capacity[k]) * scale for k in capacity}
    return {mid: (caps[kind] * cap / capacity[kind] if capacity[kind] > 0 else 0.0)
            for mid, kind, cap in mines}


def illegal_output(potential_tpm: float, revenue_per_kg: float, legal_cost_per_kg: float,
                   cost_ratio: float, full_margin_ratio: float, enforcement: float) -> float:
    """T REO/month mined outside the quota.

    ``potential x u x (1 - enforcement)``, where the illegal miners' revenue/cost ratio
    ``r = revenue / (legal cost x cost_ratio)`` sets ``u = (r - 1) / (full_margin_ratio - 1)``
    clipped to [0, 1]: nothing below cost, the whole potential from ``full_margin_ratio`` up.

    Args:
        potential_tpm: illegal mining capacity (``illegal_capacity_share`` x the capacity the
            quota idles), t REO/month.
        revenue_per_kg: revenue per kg REO at the home price, US$/kg.
        legal_cost_per_kg: the legal mine's cash cost, US$/kg REO.
        cost_ratio: illegal cost as a multiple of the legal cost.
        full_margin_ratio: ratio at which the whole potential runs (> 1).
        enforcement: share of illegal output stopped (0-1).
    """
    if potential_tpm <= 0:
        return 0.0
    ratio = revenue_per_kg / max(legal_cost_per_kg * cost_ratio, 1e-9)
    use = min(max((ratio - 1.0) / max(full_margin_ratio - 1.0, 1e-9), 0.0), 1.0)
    return potential_tpm * use * (1.0 - min(max(enforcement, 0.0), 1.0))


def reserve_orders(stock_t: float, band: ReserveBand,
                   release_share: float) -> tuple[float, float, float, float]:
    """A state reserve's orders under a price band for one product this month.

    The reserve bids for ``band.buy_tpm`` (no more than its stock lacks to ``band.target_t``)
    at the support price, so it buys only when the price is at or below it, and offers
    ``release_share`` of its stock at the ceiling price (at least ``BAND_GAP`` times the
    support), so it sells only when the price is at or above it; with an infinite ceiling it
    offers nothing.

    Returns:
        (t bid, limit price, t offered, ask), t and US$/kg.
    """
    want = min(band.buy_tpm, max(band.target_t - stock_t, 0.0))
    ask = max(band.ceiling, band.support * BAND_GAP)
    offer = stock_t * release_share if ask != float("inf") else 0.0
    return max(want, 0.0), band.support, max(offer, 0.0), ask
