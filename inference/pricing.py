"""What a generation cost, recorded with it: a later price change alters no recorded cost.

Hosted models are priced per token from the price table (inference.models.Price):

    cost = (prompt - cache_read - cache_write) x input + cache_read x cache_read_price
           + cache_write x cache_write_price + output x output,   per 1M tokens,

times (1 - batch_discount) in batch mode. `prompt_tokens` counts every input token the model
read, cached ones included (Anthropic reports cache reads and writes apart from input_tokens;
the backend adds them up). A model with no price row, and every local model, is priced by the
hour of its hardware: the configuration's hourly price times the generation's share of the
machine's time (latency / concurrency).

A configuration's `pricing` says which (inference.models.PricingMode):
- token (per token): as above, the price table, else by the hour;
- dedicated: by the hour whatever the price table says (an OpenAI-compatible server on a rented
  A10, paid 24/7): a generation costs its share of the machine's time, as a local one;
- serverless: per second of use at the hourly rate, each request billed at least
  `min_billed_s` (Modal, RunPod). A generation cannot tell whether it woke a worker, so cold
  starts (`cold_start_s`) are counted by the projection (annotate/stats/projection.py), not here.
Electricity: a machine with a power draw (watts) and a price per kWh costs, on top of its
hourly price, watts / 1000 x kWh price an hour while it works (`electricity_hourly`); its idle
draw (`idle_watts`) counts only in the projection, for a machine paid 24 h a day.

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


def electricity_hourly(power_watts: float | None, kwh_usd) -> Decimal | None:
    """Electricity per hour of work: watts / 1000 x price per kWh; None unless both are set."""
    if power_watts is None or kwh_usd is None:
        return None
    return Decimal(str(power_watts)) / 1000 * Decimal(str(kwh_usd))


def machine_hourly(params: dict) -> Decimal | None:
    """What an hour of the machine costs: its hourly price plus its electricity. None when
    the hourly price was never set (electricity alone does not make a machine's cost known)."""
    hourly = params.get("hourly_usd")
    if hourly is None:
        return None
    power = electricity_hourly(params.get("power_watts"), params.get("kwh_usd"))
    return Decimal(str(hourly)) + (power or 0)


def by_the_hour(params: dict) -> bool:
    """Whether a configuration's outputs are priced by its machine's hour, not per token."""
    return params.get("pricing", "token") in ("dedicated", "serverless")


def billed_seconds(params: dict, latency_s: float | None) -> float | None:
    """A request's billed seconds: its latency, at least the serverless minimum."""
    if latency_s is None or params.get("pricing") != "serverless":
        return latency_s
    return max(latency_s, params.get("min_billed_s") or 0)


def generation_cost(price, params: dict, result, batch: bool = False) -> Decimal | None:
    """The cost of one result under the price found at the task's start (None: by the hour;
    the result is None when there is no hourly price either)."""
    if price is None or by_the_hour(params):
        seconds = billed_seconds(params, result.timing.latency_s)
        return local_cost(machine_hourly(params), seconds, result.concurrency)
    return token_cost(
        price,
        result.prompt_tokens,
        result.output_tokens,
        result.cache_read_tokens,
        result.cache_write_tokens,
        batch,
    )


PRICING_FIELDS = (
    "pricing",
    "hourly_usd",
    "cold_start_s",
    "min_billed_s",
    "power_watts",
    "idle_watts",
    "kwh_usd",
)


def pricing_problems(values: dict) -> dict[str, str]:
    """What is wrong with a configuration's pricing, by field: {} when nothing. The page, the
    API and the action (inference.actions.save_model_config) all ask this."""
    problems = {}
    for name, what in (
        ("hourly_usd", "The hourly price"),
        ("power_watts", "The power draw"),
        ("idle_watts", "The idle draw"),
        ("kwh_usd", "The price per kWh"),
        ("cold_start_s", "The cold-start time"),
        ("min_billed_s", "The minimum billed duration"),
    ):
        value = values.get(name)
        if value is not None and Decimal(str(value)) < 0:
            problems[name] = f"{what} cannot be negative."
    if (values.get("power_watts") is None) != (values.get("kwh_usd") is None):
        missing = "kwh_usd" if values.get("kwh_usd") is None else "power_watts"
        problems.setdefault(
            missing, "Electricity needs both the power draw (watts) and the price per kWh."
        )
    if values.get("idle_watts") is not None and values.get("power_watts") is None:
        problems.setdefault(
            "idle_watts", "The idle draw needs the power draw (watts) and the price per kWh."
        )
    mode = values.get("pricing") or "token"
    if mode in ("dedicated", "serverless") and values.get("hourly_usd") is None:
        problems.setdefault(
            "hourly_usd",
            "Serverless pricing needs its rate: the price of an hour of use."
            if mode == "serverless"
            else "Dedicated pricing needs the machine's price per hour.",
        )
    return problems
