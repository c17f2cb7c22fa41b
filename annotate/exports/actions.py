"""Exports people start, and who may read them."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404

from annotate.exports.filters import clean_filters, generations
from annotate.exports.included import (
    OUTPUT_FORMATS,
    PREVIEW_MAX_OUTPUTS,
    count_included,
    warnings,
)
from annotate.exports.models import Export, ExportStatus
from annotate.exports.rows import run_export
from annotate.exports.tasks import export_task
from annotate.labeling.access import get_project_for_user, reviewable_projects
from annotate.labeling.models import Role
from inference.access import require_manager
from inference.doorbell import BROKER_DOWN, send_when_committed


def start_export(user, fmt: str, filters: dict) -> Export:
    """Managers only. Small exports are written now; past EXPORT_INLINE_MAX outputs, by a
    worker (poll the export). Labels come only from projects the caller may review: a
    project filter outside them is refused as the project's pages refuse it (404 or 403)."""
    filters = _scoped(user, filters)
    export = Export.objects.create(owner=user, format=fmt, filters=filters)
    if generations(filters).count() <= settings.EXPORT_INLINE_MAX:
        return run_export(export)
    send_when_committed(export_task, (export.pk,), "api", lambda: _unsent(export))
    return export


def preview_export(user, fmt: str, filters: dict) -> dict:
    """What an export in format fmt with these filters would include, before it starts (as
    start_export decides who may and which labels it carries): {"counts": outputs, labeled,
    passing, failing, unlabeled; "warnings": what a training export would teach that one may
    not want, naming the filter that leaves it out}. Counts are of outputs: none for the
    formats of pairs and votes; of the first PREVIEW_MAX_OUTPUTS only ("partial")."""
    filters = _scoped(user, filters)
    if fmt not in OUTPUT_FORMATS:
        return {"counts": None, "warnings": []}
    counts = count_included(filters, limit=PREVIEW_MAX_OUTPUTS)
    return {"counts": counts, "warnings": warnings(fmt, counts)}


def _scoped(user, filters: dict) -> dict:
    """Managers only: the cleaned filters, with the projects whose labels the caller may
    read (a project filter outside them is refused as the project's pages refuse it)."""
    require_manager(user)
    filters = clean_filters(filters)
    if filters.get("project"):
        get_project_for_user(user, filters["project"], Role.REVIEWER)
    elif not user.is_superuser:
        filters["label_projects"] = sorted(reviewable_projects(user).values_list("pk", flat=True))
    return filters


def _unsent(export: Export) -> None:
    export.status, export.error = ExportStatus.FAILED, BROKER_DOWN
    export.save(update_fields=("status", "error"))


def get_export_for_user(user, pk: int) -> Export:
    """One of the caller's own exports (404 for anyone else's)."""
    require_manager(user)
    return get_object_or_404(Export, pk=pk, owner=user)


def finished_file(export: Export) -> tuple[str, str]:
    """The finished export's path and file name (404 while it is not ready)."""
    if export.status != ExportStatus.DONE:
        raise Http404("This export is not ready.")
    return export.path, export.filename
