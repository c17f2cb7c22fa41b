from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.accounts import actions
from annotate.web.forms import TokenForm


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    token = None
    if request.method == "POST" and form.is_valid():
        _, token = actions.issue_token(request.user, form.cleaned_data["name"])
    tokens = request.user.api_tokens.filter(revoked_at__isnull=True)
    return render(request, "annotate/tokens.html", {"form": form, "token": token, "tokens": tokens})


@login_required
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    if actions.revoke_token(request.user, pk):
        messages.success(request, "Token revoked.")
    return redirect("annotate-tokens")
