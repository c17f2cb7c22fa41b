"""The projection's types: a workload to project and one model's projected row, shared by
projection.py (time, and the rows compared), paying.py (money, per pricing mode) and hybrid.py
(two configurations sharing the queries)."""

from __future__ import annotations

from dataclasses import dataclass, field

from annotate.stats.figures import ModelStats
from inference.models import Price

DAYS_PER_MONTH = 30
DAYS_PER_YEAR = 365
FEASIBLE_HOURS_PER_DAY = 20


@dataclass
class Workload:
    queries: int = 1000
    input_tokens: int = 500
    output_tokens: int = 300
    concurrent: bool = False
    per_day: bool = False
    always_on: bool = True  # local machines: paid 24/7 for a daily workload
    batch_api: bool = False
    quality_bar: float | None = None  # minimum mean rating
    tokens_source: str = "typed in"


@dataclass
class Projection:
    stats: ModelStats | None  # None: a hosted model from the price table, never run
    hours: float | None  # in total, or per day
    cost: float | None  # in total, or per day: 24/7 or machine time as the workload asks
    fits: bool
    note: str = ""
    meets_bar: bool = True
    unpriced: bool = False  # no price row and no hourly price: the cost is unknown
    price: Price | None = None
    hourly: float | None = None  # the local machine's hourly price, set on the configuration
    machine_cost: float | None = None  # hourly price x the hours the work takes
    always_on_cost: float | None = None  # hourly price x 24 (daily workloads)
    in_flight: int = 1
    basis: list[tuple[str, str]] = field(default_factory=list)  # (figure, measured/assumed)
    per_day: bool = False
    pricing: str = "token"  # the configuration's pricing mode (inference.models.PricingMode)
    hardware_cost: float | None = None  # the cost without electricity
    electricity_cost: float | None = None  # power draw x price per kWh x the hours worked
    billed_hours: float | None = None  # serverless: seconds billed, cold starts included
    break_even: int | None = None  # queries a day above which it beats `break_even_against`
    break_even_against: str = ""
    capacity: int | None = None  # queries a day it carries in FEASIBLE_HOURS_PER_DAY
    label: str = ""  # a hybrid's: the routed configuration's name
    legs: list[tuple[float, Projection]] = field(default_factory=list)  # (share, leg)
    what_if: bool = False  # a hybrid asked for in the form, not a routed configuration
    fixed_per_day: float | None = None  # paid by the day whatever the queries (break-even)
    per_query: float | None = None  # what each query adds, electricity included (break-even)

    @property
    def name(self) -> str:
        return self.label or (self.stats.name if self.stats else self.price.model)

    @property
    def backend(self) -> str:
        if self.legs:
            return " + ".join(leg.backend for _, leg in self.legs)
        return self.stats.backend if self.stats else self.price.backend

    @property
    def machine(self) -> str:
        if self.legs:
            return " + ".join(leg.machine for _, leg in self.legs)
        return self.stats.machine if self.stats else "hosted (price table)"

    @property
    def measured(self) -> bool:
        return self.stats is not None

    def _times(self, value: float | None, days: int) -> float | None:
        return value * days if value is not None and self.per_day else None

    @property
    def cost_per_month(self) -> float | None:
        return self._times(self.cost, DAYS_PER_MONTH)

    @property
    def cost_per_year(self) -> float | None:
        return self._times(self.cost, DAYS_PER_YEAR)

    @property
    def hours_per_month(self) -> float | None:
        return self._times(self.hours, DAYS_PER_MONTH)
