"""Hosted models' list prices, per million tokens, from a date on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ninja import Router, Status
from pydantic import ConfigDict, Field

from annotate.api.types import In
from inference import actions
from inference.access import require_manager
from inference.models import Price

router = Router(tags=["prices"])


class PriceIn(In):
    backend: str
    model: str = Field(max_length=200)
    input_per_mtok: Decimal = Field(ge=0, max_digits=12, decimal_places=4)
    output_per_mtok: Decimal = Field(ge=0, max_digits=12, decimal_places=4)
    cache_read_per_mtok: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=4)
    cache_write_per_mtok: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=4)
    batch_discount: Decimal = Field(Decimal("0.5"), ge=0, le=1, max_digits=4, decimal_places=3)
    effective_from: date
    source: str = Field("", max_length=300)


class PriceOut(PriceIn):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())
    id: int


@router.get("/prices", response=list[PriceOut])
def list_prices(request, backend: str | None = None):
    require_manager(request.user)
    prices = Price.objects.all()
    return prices.filter(backend=backend) if backend else prices


@router.post("/prices", response={201: PriceOut})
def create_price(request, payload: PriceIn):
    """A new price from a date on. Costs already recorded keep the price they were made at."""
    return Status(201, actions.create_price(request.user, payload.dict()))
