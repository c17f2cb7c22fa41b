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
3. Cost (annotate/stats/paying.py): hosted models at their price per token (batch discount if
   asked); a local machine at its hourly price for the hours the work takes (machine time) or,
   for a daily workload run 24/7, for 24 hours a day (always on); both are given.
   A configuration's pricing (inference/pricing.py) decides which: per token (the price table,
   else its hour as above); dedicated (its hourly price, 24 hours a day for a daily workload,
   the hours the work takes for a one-off); serverless (its hourly rate for the seconds used,
   each query billed at least the minimum, plus one cold start a day or per one-off workload:
   assumed warm between queries). Electricity (power draw x price per kWh, for the hours the
   work takes; a machine paid 24 hours a day also its idle draw for the rest of the day, where
   set) is added to the hardware's cost and shown apart.
   Break-even: a machine paid by the day (dedicated, or local 24/7) becomes cheaper than the
   cheapest per-token model above (hourly + idle electricity) x 24 / (per-token cost -
   electricity of its work) of a query queries a day.
4. A daily workload is also given per month (30 days) and per year (365 days). A machine busy
   more than FEASIBLE_HOURS_PER_DAY (20) hours a day is not feasible: no time is left for
   peaks, restarts or updates (the seed analysis: MLX at 22 hours a day, "not feasible").
5. Hybrids (annotate/stats/hybrid.py): a routed configuration sending a share of traffic to
   its fallback (inference/routing.py), and the what-if hybrid asked for (any two measured
   configurations and a share), projected from their legs' measured rows: the second
   projected for its share of the queries, the first for the rest. Time: the legs run side
   by side, so the longer of the two. Cost: the sum of the two, each leg priced as its
   configuration says (a dedicated or 24/7 machine is paid in full whatever its share).
6. Three ways to pay (`ways_to_pay`): each measured machine with an hourly price, re-projected
   from the same measured figures per token (its own price row, else the cheapest per-token
   model compared), dedicated and serverless (its own cold start and minimum), with the
   break-evens between them in queries a day (paying.crossing).
A model with neither a price row nor an hourly price has an unknown cost: never ranked on cost
(an unset hourly price is unknown; an explicit 0 is free hardware), and listed last.
"""

from __future__ import annotations

from dataclasses import replace

from django.utils import timezone

from annotate.stats import hybrid, paying
from annotate.stats.figures import ModelStats, cached_model_stats
from annotate.stats.hybrid import NoHybrid, WhatIf
from annotate.stats.workload import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    FEASIBLE_HOURS_PER_DAY,
    Projection,
    Workload,
)
from inference.backends import get_backend_class
from inference.models import ModelConfig, Price, Run
from inference.pricing import find_price


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


def project(
    s: ModelStats, w: Workload, config: ModelConfig | None = None, pricing: str | None = None
) -> Projection:
    """One measured model's projection; `config` (its configuration) is read if not given.
    `pricing` prices it another way than its configuration says (the three ways to pay)."""
    config = config or ModelConfig.objects.filter(pk=s.config_id).first()
    in_flight = _in_flight(config)
    hours, time_basis = _hours(s, w, in_flight)
    fits = not (w.per_day and hours is not None and hours > FEASIBLE_HOURS_PER_DAY)
    meets = w.quality_bar is None or (
        s.mean_rating is not None and s.mean_rating.value >= w.quality_bar
    )
    row = Projection(s, hours, None, fits, meets_bar=meets, in_flight=in_flight, per_day=w.per_day)
    row.basis = [("time", time_basis), ("tokens", w.tokens_source)]
    row.pricing = pricing or (config.pricing if config else "token")
    by_token = row.pricing == "token" and not s.is_local
    price = find_price(s.backend, s.model) if by_token else None
    if price is not None:
        return paying.by_token(row, price, w)
    if s.hourly_usd is None:
        row.unpriced = True
        row.basis.append(("cost", "unknown: no price row and no hourly price"))
        return row
    row.hourly = float(s.hourly_usd)
    return paying.by_the_hour(row, config, w)


def project_price(price: Price, w: Workload, stats: ModelStats | None = None) -> Projection:
    """A hosted model from the price table: its cost; its time measured on `stats` (the same
    model served elsewhere), else not measured (never run)."""
    row = Projection(stats, None, None, True, meets_bar=w.quality_bar is None, per_day=w.per_day)
    row.basis = [("time", "not measured: never run"), ("tokens", w.tokens_source)]
    return paying.by_token(row, price, w)


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


def compare(
    stats: list[ModelStats],
    w: Workload,
    prices: list[Price] | None = None,
    what_if: WhatIf | None = None,
) -> dict:
    """Every model's projection, sorted by cost (unknown last), the models to pick, and each
    machine priced by the hour paid the three ways (`ways`)."""
    configs = ModelConfig.objects.in_bulk({s.config_id for s in stats})
    rows = [project(s, w, configs.get(s.config_id)) for s in stats]
    rows += [
        project_hybrid(c.name, primary, fallback, c.route_share, w)
        for c, primary, fallback in hybrid.routed(stats)
    ]
    if what_if:
        label = f"what-if: {what_if.primary.name} + {what_if.fallback.name}"
        asked = (what_if.primary, what_if.fallback, what_if.share)
        rows.append(project_hybrid(label, *asked, w, what_if=True))
    rows += [project_price(p, w) for p in prices or []]
    rows.sort(key=_cost_order)
    # Fastest among the models measured; cheapest among every known cost, the price table's
    # models never run included (their cost needs no measurement): an unpriced model is never
    # "cheapest", nor one that cannot do a day's work in a day.
    measured = [r for r in rows if r.measured and r.fits and r.hours is not None]
    usable = [r for r in rows if r.cost is not None and r.fits]
    cheapest = min(usable, key=lambda r: r.cost, default=None)
    fastest = min(measured, key=lambda r: r.hours, default=None)
    paying.break_even(rows, w)
    above = [r for r in usable if r.meets_bar and r.stats and r.stats.mean_rating]
    cheapest_above = min(above, key=lambda r: r.cost, default=None) if w.quality_bar else None
    return {
        "rows": rows,
        "cheapest": cheapest,
        "fastest": fastest,
        "cheapest_above": cheapest_above,
        "ways": ways_to_pay(rows, configs, w),
    }


def project_hybrid(
    label: str,
    primary: ModelStats,
    fallback: ModelStats,
    share: float,
    w: Workload,
    what_if: bool = False,
) -> Projection:
    """A hybrid's projection (step 5, annotate/stats/hybrid.py): `share` of the queries on
    `fallback`, the rest on `primary`, each leg priced as its configuration says; `what_if`:
    asked for in the form or the API, not a routed configuration."""
    parts = [
        (1 - share, project(primary, replace(w, queries=w.queries * (1 - share)))),
        (share, project(fallback, replace(w, queries=w.queries * share))),
    ]
    return hybrid.combine(label, parts, w, what_if=what_if)


def ways_to_pay(
    rows: list[Projection], configs: dict[int, ModelConfig], w: Workload
) -> list[paying.Ways]:
    """Each measured machine priced by the hour, re-projected from the same measured figures
    paid per token, dedicated and serverless (paying.Ways)."""
    per_token = [r for r in rows if r.price is not None and r.cost is not None and not r.legs]
    cheapest = min(per_token, key=lambda r: r.cost, default=None)
    out = []
    for r in rows:
        if r.legs or r.stats is None or r.hourly is None:
            continue
        config = configs.get(r.stats.config_id)
        own = find_price(r.stats.backend, r.stats.model)
        if own is not None:
            token = project_price(own, w, r.stats)
            token.hours, token.basis[0] = r.hours, r.basis[0]  # the same measured time
            said = f"its own price-table row ({own.model})"
        else:
            token = cheapest
            said = f"no price row for {r.stats.model}: the cheapest per-token model, "
            said += cheapest.name if cheapest else "none in the comparison"
        dedicated = project(r.stats, w, config, pricing="dedicated")
        serverless = project(r.stats, w, config, pricing="serverless")
        out.append(
            paying.Ways(r, token, said, dedicated, serverless, paying.capacity(dedicated, w))
        )
    return out


def projection_rows(result: dict, w: Workload) -> list[dict]:
    """The projection as flat rows (the CSV download and the API)."""
    ways = {id(paid.row): paid for paid in result["ways"]}
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
                "what_if": r.what_if,
                **_ways_columns(ways.get(id(r))),
            }
        )
    return out


def _ways_columns(ways: paying.Ways | None) -> dict:
    """A machine priced by the hour: its cost paid each way, and the break-evens (queries a
    day); empty for the other rows."""
    columns = {
        "as_per_token_cost_usd": ways.token.cost if ways and ways.token else None,
        "as_per_token_priced_by": ways.token_said if ways else "",
        "as_dedicated_cost_usd": ways.dedicated.cost if ways else None,
        "as_serverless_cost_usd": ways.serverless.cost if ways else None,
    }
    for key in paying.BREAK_EVENS:
        columns[f"break_even_{key}"] = ways.break_evens[key][1] if ways else None
    return columns


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
    "NoHybrid",
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
    "ways_to_pay",
    "workload_for",
]
