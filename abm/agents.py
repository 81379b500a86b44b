"""Agents: states, miners and firms. State and accounting only; decisions are in strategies.py.

Units: t (tonnes), t/month, US$/kg oxide. ``light`` = NdPr oxide, ``heavy`` = Dy/Tb oxide.

Firms are many, so their state lives in numpy arrays on a :class:`FirmPopulation` and each
:class:`Firm` agent is a thin view onto one row: the monthly path works on whole arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import numpy as np

from abm.errors import ConservationError
from abm.policy import PRODUCTS

__all__ = ["State", "Miner", "Firm", "FirmPopulation", "Project"]


class State(mesa.Agent):
    """A state: strategic stockpile per product, stockpile mode, bloc, payoff and learning.

    Attributes:
        code: ISO-like code (``CHN``, ``USA``, ``JPN``, ...).
        player: whether the state chooses strategies (``ROW`` is a passive aggregate).
        stockpile: t per product held by the state.
        stockpile_mode: ``build``, ``hold`` or ``release`` per product.
        bloc: name of the alliance the state belongs to (``""`` = none).
        pinned: decision domains (``export``, ``stockpile``, ``alliance``) fixed by the timeline.
        attractions: learned attraction per domain and strategy (experience-weighted).
        payoff: last computed payoff (see strategies.state_payoff), US$ million/month.
        floor_cost_usd: cumulative cost of price-floor payments, US$.
    """

    def __init__(self, model, code: str, name: str, player: bool, stockpile: dict[str, float]):
        super().__init__(model)
        self.code = code
        self.name = name
        self.player = player
        self.stockpile = {p: float(stockpile[p]) for p in PRODUCTS}
        self.stockpile_mode = dict.fromkeys(PRODUCTS, "hold")
        self.bloc = ""
        self.pinned: set[str] = set()
        self.attractions: dict[str, dict[str, float]] = {}
        self.payoff = 0.0
        self.payoff_parts: dict[str, float] = {}
        self.floor_cost_usd = 0.0
        self.floor_cost_seen = 0.0
        self.experience: dict[str, float] = {}

    def add_stock(self, product: str, tonnes: float) -> None:
        """Add (or with a negative number, take) tonnes to the stockpile, never below zero."""
        new = self.stockpile[product] + tonnes
        if new < -1e-9 * max(1.0, abs(tonnes)):
            raise ConservationError(f"{self.code} stockpile of {product} would go negative")
        self.stockpile[product] = max(new, 0.0)


@dataclass
class Project:
    """Capacity under construction: t REO/yr that start producing at ``ready_step``."""

    tonnes_reo_per_yr: float
    ready_step: int
    kind: str = "mine"


class Miner(mesa.Agent):
    """A mine or producer group: capacity, cost, product shares, refining route, bloc.

    Attributes:
        mine_id: id from mines.csv.
        country: host country code.
        capacity_tpm: mining capacity, t REO/month.
        cost_usd_per_kg: unit cash cost incl. separation, US$/kg REO.
        shares: t of each product per t REO mined.
        refine_country: where its concentrate is refined when that country has room.
        china_route: whether concentrate that finds no other refinery may go to China.
        bloc: the bloc the miner sells under (``CHN``, an alliance name, or ``none``).
        project_tpy: size of the miner's next project (t REO/yr; 0 = none left).
        project_lead: months from commitment to production.
        pipeline: projects under construction.
        margin_history: recent revenue/cost ratios (for investment decisions).
        output_tpm: this month's output, t REO.
        floor_usd_per_kg: price floor per product paid by a state (0 = none).
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
        self.floor_usd_per_kg = dict.fromkeys(PRODUCTS, 0.0)
        self.floor_payer = ""
        self.floor_upside_share = 0.0
        self.routed: dict[str, float] = {}

    @property
    def is_chinese(self) -> bool:
        """Whether the mine is in China (quota-governed)."""
        return self.country == "CHN"


class Firm(mesa.Agent):
    """A downstream firm (magnet, EV, wind or electronics maker): a view onto one array row."""

    def __init__(self, model, population: FirmPopulation, index: int):
        super().__init__(model)
        self.population = population
        self.index = index

    @property
    def country(self) -> str:
        """Country code of the firm."""
        return self.population.countries[self.population.country[self.index]]

    def inventory(self, product: str) -> float:
        """Inventory held, t."""
        return float(self.population.inventory[product][self.index])

    def substitution(self, product: str) -> float:
        """Share of the firm's demand for a product substituted or thrifted away."""
        return float(self.population.substitution[product][self.index])


@dataclass
class FirmPopulation:
    """All firms' state as arrays (one entry per firm).

    Attributes:
        countries: country codes; ``country`` holds indices into it.
        country: (F,) int country index.
        base_demand: product -> (F,) t/month consumed at the reference price in the start year.
        inventory: product -> (F,) t held.
        cover_scale: (F,) multiplier on the inventory cover all firms of a country target.
        sub_threshold: (F,) price ratio (to reference) above which the firm thrifts.
        substitution: product -> (F,) share of demand substituted (0 .. substitution_max).
        price_memory: product -> (F,) smoothed price ratio the firm perceives.
    """

    countries: tuple[str, ...]
    country: np.ndarray
    base_demand: dict[str, np.ndarray]
    inventory: dict[str, np.ndarray]
    cover_scale: np.ndarray
    sub_threshold: np.ndarray
    substitution: dict[str, np.ndarray] = field(default_factory=dict)
    price_memory: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of firms."""
        return int(self.country.size)

    @classmethod
    def generate(cls, rng: np.random.Generator, n_firms: int, countries: tuple[str, ...],
                 demand_tpm: dict[str, np.ndarray], base_cover_months: float,
                 substitution_threshold: float) -> FirmPopulation:
        """Create ``n_firms`` firms sized from consumption data.

        Firms are spread over consuming countries in proportion to their consumption (at least
        one per consuming country); sizes are lognormal and rescaled so each country's total
        demand equals the data exactly, whatever ``n_firms`` is.

        Args:
            rng: the model's random generator.
            n_firms: number of firms (>= number of consuming countries is enforced upward).
            countries: country codes.
            demand_tpm: product -> (C,) t/month consumed per country at reference price.
            base_cover_months: normal inventory cover, months.
            substitution_threshold: median price ratio that triggers thrifting.
        """
        weight = sum(demand_tpm[p] / max(demand_tpm[p].sum(), 1e-12) for p in PRODUCTS)
        consuming = np.nonzero(weight > 0)[0]
        n_firms = max(int(n_firms), consuming.size)
        share = weight[consuming] / weight[consuming].sum()
        counts = np.ones(consuming.size, dtype=int)
        extra = n_firms - consuming.size
        if extra:
            alloc = np.floor(share * extra).astype(int)
            rem = extra - alloc.sum()
            order = np.argsort(-(share * extra - alloc), kind="stable")
            alloc[order[:rem]] += 1
            counts += alloc
        country = np.repeat(consuming, counts)
        size = rng.lognormal(0.0, 1.0, n_firms)
        tot = np.bincount(country, weights=size, minlength=len(countries))
        base = {}
        for p in PRODUCTS:
            base[p] = size / tot[country] * demand_tpm[p][country]
        inventory = {p: base[p] * base_cover_months for p in PRODUCTS}
        cover_scale = rng.lognormal(0.0, 0.25, n_firms)
        n_in = np.bincount(country, minlength=len(countries))
        mean = np.bincount(country, weights=cover_scale, minlength=len(countries))
        cover_scale /= (mean / np.maximum(n_in, 1))[country]
        threshold = substitution_threshold * rng.lognormal(0.0, 0.3, n_firms)
        zeros = {p: np.zeros(n_firms) for p in PRODUCTS}
        ones = {p: np.ones(n_firms) for p in PRODUCTS}
        return cls(countries=countries, country=country, base_demand=base, inventory=inventory,
                   cover_scale=cover_scale, sub_threshold=threshold, substitution=zeros,
                   price_memory=ones)

    def inventory_by_country(self, product: str) -> np.ndarray:
        """(C,) t of inventory held by firms of each country."""
        return np.bincount(self.country, weights=self.inventory[product],
                           minlength=len(self.countries))
