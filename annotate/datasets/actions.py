"""What people and scripts do with datasets: import one. The page, the API and
`manage.py import_dataset` call this."""

from __future__ import annotations

from typing import IO

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
) -> Dataset:
    """A new dataset from a JSONL, CSV or Parquet stream, owned by the caller (managers only);
    all or nothing: raises importing.ImportFailed with the bad lines. The doors refuse an
    oversized upload first (importing.upload_too_big)."""
    require_manager(user)
    return importing.import_dataset(file, filename, name, user, description, fmt=fmt)
