from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseStopPolling

from annotate.exports.actions import finished_file, get_export_for_user, start_export
from annotate.exports.actions import preview_export as preview_export_action
from annotate.exports.models import Export, ExportStatus
from annotate.web.forms import ExportForm
from inference.access import require_manager


@login_required
def list_exports(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    form = ExportForm(request.POST or None, user=request.user)
    preview = None
    if request.method == "POST" and form.is_valid():
        fmt, filters = form.cleaned_data["format"], form.filters()
        if "preview" in request.POST:  # the Count button: the page without JavaScript
            preview = preview_export_action(request.user, fmt, filters)
        else:
            export = start_export(request.user, fmt, filters)
            return redirect("annotate-export-detail", pk=export.pk)
    exports = Export.objects.filter(owner=request.user)[:50]
    context = {"form": form, "exports": exports, "preview": preview}
    return render(request, "annotate/exports.html", context)


@login_required
def preview_export(request: HttpRequest) -> HttpResponse:
    """What the form's export would include (the fragment the form asks for on change)."""
    require_manager(request.user)
    form = ExportForm(request.GET, user=request.user)
    preview = None
    if form.is_valid():
        preview = preview_export_action(request.user, form.cleaned_data["format"], form.filters())
    return render(request, "annotate/_export_preview.html", {"form": form, "preview": preview})


@login_required
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    export = get_export_for_user(request.user, pk)
    if request.htmx:
        response = render(request, "annotate/_export_progress.html", {"export": export})
        active = export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)
        return response if active else HttpResponseStopPolling(response.content, status=286)
    return render(request, "annotate/export.html", {"export": export})


@login_required
def download_export(request: HttpRequest, pk: int) -> FileResponse:
    path, filename = finished_file(get_export_for_user(request.user, pk))
    return FileResponse(open(path, "rb"), as_attachment=True, filename=filename)


@login_required
def export_manifest(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(get_export_for_user(request.user, pk).manifest)
