"""One definition per figure of generation, shared by the run page, the API and the
statistics: what a set of generations cost, and a run's throughput.

Only done generations count. A failed or cancelled one records no cost (inference/runner.py)
and its tokens are no output anyone can use.

- cost: the sum of the costs done generations recorded when they were made (inference/pricing.py
  says how each is priced); cost per query: that sum over the number of done generations.
  A generation made with no price recorded None: unknown, not free. It counts in no cost
  figure; a total with any of them is unknown, and per-query costs are over the priced ones.
- run throughput (tokens/s): the output tokens of a run's done generations over the span from
  the first one's start to the last one's finish: what batching and concurrency buy. Undefined
  without tokens or without a span.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Sum

# GenerationStatus.DONE: inference/models.py imports this module, so this one names the value.
DONE = Q(status="done")


def recorded_cost() -> Sum:
    """Aggregate: the cost of a set of generations' priced outputs (None when none is)."""
    return Sum("cost_usd", filter=DONE)


def priced_count() -> Count:
    """Aggregate: how many done generations recorded a cost (the rest had no price)."""
    return Count("cost_usd", filter=DONE)


def run_span() -> dict:
    """Aggregates of a run's throughput: output_tokens, first_start, last_finish."""
    return {
        "output_tokens": Sum("output_tokens", filter=DONE),
        "first_start": Min("started_at", filter=DONE),
        "last_finish": Max("finished_at", filter=DONE),
    }


def run_tokens_per_s(
    output_tokens: int | None, first_start: datetime | None, last_finish: datetime | None
) -> float | None:
    """A run's throughput from run_span()'s values."""
    if not output_tokens or first_start is None or last_finish is None:
        return None
    span = (last_finish - first_start).total_seconds()
    return output_tokens / span if span > 0 else None


def cost_per_query(priced_cost: Decimal | None, priced: int) -> float | None:
    """What one done generation cost on average, over those that recorded a cost."""
    return float(priced_cost or 0) / priced if priced else None


def total_cost(priced_cost: Decimal | None, priced: int, done: int) -> Decimal | None:
    """The cost of every done generation: unknown (None) while any of them had no price."""
    if priced < done:
        return None
    return priced_cost or Decimal(0)
