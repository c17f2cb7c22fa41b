"""Imports run by a worker (uploads above IMPORT_INLINE_MAX_BYTES): follow one, list yours."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema
from ninja.pagination import paginate

from annotate.api.types import Id
from annotate.datasets.access import get_import_for_user, imports_of

router = Router(tags=["imports"])


class ImportJobOut(Schema):
    id: int
    url: str
    status: str
    filename: str
    percent: int
    bytes_read: int
    bytes_total: int
    dataset_id: int | None
    errors: list[str]
    total_errors: int
    unit: str
    summary: str
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_url(job) -> str:
        return f"/api/imports/{job.pk}"

    @staticmethod
    def resolve_bytes_read(job) -> int:
        return job.progress_bytes  # while it runs, the worker's progress file


@router.get("/imports", response=list[ImportJobOut])
@paginate
def list_imports(request):
    """The caller's imports run by a worker, newest first."""
    return imports_of(request.user)


@router.get("/imports/{import_id}", response=ImportJobOut)
def get_import(request, import_id: Id):
    """One import (its owner or staff; 404 otherwise): `status` queued, running, done (then
    `dataset_id` and `summary`) or failed (then `errors`: the first bad lines, `total_errors`
    of them counted in `unit`, and nothing imported). Poll it until it ends."""
    return get_import_for_user(request.user, import_id)
