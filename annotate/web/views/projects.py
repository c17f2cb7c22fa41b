"""Labeling projects' pages: the list, the settings form, the overview (its people section's
changes: annotate.web.views.people). The changes go through annotate.labeling.actions,
which decides who may make them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from annotate.judges.summary import judges_of
from annotate.labeling import actions
from annotate.labeling import projects as project_logic
from annotate.labeling.access import attachable_runs, get_project_for_user, visible_projects
from annotate.labeling.models import Project, ProjectMember, Role
from annotate.labeling.questions import DEFAULT_QUESTIONS
from annotate.web.forms import (
    InviteForm,
    MemberForm,
    ProjectForm,
    QuestionFormSet,
    initial_questions,
    posted_questions,
)
from inference.access import can_manage, require_manager
from inference.errors import ActionError

# Where a new account's set-password link waits, server side, between the People form's POST
# and the project page that shows it once (annotate/web/views/people.py invite_person).
INVITATION_KEY = "annotate-invitation"


@login_required
def list_projects(request: HttpRequest) -> HttpResponse:
    context = {"projects": visible_projects(request.user), "can_create": can_manage(request.user)}
    return render(request, "annotate/projects.html", context)


def _project_to_edit(user, pk: int | None) -> Project:
    """The project the form shows: an owner's own, or a new one (managers)."""
    if pk:
        return get_project_for_user(user, pk, role=Role.OWNER)
    require_manager(user)
    return Project(owner=user, questions=DEFAULT_QUESTIONS)


def _save(request: HttpRequest, pk: int | None, form, formset) -> tuple[Project, int]:
    fields = {**form.project_fields(), "questions": posted_questions(formset)}
    if pk:
        return actions.update_project(request.user, pk, fields, form.run_ids())
    return actions.create_project(request.user, fields, form.run_ids())


@login_required
def edit_project(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    project = _project_to_edit(request.user, pk)
    runs = attachable_runs(request.user, project)
    form = ProjectForm(request.POST or None, instance=project, runs=runs)
    # On POST no initial: a row whose label was cleared is dropped, not refused.
    if request.method == "POST":
        formset = QuestionFormSet(request.POST, prefix="q")
    else:
        formset = QuestionFormSet(prefix="q", initial=initial_questions(project.questions))
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            saved, added = _save(request, pk, form, formset)
        except ActionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Saved {saved.name}; {added} new items to label.")
            return redirect("annotate-project-detail", pk=saved.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "formset": formset, "project": project}
    return render(request, "annotate/project_form.html", context, status=status)


def detail_context(request: HttpRequest, project: Project) -> dict:
    """What the project's page shows the caller (its people section: owners)."""
    context = {
        "project": project,
        "progress": project_logic.progress(project),
        "is_reviewer": project.role in (Role.REVIEWER, Role.OWNER),
        "is_owner": project.role == Role.OWNER,
    }
    if context["is_reviewer"]:
        context["agreement"] = project_logic.agreement(project)
        context["disagreements"] = len(project_logic.disagreeing_tasks(project))
    if context["is_owner"]:
        context["members"] = project.members.select_related("user").order_by("user__username")
        context["roles"] = Role.choices
        new = request.GET.get("new", "").strip()[:254]  # an unknown name or address to invite
        context["judges"] = judges_of(project)
        context["member_form"] = MemberForm()
        context["invite_form"] = InviteForm(initial=InviteForm.prefill(new))
    return context


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    context = detail_context(request, project)
    context["invitation"] = invitation = take_invitation(request, project.pk)
    response = render(request, "annotate/project.html", context)
    if invitation:  # the set-password link: in no cache, shown by no Back button
        add_never_cache_headers(response)
    return response


def take_invitation(request: HttpRequest, project_id: int) -> actions.Invitation | None:
    """The invitation just made in this project, taken out of the session: shown once."""
    kept = request.session.get(INVITATION_KEY)
    if not kept or kept.get("project") != project_id:
        return None
    del request.session[INVITATION_KEY]
    members = ProjectMember.objects.select_related("user")
    member = members.filter(pk=kept["member"], project=project_id).first()
    return actions.Invitation(member, kept["link"], kept["emailed"]) if member else None


@login_required
@require_POST
def label_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The run page's "Label this run": a labeling project over the run's outputs."""
    try:
        project, added = actions.label_run(request.user, pk)
    except ActionError as exc:
        messages.error(request, str(exc))
        return redirect("annotate-run-detail", pk=pk)
    messages.success(request, f"Made {project.name}; {added} items to label. Add people below.")
    return redirect("annotate-project-detail", pk=project.pk)


@login_required
@require_POST
def sync_project(request: HttpRequest, pk: int) -> HttpResponse:
    added = actions.sync_project(request.user, pk)
    messages.success(request, f"{added} new items to label.")
    return redirect("annotate-project-detail", pk=pk)
