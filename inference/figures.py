"""One definition per figure of generation, shared by the run page, the API and the
statistics: what a set of generations cost, and a run's throughput.

Only done generations count. A failed or cancelled one records no cost (inference/runner.py)
and its tokens are no output anyone can use.

- cost: the sum of the costs done generations recorded when they were made (inference/pricing.py
  says how each is priced); cost per query: that sum over the number of done generations.
- run throughput (tokens/s): the output tokens of a run's done generations over the span from
  the first one's start to the last one's finish: what batching and concurrency buy. Undefined
  without tokens or without a span.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Max, Min, Q, Sum

# GenerationStatus.DONE: inference/models.py imports this module, so this one names the value.
DONE = Q(status="done")


def recorded_cost() -> Sum:
    """Aggregate: the cost of a set of generations (None when none is done)."""
    return Sum("cost_usd", filter=DONE)


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


def cost_per_query(total_cost: Decimal | None, queries: int) -> float | None:
    """What one done generation cost on average."""
    return float(total_cost or 0) / queries if queries else None
