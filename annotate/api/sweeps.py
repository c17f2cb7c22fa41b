"""Speed sweeps: a configuration over a sample of a dataset at several in-flight sizes and
max-token limits (annotate/stats/sweeps.py)."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from annotate.api.types import Id, In
from annotate.stats import actions
from annotate.stats.sweeps import sweep_points, sweep_progress

router = Router(tags=["statistics"])


class SweepIn(In):
    dataset_id: Id
    model_config_id: Id
    in_flight: list[int] = Field(description="Batch sizes (local) or concurrencies (API).")
    max_tokens: list[int]
    sample_size: int = Field(20, ge=1, le=100_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)


class SweepOut(Schema):
    model_config = ConfigDict(protected_namespaces=())
    id: int
    dataset_id: int
    model_config_id: int
    created_at: datetime
    seed: int
    sample_size: int
    error: str
    cancelled_at: datetime | None
    progress: dict
    points: list[dict]


def _out(sweep) -> dict:
    points = sweep_points(sweep)
    return {
        "id": sweep.pk,
        "dataset_id": sweep.dataset_id,
        "model_config_id": sweep.model_config_id,
        "created_at": sweep.created_at,
        "seed": sweep.seed,
        "sample_size": len(sweep.item_ids),
        "error": sweep.error,
        "cancelled_at": sweep.cancelled_at,
        "progress": sweep_progress(sweep, points),
        "points": [p.as_dict() for p in points],
    }


@router.post("/sweeps", response={201: SweepOut})
def create_sweep(request, payload: SweepIn):
    """Start a sweep: one run per (in flight, max tokens), one after another."""
    sweep = actions.create_sweep(
        request.user,
        payload.dataset_id,
        payload.model_config_id,
        in_flight=payload.in_flight,
        max_tokens=payload.max_tokens,
        sample_size=payload.sample_size,
        seed=payload.seed,
    )
    return Status(201, _out(sweep))


@router.get("/sweeps/{sweep_id}", response=SweepOut)
def get_sweep(request, sweep_id: Id):
    """A sweep's progress and, per point, throughput (tokens/s), p50/p95 latency and the knee."""
    return _out(actions.get_sweep_for_user(request.user, sweep_id))


@router.post("/sweeps/{sweep_id}/cancel", response=SweepOut)
def cancel_sweep(request, sweep_id: Id):
    """Cancel a sweep (its creator or staff): the point in progress is cancelled, no further
    point starts; the points measured stay. 409 when it has ended or was cancelled."""
    return _out(actions.cancel_sweep(request.user, sweep_id))
