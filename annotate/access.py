"""Who may see and change what: one helper per object type, first line of every view.

Two levels:
- Managing (datasets, model configurations, runs, outputs, prices) takes the
  `annotate.view_run` permission: superusers, and the "Project owners" group.
- A labeling project is seen by its members; their role in it (annotator < reviewer <
  owner) says what they may do. Annotators see only their own queue and labels.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from annotate.models import Dataset, Generation, ModelConfig, Project, Run, Task
from annotate.models.projects import ROLE_RANK, Role

MANAGE_PERMISSION = "annotate.view_run"


def can_manage(user) -> bool:
    return user.is_authenticated and user.has_perm(MANAGE_PERMISSION)


def require_manager(user) -> None:
    if not can_manage(user):
        raise PermissionDenied("This page is for project owners.")


def can_change(user, owner_id: int) -> bool:
    return user.is_staff or user.pk == owner_id


def _check(user, owner_id: int, write: bool) -> None:
    require_manager(user)
    if write and not can_change(user, owner_id):
        raise PermissionDenied("Only its creator or a staff member can change this.")


def get_dataset_for_user(request, pk: int, write: bool = False) -> Dataset:
    dataset = get_object_or_404(Dataset, pk=pk)
    _check(request.user, dataset.owner_id, write)
    return dataset


def get_config_for_user(request, pk: int, write: bool = False) -> ModelConfig:
    config = get_object_or_404(ModelConfig, pk=pk)
    _check(request.user, config.owner_id, write)
    return config


def get_run_for_user(request, pk: int, write: bool = False) -> Run:
    run = get_object_or_404(Run.objects.select_related("dataset", "model_config"), pk=pk)
    _check(request.user, run.created_by_id, write)
    return run


def get_generation_for_user(request, pk: int) -> Generation:
    require_manager(request.user)
    return get_object_or_404(Generation.objects.select_related("run", "item"), pk=pk)


def project_role(user, project: Project) -> str | None:
    """The user's role in the project, or None if they are not in it."""
    if user.is_superuser or project.owner_id == user.pk:
        return Role.OWNER
    member = project.members.filter(user=user).first()
    return member.role if member else None


def get_project_for_user(request, pk: int, role: str = Role.ANNOTATOR) -> Project:
    """404 if the user is not in the project; PermissionDenied if their role is too low.
    Sets project.role to the user's role."""
    project = get_object_or_404(Project, pk=pk)
    have = project_role(request.user, project)
    if have is None:
        raise Http404("No such project.")  # outsiders do not learn that it exists
    if ROLE_RANK[have] < ROLE_RANK[role]:
        raise PermissionDenied(f"This needs the {role} role in the project.")
    project.role = have
    return project


def get_task_for_user(request, project: Project, pk: int) -> Task:
    """Annotators open only the tasks they hold or labeled; reviewers and owners any."""
    task = get_object_or_404(
        Task.objects.select_related("generation__item", "generation_b"), pk=pk, project=project
    )
    if (
        ROLE_RANK[project.role] < ROLE_RANK[Role.REVIEWER]
        and not task.annotations.filter(annotator=request.user).exists()
    ):
        raise PermissionDenied("This item is not in your queue.")
    return task
