from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotate.models import Dataset, ModelConfig, Run


@login_required
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "runs": Run.objects.select_related("dataset", "model_config")[:10],
        "datasets": Dataset.objects.all()[:10],
        "configs": ModelConfig.objects.all()[:10],
    }
    return render(request, "annotate/home.html", context)
