"""What a projected workload costs under each pricing mode (step 3 of projection.py's docstring;
the modes are inference/pricing.py's): per token from the price table; by the hour, dedicated
(24 hours a day for a daily workload) or serverless (the seconds used, each query billed at
least the minimum, plus a cold start); electricity on top; and the break-even between a machine
paid by the day and per-token pricing.

Every mode is a straight line in queries a day: a day's cost = what is paid whatever the queries
(`fixed_per_day`) + what each query adds (`per_query`). Two lines cross at
(fixed_a - fixed_b) / (per_query_b - per_query_a) queries a day: the break-even.
1. Per token: 0 + the price of a query.
2. Dedicated (or a local machine, 24/7): hourly x 24 + idle draw x 24, and per query its hours
   of work x (power draw - idle draw) in electricity.
3. Serverless: hourly x the cold start, and per query hourly x its billed hours (at least the
   minimum, shared by the queries in flight) + its hours x the power draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from annotate.stats.workload import FEASIBLE_HOURS_PER_DAY, Projection, Workload
from inference.models import ModelConfig, Price
from inference.pricing import electricity_hourly, token_cost


def dollars(amount) -> str:
    """$0.60, $2.00, $0.0035: cents at least, never scientific notation."""
    amount = Decimal(amount)
    if amount == amount.quantize(Decimal("0.01")):
        return f"${amount:,.2f}"
    return f"${amount.normalize():f}"


def by_token(row: Projection, price: Price, w: Workload) -> Projection:
    """The row priced per token from `price`."""
    unit = token_cost(price, w.input_tokens, w.output_tokens, batch=w.batch_api)
    # A hybrid's leg may carry a fraction of the queries (step 5).
    row.price, row.cost = price, float(unit * Decimal(str(w.queries)))
    row.fixed_per_day, row.per_query = 0.0, float(unit)
    discount = " less the batch discount" if w.batch_api else ""
    row.basis.append(
        ("cost", f"assumed: list price of {price.effective_from:%Y-%m-%d}{discount} (price table)")
    )
    return row


def paid_all_day(row: Projection, w: Workload) -> bool:
    """Whether the machine is paid 24 hours a day: dedicated, or a local machine on 24/7."""
    if not w.per_day or row.pricing == "serverless":
        return False
    local = row.stats is not None and row.stats.is_local
    return row.pricing == "dedicated" or (w.always_on and local)


def by_the_hour(row: Projection, config: ModelConfig | None, w: Workload) -> Projection:
    """The row priced by its machine's hour (row.hourly set), as its pricing mode says."""
    rate = " an hour of use" if row.pricing == "serverless" else "/h"
    row.basis.append(
        ("cost", f"assumed: {dollars(row.stats.hourly_usd)}{rate}, set on the configuration")
    )
    row.machine_cost = row.hourly * row.hours if row.hours is not None else None
    if row.pricing == "serverless":
        _serverless(row, config, w)
    elif w.per_day and (row.stats.is_local or row.pricing == "dedicated"):
        row.always_on_cost = row.hourly * 24
    row.hardware_cost = row.machine_cost
    if paid_all_day(row, w):
        row.hardware_cost = row.always_on_cost
        dedicated = row.pricing == "dedicated"
        row.note = "dedicated: paid 24 h a day" if dedicated else "machine paid 24 h a day"
    row.cost = row.hardware_cost
    _electricity(row, config, paid_all_day(row, w))
    if row.cost is not None and row.electricity_cost is not None:
        row.cost += row.electricity_cost
    _line(row, config, w)
    return row


def _not_set(value: float | None) -> str:
    return "0 s, not set" if value is None else f"{value:g} s"


def _serverless(row: Projection, config: ModelConfig, w: Workload) -> None:
    """Per second of use: each query billed at least the minimum (those in flight share one
    billed second), plus one cold start a day (or for a one-off workload)."""
    terms = f"cold start {_not_set(config.cold_start_s)}, one a day; minimum billed a request "
    terms += _not_set(config.min_billed_s)
    row.basis.append(("billing", f"assumed: serverless, {terms}"))
    if row.hours is None:
        row.machine_cost = None
        return
    least = w.queries * (config.min_billed_s or 0) / _at_once(row, w) / 3600
    cold = (config.cold_start_s or 0) / 3600
    row.billed_hours = max(row.hours, least) + cold
    row.machine_cost = row.hourly * row.billed_hours


def _at_once(row: Projection, w: Workload) -> int:
    return row.in_flight if w.concurrent else 1


def _electricity(row: Projection, config: ModelConfig | None, all_day: bool) -> None:
    """Power draw x price per kWh for the hours of work; a machine paid 24 h a day also its
    idle draw for the rest of the day, where it is set."""
    power = electricity_hourly(config.power_watts, config.kwh_usd) if config else None
    if power is None or row.hours is None:
        return
    row.electricity_cost = float(power) * row.hours
    kwh = f"{dollars(config.kwh_usd)}/kWh"
    said = f"assumed: {config.power_watts:g} W at {kwh}"
    if all_day and config.idle_watts is None:
        said = f"assumed: {config.power_watts:g} W for the hours of work at {kwh}; idle draw "
        said += "not counted (not set)"
    elif all_day:
        idle_hours = max(24 - row.hours, 0)
        idle = electricity_hourly(config.idle_watts, config.kwh_usd)
        row.electricity_cost += float(idle) * idle_hours
        said = (
            f"assumed: {config.power_watts:g} W for the {row.hours:.2f} h of work and "
            f"{config.idle_watts:g} W idle the other {idle_hours:.2f} h a day, at {kwh}"
        )
    row.basis.append(("electricity", said))


def _line(row: Projection, config: ModelConfig | None, w: Workload) -> None:
    """The row's cost as a line in queries a day (the module's docstring), from its measured
    hours per query; none where the time is unknown."""
    if row.hours is None or not w.queries or row.hourly is None:
        return
    hours = row.hours / w.queries
    power = electricity_hourly(config.power_watts, config.kwh_usd) if config else None
    power = float(power or 0)
    if row.pricing == "serverless":
        billed = max(hours, (config.min_billed_s or 0) / _at_once(row, w) / 3600)
        row.fixed_per_day = row.hourly * (config.cold_start_s or 0) / 3600
        row.per_query = row.hourly * billed + power * hours
        return
    idle = electricity_hourly(config.idle_watts, config.kwh_usd) if config and power else None
    idle = float(idle or 0)
    row.fixed_per_day = (row.hourly + idle) * 24
    row.per_query = (power - idle) * hours


def crossing(cheap_at_scale: Projection | None, other: Projection | None) -> int | None:
    """The queries a day above which `cheap_at_scale` (more paid by the day, less per query)
    costs less than `other`: 0 where it always does, None where it never does (or a line is
    unknown)."""
    a, b = cheap_at_scale, other
    if (
        a is None
        or b is None
        or None in (a.fixed_per_day, a.per_query, b.fixed_per_day, b.per_query)
    ):
        return None
    margin = b.per_query - a.per_query
    extra = a.fixed_per_day - b.fixed_per_day
    if extra <= 0:
        return 0 if margin >= 0 else None
    # Rounded first: $14.40 / $0.03 is 480, not 480.00000000000006 (481 once ceiled).
    return math.ceil(round(extra / margin, 6)) if margin > 0 else None


@dataclass
class Ways:
    """One machine priced by the hour, paid each way for the same measured figures."""

    row: Projection  # as its configuration is priced
    token: Projection | None  # its own price row, else the comparison's cheapest per token
    token_said: str  # which
    dedicated: Projection
    serverless: Projection
    capacity: int | None = None  # queries a day one dedicated machine carries (`capacity`)

    @property
    def modes(self) -> list[tuple[str, Projection | None]]:
        return [
            ("per token", self.token),
            ("dedicated", self.dedicated),
            ("serverless", self.serverless),
        ]

    @property
    def break_evens(self) -> dict[str, tuple[str, int | None]]:
        """{key: (the sentence, the queries a day above which the first is cheaper)}."""
        out = {}
        for key, (cheap, other) in BREAK_EVENS.items():
            a, b = getattr(self, cheap), getattr(self, other)
            queries = crossing(a, b)
            cheap, other = _WORDS[cheap], _WORDS[other]
            if a is None or b is None or None in (a.per_query, b.per_query):
                said = f"{cheap} against {other}: unknown, no {other} price or time"
            elif _same(a, b):  # an owned machine either way: just its electricity
                said, queries = f"{cheap} and {other} cost the same", None
            elif queries is None:
                said = f"{cheap} is never cheaper than {other}"
            elif queries == 0:
                said = f"{cheap} is cheaper than {other} at any number of queries"
            else:
                said = f"{cheap} is cheaper than {other} above {queries:,} queries a day"
                if cheap == "dedicated" and self.capacity and queries > self.capacity:
                    # The lines are one machine's: past its capacity a second one is paid.
                    said += f", more than one machine carries ({self.capacity:,} a day)"
            out[key] = (said, queries)
        return out


def capacity(r: Projection, w: Workload) -> int | None:
    """The queries a day one machine carries in FEASIBLE_HOURS_PER_DAY, at its measured pace."""
    return math.floor(w.queries * FEASIBLE_HOURS_PER_DAY / r.hours) if r.hours else None


def _same(a: Projection, b: Projection) -> bool:
    return math.isclose(a.fixed_per_day, b.fixed_per_day, abs_tol=1e-12) and math.isclose(
        a.per_query, b.per_query, rel_tol=1e-9, abs_tol=1e-15
    )


# key: (the mode cheaper at scale, the other); a mode's words
BREAK_EVENS = {
    "dedicated_vs_token": ("dedicated", "token"),
    "dedicated_vs_serverless": ("dedicated", "serverless"),
    "serverless_vs_token": ("serverless", "token"),
}
_WORDS = {"token": "per token", "dedicated": "dedicated", "serverless": "serverless"}


def break_even(rows: list[Projection], w: Workload) -> None:
    """The queries a day above which a machine paid by the day (dedicated, or local 24/7)
    costs less than the cheapest model priced per token: hourly x 24 (+ idle draw x 24) /
    (per-token cost of a query - the machine's electricity for a query)."""
    per_token = [r for r in rows if r.price is not None and r.cost]
    if not per_token or not w.queries:
        return
    cheapest = min(per_token, key=lambda r: r.cost)
    for r in rows:
        if r.hourly is None or r.pricing == "serverless" or r.price is not None:
            continue
        if not r.stats.is_local and r.pricing != "dedicated":
            continue
        if queries := crossing(r, cheapest):  # 0: cheaper at any number, as free hardware
            r.break_even, r.break_even_against = queries, cheapest.name
        if r.hours:  # a machine's, not an API's
            r.capacity = capacity(r, w)
