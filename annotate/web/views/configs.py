from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotate.web.config_form import ModelConfigForm
from inference import actions
from inference.access import get_config_for_user, operator_egress, require_manager
from inference.errors import ActionError
from inference.models import ModelConfig


@login_required
def list_configs(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    configs = ModelConfig.objects.select_related("owner")
    return render(request, "annotate/configs.html", {"configs": configs})


@login_required
def edit_config(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    require_manager(request.user)
    config = (
        get_config_for_user(request.user, pk, write=True) if pk else ModelConfig(owner=request.user)
    )
    form = ModelConfigForm(request.POST or None, instance=config)
    if request.method == "POST" and form.is_valid():
        try:
            config = actions.save_model_config(request.user, pk, form.cleaned_data)
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved model configuration {config.name}.")
            return redirect("annotate-config-list")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "annotate/config_form.html",
        {"form": form, "config": config, "egress": operator_egress()},
        status=status,
    )
