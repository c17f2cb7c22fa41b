"""What a workload would take on each model, from its measured figures.

For a workload of `queries` queries (in total, or per day), each with `input_tokens` and
`output_tokens`:
- one at a time: each query takes the median time to first token plus its output tokens at
  the median decode speed;
- batched / concurrent: the queries' output tokens at the model's measured whole-run
  throughput (tokens/s of its batched or concurrent runs).
Cost: hosted models at their price per token (batch discount if asked); local machines at
their hourly price for the hours the work takes, or, run 24/7, for every hour of the day.
A local machine that needs more than 24 hours a day for a daily workload cannot carry it.
A model with neither a price row nor an hourly price has no cost: it is listed as "no price",
never ranked on cost (an unset hourly price is unknown; an explicit 0 is free hardware).
"""

from __future__ import annotations

from dataclasses import dataclass

from annotate.stats.figures import ModelStats
from inference.backends import get_backend_class
from inference.pricing import find_price, token_cost


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


@dataclass
class Projection:
    stats: ModelStats
    hours: float | None
    cost: float | None
    fits: bool
    note: str = ""
    meets_bar: bool = True
    unpriced: bool = False  # no price row and no hourly price: the cost is unknown


def _seconds_per_query(s: ModelStats, w: Workload) -> float | None:
    ttft = s.pct.get("ttft_s", {}).get(50)
    tps = s.pct.get("decode_tps", {}).get(50)
    if not ttft or ttft.value is None or not tps or not tps.value:
        return None
    return ttft.value + max(w.output_tokens - 1, 0) / tps.value


def project(s: ModelStats, w: Workload) -> Projection:
    if w.concurrent:
        hours = (
            w.queries * w.output_tokens / s.throughput.value / 3600
            if s.throughput and s.throughput.value
            else None
        )
    else:
        per_query = _seconds_per_query(s, w)
        hours = w.queries * per_query / 3600 if per_query else None
    fits = not (w.per_day and hours is not None and hours > 24)
    meets = w.quality_bar is None or (
        s.mean_rating is not None and s.mean_rating.value >= w.quality_bar
    )
    local = get_backend_class(s.backend).is_local
    price = None if local else find_price(s.backend, s.model)
    if price is not None:
        unit = token_cost(price, w.input_tokens, w.output_tokens, batch=w.batch_api)
        return Projection(s, hours, float(unit * w.queries), fits, meets_bar=meets)
    if s.hourly_usd is None:
        return Projection(s, hours, None, fits, meets_bar=meets, unpriced=True)
    hourly = float(s.hourly_usd)
    if w.per_day and w.always_on and local:
        return Projection(s, hours, hourly * 24, fits, "machine paid 24 h a day", meets)
    cost = hourly * hours if hours is not None else None
    return Projection(s, hours, cost, fits, "", meets)


def compare(stats: list[ModelStats], w: Workload) -> dict:
    rows = [project(s, w) for s in stats]
    measured = [r for r in rows if r.fits and r.hours is not None]
    # Only a known cost is ranked on cost: an unpriced model is never "cheapest".
    usable = [r for r in measured if r.cost is not None]
    cheapest = min(usable, key=lambda r: r.cost, default=None)
    fastest = min(measured, key=lambda r: r.hours, default=None)
    above = [r for r in usable if r.meets_bar and (w.quality_bar is None or r.stats.mean_rating)]
    cheapest_above = min(above, key=lambda r: r.cost, default=None) if w.quality_bar else None
    return {
        "rows": rows,
        "cheapest": cheapest,
        "fastest": fastest,
        "cheapest_above": cheapest_above,
    }


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


__all__ = ["Projection", "Workload", "compare", "pareto", "project"]
