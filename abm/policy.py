"""Export-control instruments and the policy regime that owns them.

Export policy of one exporter toward one target and product is an :class:`ExportPolicy`:

- ``open``: no cap;
- ``licence``: a share of the requested volume is approved, reaching that share
  ``licence_delay_months`` after the regime starts (applications pile up first). The requested
  volume is the link's normal flow (its average while it was open);
- ``quota``: tonnes REO per year; toward ``all`` it caps the sum of the exporter's foreign
  sales (as China's 2009-2014 export quotas did), converted into each product by the exporter's
  refined mix; toward one target it caps that link;
- ``ban``: nothing passes.

The :class:`PolicyRegime` holds every policy in force, decides the precedence of a
target-specific policy over the exporter's policy toward ``all``, and turns the policies into
link caps for the clearing. The game, the timeline and the dashboard change policies only
through its methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["ExportPolicy", "PolicyRegime", "INSTRUMENTS", "OXIDES", "PRODUCTS", "products_of",
           "PRODUCT_CHOICES"]

#: the refined oxides: NdPr (``light``) and Dy/Tb (``heavy``), made by separating mine output
OXIDES = ("light", "heavy")
#: every traded product: the oxides and NdFeB ``magnet``\ s made from them
PRODUCTS = (*OXIDES, "magnet")
INSTRUMENTS = ("open", "licence", "quota", "ban")
#: what an event's ``product`` may say: one product, ``both`` oxides, or ``all`` products
PRODUCT_CHOICES = (*PRODUCTS, "both", "all")


def products_of(arg: str | None) -> tuple[str, ...]:
    """Products named by an event argument.

    ``both`` (or missing) means the two oxides, ``all`` the oxides and magnets; otherwise the
    one product named.
    """
    if arg in (None, "both"):
        return OXIDES
    return PRODUCTS if arg == "all" else (arg,)


@dataclass(frozen=True)
class ExportPolicy:
    """An exporter's policy toward one target and product.

    Attributes:
        instrument: ``open``, ``licence``, ``quota`` or ``ban``.
        share: approved share of requests under ``licence`` (0-1).
        tonnes_per_yr: quota in t REO per year under ``quota``.
        since_step: model step at which the regime began (for the licence delay).
    """

    instrument: str = "open"
    share: float = 1.0
    tonnes_per_yr: float = float("inf")
    since_step: int = 0

    def label(self) -> str:
        """Short text such as ``licence 50%`` or ``quota 30,258 t/yr``."""
        if self.instrument == "licence":
            return f"licence {self.share:.0%}"
        if self.instrument == "quota":
            return f"quota {self.tonnes_per_yr:,.0f} t/yr"
        return self.instrument

    def licence_ramp(self, month: int, delay_months: int) -> float:
        """Share of the approved share already granted ``month - since_step`` months in."""
        if delay_months == 0:
            return 1.0
        return min(1.0, (month - self.since_step + 1) / (delay_months + 1))


Key = tuple[str, str, str]  # (exporter, target or "all", product)


class PolicyRegime:
    """Every export policy in force, keyed by (exporter, target, product).

    A policy toward one target takes precedence over the exporter's policy toward ``all`` on
    that link; setting a policy toward ``all`` replaces the exporter's target-specific ones
    for that product (a new general regime). An aggregate quota toward ``all`` still caps the
    sum of the exporter's foreign sales.
    """

    def __init__(self, policies: dict[Key, ExportPolicy] | None = None,
                 duties: dict[tuple[str, str], float] | None = None):
        self._policies: dict[Key, ExportPolicy] = dict(policies or {})
        self._duties: dict[tuple[str, str], float] = dict(duties or {})

    # ---------------------------------------------------------------- reading
    def get(self, exporter: str, target: str, product: str) -> ExportPolicy | None:
        """The policy set for exactly this key, or ``None``."""
        return self._policies.get((exporter, target, product))

    def items(self) -> Iterator[tuple[Key, ExportPolicy]]:
        """(key, policy) pairs in the order they were set."""
        return iter(list(self._policies.items()))

    def __len__(self) -> int:
        return len(self._policies)

    def duty(self, exporter: str, product: str) -> float:
        """The exporter's ad valorem export duty on a product (0 = none)."""
        return self._duties.get((exporter, product), 0.0)

    def set_duty(self, exporter: str, product: str, rate: float) -> None:
        """Put an ad valorem export duty (share of the export price) in force; 0 lifts it."""
        if rate > 0:
            self._duties[(exporter, product)] = rate
        else:
            self._duties.pop((exporter, product), None)

    def restricted_targets(self, exporter: str) -> set[str]:
        """Targets (state codes, or ``all``) toward which the exporter restricts anything."""
        return {t for (e, t, _p), pol in self._policies.items()
                if e == exporter and pol.instrument != "open"}

    def instruments(self, exporter: str, product: str) -> set[str]:
        """Restrictive instruments the exporter applies to a product (``open`` excluded)."""
        return {pol.instrument for (e, _t, p), pol in self._policies.items()
                if e == exporter and p == product} - {"open"}

    # ---------------------------------------------------------------- writing
    def set(self, exporter: str, target: str, product: str, policy: ExportPolicy) -> None:
        """Put a policy in force.

        A policy with the same instrument as the one it replaces keeps its start month (a
        licence regime's delay is not restarted by a new share). A policy toward ``all``
        removes the exporter's target-specific policies on that product.
        """
        prev = self._policies.get((exporter, target, product))
        if prev is not None and prev.instrument == policy.instrument:
            policy = replace(policy, since_step=prev.since_step)
        self._policies[(exporter, target, product)] = policy
        if target == "all":
            for key in [k for k in self._policies if k[0] == exporter and k[2] == product
                        and k[1] != "all"]:
                del self._policies[key]

    def remove(self, exporter: str, target: str, product: str) -> None:
        """Drop the policy of one key (the link falls back to the policy toward ``all``)."""
        self._policies.pop((exporter, target, product), None)

    def clear(self, exporter: str) -> None:
        """Drop every policy of an exporter (open trade until a new one is set)."""
        for key in [k for k in self._policies if k[0] == exporter]:
            del self._policies[key]

    def without(self, exporter: str) -> PolicyRegime:
        """A new regime with every policy but the exporter's (for what-if valuation)."""
        return PolicyRegime({k: v for k, v in self._policies.items() if k[0] != exporter},
                            self._duties)

    # ---------------------------------------------------------------- caps
    def link_caps(self, product: str, countries: tuple[str, ...], normal_flow: np.ndarray,
                  export_mix: Callable[[int], float], month: int,
                  licence_delay_months: int) -> tuple[np.ndarray, np.ndarray]:
        """Link caps (t/month) and aggregate export caps for one product.

        Args:
            product: ``light`` or ``heavy``.
            countries: node codes; caps are indexed like them.
            normal_flow: (N, N) t/month, each link's normal flow (licences approve a share).
            export_mix: node index -> t of the product per t REO refined there (converts
                quotas in t REO into the product).
            month: current model step (for the licence delay).
            licence_delay_months: months until licences are approved in full.

        Returns:
            (cap, export_cap): (N, N) and (N,) arrays; ``inf`` where open.
        """
        n = len(countries)
        cidx = {c: i for i, c in enumerate(countries)}
        cap = np.full((n, n), np.inf)
        export_cap = np.full(n, np.inf)
        specific = {(e, t) for (e, t, pp) in self._policies if pp == product and t != "all"}
        for (exporter, target, prod), pol in self._policies.items():
            if prod != product or pol.instrument == "open":
                continue
            s = cidx[exporter]
            if pol.instrument == "quota" and target == "all":
                export_cap[s] = min(export_cap[s], pol.tonnes_per_yr / 12.0 * export_mix(s))
                continue
            targets = ([c for c in countries if c != exporter and (exporter, c) not in specific]
                       if target == "all" else [target])
            for t in targets:
                b = cidx[t]
                cap[s, b] = min(cap[s, b], self._link_value(
                    pol, normal_flow[s, b], export_mix, s, month, licence_delay_months))
        return cap, export_cap

    @staticmethod
    def _link_value(pol: ExportPolicy, normal: float, export_mix, s: int, month: int,
                    delay: int) -> float:
        if pol.instrument == "ban":
            return 0.0
        if pol.instrument == "licence":
            return pol.share * pol.licence_ramp(month, delay) * normal
        return pol.tonnes_per_yr / 12.0 * export_mix(s)
