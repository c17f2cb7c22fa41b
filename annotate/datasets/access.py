"""Who may see and change a dataset."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from annotate.datasets.models import Dataset
from inference.access import check_rights


def get_dataset_for_user(user, pk: int, write: bool = False) -> Dataset:
    dataset = get_object_or_404(Dataset, pk=pk)
    check_rights(user, dataset.owner_id, write)
    return dataset
