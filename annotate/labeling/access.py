"""Who may see a labeling project and its items: members, by their role in it (annotator <
reviewer < owner). Annotators see only their own annotation queue and labels."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404

from annotate.labeling.models import ROLE_RANK, Annotation, Project, ProjectMember, Role, Task
from inference.access import can_manage
from inference.models import Run


def visible_projects(user) -> QuerySet[Project]:
    """The projects the user is in (owner or member); superusers see every project."""
    projects = Project.objects.all()
    if not user.is_superuser:
        projects = projects.filter(Q(owner=user) | Q(members__user=user))
    return projects.distinct()


def reviewable_projects(user) -> QuerySet[Project]:
    """The projects whose every label the user may read: those they own or review (all of
    them for superusers). What exports and statistics over labels may include."""
    projects = Project.objects.all()
    if not user.is_superuser:
        roles = (Role.REVIEWER, Role.OWNER)
        projects = projects.filter(Q(owner=user) | Q(members__user=user, members__role__in=roles))
    return projects.distinct()


def attachable_runs(user, project: Project) -> QuerySet[Run]:
    """The runs the user may give the project: managers see every run and may add any;
    anyone else only keeps those it has."""
    if can_manage(user):
        return Run.objects.all()
    return project.runs.all() if project.pk else Run.objects.none()


def get_project_for_user(user, pk: int, role: str = Role.ANNOTATOR) -> Project:
    """404 if the user is not in the project; PermissionDenied if their role is too low.
    Sets project.role to the user's role. One query: the membership comes with the project."""
    membership = ProjectMember.objects.filter(project=OuterRef("pk"), user=user.pk)
    projects = Project.objects.annotate(member_role=Subquery(membership.values("role")[:1]))
    project = get_object_or_404(projects, pk=pk)
    owns = user.is_superuser or project.owner_id == user.pk
    have = Role.OWNER if owns else project.member_role
    if have is None:
        raise Http404("No such project.")  # outsiders do not learn that it exists
    if ROLE_RANK[have] < ROLE_RANK[role]:
        raise PermissionDenied(f"This needs the {role} role in the project.")
    project.role = have
    return project


def get_task_for_user(user, project: Project, number: int) -> Task:
    """The task of that number in the project (Task.number, never its database id).
    Annotators open only the tasks they hold or labeled; reviewers and owners any. The
    caller's own annotation of it is fetched once and kept (own_annotation)."""
    task = get_object_or_404(
        Task.objects.select_related("generation__item", "generation_b"),
        number=number,
        project=project,
    )
    task.project = project  # already fetched, with the caller's role
    if ROLE_RANK[project.role] < ROLE_RANK[Role.REVIEWER]:
        task.own = Annotation.objects.filter(task=task, annotator=user).first()
        if task.own is None:
            raise PermissionDenied("This item is not in your annotation queue.")
    return task


def own_annotation(task: Task, user) -> Annotation | None:
    """The user's annotation of the task: kept by get_task_for_user, else fetched."""
    if not hasattr(task, "own"):
        task.own = Annotation.objects.filter(task=task, annotator=user).first()
    return task.own
