"""Who may see and change a dataset, and read one of its items."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from annotate.datasets.models import Dataset, Item
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
