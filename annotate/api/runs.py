"""Runs (a dataset through a model configuration) and the generations they make."""

# No `from __future__ import annotations`: ninja's @paginate reads the endpoint's
# annotations from its own wrapper, where a name like `Id` would not resolve.

from datetime import datetime

from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import paginate
from pydantic import BaseModel, ConfigDict, Field

from annotate.api.types import Id, In
from inference import actions
from inference.access import get_generation_for_user, get_run_for_user, require_manager
from inference.models import GenerationStatus, Run
from inference.outputs import output_count, output_page, outputs_of

router = Router(tags=["runs"])


class RunIn(In):
    dataset_id: Id
    model_config_id: Id
    samples_per_prompt: int = Field(1, ge=1, le=100)


class ProgressOut(Schema):
    total: int
    done: int
    failed: int
    running: int
    pending: int
    cancelled: int
    output_tokens: int
    tokens_per_s: float | None
    eta_s: float | None
    stalled: bool


class RunOut(Schema):
    model_config = ConfigDict(protected_namespaces=())
    id: int
    dataset_id: Id
    model_config_id: Id
    samples_per_prompt: int
    status: str
    # What the worker is doing before it generates ("Downloading <model>: 1.2 of 4.3 GB").
    status_text: str
    error: str
    params: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ProgressOut

    @staticmethod
    def resolve_progress(run: Run) -> dict:
        return vars(run.progress())


class GenerationOut(BaseModel):
    # A plain pydantic model, not ninja's Schema: a page of rows is validated by pydantic's
    # core alone, not attribute by attribute through ninja's getter (most of a list's time).
    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: Id
    item_id: Id
    sample_index: int
    status: str
    output: str
    finish_reason: str
    prompt_tokens: int | None
    output_tokens: int | None
    ttft_s: float | None
    latency_s: float | None
    decode_tps: float | None
    # Local backends only; None for hosted APIs (they report no prefill split).
    prefill_tps: float | None
    peak_memory_mb: float | None
    cost_usd: float | None
    concurrency: int | None
    error: str
    attempts: int
    backend_version: str
    machine: str
    # Routed runs (inference/routing.py): the configuration that served it, and why.
    served_by_id: int | None
    route_reason: str
    finished_at: datetime | None


@router.get("/runs", response=list[RunOut])
@paginate
def list_runs(request):
    require_manager(request.user)
    return Run.objects.all()


@router.post("/runs", response={201: RunOut})
def create_run(request, payload: RunIn):
    run = actions.create_run(
        request.user, payload.dataset_id, payload.model_config_id, payload.samples_per_prompt
    )
    return Status(201, run)


@router.get("/runs/{run_id}", response=RunOut)
def get_run(request, run_id: Id):
    return get_run_for_user(request.user, run_id)


@router.post("/runs/{run_id}/cancel", response=RunOut)
def cancel_run(request, run_id: Id):
    actions.cancel_run(request.user, run_id)
    return get_run_for_user(request.user, run_id)


@router.post("/runs/{run_id}/resume", response=RunOut)
def resume_run(request, run_id: Id):
    actions.resume_run(request.user, run_id)
    return get_run_for_user(request.user, run_id)


@router.post("/runs/{run_id}/retry", response=RunOut)
def retry_failed(request, run_id: Id):
    actions.retry_failed(request.user, run_id)
    return get_run_for_user(request.user, run_id)


# A page's rows are read as dicts of these columns: no model instance per row.
OUT_FIELDS = tuple(GenerationOut.model_fields)


class GenerationPageOut(Schema):
    items: list[GenerationOut]
    count: int | None
    next: int | None


@router.get("/runs/{run_id}/generations", response=GenerationPageOut)
def list_generations(
    request,
    run_id: Id,
    status: GenerationStatus | None = None,
    after: Id | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int | None = Query(None, ge=0, le=10**9),
):
    """The run's outputs in item order, then sample order, `limit` a page.

    Walk them by keyset: each page's `next` is the cursor to pass as `?after=` for the next
    one (null on the last page); its cost does not grow with its depth. `count` is the run's
    stored total (unfiltered), or counted once on the first page of a `status` filter, and
    null on later pages. `?offset=` (the older way, counted and slower deep down) still
    works, not together with `after`.
    """
    run = get_run_for_user(request.user, run_id, related=False)
    if offset is not None and after is not None:
        raise HttpError(422, "Pass either after or offset, not both.")
    if offset is not None:
        rows = list(outputs_of(run, status).values(*OUT_FIELDS)[offset : offset + limit + 1])
        more = len(rows) > limit
        next_after = rows[limit - 1]["id"] if more else None
        return {"items": rows[:limit], "count": output_count(run, status), "next": next_after}
    page = output_page(run, status=status, after=after, limit=limit, fields=OUT_FIELDS)
    first = after is None or not status
    count = output_count(run, status) if first else None
    return {"items": page.generations, "count": count, "next": page.next_after}


@router.get("/generations/{generation_id}", response=GenerationOut)
def get_generation(request, generation_id: Id):
    return get_generation_for_user(request.user, generation_id)
