"""Exports: start one, follow its progress, download its file."""

from __future__ import annotations

from datetime import date

from django.http import FileResponse
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from annotate.api.errors import ErrorOut
from annotate.api.types import Id, In
from annotate.exports.actions import finished_file, get_export_for_user, start_export
from annotate.exports.actions import preview_export as preview_export_action
from annotate.exports.models import Export, ExportFormat
from inference.access import require_manager

router = Router(tags=["exports"])


class ExportIn(In):
    format: ExportFormat
    project: Id | None = None
    dataset: Id | None = None
    model: Id | None = None
    run: Id | None = None
    min_rating: float | None = Field(None, allow_inf_nan=False)
    require_pass: bool = False
    agreed: bool = False
    reviewed: bool = False
    since: date | None = None
    until: date | None = None
    pseudonyms: bool = False
    labeled: bool = False
    judge_labels: bool = False  # judge labels beside people's, each saying which judge


class ExportOut(Schema):
    id: int
    format: str
    status: str
    filters: dict
    total: int
    done: int
    rows: int
    manifest: dict
    error: str
    download: str | None

    @staticmethod
    def resolve_download(export) -> str | None:
        return f"/api/exports/{export.pk}/file" if export.status == "done" else None


@router.post("/exports", response={201: ExportOut})
def create_export(request, payload: ExportIn):
    """Small exports are ready at once; large ones run in the background: poll GET."""
    return Status(201, start_export(request.user, payload.format, payload.dict(exclude={"format"})))


class IncludedOut(Schema):
    outputs: int
    labeled: int
    passing: int
    failing: int
    unlabeled: int
    partial: bool = False  # only the first PREVIEW_MAX_OUTPUTS were counted


class PreviewOut(Schema):
    counts: IncludedOut | None  # None for the formats of pairs and votes
    warnings: list[str]


@router.post("/exports/preview", response=PreviewOut)
def preview_export(request, payload: ExportIn):
    """What POST /exports with this payload would include, by label, without starting it:
    a training format (sft, openai) warns of failed or unlabeled outputs."""
    return preview_export_action(request.user, payload.format, payload.dict(exclude={"format"}))


@router.get("/exports", response=list[ExportOut])
@paginate
def list_exports(request):
    """The caller's exports, newest first."""
    require_manager(request.user)
    return Export.objects.filter(owner=request.user).order_by("-created_at", "-pk")


@router.get("/exports/{export_id}", response=ExportOut)
def get_export(request, export_id: Id):
    return get_export_for_user(request.user, export_id)


@router.get(
    "/exports/{export_id}/file",
    response={404: ErrorOut},
    openapi_extra={
        "responses": {
            200: {
                "description": "The export's file (JSONL, CSV or Parquet), as an attachment.",
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_file(request, export_id: Id):
    """Download a finished export (404 while it runs: poll GET /exports/{id})."""
    path, filename = finished_file(get_export_for_user(request.user, export_id))
    return FileResponse(open(path, "rb"), as_attachment=True, filename=filename)
