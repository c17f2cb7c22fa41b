"""Is everything up: the API's view of annotate.health."""

from __future__ import annotations

from ninja import Router

from annotate.health import report
from inference.access import require_manager

router = Router(tags=["health"])


@router.get("/health", response=dict)
def get_health(request):
    """Web, database, broker, workers online with their queues and models, queue depth."""
    require_manager(request.user)
    return report()
