"""Separation (refining) capacity, projects under construction, ramp-ups, and routing.

Refining is the chokepoint: concentrate from a mine is refined in its own refining country
while that country has room, otherwise in China (when the miner may ship there), where the
oxide counts as Chinese and falls under China's export policy. Refiners take the most valuable
feed first (highest revenue per kg REO). Output mined illegally outside a state's mining quota
is separated at home outside any capacity or quota (by unlicensed plants).

New capacity, of plants here and of mines (:class:`Ramp`), does not arrive at full output in
one month: it rises linearly over a ramp-up period (Lynas's plant took about two years from
first feed to 80% of its design). Units: t REO/month.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from abm.policy import OXIDES

__all__ = ["Project", "Ramp", "ramp_share", "RefiningCapacity", "SupplyPlan",
           "route_concentrate"]


@dataclass
class Project:
    """Capacity under construction: t REO/yr that start producing at ``ready_step``.

    Attributes:
        tonnes_reo_per_yr: capacity at full output, t REO/yr.
        ready_step: the month it starts producing.
        kind: label (``project``, ``expansion``, ``separation``, ...).
        ramp_months: months from first output to full output (1 = at once).
    """

    tonnes_reo_per_yr: float
    ready_step: int
    kind: str = "mine"
    ramp_months: int = 1


def ramp_share(months_online: int, ramp_months: int) -> float:
    """Share of full output new capacity delivers in its ``months_online``-th month (1 = first).

    Linear: ``months_online / ramp_months``, at most 1; 0 before the first month. With
    ``ramp_months`` 1 the capacity is at full output at once.
    """
    if months_online <= 0:
        return 0.0
    return min(1.0, months_online / max(int(ramp_months), 1))


@dataclass
class Ramp:
    """Capacity ramping up: ``full_tpm`` t REO/month reached linearly from ``start_step``.

    Attributes:
        full_tpm: capacity at the end of the ramp, t REO/month.
        start_step: first month of output (delivers ``1 / months`` of ``full_tpm``).
        months: length of the ramp, months.
        credited: t REO/month already added to the owner's capacity.
    """

    full_tpm: float
    start_step: int
    months: int
    credited: float = 0.0

    def advance(self, month: int) -> float:
        """Capacity to add now so that ``month`` is credited its share; returns the step."""
        target = self.full_tpm * ramp_share(month - self.start_step + 1, self.months)
        step = target - self.credited
        self.credited = target
        return step

    def done(self, month: int) -> bool:
        """Whether the ramp has reached full output by ``month``."""
        return month - self.start_step + 1 >= self.months


class RefiningCapacity:
    """Separation capacity per country (t REO/month), projects being built, and ramp-ups.

    Attributes:
        tpm: (N,) capacity available now per node, t REO/month (ramps included).
        pipeline: (country, project) pairs under construction.
        ramps: (country, ramp) pairs of finished plants still ramping up.
    """

    def __init__(self, countries: tuple[str, ...], tpm: np.ndarray):
        self.countries = countries
        self._cidx = {c: i for i, c in enumerate(countries)}
        self.tpm = np.asarray(tpm, dtype=float)
        self.pipeline: list[tuple[str, Project]] = []
        self.ramps: list[tuple[str, Ramp]] = []

    def grow(self, country: str, factor: float) -> None:
        """Multiply a country's capacity (China's separation grows with its mining quota)."""
        self.tpm[self._cidx[country]] *= factor

    def add(self, country: str, tpm: float) -> None:
        """Add capacity now, t REO/month."""
        self.tpm[self._cidx[country]] += tpm

    def ramp_in(self, country: str, tpm: float, month: int, months: int) -> None:
        """Start ``tpm`` t REO/month of capacity now (``month``), ramping up over ``months``.

        This month gets ``1 / months`` of it; :meth:`complete` advances the ramp after.
        """
        ramp = Ramp(tpm, month, months)
        self.add(country, ramp.advance(month))
        if not ramp.done(month):
            self.ramps.append((country, ramp))

    def commission(self, country: str, tonnes_reo_per_yr: float, ready_step: int,
                   kind: str, ramp_months: int = 1) -> None:
        """Start building capacity that comes online at ``ready_step``.

        It then ramps up linearly over ``ramp_months`` (see :meth:`complete`).
        """
        self.pipeline.append((country, Project(tonnes_reo_per_yr, ready_step, kind,
                                               ramp_months)))

    def complete(self, month: int) -> list[tuple[str, Project]]:
        """At the end of ``month``: finished projects start ramping up, ramps advance.

        A project ready at ``month`` delivers ``1 / ramp_months`` of its capacity in the next
        month, and all of it ``ramp_months`` months later.

        Returns:
            The projects that came online (country, project).
        """
        done = [(c, pr) for c, pr in self.pipeline if pr.ready_step <= month]
        for c, pr in done:
            self.pipeline.remove((c, pr))
            self.ramps.append((c, Ramp(pr.tonnes_reo_per_yr / 12.0, month + 1,
                                       pr.ramp_months)))
        for c, ramp in self.ramps:
            self.add(c, ramp.advance(month + 1))
        self.ramps = [(c, r) for c, r in self.ramps if not r.done(month + 1)]
        self._now = month + 1
        return done


@dataclass
class SupplyPlan:
    """The month's mine output and where it is refined.

    Attributes:
        refined: product -> (N,) t of oxide refined at each node.
        refined_reo: (N,) t REO refined at each node.
        mined_by_host: host country -> t REO mined (in routing order), illegal output included.
        routes: miner id -> (t refined in its own refining country, t refined in China).
        illegal: miner id -> t REO of it mined outside its state's mining quota (included in
            ``routes``).
        contracted: product -> (N,) t of the oxide refined at each node that is delivered
            under offtake contracts, outside the market (set by :mod:`abm.contracts`).
        arrivals: product -> (N,) t delivered under contracts to each buyer node's firms.
        deliveries: the contracts' deliveries behind ``contracted`` and ``arrivals``.
    """

    refined: dict[str, np.ndarray]
    refined_reo: np.ndarray
    mined_by_host: dict[str, float] = field(default_factory=dict)
    routes: dict[str, tuple[float, float]] = field(default_factory=dict)
    illegal: dict[str, float] = field(default_factory=dict)
    contracted: dict[str, np.ndarray] = field(default_factory=dict)
    arrivals: dict[str, np.ndarray] = field(default_factory=dict)
    deliveries: list = field(default_factory=list)

    def __post_init__(self):
        n = self.refined_reo.size
        for p in OXIDES:
            self.contracted.setdefault(p, np.zeros(n))
            self.arrivals.setdefault(p, np.zeros(n))

    def output(self, mine_id: str) -> float:
        """T REO a miner produces under this plan."""
        home, china = self.routes.get(mine_id, (0.0, 0.0))
        return home + china


def route_concentrate(miners: list, capacity: np.ndarray, cidx: dict[str, int],
                      seller_price: dict[str, np.ndarray], record: bool) -> SupplyPlan:
    """Miners' output and its routing to refineries for one month.

    A miner's legal output is refined at home while there is room, then in China if it may
    ship there; its illegal output (outside its state's mining quota) is separated at home
    without using licensed capacity.

    Args:
        miners: the miners (their ``margin_ratio`` and ``planned_output`` decide output).
        capacity: (N,) t REO/month of separation capacity per node (not modified).
        cidx: country code -> node index.
        seller_price: product -> (N,) US$/kg at each seller node (last month's).
        record: the real month (miners store margins); ``False`` for what-ifs.

    Returns:
        The plan; miners are not changed except for their margin history when ``record``.
    """
    n = len(capacity)
    chn = cidx["CHN"]
    refined = {p: np.zeros(n) for p in OXIDES}
    refined_reo = np.zeros(n)
    plan = SupplyPlan(refined, refined_reo)
    left = capacity.copy()
    ratios = {m.mine_id: m.margin_ratio(seller_price) for m in miners}
    for m in sorted(miners, key=lambda mm: -ratios[mm.mine_id] * mm.cost_usd_per_kg):
        node = cidx[m.refine_country]
        out, illegal = m.planned_output(ratios[m.mine_id], record)
        here = min(out, left[node])
        left[node] -= here
        to_china = 0.0
        if out - here > 0 and node != chn and m.china_route:
            to_china = min(out - here, left[chn])
            left[chn] -= to_china
        here += illegal
        if illegal > 0:
            plan.illegal[m.mine_id] = illegal
        plan.routes[m.mine_id] = (here, to_china)
        plan.mined_by_host[m.country] = plan.mined_by_host.get(m.country, 0.0) + (
            here + to_china)
        refined_reo[node] += here
        refined_reo[chn] += to_china
        for p in OXIDES:
            refined[p][node] += here * m.shares[p]
            refined[p][chn] += to_china * m.shares[p]
    return plan
