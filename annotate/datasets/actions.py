"""What people and scripts do with datasets: import one (now, or by a worker), delete one.
The page, the API and `manage.py import_dataset` call this."""

from __future__ import annotations

from typing import IO

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction

from annotate.datasets import jobs
from annotate.datasets.access import get_dataset_for_user
from annotate.datasets.models import Dataset, ImportJob
from annotate.datasets.records import ImportFailed
from annotate.datasets.tasks import import_task
from annotate.labeling.models import ProjectKind
from inference.access import require_manager
from inference.doorbell import send_when_committed
from inference.errors import Conflict


def _check_import(user, keep_authors: bool, project_kind: str) -> None:
    require_manager(user)
    if keep_authors and not user.is_superuser:
        raise PermissionDenied("Only a superuser may keep an export's annotators and reviewers.")
    if project_kind and project_kind not in ProjectKind.values:
        raise ImportFailed([f"project_kind must be one of {', '.join(ProjectKind.values)}"], 1)


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
    (managers only), imported now; all or nothing: raises importing.ImportFailed with the bad
    lines (or elements). The doors refuse an oversized upload first (importing.upload_too_big)
    and call start_import, which leaves large ones to a worker; `manage.py import_dataset`
    imports here (no request to time out).

    An export's labels become the caller's; `keep_authors` gives them to the accounts the
    file names, creating missing ones, so only a superuser may ask for it.

    A file of outputs made elsewhere (annotate/datasets/outputs.py) may become a project in
    the same transaction: `project_kind` "compare" or "label" over its runs, named
    `project_name` (default: the dataset's name)."""
    _check_import(user, keep_authors, project_kind)
    return jobs.import_file(
        user, file, filename, name, description, fmt, keep_authors, project_kind, project_name
    )


def start_import(user, file: IO[bytes], filename: str, size: int, **options) -> Dataset | ImportJob:
    """Import an upload of `size` bytes as import_dataset does, with its options (name,
    description, fmt, keep_authors, project_kind, project_name), who may ask checked first. Up
    to IMPORT_INLINE_MAX_BYTES it is imported now (the Dataset); above, it is stored and a
    worker imports it (a queued ImportJob to follow: annotate/datasets/jobs.py), so a large
    file never holds a web worker past its timeout."""
    if size <= settings.IMPORT_INLINE_MAX_BYTES:
        return import_dataset(user, file, filename, **options)
    _check_import(user, options.get("keep_authors", False), options.get("project_kind", ""))
    job = jobs.store_upload(user, file, filename, **(options | {"fmt": options.get("fmt") or ""}))
    send_when_committed(import_task, (job.pk,), "api", lambda: jobs.fail_unsent(job))
    return job


@transaction.atomic
def delete_dataset(user, dataset_id: int) -> None:
    """Delete a dataset and its items (its creator or staff). A dataset that any run used is
    refused (409), running or not: its outputs, and the labels of them, would go too."""
    dataset = get_dataset_for_user(user, dataset_id, write=True)
    if dataset.runs.exists():
        raise Conflict("The dataset has runs (their outputs and labels would go); not deleted.")
    dataset.delete()
