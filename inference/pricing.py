"""What a generation cost, recorded with it: a later price change alters no recorded cost."""

from __future__ import annotations

from decimal import Decimal


def local_cost(hourly_usd: Decimal | str, latency_s: float | None, concurrency: int) -> Decimal:
    """A local machine's cost for one generation: its hourly price times the share of the
    machine's time this generation held (its latency divided among the sequences batched with
    it)."""
    hourly = Decimal(str(hourly_usd))
    if not hourly or not latency_s:
        return Decimal(0)
    return hourly * Decimal(str(latency_s)) / Decimal(3600 * max(concurrency, 1))
