"""What people and scripts do with datasets: import one, delete one. The page, the API and
`manage.py import_dataset` call this."""

from __future__ import annotations

from typing import IO

from django.core.exceptions import PermissionDenied
from django.db import transaction

from annotate.datasets import importing
from annotate.datasets.access import get_dataset_for_user
from annotate.datasets.models import Dataset
from annotate.datasets.records import ImportFailed
from annotate.labeling.actions import create_project
from annotate.labeling.models import ProjectKind
from inference.access import require_manager
from inference.errors import Conflict


@transaction.atomic
def import_dataset(
    user,
    file: IO[bytes],
    filename: str,
    name: str = "",
    description: str = "",
    fmt: str | None = None,
    keep_authors: bool = False,
    project_kind: str = "",
    project_name: str = "",
) -> Dataset:
    """A new dataset from a JSON array, JSONL, CSV or Parquet stream, owned by the caller
    (managers only); all or nothing: raises importing.ImportFailed with the bad lines (or
    elements). The doors refuse an oversized upload first (importing.upload_too_big).

    An export's labels become the caller's; `keep_authors` gives them to the accounts the
    file names, creating missing ones, so only a superuser may ask for it.

    A file of outputs made elsewhere (annotate/datasets/outputs.py) may become a project in
    the same transaction: `project_kind` "compare" or "label" over its runs, named
    `project_name` (default: the dataset's name)."""
    require_manager(user)
    if keep_authors and not user.is_superuser:
        raise PermissionDenied("Only a superuser may keep an export's annotators and reviewers.")
    if project_kind and project_kind not in ProjectKind.values:
        raise ImportFailed([f"project_kind must be one of {', '.join(ProjectKind.values)}"], 1)
    dataset = importing.import_dataset(
        file, filename, name, user, description, fmt=fmt, keep_authors=keep_authors
    )
    if project_kind:
        imported = getattr(dataset, "imported", None)
        if imported is None:
            raise ImportFailed(
                [f"{filename}: a project is made only from a file of outputs (see the README)"], 1
            )
        fields = {"name": project_name or dataset.name, "kind": project_kind}
        project, _ = create_project(user, fields, imported.runs.values())
        imported.project_id = project.pk
    return dataset


@transaction.atomic
def delete_dataset(user, dataset_id: int) -> None:
    """Delete a dataset and its items (its creator or staff). A dataset that any run used is
    refused (409), running or not: its outputs, and the labels of them, would go too."""
    dataset = get_dataset_for_user(user, dataset_id, write=True)
    if dataset.runs.exists():
        raise Conflict("The dataset has runs (their outputs and labels would go); not deleted.")
    dataset.delete()
