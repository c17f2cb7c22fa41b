from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotate.datasets.models import Dataset
from inference.access import can_manage
from inference.models import ModelConfig, Run


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not can_manage(request.user):
        return redirect("annotate-project-list")  # annotators and reviewers: their projects
    context = {
        "runs": Run.objects.select_related("dataset", "model_config")[:10],
        "datasets": Dataset.objects.all()[:10],
        "configs": ModelConfig.objects.all()[:10],
    }
    return render(request, "annotate/home.html", context)
