"""Exports of labeled outputs, written in chunks so memory stays flat whatever the size.

Formats: full JSONL and Parquet (item, output, measurements, every label, final labels), flat
CSV, chat SFT JSONL and OpenAI's fine-tuning JSONL (`messages`, the corrected output where one
exists), and preference pairs JSONL in TRL's conversational layout (`prompt`, `chosen`,
`rejected`) from comparisons and from ratings. Each export writes a manifest beside its file.

Two paths give the same rows: the ORM's (annotate/exports/orm.py), on any database; and on
PostgreSQL, annotate/exports/sql.py's for the full JSONL, CSV and Parquet files and for rows(),
one COPY with the labels serialized by the database. This module chooses between them. Label
semantics (mean rating, agreement, pass, the projects a row carries) are
annotate/exports/labels.py's on both paths.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import pyarrow as pa
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from annotate.exports import judge_labels
from annotate.exports import sql as export_sql
from annotate.exports.comparisons import write_votes
from annotate.exports.filters import generations, label_projects
from annotate.exports.formats import (
    CHUNK,
    PARQUET_SCHEMA,
    SCHEMA_VERSION,
    chat_row,
    corrected_output,
    flat_row,
    jsonl_line,
    parquet_writer,
    spreadsheet_safe,
)
from annotate.exports.included import Tally
from annotate.exports.models import Export, ExportStatus
from annotate.exports.orm import orm_rows
from annotate.labeling.models import Annotation, AnnotationState, ProjectKind
from inference.models import Generation
from inference.prompts import build_messages


def use_sql() -> bool:
    """Whether exports take PostgreSQL's path (annotate/exports/sql.py)."""
    return connection.vendor == "postgresql"


def rows(filters: dict, progress=None, sql: bool | None = None) -> Iterator[dict]:
    """Full rows, streamed, in generation order; `progress(n)` is told how many outputs were
    gone through. sql: PostgreSQL's path (the default there) or the ORM's. On PostgreSQL's,
    the connection streams while rows come: query nothing else until the iteration ends."""
    if use_sql() if sql is None else sql:
        return export_sql.rows(filters, progress)
    return orm_rows(filters, progress)


def preference_pairs(
    filters: dict, sql: bool | None = None, counts: dict | None = None
) -> Iterator[dict]:
    """Pairs from comparison votes, then from ratings (best against worst rated output of an
    item with different ratings). A pair whose two answers answered different prompts (runs
    of different system prompts) teaches nothing: it is left out, and counted in
    counts["skipped_different_prompts"]."""
    counts = {} if counts is None else counts
    counts["skipped_different_prompts"] = 0
    votes = Annotation.objects.filter(
        state=AnnotationState.SUBMITTED,
        task__project__kind=ProjectKind.COMPARE,
        answers__verdict__in=["left", "right"],
    )
    if (projects := label_projects(filters)) is not None:
        votes = votes.filter(task__project_id__in=projects)
    shown = (
        votes.order_by("pk")
        .values_list("answers", "task__generation_id", "task__generation_b_id")
        .iterator(chunk_size=CHUNK)
    )
    while chunk := list(islice(shown, CHUNK)):
        # One query a chunk, indexed by id: in_bulk's order is the model's, not the sides'.
        # "left" is the task's generation, the side the annotator saw it on.
        ids = {pk for _, left, right in chunk for pk in (left, right)}
        outputs = Generation.objects.select_related("item", "run").in_bulk(ids)
        for answers, left, right in chunk:
            winner, loser = (left, right) if answers["verdict"] == "left" else (right, left)
            prompt = _prompt(outputs[winner])
            if prompt != _prompt(outputs[loser]):
                counts["skipped_different_prompts"] += 1
                continue
            yield _pair(prompt, outputs[winner], outputs[loser], "comparison")
    by_item: dict[int, list[tuple[float, dict]]] = defaultdict(list)
    for row in rows({**filters, "min_rating": None}, sql=sql):
        if row["mean_rating"] is not None:
            by_item[row["item"]["id"]].append((row["mean_rating"], row))
    for rated in by_item.values():
        rated.sort(key=lambda pair: pair[0])
        (low, worst), (high, best) = rated[0], rated[-1]
        if high <= low:  # one rating, or all the same: no preference
            continue
        prompt = _row_prompt(best)
        if prompt != _row_prompt(worst):
            counts["skipped_different_prompts"] += 1
        else:
            yield {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": corrected_output(best)}],
                "rejected": [{"role": "assistant", "content": worst["generation"]["output"]}],
                "source": "rating",
                "chosen_rating": high,
                "rejected_rating": low,
            }


def _prompt(output: Generation) -> list[dict]:
    """The messages an output answered: its run's system prompt and its item's messages."""
    return build_messages(output.item.messages, output.run.params.get("system_prompt", ""))


def _row_prompt(row: dict) -> list[dict]:
    """_prompt() of a full row."""
    system = row["generation"]["params"].get("system_prompt", "")
    return build_messages(row["item"]["messages"], system)


def _pair(prompt: list[dict], winner: Generation, loser: Generation, source: str) -> dict:
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": winner.output}],
        "rejected": [{"role": "assistant", "content": loser.output}],
        "source": source,
    }


def _write_jsonl(path: Path, records: Iterator[dict]) -> int:
    n = 0
    with path.open("wb") as f:
        for record in records:
            f.write(jsonl_line(record))
            n += 1
    return n


def _flat(judges: bool) -> tuple[pa.Schema, Callable[[dict], dict]]:
    """The flat files' columns and row; with the judge-label columns when asked."""
    if judges:
        return judge_labels.SCHEMA, judge_labels.flat_row_with_judges
    return PARQUET_SCHEMA, flat_row


def _write_csv(path: Path, records: Iterator[dict], judges: bool = False) -> int:
    n = 0
    schema, flat = _flat(judges)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=schema.names)
        writer.writeheader()
        for record in records:
            writer.writerow({k: spreadsheet_safe(v) for k, v in flat(record).items()})
            n += 1
    return n


def _write_parquet(path: Path, records: Iterator[dict], judges: bool = False) -> int:
    n = 0
    schema, flat = _flat(judges)
    with parquet_writer(path, schema) as writer:
        batch: list[dict] = []
        for record in records:
            batch.append(flat(record))
            if len(batch) >= CHUNK:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                n, batch = n + len(batch), []
        if batch or not n:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            n += len(batch)
    return n


def write_export(
    fmt: str,
    filters: dict,
    path: Path,
    progress=None,
    sql: bool | None = None,
    ids=None,
    counts: dict | None = None,
):
    """Write an export's file in format fmt; returns how many rows it has. sql: PostgreSQL's
    path (the default there) or the ORM's; ids: its export_sql.output_ids(filters), if known;
    counts: filled with what the manifest counts beside the rows (a training export's
    "included" outputs by label, preference pairs' "skipped_different_prompts")."""
    counts = {} if counts is None else counts
    judges = judge_labels.wanted(filters) and fmt in ("jsonl", "csv", "parquet")
    # Judge labels are read between the rows: PostgreSQL's path streams on its connection.
    sql = (use_sql() if sql is None else sql) and not judges
    if fmt.startswith("comparisons"):
        return write_votes(fmt, filters, path)
    if fmt == "preference":
        return _write_jsonl(path, preference_pairs(filters, sql=sql, counts=counts))
    if sql and fmt in export_sql.FORMATS:
        return export_sql.write(fmt, filters, path, progress, ids)
    source = rows(filters, progress, sql=sql)
    if judges:
        source = judge_labels.with_judge_labels(source, filters)
    if fmt in ("sft", "openai"):
        tally = Tally()
        written = _write_jsonl(path, (chat_row(r) for r in tally.counted(source)))
        counts["included"] = tally.as_dict()
        return written
    if fmt == "jsonl":
        return _write_jsonl(path, source)
    return (_write_csv if fmt == "csv" else _write_parquet)(path, source, judges)


@contextmanager
def _export_writer(export: Export) -> Iterator[Callable[..., None]]:
    """A function that writes fields of the export while its rows are read. On SQLite outside
    a transaction (a worker), it writes through a connection of its own: this one's open read
    cursors keep a snapshot, and once another connection has committed (a poll, a label), a
    write on this one fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, which no
    busy timeout waits out). Inside a transaction, BEGIN IMMEDIATE already holds the lock; an
    in-memory database has no second connection."""
    sqlite = connection.vendor == "sqlite"
    if not sqlite or connection.in_atomic_block or connection.is_in_memory_db():
        yield lambda **fields: Export.objects.filter(pk=export.pk).update(**fields)
        return
    side = connections.create_connection(connection.alias)
    quote = side.ops.quote_name

    def write(**fields) -> None:
        columns = ", ".join(f"{quote(Export._meta.get_field(k).column)} = %s" for k in fields)
        table, pk = quote(Export._meta.db_table), quote(Export._meta.pk.column)
        with side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {columns} WHERE {pk} = %s", [*fields.values(), export.pk]
            )

    try:
        yield write
    finally:
        side.close()


def run_export(export: Export) -> Export:
    """Write the export's file and manifest, updating its progress as it goes."""
    folder = Path(settings.VAR_DIR) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / export.filename
    ids = None
    if use_sql() and export.format in export_sql.FORMATS:  # read once: counted and written
        ids = export_sql.output_ids(export.filters)
    export.total = generations(export.filters).count() if ids is None else len(ids)
    export.status, export.done = ExportStatus.RUNNING, 0
    export.save(update_fields=("total", "status", "done"))

    with _export_writer(export) as write:

        def progress(n: int) -> None:
            export.done += n
            write(done=export.done)

        counts: dict = {}
        try:
            written = write_export(
                export.format, export.filters, path, progress, ids=ids, counts=counts
            )
        except Exception as exc:
            write(status=ExportStatus.FAILED, error=str(exc))
            raise
    export.manifest = manifest(export, written, counts)
    Path(f"{path}.manifest.json").write_text(json.dumps(export.manifest, indent=2))
    export.path, export.rows, export.done = str(path), written, export.total
    export.status, export.finished_at = ExportStatus.DONE, timezone.now()
    export.save()
    return export


def manifest(export: Export, written: int, counts: dict | None = None) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "format": export.format,
        "filters": export.filters,
        "counts": {"outputs_considered": export.total, "rows": written, **(counts or {})},
        "file": export.filename,
        "created_at": export.created_at.isoformat(),
        "finished_at": timezone.now().isoformat(),
        "exported_by": export.owner.username,
    }
