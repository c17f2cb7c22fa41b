"""What a generation cost, recorded with it: a later price change alters no recorded cost.

Hosted models are priced per token from the price table (inference.models.Price):

    cost = (prompt - cache_read - cache_write) x input + cache_read x cache_read_price
           + cache_write x cache_write_price + output x output,   per 1M tokens,

times (1 - batch_discount) in batch mode. `prompt_tokens` counts every input token the model
read, cached ones included (Anthropic reports cache reads and writes apart from input_tokens;
the backend adds them up). A model with no price row, and every local model, is priced by the
hour of its hardware: the configuration's hourly price times the generation's share of the
machine's time (latency / concurrency).

Unknown is not zero: with neither a price row nor an hourly price (None: never set; an
explicit 0 is free hardware) the cost is None, and no cost figure counts it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.utils import timezone

from inference.models import Price

MILLION = Decimal(1_000_000)


def find_price(backend: str, model: str, on: date | None = None):
    """The price in effect on a date for a model: an exact name, else the longest prefix."""
    on = on or timezone.localdate()
    rows = Price.objects.filter(backend=backend, effective_from__lte=on).order_by("-effective_from")
    matches = [p for p in rows if model == p.model or model.startswith(p.model)]
    if not matches:
        return None
    return max(matches, key=lambda p: (p.model == model, len(p.model), p.effective_from))


def token_cost(
    price,
    prompt: int | None,
    output: int | None,
    cache_read: int | None = None,
    cache_write: int | None = None,
    batch: bool = False,
) -> Decimal:
    cache_read, cache_write = cache_read or 0, cache_write or 0
    fresh = max((prompt or 0) - cache_read - cache_write, 0)
    read_price = (
        price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok
    )
    write_price = (
        price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok
    )
    total = (
        fresh * price.input_per_mtok
        + cache_read * read_price
        + cache_write * write_price
        + (output or 0) * price.output_per_mtok
    ) / MILLION
    return total * (1 - price.batch_discount) if batch else total


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


def local_cost(
    hourly_usd: Decimal | str | None, latency_s: float | None, concurrency: int
) -> Decimal | None:
    """A machine's cost for one generation: its hourly price times the share of the machine's
    time this generation held (its latency divided among the sequences batched with it).
    None when the hourly price was never set or the latency is unknown."""
    if hourly_usd is None or latency_s is None:
        return None
    hourly = Decimal(str(hourly_usd))
    if not hourly or not latency_s:
        return Decimal(0)
    return hourly * Decimal(str(latency_s)) / Decimal(3600 * max(concurrency, 1))


def generation_cost(price, params: dict, result, batch: bool = False) -> Decimal | None:
    """The cost of one result under the price found at the task's start (None: by the hour;
    the result is None when there is no hourly price either)."""
    if price is None:
        return local_cost(params.get("hourly_usd"), result.timing.latency_s, result.concurrency)
    return token_cost(
        price,
        result.prompt_tokens,
        result.output_tokens,
        result.cache_read_tokens,
        result.cache_write_tokens,
        batch,
    )
