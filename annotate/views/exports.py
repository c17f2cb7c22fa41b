from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from annotate.access import require_manager
from annotate.exporting import generations, run_export
from annotate.forms import ExportForm, TokenForm
from annotate.models import ApiToken, Export, ExportStatus


def start_export(user, fmt: str, filters: dict) -> Export:
    """Small exports are written now; past EXPORT_INLINE_MAX outputs, by a worker."""
    export = Export.objects.create(owner=user, format=fmt, filters=filters)
    if generations(filters).count() <= settings.EXPORT_INLINE_MAX:
        return run_export(export)
    from django.db import transaction

    from inference.tasks import export_task

    transaction.on_commit(lambda: export_task.apply_async((export.pk,), queue="api"))
    return export


@login_required
def list_exports(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        export = start_export(request.user, form.cleaned_data["format"], form.filters())
        return redirect("annotate-export-detail", pk=export.pk)
    exports = Export.objects.filter(owner=request.user)[:50]
    return render(request, "annotate/exports.html", {"form": form, "exports": exports})


def export_for_user(request: HttpRequest, pk: int) -> Export:
    """One of the caller's own exports (404 for anyone else's)."""
    require_manager(request.user)
    return get_object_or_404(Export, pk=pk, owner=request.user)


@login_required
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    export = export_for_user(request, pk)
    if request.htmx:
        response = render(request, "annotate/_export_progress.html", {"export": export})
        active = export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)
        return response if active else HttpResponseStopPolling(response.content, status=286)
    return render(request, "annotate/export.html", {"export": export})


@login_required
def download_export(request: HttpRequest, pk: int) -> FileResponse:
    return export_file(export_for_user(request, pk))


def export_file(export: Export) -> FileResponse:
    """The finished export's file as a download (404 while it is not ready)."""
    if export.status != ExportStatus.DONE:
        raise Http404("This export is not ready.")
    return FileResponse(open(export.path, "rb"), as_attachment=True, filename=export.filename)


@login_required
def export_manifest(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(export_for_user(request, pk).manifest)


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    token = None
    if request.method == "POST" and form.is_valid():
        _, token = ApiToken.issue(request.user, form.cleaned_data["name"])
    tokens = request.user.api_tokens.filter(revoked_at__isnull=True)
    return render(request, "annotate/tokens.html", {"form": form, "token": token, "tokens": tokens})


@login_required
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    from django.utils import timezone

    request.user.api_tokens.filter(pk=pk).update(revoked_at=timezone.now())
    messages.success(request, "Token revoked.")
    return redirect("annotate-tokens")
