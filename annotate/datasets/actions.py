"""What people and scripts do with datasets: import one. The page, the API and
`manage.py import_dataset` call this."""

from __future__ import annotations

from typing import IO

from django.core.exceptions import PermissionDenied

from annotate.datasets import importing
from annotate.datasets.models import Dataset
from inference.access import require_manager


def import_dataset(
    user,
    file: IO[bytes],
    filename: str,
    name: str = "",
    description: str = "",
    fmt: str | None = None,
    keep_authors: bool = False,
) -> Dataset:
    """A new dataset from a JSON array, JSONL, CSV or Parquet stream, owned by the caller
    (managers only); all or nothing: raises importing.ImportFailed with the bad lines (or
    elements). The doors refuse an oversized upload first (importing.upload_too_big).

    An export's labels become the caller's; `keep_authors` gives them to the accounts the
    file names, creating missing ones, so only a superuser may ask for it."""
    require_manager(user)
    if keep_authors and not user.is_superuser:
        raise PermissionDenied("Only a superuser may keep an export's annotators and reviewers.")
    return importing.import_dataset(
        file, filename, name, user, description, fmt=fmt, keep_authors=keep_authors
    )
