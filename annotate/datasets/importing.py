"""Importing prompts from a JSON array, JSONL, CSV or Parquet, streamed
(annotate/datasets/readers.py), each record mapped onto an item (annotate/datasets/records.py),
or, for rows of Annotate's own full export, its items, runs, outputs, projects and labels
(annotate/datasets/reimport.py).

The whole file is imported in one transaction: one bad line names its line number (an element
of a JSON array its index) and why, and nothing of that file is imported.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import IO

from django.conf import settings
from django.db import connection, transaction

from annotate.datasets.export_rows import is_export_row
from annotate.datasets.models import Dataset, Item
from annotate.datasets.outputs import import_outputs, outputs_layout
from annotate.datasets.readers import detect_format, open_records
from annotate.datasets.records import ImportFailed, LineError, LineErrors, ParsedItem, parse_record
from annotate.datasets.reimport import restore
from annotate.labeling.models import Annotation, Task
from inference.models import Generation, Run

BULK = 2000
BULK_CHARS = 4 * 2**20  # text held before a bulk_create, where there is no COPY


def upload_too_big(size: int) -> str | None:
    """Why an upload of `size` bytes is refused, or None."""
    limit = settings.IMPORT_MAX_BYTES
    if size > limit:
        shown = f"{limit / 2**20:,.0f} MB" if limit >= 2**20 else f"{limit:,} bytes"
        return f"The file is larger than the {shown} limit (setting IMPORT_MAX_BYTES)."
    return None


@contextlib.contextmanager
def _item_writer(dataset: Dataset):
    """write(index, parsed) for each item: by COPY on PostgreSQL (no model instances, no
    parameter arrays to escape), in bulk_create batches elsewhere."""
    if connection.vendor == "postgresql":
        columns = "dataset_id, index, external_id, messages, prompt, reference, metadata"
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {Item._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            yield lambda index, p: copy.write_row(
                (
                    dataset.pk,
                    index,
                    p.external_id,
                    json.dumps(p.messages),
                    p.prompt,
                    p.reference,
                    json.dumps(p.metadata),
                )
            )
        return
    batch: list[Item] = []
    held = 0

    def write(index: int, parsed: ParsedItem) -> None:
        nonlocal held
        batch.append(parsed.item(dataset, index))
        # by size too: 2,000 items of 400 KB would hold 800 MB before their INSERT
        held += len(parsed.reference) + sum(len(m["content"]) for m in parsed.messages)
        if len(batch) >= BULK or held > BULK_CHARS:
            Item.objects.bulk_create(batch)
            batch.clear()
            held = 0

    yield write
    Item.objects.bulk_create(batch)


@transaction.atomic
def import_dataset(
    stream: IO[bytes],
    filename: str,
    name: str,
    owner,
    description: str = "",
    fmt: str | None = None,
    keep_authors: bool = False,
) -> Dataset:
    """Create a dataset from a JSON array, JSONL, CSV or Parquet stream, all or nothing. Raises
    ImportFailed. An export's labels become the owner's unless `keep_authors`
    (annotate/datasets/authors.py)."""
    unit, records = open_records(stream, fmt or detect_format(filename))
    dataset = Dataset.objects.create(
        name=name or filename[:200], description=description, source_filename=filename, owner=owner
    )
    transaction.on_commit(lambda: _analyze_after_bulk(dataset.pk))
    first = next(records, None)
    records = itertools.chain([first] if first else [], records)
    if first and is_export_row(first[1]):
        # Annotate's own export: its runs, outputs, projects and labels come back too.
        dataset.restored = restore(dataset, records, owner, keep_authors, unit)
        return dataset
    if first and (layout := outputs_layout(first[1])):
        # Outputs made elsewhere: a completed run per model (annotate/datasets/outputs.py).
        dataset.imported = import_outputs(dataset, records, owner, layout, unit)
        return dataset
    errors = LineErrors(unit)
    index = 0
    with _item_writer(dataset) as write:
        for number, record, error in records:
            if not error:
                try:
                    parsed = parse_record(record)
                except LineError as exc:
                    error = str(exc)
            if error:
                errors.add(number, error)
            elif not errors.total:  # after a bad line, read on to report all, write nothing
                write(index, parsed)
                index += 1
    errors.raise_any()
    if not index:
        raise ImportFailed([f"{filename}: no items found"], 1)
    return dataset


ANALYZE_AFTER_ITEMS = 2000


def _analyze_after_bulk(dataset_id: int) -> None:
    """PostgreSQL plans by its table statistics, which autovacuum refreshes only later: right
    after a bulk import they say the tables are small, and a query that joins them (the
    export's `labeled` filter) ran 16 s instead of 23 ms. ANALYZE them once the import is in."""
    if connection.vendor != "postgresql":
        return
    if Item.objects.filter(dataset_id=dataset_id).count() < ANALYZE_AFTER_ITEMS:
        return
    with connection.cursor() as cursor:
        tables = (m._meta.db_table for m in (Item, Generation, Run, Task, Annotation))
        cursor.execute("ANALYZE " + ", ".join(map(connection.ops.quote_name, tables)))


def import_summary(dataset: Dataset, filename: str) -> str:
    """What an import brought in, as the page says it."""
    restored = getattr(dataset, "restored", None)
    if imported := getattr(dataset, "imported", None):
        said = (
            f"Imported {dataset.items.count()} items from {filename} with {imported.outputs} "
            f"outputs of {len(imported.runs)} models ({', '.join(imported.runs)})"
        )
        return said + (", and made their project." if imported.project_id else ".")
    if restored is None:
        return f"Imported {dataset.items.count()} items from {filename}."
    said = (
        f"Restored from {filename}: {restored.items} items, {restored.outputs} outputs of "
        f"{restored.runs} runs, {restored.projects} projects with {restored.labels} labels "
        f"({restored.reviewed} reviewed)"
    )
    if restored.votes:
        said += f" and {restored.votes} comparison votes"
    if restored.attributed_to is not None:
        said += f", all attributed to {restored.attributed_to}"
        if restored.labels_left_out:
            said += (
                f"; {restored.labels_left_out} labels by other annotators of outputs already "
                "labeled were left out (one label per person and output)"
            )
        if restored.votes_left_out:
            said += (
                f"; {restored.votes_left_out} votes by other annotators of pairs already "
                "voted on were left out (one vote per person and pair)"
            )
    elif restored.users_created:
        said += f"; accounts created without a password: {', '.join(restored.users_created)}"
    if restored.pairs_left_out:
        said += (
            f"; {restored.pairs_left_out} voted pairs were left out: the file holds only one "
            "of their two outputs"
        )
    return said + "."
