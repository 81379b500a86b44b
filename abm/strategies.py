"""Decision rules and the registry of states' strategies.

Firms' and miners' rules are pure functions of numbers (the agents call them). States play
strategies from :data:`STRATEGIES`: each is an object, registered by name with
:func:`register_strategy`, that knows its decision domain, the policy actions that put it into
force, and how to recognise itself in the policies a state has in force. A new strategy is one
new class here; scenario files (``strategy.<STATE>.<domain>`` overrides), the classroom game,
experiment specs (``[game]``) and the learning states find it by name.

The model is passed to strategies duck-typed (this module sits below the model layer): it uses
``model.regime``, ``model.countries``, ``model.cidx``, ``model.states``, ``model.exchange``,
``model.p_ref``, ``model.export_mix`` and ``model.sc``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from abm.policy import OXIDES, PRODUCTS

__all__ = [
    "demand_factor", "firm_order_params", "aggregate_orders", "firm_orders_at",
    "miner_utilisation", "revenue_per_kg", "MINE_STATUSES", "next_mine_status",
    "restart_trigger", "StateStrategy", "STRATEGIES", "DOMAINS", "register_strategy",
    "strategy_names", "recognise", "is_exporter", "is_importer", "mining_share",
]


# ----------------------------------------------------------------------------- firms
def demand_factor(price, reference: float, elasticity: float):
    """Constant-elasticity demand multiplier ``(price / reference) ** -elasticity``."""
    ratio = np.maximum(np.asarray(price, dtype=float) / reference, 1e-6)
    return ratio ** (-elasticity)


def firm_order_params(inventory: np.ndarray, need_tpm: np.ndarray, cover_months: np.ndarray,
                      adjust_rate: float):
    """Coefficients of each firm's order curve ``max(0, c * f(p) + k * h(p) - b)``.

    A firm orders what it will consume at price ``p`` (``need * f(p)``) plus a share
    ``adjust_rate`` of the gap between its target inventory and the inventory it holds; with a
    surplus it orders less. The target is ``cover * need * f(p) * g(p)``: it shrinks when the
    price is above what the firm expected (``g``), so firms live off their stock through a
    price spike instead of bidding without limit (``h = f * g``).

    Args:
        inventory: (F,) t each firm holds.
        need_tpm: (F,) t/month consumed at the reference price (after substitution, growth).
        cover_months: (F,) target inventory cover, months.
        adjust_rate: share of the inventory gap closed per month.

    Returns:
        (c, k, b): (F,) arrays, t/month.
    """
    return need_tpm, adjust_rate * cover_months * need_tpm, adjust_rate * inventory


def aggregate_orders(country: np.ndarray, c: np.ndarray, k: np.ndarray, b: np.ndarray,
                     f_grid: np.ndarray, h_grid: np.ndarray, n_countries: int,
                     chunk: int = 8192) -> np.ndarray:
    """Sum the firms' order curves per country on the price grid, exactly.

    When every curve can only rise along the grid (``c, k >= 0`` and ``f_grid`` and each row of
    ``h_grid`` non-decreasing, as on the model's grid, which runs from the highest price down),
    each firm orders from one grid point on: :func:`_sum_rising_curves` finds that point by
    bisection and sums the curves' coefficients, ``O(F log K)``. Otherwise (or with the grid
    the other way round, which it reverses) the curves are evaluated in chunks of firms x grid
    prices (bounded memory, no per-firm Python loop), ``O(F K)``.

    Args:
        country: (F,) country index of each firm, sorted ascending.
        c: (F,) consumption coefficients, t/month.
        k: (F,) inventory-target coefficients, t/month.
        b: (F,) inventory offsets, t/month.
        f_grid: (K,) demand multipliers at the grid prices.
        h_grid: (C, K) inventory-target multipliers at the grid prices, per country.
        n_countries: number of countries C.
        chunk: firms evaluated at once by the chunked sum.

    Returns:
        (C, K) t/month ordered at each grid price.
    """
    if c.size and c.min() >= 0.0 and k.min() >= 0.0:
        if _rising(f_grid) and _rising(h_grid):
            return _sum_rising_curves(country, c, k, b, f_grid, h_grid, n_countries)
        if _rising(f_grid[::-1]) and _rising(h_grid[:, ::-1]):
            return _sum_rising_curves(country, c, k, b, f_grid[::-1], h_grid[:, ::-1],
                                      n_countries)[:, ::-1]
    return _sum_curves_in_chunks(country, c, k, b, f_grid, h_grid, n_countries, chunk)


def _rising(values: np.ndarray) -> bool:
    """Whether every row of ``values`` is non-decreasing along its last axis."""
    return bool((np.diff(values, axis=-1) >= 0.0).all())


def _sum_rising_curves(country, c, k, b, f_grid, h_grid, n_countries) -> np.ndarray:
    """:func:`aggregate_orders` for curves that rise along the grid.

    A firm's order ``c f_j + k h_j - b`` is then positive from a first grid point ``J`` on
    (``J = K``: nowhere). Bisection finds ``J`` for all firms at once, comparing the same
    floating-point expression the chunked sum clips, so the same terms are kept; the sum at
    ``j`` is ``f_j C_j + h_j K_j - B_j`` over the firms with ``J <= j``, whose coefficient
    sums are cumulative sums of per-(country, ``J``) totals.
    """
    n_grid = f_grid.size
    h_flat = h_grid.ravel()
    base = country * n_grid

    def positive(j, c_, k_, b_, base_):
        return c_ * f_grid[j] + k_ * h_flat[base_ + j] - b_ > 0.0

    # most firms order at every grid price (J = 0) or at none (J = K): settle those first
    at_top = positive(0, c, k, b, base)
    hi = np.where(at_top, 0, n_grid)
    open_ = np.flatnonzero(~at_top & positive(n_grid - 1, c, k, b, base))  # J in [1, K - 1]
    # the open firms' coefficients, gathered once for every pass of the bisection
    sub = (c[open_], k[open_], b[open_], base[open_])
    lo, top = np.ones(open_.size, np.intp), np.full(open_.size, n_grid - 1, np.intp)
    for _ in range(n_grid.bit_length()):  # J lies in [lo, top]; each pass halves the interval
        mid = (lo + top) >> 1
        pos = positive(mid, *sub)
        top = np.where(pos, mid, top)
        lo = np.where(pos, lo, np.minimum(mid + 1, top))
    hi[open_] = top
    slot = country * (n_grid + 1) + hi
    shape = (n_countries, n_grid + 1)
    sums = [np.bincount(slot, weights=w, minlength=shape[0] * shape[1]).reshape(shape)
            .cumsum(axis=1)[:, :n_grid] for w in (c, k, b)]
    return np.maximum(sums[0] * f_grid[None, :] + sums[1] * h_grid - sums[2], 0.0)


def _sum_curves_in_chunks(country, c, k, b, f_grid, h_grid, n_countries, chunk) -> np.ndarray:
    """:func:`aggregate_orders` for any curves: chunks of firms x grid prices, clipped."""
    out = np.zeros((n_countries, f_grid.size))
    starts = np.searchsorted(country, np.arange(n_countries), side="left")
    ends = np.searchsorted(country, np.arange(n_countries), side="right")
    for cc in range(n_countries):
        for lo in range(starts[cc], ends[cc], chunk):
            hi = min(lo + chunk, ends[cc])
            m = (c[lo:hi, None] * f_grid[None, :] + k[lo:hi, None] * h_grid[cc][None, :]
                 - b[lo:hi, None])
            out[cc] += np.clip(m, 0.0, None).sum(axis=0)
    return out


def firm_orders_at(c: np.ndarray, k: np.ndarray, b: np.ndarray, f: np.ndarray,
                   h: np.ndarray) -> np.ndarray:
    """Each firm's order at its country's clearing price (t/month)."""
    return np.clip(c * f + k * h - b, 0.0, None)


# ----------------------------------------------------------------------------- miners
def miner_utilisation(margin_ratio: float, min_margin_ratio: float) -> float:
    """Share of capacity a mine runs at, from its revenue/cost ratio.

    Full output when revenue covers cost; idle at ``min_margin_ratio``; linear in between
    (mines keep running at a loss for a while rather than close at once).
    """
    if margin_ratio >= 1.0:
        return 1.0
    if min_margin_ratio >= 1.0:
        return 0.0
    return float(np.clip((margin_ratio - min_margin_ratio) / (1.0 - min_margin_ratio), 0, 1))


def revenue_per_kg(shares: dict[str, float], prices: dict[str, float],
                   floors: dict[str, float]) -> float:
    """Revenue per kg REO mined: sum over products of share x max(price, floor), US$/kg."""
    return sum(shares[p] * max(prices[p], floors[p]) for p in shares)


#: a mine's states: producing, idle under care and maintenance, written off
MINE_STATUSES = ("operating", "mothballed", "closed")


def restart_trigger(restart_cost_months: float, payback_months: float) -> float:
    """Revenue/cost ratio at which a mothballed mine restarts: ``1 + cost / payback``.

    The restart costs ``restart_cost_months`` of full-output cash cost; a mine earning a
    margin of ``r - 1`` of its cash cost earns that back in ``payback_months`` when
    ``r = 1 + restart_cost_months / payback_months``. The trigger lies above the mothball
    trigger (below 1): the band of inaction between them is the hysteresis of sunk costs
    (Dixit 1989).
    """
    return 1.0 + restart_cost_months / max(payback_months, 1e-9)


def next_mine_status(status: str, months_idle: int, mean_margin: float | None,
                     mothball_ratio: float, restart_ratio: float, exit_after: int) -> str:
    """A mine's status next month from its mean revenue/cost ratio (Dixit's real options).

    An operating mine mothballs when its mean margin is below ``mothball_ratio``; a
    mothballed mine restarts when it is at or above ``restart_ratio`` and otherwise exits once
    it has been idle ``exit_after`` months; a closed mine stays closed. With too short a
    history (``mean_margin`` ``None``) nothing changes but the exit clock.
    """
    if status == "operating":
        if mean_margin is not None and mean_margin < mothball_ratio:
            return "mothballed"
        return status
    if status == "mothballed":
        if mean_margin is not None and mean_margin >= restart_ratio:
            return "operating"
        if months_idle >= exit_after:
            return "closed"
    return status


# ----------------------------------------------------------------------------- states
def is_exporter(model, code: str) -> bool:
    """Whether a state's refiners normally sell abroad more than ``exporter_trade_share``.

    Normal flows (each link's average while it was open) are used, so a state that has cut
    its exports still counts as an exporter and keeps deciding its export policy.
    """
    i = model.cidx[code]
    exports = trade = 0.0
    for p in PRODUCTS:
        ref = model.exchange.normal_flow[p]
        exports += float(ref[i].sum() - ref[i, i]) * model.p_ref[p]
        trade += float(ref.sum() - np.trace(ref)) * model.p_ref[p]
    return trade > 0 and exports / trade > model.sc.exporter_trade_share


def is_importer(model, code: str) -> bool:
    """Whether a state normally imports more than it exports (value at reference prices)."""
    i = model.cidx[code]
    net = 0.0
    for p in PRODUCTS:
        ref = model.exchange.normal_flow[p]
        net += float(ref[:, i].sum() - ref[i].sum()) * model.p_ref[p]
    return net > 0


def mining_share(model, code: str) -> float:
    """Share of world mine capacity (t REO/month) in a state's country."""
    total = sum(m.capacity_tpm for m in model.miners)
    home = sum(m.capacity_tpm for m in model.miners if m.country == code)
    return home / total if total > 0 else 0.0


class Domain:
    """A decision domain: which states decide it, and the strategy it falls back to."""

    def __init__(self, name: str, default: str, eligible):
        self.name = name
        self.default = default
        self._eligible = eligible

    def eligible(self, model, state) -> bool:
        """Whether a free state decides this domain now."""
        return self._eligible(model, state)


#: the decision domains, in the order states decide them
DOMAINS: dict[str, Domain] = {
    "export": Domain("export", "open", lambda m, s: is_exporter(m, s.code)),
    "stockpile": Domain("stockpile", "hold", lambda m, s: True),
    # alliances are for supply security: exporters do not seek them
    "alliance": Domain("alliance", "stay", lambda m, s: is_importer(m, s.code) or bool(s.bloc)),
    # quotas, enforcement and a reserve band at home: for a dominant producer
    "domestic": Domain("domestic", "steady", lambda m, s: mining_share(
        m, s.code) > m.sc.domestic_policy_mining_share),
}


class StateStrategy:
    """A strategy a state can play in one decision domain.

    Attributes:
        name: registry key (unique).
        domain: ``export``, ``stockpile``, ``alliance`` or ``domestic``.
    """

    name: ClassVar[str]
    domain: ClassVar[str]

    def actions(self, model, state) -> list[tuple[str, dict]]:
        """The policy actions (name, arguments) that put the strategy into force now."""
        raise NotImplementedError

    def matches(self, model, state) -> bool:
        """Whether the state's policies in force are this strategy."""
        return False


#: strategy name -> strategy, in the order of each domain's strategy set
STRATEGIES: dict[str, StateStrategy] = {}


def register_strategy(cls: type[StateStrategy]) -> type[StateStrategy]:
    """Class decorator: add a strategy to :data:`STRATEGIES` under its name."""
    STRATEGIES[cls.name] = cls()
    return cls


def strategy_names(domain: str) -> tuple[str, ...]:
    """The strategy set of a domain (registry order)."""
    return tuple(s.name for s in STRATEGIES.values() if s.domain == domain)


def recognise(model, state, domain: str) -> str:
    """The strategy a state is playing now in a domain (the domain's default when none)."""
    for s in STRATEGIES.values():
        if s.domain == domain and s.matches(model, state):
            return s.name
    return DOMAINS[domain].default


def targets_outside_bloc(model, state) -> list[str]:
    """Every other state outside the chooser's bloc, in country order."""
    return [c for c in model.countries
            if c != state.code and not (state.bloc and model.states[c].bloc == state.bloc)]


class _Export(StateStrategy):
    domain = "export"
    instrument: ClassVar[str]
    products: ClassVar[tuple[str, ...]] = PRODUCTS

    def _kinds(self, model, state):
        return {p: model.regime.instruments(state.code, p) for p in PRODUCTS}

    def actions(self, model, state):  # noqa: D102
        acts = []
        for t in targets_outside_bloc(model, state):
            for p in self.products:
                acts.append(("export", {"instrument": self.instrument, "target": t,
                                        "product": p, **self.extra(model, state, t, p)}))
        return acts

    def extra(self, model, state, target: str, product: str) -> dict:
        """Further arguments of the export action toward one target and product."""
        return {}


@register_strategy
class ExportOpen(_Export):
    """Open trade toward everyone."""

    name = "open"

    def actions(self, model, state):  # noqa: D102
        return [("export", {"instrument": "open", "target": "all", "product": "both"})]

    def matches(self, model, state):  # noqa: D102
        kinds = self._kinds(model, state)
        return not kinds["light"] and not kinds["heavy"]


@register_strategy
class ExportLicenceHeavy(_Export):
    """Licences on heavy rare earths and the magnets that contain them (as in April 2025)."""

    name = "licence_heavy"
    instrument = "licence"
    products = ("heavy", "magnet")

    def matches(self, model, state):  # noqa: D102
        kinds = self._kinds(model, state)
        return (not kinds["light"] and kinds["heavy"] == {"licence"}
                and kinds["magnet"] <= {"licence"})


@register_strategy
class ExportLicence(_Export):
    """Licences on both oxides and on magnets toward every state outside the bloc."""

    name = "licence"
    instrument = "licence"

    def matches(self, model, state):  # noqa: D102
        kinds = self._kinds(model, state)
        used = kinds["light"] | kinds["heavy"]
        return "licence" in used and not used & {"ban", "quota"} and bool(kinds["light"])


@register_strategy
class ExportQuota(_Export):
    """Quotas at ``quota_strategy_share`` of each link's normal flow, per target."""

    name = "quota"
    instrument = "quota"

    def extra(self, model, state, target, product):  # noqa: D102
        i, b = model.cidx[state.code], model.cidx[target]
        flow_t = float(model.exchange.normal_flow[product][i, b])
        mix = max(model.export_mix(i, product, None), 1e-9)
        return {"tonnes_per_yr": model.sc.quota_strategy_share * flow_t * 12.0 / mix}

    def matches(self, model, state):  # noqa: D102
        kinds = self._kinds(model, state)
        used = kinds["light"] | kinds["heavy"]
        return "quota" in used and "ban" not in used


@register_strategy
class ExportBan(_Export):
    """No exports to any state outside the bloc."""

    name = "ban"
    instrument = "ban"

    def matches(self, model, state):  # noqa: D102
        kinds = self._kinds(model, state)
        return "ban" in kinds["light"] | kinds["heavy"]


class _Stockpile(StateStrategy):
    domain = "stockpile"

    def actions(self, model, state):  # noqa: D102
        return [("stockpile", {"mode": self.name, "product": "both"})]

    def matches(self, model, state):  # noqa: D102
        return set(state.stockpile_mode.values()) == {self.name}


@register_strategy
class StockpileBuild(_Stockpile):
    """Buy toward the stockpile target."""

    name = "build"


@register_strategy
class StockpileHold(_Stockpile):
    """Neither buy nor sell."""

    name = "hold"


@register_strategy
class StockpileRelease(_Stockpile):
    """Offer a share of the stockpile every month."""

    name = "release"


def bloc_to_join(model, state) -> str:
    """The bloc a state would join: the largest bloc of other states (its own on a tie).

    With no other state in a bloc, a new one (``Partners``).
    """
    counts: dict[str, int] = {}
    for s in model.states.values():
        if s.code != state.code and s.bloc and s.player:
            counts[s.bloc] = counts.get(s.bloc, 0) + 1
    if counts:  # the largest; on a tie the state's own bloc, then the first by name
        return max(sorted(counts), key=lambda b: (counts[b], b == state.bloc))
    return "Partners"


@register_strategy
class AllianceJoin(StateStrategy):
    """Join the largest bloc of other states (or found one)."""

    name = "join"
    domain = "alliance"

    def actions(self, model, state):  # noqa: D102
        bloc = bloc_to_join(model, state)
        return [("alliance", {"bloc": bloc})] if bloc and bloc != state.bloc else []


@register_strategy
class AllianceStay(StateStrategy):
    """Keep the current membership (in or out)."""

    name = "stay"
    domain = "alliance"

    def actions(self, model, state):  # noqa: D102
        return []

    def matches(self, model, state):  # noqa: D102
        return True


@register_strategy
class AllianceLeave(StateStrategy):
    """Leave the current bloc."""

    name = "leave"
    domain = "alliance"

    def actions(self, model, state):  # noqa: D102
        return [("leave_alliance", {})] if state.bloc else []


# ----------------------------------------------------------------------------- domestic
def home_capacity_tpy(model, code: str) -> float:
    """Capacity of the mines in a state's country, t REO/yr."""
    return 12.0 * sum(m.capacity_tpm for m in model.miners if m.country == code)


def scaled_quotas(model, state, factor: float) -> list[tuple[str, dict]]:
    """Actions that scale the state's production quotas by ``factor`` (bounded).

    The mining quota in force (the home mines' capacity when none) times ``factor``, kept
    between ``domestic_quota_floor`` and ``1 + domestic_quota_step`` times the capacity; its
    light and ionic-clay shares and the separation quota move in the same proportion. With
    ``factor`` 1 there is nothing to do.
    """
    d, sc = state.domestic, model.sc
    cap = home_capacity_tpy(model, state.code)
    if factor == 1.0:
        return []
    now = d.mining_quota_tpy
    if now is None:
        split = [q for q in (d.light_quota_tpy, d.ionic_quota_tpy) if q is not None]
        now = sum(split) if len(split) == 2 else cap
    new = min(max(now * factor, sc.domestic_quota_floor * cap),
              (1.0 + sc.domestic_quota_step) * cap)
    scale = new / now if now > 0 else 1.0
    args = {"tonnes_per_yr": new}
    for key, q in (("light_tonnes_per_yr", d.light_quota_tpy),
                   ("ionic_tonnes_per_yr", d.ionic_quota_tpy)):
        if q is not None:
            args[key] = q * scale
    acts = [("mining_quota", args)]
    if d.separation_quota_tpy is not None:
        acts.append(("separation_quota", {"tonnes_per_yr": d.separation_quota_tpy * scale}))
    return acts


class _Domestic(StateStrategy):
    domain = "domestic"

    def quota_factor(self, model) -> float:
        """Factor on the quotas in force."""
        return 1.0

    def extra(self, model, state) -> list[tuple[str, dict]]:
        """Actions besides the quotas (by default: end a reserve band in force)."""
        if not state.domestic.reserve_band:
            return []
        return [("state_reserve", {"mode": "off", "product": "both"})]

    def actions(self, model, state):  # noqa: D102
        return scaled_quotas(model, state, self.quota_factor(model)) + self.extra(model, state)

    def matches(self, model, state):  # noqa: D102
        return state.domestic.stance == self.name


@register_strategy
class DomesticExpand(_Domestic):
    """Raise the mining and separation quotas by domestic_quota_step (up to the capacity)."""

    name = "expand"

    def quota_factor(self, model):  # noqa: D102
        return 1.0 + model.sc.domestic_quota_step


@register_strategy
class DomesticSteady(_Domestic):
    """Keep the quotas and enforcement in force; no reserve band."""

    name = "steady"


@register_strategy
class DomesticCut(_Domestic):
    """Cut the quotas by domestic_quota_step and crack down on illegal mining."""

    name = "cut"

    def quota_factor(self, model):  # noqa: D102
        return 1.0 - model.sc.domestic_quota_step

    def extra(self, model, state):  # noqa: D102
        level = max(state.domestic.enforcement, model.sc.crackdown_enforcement)
        return [("enforcement", {"level": level})] + super().extra(model, state)


@register_strategy
class DomesticReserveSupport(_Domestic):
    """Keep the quotas; the state reserve buys below a support price and sells above a ceiling."""

    name = "reserve_support"

    def extra(self, model, state):  # noqa: D102
        sc = model.sc
        acts = []
        for p in OXIDES:
            args = {"mode": "band", "product": p,
                    "support_usd_per_kg": sc.reserve_support_ratio * model.p_ref[p]}
            if sc.reserve_ceiling_ratio > sc.reserve_support_ratio:  # else it never sells
                args["ceiling_usd_per_kg"] = sc.reserve_ceiling_ratio * model.p_ref[p]
            acts.append(("state_reserve", args))
        return acts
