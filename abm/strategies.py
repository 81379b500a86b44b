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

from abm.policy import PRODUCTS

__all__ = [
    "demand_factor", "firm_order_params", "aggregate_orders", "firm_orders_at",
    "miner_utilisation", "revenue_per_kg", "StateStrategy", "STRATEGIES", "DOMAINS",
    "register_strategy", "strategy_names", "recognise", "is_exporter", "is_importer",
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

    Firms are stored sorted by country, so each country is a contiguous slice; the curves are
    evaluated in chunks of firms x grid prices (bounded memory, no per-firm Python loop).

    Args:
        country: (F,) country index of each firm, sorted ascending.
        c: (F,) consumption coefficients, t/month.
        k: (F,) inventory-target coefficients, t/month.
        b: (F,) inventory offsets, t/month.
        f_grid: (K,) demand multipliers at the grid prices.
        h_grid: (C, K) inventory-target multipliers at the grid prices, per country.
        n_countries: number of countries C.
        chunk: firms evaluated at once.

    Returns:
        (C, K) t/month ordered at each grid price.
    """
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
}


class StateStrategy:
    """A strategy a state can play in one decision domain.

    Attributes:
        name: registry key (unique).
        domain: ``export``, ``stockpile`` or ``alliance``.
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
    """The importers' bloc a state would join: the largest bloc of other states, else new."""
    counts: dict[str, int] = {}
    for s in model.states.values():
        if s.code != state.code and s.bloc and s.player:
            counts[s.bloc] = counts.get(s.bloc, 0) + 1
    if counts:
        return max(sorted(counts), key=lambda b: counts[b])
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
