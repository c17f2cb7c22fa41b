"""Speed, cost and quality per model configuration and machine."""

from __future__ import annotations

from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from annotate.api.types import Id
from annotate.datasets.models import Dataset
from annotate.stats import hybrid
from annotate.stats.figures import cached_model_stats, stats_rows
from annotate.stats.projection import (
    NoHybrid,
    NoTokens,
    compare,
    projection_rows,
    unrun_prices,
    workload_for,
)
from inference.access import require_manager

router = Router(tags=["statistics"])


@router.get("/stats", response=list[dict])
def get_stats(request, config: Query[list[Id]] = None, run: Query[list[Id]] = None):
    """Speed, cost and quality per (model configuration, machine); the CSV at /stats.csv."""
    require_manager(request.user)
    return stats_rows(cached_model_stats(config or None, run or None))


class ProjectionQuery(Schema):
    """The stats page's projection form: tokens left out are the measured mean."""

    queries: int = Field(1000, ge=1, le=10**9)
    input_tokens: int | None = Field(None, ge=0, le=10**6)
    output_tokens: int | None = Field(None, ge=1, le=10**6)
    dataset: Id | None = None
    per_day: bool = False
    concurrent: bool = False
    always_on: bool = True
    batch_api: bool = False
    quality_bar: float | None = Field(None, allow_inf_nan=False)
    unrun: bool = True
    # A what-if hybrid: all three or none; checked by annotate/stats/hybrid.py (422 and why).
    hybrid_primary: Id | None = None
    hybrid_fallback: Id | None = None
    hybrid_share: float | None = Field(None, allow_inf_nan=False, description="% to the second")


@router.get("/stats/projection", response=list[dict])
def get_projection(
    request,
    q: Query[ProjectionQuery],
    config: Query[list[Id]] = None,
    run: Query[list[Id]] = None,
):
    """What a workload would take on each model (the stats page's projection; its CSV at
    /stats/projection.csv): per day, per month and per year for a daily workload; each machine
    priced by the hour also paid per token, dedicated and serverless (`as_*_cost_usd`, the
    `break_even_*` queries a day); a what-if hybrid of two configurations (`hybrid_*`)."""
    require_manager(request.user)
    stats = cached_model_stats(config or None, run or None)
    settings = q.dict()
    unrun = settings.pop("unrun")
    dataset_id = settings.pop("dataset")
    dataset = Dataset.objects.filter(pk=dataset_id).first() if dataset_id else None
    if dataset_id and dataset is None:
        raise HttpError(404, "No such dataset.")
    hybrid_ask = [settings.pop(f"hybrid_{name}") for name in ("primary", "fallback", "share")]
    try:
        asked = workload_for(**settings, dataset=dataset, config_ids=config or None)
    except NoTokens as error:
        raise HttpError(400, str(error)) from error
    try:
        what_if = hybrid.ask(stats, *hybrid_ask)
    except NoHybrid as error:
        raise HttpError(422, f"{error.field}: {error}") from error
    prices = unrun_prices(stats) if unrun else []
    return projection_rows(compare(stats, asked, prices, what_if), asked)
