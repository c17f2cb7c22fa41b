"""Who may see and change what: one helper per object type, first line of every view.

Until projects and roles arrive, every signed-in user sees everything; changing a run, a
dataset or a model configuration takes its creator or a staff member.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from annotate.models import Dataset, Generation, ModelConfig, Run


def can_change(user, owner_id: int) -> bool:
    return user.is_staff or user.pk == owner_id


def _check(user, owner_id: int, write: bool) -> None:
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
    return get_object_or_404(Generation.objects.select_related("run", "item"), pk=pk)
