from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.comparisons.pairs import compare_questions
from annotate.labeling import projects as project_logic
from annotate.labeling.access import get_project_for_user
from annotate.labeling.models import Project, ProjectKind, ProjectMember, Role
from annotate.labeling.questions import DEFAULT_QUESTIONS, SchemaError, normalize_questions
from annotate.web.forms import MemberForm, ProjectForm, QuestionFormSet, initial_questions
from inference.access import can_manage, require_manager


@login_required
def list_projects(request: HttpRequest) -> HttpResponse:
    projects = Project.objects.all()
    if not request.user.is_superuser:
        projects = projects.filter(Q(owner=request.user) | Q(members__user=request.user))
    context = {"projects": projects.distinct(), "can_create": can_manage(request.user)}
    return render(request, "annotate/projects.html", context)


def _questions(formset) -> list[dict]:
    raw = [
        f.question() for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")
    ]
    return normalize_questions(raw)


@login_required
def edit_project(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if pk:
        project = get_project_for_user(request.user, pk, role=Role.OWNER)
    else:
        require_manager(request.user)
        project = Project(owner=request.user, questions=DEFAULT_QUESTIONS)
    form = ProjectForm(request.POST or None, instance=project)
    # On POST no initial: a row whose label was cleared is dropped, not refused.
    if request.method == "POST":
        formset = QuestionFormSet(request.POST, prefix="q")
    else:
        formset = QuestionFormSet(prefix="q", initial=initial_questions(project.questions))
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            compare = form.cleaned_data["kind"] == ProjectKind.COMPARE
            project.questions = compare_questions(project) if compare else _questions(formset)
        except SchemaError as exc:
            messages.error(request, str(exc))
        else:
            form.save()
            added = project_logic.sync_tasks(project)
            messages.success(request, f"Saved {project.name}; {added} new items to label.")
            return redirect("annotate-project-detail", pk=project.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "formset": formset, "project": project}
    return render(request, "annotate/project_form.html", context, status=status)


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    context = {
        "project": project,
        "progress": project_logic.progress(project),
        "is_reviewer": project.role in (Role.REVIEWER, Role.OWNER),
        "is_owner": project.role == Role.OWNER,
        "member_form": MemberForm(),
    }
    if context["is_reviewer"]:
        context["agreement"] = project_logic.agreement(project)
        context["disagreements"] = len(project_logic.disagreeing_tasks(project))
    if context["is_owner"]:
        context["members"] = project.members.select_related("user").order_by("user__username")
    return render(request, "annotate/project.html", context)


@login_required
@require_POST
def sync_project(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk, role=Role.OWNER)
    added = project_logic.sync_tasks(project)
    messages.success(request, f"{added} new items to label.")
    return redirect("annotate-project-detail", pk=project.pk)


@login_required
@require_POST
def add_member(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk, role=Role.OWNER)
    form = MemberForm(request.POST)
    user = None
    if form.is_valid():
        user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
    if user is None:
        messages.error(request, "No user with that name.")
    else:
        ProjectMember.objects.update_or_create(
            project=project, user=user, defaults={"role": form.cleaned_data["role"]}
        )
        messages.success(request, f"{user.username} is now {form.cleaned_data['role']}.")
    return redirect("annotate-project-detail", pk=project.pk)


@login_required
@require_POST
def remove_member(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk, role=Role.OWNER)
    project.members.filter(pk=member_pk).delete()
    return redirect("annotate-project-detail", pk=project.pk)
