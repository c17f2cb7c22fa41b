"""Datasets and their items: import a file, read it back, delete it."""

# No `from __future__ import annotations`: ninja's @paginate reads the endpoint's
# annotations from its own wrapper, where a name like `Id` would not resolve.

from datetime import datetime

from ninja import File, Form, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile
from ninja.pagination import paginate

from annotate.api.errors import ErrorOut
from annotate.api.imports import ImportJobOut
from annotate.api.types import Id, has_nul
from annotate.datasets import actions
from annotate.datasets.access import get_dataset_for_user, get_item_for_user
from annotate.datasets.importing import ImportFailed, upload_too_big
from annotate.datasets.models import Dataset, ImportJob
from annotate.datasets.search import search_items
from inference.access import require_manager

router = Router(tags=["datasets"])


class RestoredOut(Schema):
    """What the import of an Annotate export rebuilt besides its items."""

    items: int
    outputs: int
    runs: int
    projects: int
    labels: int
    reviewed: int
    users_created: list[str]
    attributed_to: str | None
    labels_left_out: int
    votes: int
    votes_left_out: int
    pairs_left_out: int


class ImportedOut(Schema):
    """What the import of a file of outputs made: a completed run per model."""

    outputs: int
    runs: dict[str, int]  # model name -> run id
    project_id: int | None


class DatasetOut(Schema):
    id: int
    name: str
    description: str
    source_filename: str
    created_at: datetime
    item_count: int
    restored: RestoredOut | None = None
    imported: ImportedOut | None = None


class ItemOut(Schema):
    id: int
    index: int
    external_id: str
    messages: list[dict]
    prompt: str
    reference: str
    metadata: dict


def _dataset_out(dataset: Dataset) -> dict:
    restored = getattr(dataset, "restored", None)
    imported = getattr(dataset, "imported", None)
    return {
        **vars(dataset),
        "item_count": dataset.items.count(),
        "restored": vars(restored) if restored else None,
        "imported": vars(imported) if imported else None,
    }


@router.get("/datasets", response=list[DatasetOut])
def list_datasets(request):
    require_manager(request.user)
    return [_dataset_out(d) for d in Dataset.objects.filter(purpose="")]


@router.post(
    "/datasets",
    response={
        201: DatasetOut,
        202: ImportJobOut,
        400: ErrorOut,
        403: ErrorOut,
        413: ErrorOut,
    },
)
def create_dataset(
    request,
    file: File[UploadedFile],
    name: Form[str] = "",
    description: Form[str] = "",
    keep_authors: Form[bool] = False,
    project_kind: Form[str] = "",
    project_name: Form[str] = "",
):
    """Import a JSON array, JSONL, CSV or Parquet file as a new dataset; all or nothing. An
    export's labels become the caller's; `keep_authors` (superusers only, else 403) gives
    them to the accounts the file names. A file of outputs (the README's outputs layout)
    brings a completed run per model, and `project_kind` (compare or label) makes a project
    of them, named `project_name`.

    A file of up to IMPORT_INLINE_MAX_BYTES (8 MB by default) is imported during the
    request: 201 and the dataset, or 400 and the bad lines. A larger one is imported by a
    worker: 202 and the import job (`status` "queued", `url`); poll `GET /api/imports/{id}`
    for its progress, then its `dataset_id`, or its `errors` if nothing was imported."""
    require_manager(request.user)
    if has_nul([name, description, file.name, project_name]):
        raise HttpError(422, "Text cannot contain NUL characters.")
    if refused := upload_too_big(file.size):
        return Status(413, {"detail": refused})
    try:
        made = actions.start_import(
            request.user,
            file.file,
            file.name,
            file.size,
            name=name,
            description=description,
            keep_authors=keep_authors,
            project_kind=project_kind,
            project_name=project_name[:200],
        )
    except ImportFailed as exc:
        return Status(400, {"detail": "Nothing was imported.", "errors": exc.errors})
    if isinstance(made, ImportJob):
        return Status(202, made)
    return Status(201, _dataset_out(made))


@router.get("/datasets/{dataset_id}", response=DatasetOut)
def get_dataset(request, dataset_id: Id):
    return _dataset_out(get_dataset_for_user(request.user, dataset_id))


@router.get("/datasets/{dataset_id}/items", response=list[ItemOut])
@paginate
def list_items(request, dataset_id: Id, q: str = ""):
    """The items in file order; `q` keeps those that match (words of the prompt, reference,
    id or metadata, or `key=value`), as the dataset page's search does."""
    return search_items(get_dataset_for_user(request.user, dataset_id), q)


@router.delete("/datasets/{dataset_id}", response={204: None})
def delete_dataset(request, dataset_id: Id):
    """Delete a dataset and its items (its creator or staff); 409 if any run used it, since
    its outputs and their labels would go too. Nothing is archived: a refused dataset stays
    whole."""
    actions.delete_dataset(request.user, dataset_id)
    return Status(204, None)


@router.get("/items/{item_id}", response=ItemOut)
def get_item(request, item_id: Id):
    """One item: managers any; others an item of a task they may open (404 otherwise)."""
    return get_item_for_user(request.user, item_id)
