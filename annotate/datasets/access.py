"""Who may see and change a dataset, read one of its items, follow an import."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from annotate.datasets.models import Dataset, ImportJob, Item
from annotate.labeling.access import reviewable_projects
from annotate.labeling.models import Task
from inference.access import can_manage, check_rights


def get_dataset_for_user(user, pk: int, write: bool = False) -> Dataset:
    dataset = get_object_or_404(Dataset, pk=pk)
    check_rights(user, dataset.owner_id, write)
    return dataset


def get_item_for_user(user, pk: int) -> Item:
    """Managers read any item (they see every dataset). Others only an item of a task they
    may open (labeling.access.get_task_for_user's rule): in a project they review or own,
    or one they hold or labeled. 404 otherwise: an annotator learns nothing of other items."""
    item = get_object_or_404(Item, pk=pk)
    if can_manage(user):
        return item
    tasks = Task.objects.filter(Q(generation__item=item) | Q(generation_b__item=item))
    opens = Q(project__in=reviewable_projects(user)) | Q(annotations__annotator=user)
    if not user.is_authenticated or not tasks.filter(opens).exists():
        raise Http404("No such item.")
    return item


def get_import_for_user(user, pk: int) -> ImportJob:
    """An import job: its owner's, or any for staff (404 for anyone else)."""
    job = ImportJob.objects.filter(pk=pk).first()
    if job is None or not user.is_authenticated or (job.owner_id != user.pk and not user.is_staff):
        raise Http404("No such import.")
    return job


def imports_of(user):
    """The caller's own import jobs, newest first."""
    return (
        ImportJob.objects.filter(owner=user) if user.is_authenticated else ImportJob.objects.none()
    )
