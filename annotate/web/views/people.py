"""A project's people section: add someone by user name or e-mail, change a role in place,
create an account with a one-time set-password link, deactivate an account, remove someone.
The actions (annotate.labeling.actions, annotate.accounts.actions) decide who may act."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotate.accounts import actions as account_actions
from annotate.labeling import actions
from annotate.labeling.access import get_project_for_user
from annotate.labeling.models import ProjectMember, Role
from annotate.web.forms import InviteForm
from annotate.web.views.projects import INVITATION_KEY, detail_context
from inference.access import can_manage
from inference.errors import ActionError


def _people(pk: int, new: str = "") -> HttpResponse:
    """Back to the project's people section (with an unknown name or address to invite)."""
    url = reverse("annotate-project-detail", args=(pk,))
    return redirect(f"{url}?{urlencode({'new': new})}#people" if new else f"{url}#people")


def _member(request: HttpRequest, pk: int, member_pk: int) -> ProjectMember:
    """A member row of a project the caller owns (404 for anyone else)."""
    get_project_for_user(request.user, pk, Role.OWNER)
    return get_object_or_404(ProjectMember.objects.select_related("user"), pk=member_pk, project=pk)


def _now_is(member) -> str:
    """ "annie is now a reviewer." (an annotator, an owner)."""
    article = "an" if member.role[0] in "aeiou" else "a"
    return f"{member.user.username} is now {article} {member.role}."


@login_required
@require_POST
def add_member(request: HttpRequest, pk: int) -> HttpResponse:
    who = (request.POST.get("who") or request.POST.get("username") or "").strip()
    role = request.POST.get("role", Role.ANNOTATOR)
    try:
        member = actions.add_member(request.user, pk, who, role)
    except actions.NoSuchPerson as exc:
        get_project_for_user(request.user, pk, Role.OWNER)  # outsiders learn nothing more
        if can_manage(request.user):
            messages.warning(request, f"{exc} Create the account below?")
        else:
            messages.error(request, f"{exc} A manager can create the account.")
        return _people(pk, who)
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _now_is(member))
    return _people(pk)


@login_required
@require_POST
def set_member_role(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    member = _member(request, pk, member_pk)
    try:
        member = actions.set_member_role(
            request.user, pk, member.user.username, request.POST.get("role", "")
        )
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _now_is(member))
    return _people(pk)


@login_required
@require_POST
def invite_person(request: HttpRequest, pk: int) -> HttpResponse:
    """Create the account, then back to the project (so a reload posts nothing again), where
    its set-password link shows once: kept in the session (server side) until that page
    takes it, never in a message or the address, which would keep it."""
    project = get_project_for_user(request.user, pk, Role.OWNER)
    form = InviteForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            invitation = actions.invite_person(
                request.user,
                pk,
                data["username"],
                data["email"],
                data["role"],
                request.build_absolute_uri("/"),
            )
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            request.session[INVITATION_KEY] = {
                "project": pk,
                "member": invitation.member.pk,
                "link": invitation.link,
                "emailed": invitation.emailed,
            }
            return _people(pk)
    context = detail_context(request, project)
    context.update(invite_form=form)
    return render(request, "annotate/project.html", context, status=400)


@login_required
@require_POST
def deactivate_account(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    member = _member(request, pk, member_pk)
    try:
        person = account_actions.deactivate_account(request.user, member.user.username)
    except (ActionError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{person.username}'s account is deactivated: they can no longer sign in."
        )
    return _people(pk)


@login_required
@require_POST
def remove_member(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    members = ProjectMember.objects.filter(pk=member_pk, project_id=pk)
    username = members.values_list("user__username", flat=True).first()
    try:
        actions.remove_member(request.user, pk, username or "")
    except actions.NoSuchPerson:
        pass  # already gone (a second click): nothing to do
    else:
        messages.success(request, f"{username} is no longer in this project.")
    return _people(pk)
