from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from annotate.health import models_on_disk, reachable, report
from inference.access import require_manager


def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 if the database and the broker answer, else 503. No login."""
    checks = reachable()
    return JsonResponse(checks, status=200 if all(checks.values()) else 503)


@login_required
def health_page(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    return render(request, "annotate/health.html", {"report": report()})


@login_required
def models_on_disk_page(request: HttpRequest) -> HttpResponse:
    """The models each worker has on disk and loaded (managers)."""
    require_manager(request.user)
    return render(request, "annotate/models_on_disk.html", {"workers": models_on_disk()})
