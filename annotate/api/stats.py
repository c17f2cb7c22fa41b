"""Speed, cost and quality per model configuration and machine."""

from __future__ import annotations

from ninja import Query, Router

from annotate.api.types import Id
from annotate.stats.figures import cached_model_stats, stats_rows
from inference.access import require_manager

router = Router(tags=["statistics"])


@router.get("/stats", response=list[dict])
def get_stats(request, config: Query[list[Id]] = None, run: Query[list[Id]] = None):
    """Speed, cost and quality per (model configuration, machine); the CSV at /stats.csv."""
    require_manager(request.user)
    return stats_rows(cached_model_stats(config or None, run or None))
