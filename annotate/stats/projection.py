"""What a workload would take on each model: measured models from their figures, hosted models
from the price table even if never run.

A workload is `queries` queries, in total (a one-off) or per day, each with `input_tokens` and
`output_tokens` (typed in, or the mean of measured outputs: `measured_tokens`).
1. Time, one at a time: each query takes the median time to first token plus its output tokens
   at the median decode speed.
2. Time, batched / concurrent (requests in flight): the fastest of one at a time, the measured
   whole-run throughput (tokens/s of the model's runs), and, for a hosted API, one at a time
   divided by the requests the configuration keeps in flight. So ticking it never makes a
   model slower.
3. Cost: hosted models at their price per token (batch discount if asked); a local machine at
   its hourly price for the hours the work takes (machine time) or, for a daily workload run
   24/7, for 24 hours a day (always on); both are given.
   A configuration's pricing (inference/pricing.py) decides which: per token (the price table,
   else its hour as above); dedicated (its hourly price, 24 hours a day for a daily workload,
   the hours the work takes for a one-off); serverless (its hourly rate for the seconds used,
   each query billed at least the minimum, plus one cold start a day or per one-off workload:
   assumed warm between queries). Electricity (power draw x price per kWh, for the hours the
   work takes) is added to the hardware's cost and shown apart.
   Break-even: a machine paid by the day (dedicated, or local 24/7) becomes cheaper than the
   cheapest per-token model above hourly x 24 / (per-token cost - electricity) of a query
   queries a day.
4. A daily workload is also given per month (30 days) and per year (365 days). A machine busy
   more than FEASIBLE_HOURS_PER_DAY (20) hours a day is not feasible: no time is left for
   peaks, restarts or updates (the seed analysis: MLX at 22 hours a day, "not feasible").
5. A routed configuration sending a share of traffic to its fallback (inference/routing.py)
   is projected as a hybrid of its legs' measured rows: the fallback projected for that
   share of the queries, the primary for the rest. Time: the legs run side by side, so the
   longer of the two. Cost: the sum of the two, each leg priced as its configuration says
   (a dedicated or 24/7 machine is paid in full whatever its share).
A model with neither a price row nor an hourly price has an unknown cost: never ranked on cost
(an unset hourly price is unknown; an explicit 0 is free hardware), and listed last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.utils import timezone

from annotate.stats.figures import ModelStats, cached_model_stats
from inference.backends import get_backend_class
from inference.models import ModelConfig, Price, Run
from inference.pricing import electricity_hourly, find_price, token_cost

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


def measured_tokens(dataset_id: int | None = None, config_ids=None) -> tuple[int, int, int]:
    """(mean input tokens, mean output tokens, outputs counted) over the measured outputs of a
    dataset (or of every model in scope); (0, 0, 0) when none was measured. From the
    statistics' exact counts (figures.py), which the page has already computed."""
    run_ids = None
    if dataset_id:
        run_ids = list(Run.objects.filter(dataset_id=dataset_id).values_list("pk", flat=True))
        if not run_ids:
            return 0, 0, 0
    stats = cached_model_stats(config_ids, run_ids)
    n = sum(s.measured for s in stats)
    if not n:
        return 0, 0, 0
    prompts = sum(s.measured_prompt_n for s in stats)
    mean_in = sum(s.measured_prompt_tokens for s in stats) / prompts if prompts else 0
    mean_out = sum(s.output_tokens for s in stats) / n
    return round(mean_in), max(round(mean_out), 1), n


class NoTokens(ValueError):
    """Tokens per query left empty, and no measured output to take them from."""


def workload_for(
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    dataset=None,
    config_ids=None,
    **settings,
) -> Workload:
    """The workload asked for (the page's form and the API's query): tokens per query typed
    in, or, left empty, the mean of the measured outputs of `dataset` (else of the models in
    scope). Raises NoTokens when one is empty and nothing was measured."""
    if input_tokens is not None and output_tokens is not None:
        return Workload(input_tokens=input_tokens, output_tokens=output_tokens, **settings)
    mean_in, mean_out, n = measured_tokens(
        dataset.pk if dataset else None, None if dataset else config_ids
    )
    if not n:
        where = f"dataset {dataset.name}" if dataset else "the models shown"
        raise NoTokens(f"No measured outputs of {where}: type the tokens per query.")
    source = f"measured: mean of {n:,} outputs" + (f" of {dataset.name}" if dataset else "")
    if input_tokens is not None or output_tokens is not None:
        typed = "input" if input_tokens is not None else "output"
        source = f"{typed} typed in, the other {source}"
    return Workload(
        input_tokens=mean_in if input_tokens is None else input_tokens,
        output_tokens=mean_out if output_tokens is None else output_tokens,
        tokens_source=source,
        **settings,
    )


def _seconds_per_query(s: ModelStats, w: Workload) -> float | None:
    ttft = s.pct.get("ttft_s", {}).get(50)
    tps = s.pct.get("decode_tps", {}).get(50)
    if not ttft or ttft.value is None or not tps or not tps.value:
        return None
    return ttft.value + max(w.output_tokens - 1, 0) / tps.value


def _hours(s: ModelStats, w: Workload, in_flight: int) -> tuple[float | None, str]:
    """The hours the workload takes (steps 1 and 2 above), and what they rest on."""
    per_query = _seconds_per_query(s, w)
    one = w.queries * per_query / 3600 if per_query else None
    basis = f"measured: p50 first token and decode speed, n={s.pct['ttft_s'][50].n}" if one else ""
    if not w.concurrent:
        return one, basis or "not measured"
    options = [(one, basis + ", one at a time")] if one else []
    if s.throughput and s.throughput.value:
        through = w.queries * w.output_tokens / s.throughput.value / 3600
        options.append((through, f"measured: run throughput, n={s.throughput.n}"))
    if one and not s.is_local and in_flight > 1:
        # Requests in flight are served side by side: the API's latency, `in_flight` at once.
        options.append((one / in_flight, f"{basis}; assumed: {in_flight} requests in flight"))
    if not options:
        return None, "not measured"
    return min(options, key=lambda o: o[0])


def _in_flight(config: ModelConfig | None) -> int:
    if config is None:
        return 1
    return get_backend_class(config.backend).in_flight(config.params())


def project(s: ModelStats, w: Workload, config: ModelConfig | None = None) -> Projection:
    """One measured model's projection; `config` (its configuration) is read if not given."""
    config = config or ModelConfig.objects.filter(pk=s.config_id).first()
    in_flight = _in_flight(config)
    hours, time_basis = _hours(s, w, in_flight)
    fits = not (w.per_day and hours is not None and hours > FEASIBLE_HOURS_PER_DAY)
    meets = w.quality_bar is None or (
        s.mean_rating is not None and s.mean_rating.value >= w.quality_bar
    )
    row = Projection(s, hours, None, fits, meets_bar=meets, in_flight=in_flight, per_day=w.per_day)
    row.basis = [("time", time_basis), ("tokens", w.tokens_source)]
    row.pricing = config.pricing if config else "token"
    by_token = row.pricing == "token" and not s.is_local
    price = find_price(s.backend, s.model) if by_token else None
    if price is not None:
        return _priced(row, price, w)
    if s.hourly_usd is None:
        row.unpriced = True
        row.basis.append(("cost", "unknown: no price row and no hourly price"))
        return row
    row.hourly = float(s.hourly_usd)
    rate = "rate per hour of use" if row.pricing == "serverless" else "/h"
    rate = f"{_dollars(s.hourly_usd)}{rate}"
    row.basis.append(("cost", f"assumed: {rate}, set on the configuration"))
    row.machine_cost = row.hourly * hours if hours is not None else None
    if row.pricing == "serverless":
        _serverless(row, config, w)
    elif w.per_day and (s.is_local or row.pricing == "dedicated"):
        row.always_on_cost = row.hourly * 24
    if row.pricing == "serverless":
        row.hardware_cost = row.machine_cost
    elif w.per_day and row.pricing == "dedicated":
        row.hardware_cost, row.note = row.always_on_cost, "dedicated: paid 24 h a day"
    elif w.per_day and w.always_on and s.is_local:
        row.hardware_cost, row.note = row.always_on_cost, "machine paid 24 h a day"
    else:
        row.hardware_cost = row.machine_cost
    row.cost = row.hardware_cost
    power = electricity_hourly(config.power_watts, config.kwh_usd) if config else None
    if power is not None and hours is not None:
        row.electricity_cost = float(power) * hours
        row.basis.append(
            ("electricity", f"assumed: {config.power_watts:g} W at {_dollars(config.kwh_usd)}/kWh")
        )
        if row.cost is not None:
            row.cost += row.electricity_cost
    return row


def _serverless(row: Projection, config: ModelConfig, w: Workload) -> None:
    """Per second of use: each query billed at least the minimum (those in flight share one
    billed second), plus one cold start a day (or for a one-off workload)."""
    if row.hours is None:
        row.machine_cost = None
        return
    at_once = row.in_flight if w.concurrent else 1
    least = w.queries * (config.min_billed_s or 0) / at_once / 3600
    cold = (config.cold_start_s or 0) / 3600
    row.billed_hours = max(row.hours, least) + cold
    row.machine_cost = row.hourly * row.billed_hours
    terms = (
        f"min {config.min_billed_s or 0:g} s a request, cold start {config.cold_start_s or 0:g} s"
    )
    row.basis.append(("billing", f"assumed: serverless, {terms}, one cold start a day"))


def _dollars(amount) -> str:
    """$0.60, $2.00, $0.0035: cents at least, never scientific notation."""
    amount = Decimal(amount)
    if amount == amount.quantize(Decimal("0.01")):
        return f"${amount:,.2f}"
    return f"${amount.normalize():f}"


def _priced(row: Projection, price: Price, w: Workload) -> Projection:
    unit = token_cost(price, w.input_tokens, w.output_tokens, batch=w.batch_api)
    # A hybrid's leg may carry a fraction of the queries (step 5).
    row.price, row.cost = price, float(unit * Decimal(str(w.queries)))
    discount = " less the batch discount" if w.batch_api else ""
    row.basis.append(
        ("cost", f"assumed: list price of {price.effective_from:%Y-%m-%d}{discount} (price table)")
    )
    return row


def project_price(price: Price, w: Workload) -> Projection:
    """A hosted model from the price table that was never run: its cost, time not measured."""
    row = Projection(None, None, None, True, meets_bar=w.quality_bar is None, per_day=w.per_day)
    row.basis = [("time", "not measured: never run"), ("tokens", w.tokens_source)]
    return _priced(row, price, w)


def unrun_prices(stats: list[ModelStats]) -> list[Price]:
    """The price table's models in effect today that none of the measured models is priced by."""
    used = {p.pk for s in stats if not s.is_local and (p := find_price(s.backend, s.model))}
    latest: dict[tuple[str, str], Price] = {}
    for p in Price.objects.filter(effective_from__lte=timezone.localdate()).order_by(
        "effective_from"
    ):
        latest[(p.backend, p.model)] = p
    return [p for p in latest.values() if p.pk not in used]


def _cost_order(r: Projection) -> tuple:
    # Known costs first, cheapest first; unknown last; then the faster.
    return (r.cost is None, r.cost or 0, r.hours is None, r.hours or 0, r.name)


def compare(stats: list[ModelStats], w: Workload, prices: list[Price] | None = None) -> dict:
    """Every model's projection, sorted by cost (unknown last), and the models to pick."""
    configs = ModelConfig.objects.in_bulk({s.config_id for s in stats})
    rows = [project(s, w, configs.get(s.config_id)) for s in stats]
    rows += hybrids(stats, w)
    rows += [project_price(p, w) for p in prices or []]
    rows.sort(key=_cost_order)
    # Fastest among the models measured; cheapest among every known cost, the price table's
    # models never run included (their cost needs no measurement): an unpriced model is never
    # "cheapest", nor one that cannot do a day's work in a day.
    measured = [r for r in rows if r.measured and r.fits and r.hours is not None]
    usable = [r for r in rows if r.cost is not None and r.fits]
    cheapest = min(usable, key=lambda r: r.cost, default=None)
    fastest = min(measured, key=lambda r: r.hours, default=None)
    _break_even(rows, w)
    above = [r for r in usable if r.meets_bar and r.stats and r.stats.mean_rating]
    cheapest_above = min(above, key=lambda r: r.cost, default=None) if w.quality_bar else None
    return {
        "rows": rows,
        "cheapest": cheapest,
        "fastest": fastest,
        "cheapest_above": cheapest_above,
    }


def hybrids(stats: list[ModelStats], w: Workload) -> list[Projection]:
    """Step 5: each routed configuration with a share of traffic whose two legs were measured
    (a leg measured on several machines: the machine with the most outputs)."""
    legs: dict[int, ModelStats] = {}
    for s in sorted(stats, key=lambda s: s.generations):
        legs[s.config_id] = s
    routed = ModelConfig.objects.filter(
        route_primary_id__in=legs, route_fallback_id__in=legs, route_share__gt=0
    ).select_related("route_primary", "route_fallback")
    return [
        project_hybrid(c, legs[c.route_primary_id], legs[c.route_fallback_id], w) for c in routed
    ]


def project_hybrid(config: ModelConfig, primary: ModelStats, fallback: ModelStats, w: Workload):
    """A routed configuration's projection: `config.route_share` of the queries on the
    fallback, the rest on the primary (step 5)."""
    share = config.route_share
    parts = [
        (
            1 - share,
            project(primary, replace(w, queries=w.queries * (1 - share)), config.route_primary),
        ),
        (share, project(fallback, replace(w, queries=w.queries * share), config.route_fallback)),
    ]
    rows = [leg for _, leg in parts]
    hours = [r.hours for r in rows]
    row = Projection(
        primary,
        None if None in hours else max(hours),
        _sum(r.cost for r in rows),
        all(r.fits for r in rows),
        meets_bar=all(r.meets_bar for r in rows),
        per_day=w.per_day,
        label=config.name,
        legs=parts,
        unpriced=any(r.unpriced for r in rows),
    )
    row.hardware_cost = _sum(r.hardware_cost for r in rows)
    row.electricity_cost = _sum(r.electricity_cost for r in rows if r.electricity_cost is not None)
    said = "; ".join(f"{r.name} {s:.0%}: {_said(r)}" for s, r in parts)
    row.basis = [
        ("time", f"hybrid: the longer of its legs, run side by side ({said})"),
        ("tokens", w.tokens_source),
        (
            "cost",
            "hybrid: the sum of its legs, each priced as its configuration says "
            "(a machine paid by the day in full, whatever its share)",
        ),
    ]
    row.note = f"hybrid: {share:.0%} of queries to {fallback.name}, the rest to {primary.name}"
    return row


def _said(r: Projection) -> str:
    hours = "time unknown" if r.hours is None else f"{r.hours:.2f} h"
    cost = "cost unknown" if r.cost is None else f"${r.cost:,.2f}"
    return f"{hours}, {cost}"


def _sum(values) -> float | None:
    values = list(values)
    return None if not values or None in values else sum(values)


def _break_even(rows: list[Projection], w: Workload) -> None:
    """The queries a day above which a machine paid by the day (dedicated, or local 24/7)
    costs less than the cheapest model priced per token: hourly x 24 / (per-token cost of a
    query - the machine's electricity for a query)."""
    per_token = [r for r in rows if r.price is not None and r.cost]
    if not per_token or not w.queries:
        return
    cheapest = min(per_token, key=lambda r: r.cost)
    token_per_query = cheapest.cost / w.queries
    for r in rows:
        daily = r.hourly * 24 if r.hourly is not None and r.pricing != "serverless" else None
        if (
            daily is None
            or r.price is not None
            or (not r.stats.is_local and r.pricing != "dedicated")
        ):
            continue
        margin = token_per_query - (r.electricity_cost or 0) / w.queries
        if margin > 0 and daily > 0:
            r.break_even, r.break_even_against = math.ceil(daily / margin), cheapest.name
        if r.hours and r.hourly is not None:  # a machine's, not an API's
            r.capacity = math.floor(w.queries * FEASIBLE_HOURS_PER_DAY / r.hours)


def projection_rows(result: dict, w: Workload) -> list[dict]:
    """The projection as flat rows (the CSV download)."""
    out = []
    for r in result["rows"]:
        basis = dict(r.basis)
        out.append(
            {
                "model_config": r.name,
                "backend": r.backend,
                "machine": r.machine,
                "measured": r.measured,
                "workload": "per day" if w.per_day else "total",
                "queries": w.queries,
                "input_tokens": w.input_tokens,
                "output_tokens": w.output_tokens,
                "tokens_source": w.tokens_source,
                "in_flight": r.in_flight if w.concurrent else 1,
                "hours": r.hours,
                "hours_per_month": r.hours_per_month,
                "cost_usd": r.cost,
                "cost_per_month_usd": r.cost_per_month,
                "cost_per_year_usd": r.cost_per_year,
                "machine_time_cost_usd": r.machine_cost,
                "always_on_cost_usd": r.always_on_cost,
                "hourly_usd": r.hourly,
                "pricing": r.pricing,
                "hardware_cost_usd": r.hardware_cost,
                "electricity_cost_usd": r.electricity_cost,
                "serverless_billed_hours": r.billed_hours,
                "break_even_queries_per_day": r.break_even,
                "break_even_against": r.break_even_against,
                "capacity_queries_per_day": r.capacity,
                "fits": r.fits,
                "meets_bar": r.meets_bar,
                "cheapest": r is result["cheapest"],
                "fastest": r is result["fastest"],
                "time_basis": basis.get("time", ""),
                "cost_basis": basis.get("cost", ""),
            }
        )
    return out


def pareto(points: list[tuple[str, float, float]]) -> set[str]:
    """Names on the best cost/quality trade-off: no other point is cheaper and at least as good
    (points are (name, cost, quality))."""
    best = set()
    for name, cost, quality in points:
        dominated = any(
            c <= cost and q >= quality and (c, q) != (cost, quality) for _, c, q in points
        )
        if not dominated:
            best.add(name)
    return best


__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_YEAR",
    "FEASIBLE_HOURS_PER_DAY",
    "Projection",
    "Workload",
    "compare",
    "NoTokens",
    "measured_tokens",
    "pareto",
    "project",
    "project_hybrid",
    "projection_rows",
    "unrun_prices",
    "workload_for",
]
