"""Exports of labeled outputs, written in chunks so memory stays flat whatever the size.

Formats: full JSONL and Parquet (item, output, measurements, every label, final labels), flat
CSV, chat SFT JSONL and OpenAI's fine-tuning JSONL (`messages`, the corrected output where one
exists), and preference pairs JSONL in TRL's conversational layout (`prompt`, `chosen`,
`rejected`) from comparisons and from ratings. Each export writes a manifest beside its file.

Two paths give the same rows: this module's, through the ORM, on any database; and on
PostgreSQL, annotate/export_sql.py's for the full JSONL, CSV and Parquet files and for rows(),
one COPY with the labels serialized by the database. Label semantics (mean rating, agreement,
pass, the projects a row carries) are the functions below on both paths.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from annotate.exports.formats import (
    CSV_COLUMNS,
    PARQUET_SCHEMA,
    jsonl_line,
    parquet_writer,
)
from annotate.exports.models import Export, ExportStatus
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind, Task
from inference.models import Generation, GenerationStatus, Run
from inference.prompts import build_messages

SCHEMA_VERSION = 1
CHUNK = 2000
FILTER_KEYS = (
    "project",
    "dataset",
    "model",
    "run",
    "min_rating",
    "require_pass",
    "agreed",
    "reviewed",
    "since",
    "until",
    "pseudonyms",
)


def generations(filters: dict):
    """The outputs an export goes through, before the label-based filters."""
    gens = Generation.objects.filter(status=GenerationStatus.DONE)
    if filters.get("project"):
        # Semi-joins, not joins: no duplicate rows, so no DISTINCT over 100k rows.
        tasks = Task.objects.filter(project_id=filters["project"])
        gens = gens.filter(
            Q(pk__in=tasks.values("generation_id")) | Q(pk__in=tasks.values("generation_b_id"))
        )
    for key, lookup in (
        ("dataset", "run__dataset_id"),
        ("model", "run__model_config_id"),
        ("run", "run_id"),
    ):
        if filters.get(key):
            gens = gens.filter(**{lookup: filters[key]})
    if filters.get("since"):
        gens = gens.filter(finished_at__date__gte=filters["since"])
    if filters.get("until"):
        gens = gens.filter(finished_at__date__lte=filters["until"])
    return gens.order_by("pk")


def pseudonym(username: str) -> str:
    """A stable stand-in for a name: the same person gets the same pseudonym in every export
    of this instance, and the name cannot be read back from it."""
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{username}".encode()).hexdigest()
    return f"annotator-{digest[:10]}"


def _labels(gens, filters: dict) -> tuple[Iterator, Iterator]:
    """Streams of (generation id, submitted label) and (generation id, final label) for the
    outputs `gens` selects, in generation order, as rows() goes through them."""
    notes = Annotation.objects.filter(
        task__generation_id__in=gens.values("pk"),
        state=AnnotationState.SUBMITTED,
        task__project__kind=ProjectKind.LABEL,
    )
    if filters.get("project"):
        notes = notes.filter(task__project_id=filters["project"])
    name = _namer(filters)
    labels = (
        (
            gen_id,
            {
                "project": project,
                "annotator": name(user),
                "answers": answers,
                "time_spent_s": spent,
                "submitted_at": _iso(at),
            },
        )
        # pk last: two labels started at the same instant keep one order (the SQL path's).
        for gen_id, project, user, answers, spent, at in notes.order_by(
            "task__generation_id", "started_at", "pk"
        )
        .values_list(
            "task__generation_id",
            "task__project_id",
            "annotator__username",
            "answers",
            "time_spent_s",
            "submitted_at",
        )
        .iterator(chunk_size=CHUNK)
    )
    tasks = Task.objects.filter(
        generation_id__in=gens.values("pk"), final__isnull=False, project__kind=ProjectKind.LABEL
    )
    finals = (
        (
            gen_id,
            {
                "project": project,
                "answers": final,
                "reviewer": name(reviewer) if reviewer else None,
                "reviewed_at": _iso(at),
            },
        )
        for gen_id, project, final, reviewer, at in tasks.order_by("generation_id", "id")
        .values_list("generation_id", "project_id", "final", "reviewed_by__username", "reviewed_at")
        .iterator(chunk_size=CHUNK)
    )
    return labels, finals


class _Merged:
    """The entries of a stream of (id, entry) sorted by id, taken id by id in increasing order."""

    def __init__(self, stream: Iterator) -> None:
        self.stream = stream
        self.head = next(stream, None)

    def take(self, pk: int) -> list:
        out = []
        while self.head is not None and self.head[0] <= pk:
            if self.head[0] == pk:
                out.append(self.head[1])
            self.head = next(self.stream, None)
        return out


def _namer(filters: dict):
    if not filters.get("pseudonyms"):
        return lambda u: u
    return functools.lru_cache(maxsize=None)(pseudonym)


class _Lazy(dict):
    """Rows of a small table by id, each read from the database once, when first asked for."""

    def __init__(self, load) -> None:
        super().__init__()
        self.load = load

    def __missing__(self, pk):
        self[pk] = self.load(pk)
        return self[pk]


PROJECT_FIELDS = (
    "id",
    "name",
    "kind",
    "description",
    "guidelines",
    "questions",
    "overlap",
    "blind",
)


def project_definitions() -> _Lazy:
    """Projects' definitions by id: what a re-import needs to rebuild them."""
    return _Lazy(lambda pk: Project.objects.values(*PROJECT_FIELDS).get(pk=pk))


def run_definitions() -> _Lazy:
    """Runs' (configuration name, params) by id."""
    return _Lazy(lambda pk: Run.objects.values_list("model_config__name", "params").get(pk=pk))


def _iso(value) -> str | None:
    return value.isoformat() if value else None


# Label semantics. `defs` are the definitions of the projects the labels belong to, by id.


def _first_key(labels: list[dict], kind: str, defs: dict[int, dict]) -> str | None:
    for label in labels:
        for q in defs[label["project"]]["questions"]:
            if q["kind"] == kind:
                return q["key"]
    return None


def _mean_rating(labels: list[dict], defs: dict[int, dict]) -> float | None:
    key = _first_key(labels, "rating", defs)
    values = [lb["answers"][key] for lb in labels if isinstance(lb["answers"].get(key), int)]
    return sum(values) / len(values) if values else None


def _agreed(labels: list[dict], defs: dict[int, dict]) -> bool:
    if len(labels) < 2:
        return False
    questions = defs[labels[0]["project"]]["questions"]
    scored = {q["key"] for q in questions if q["kind"] not in ("text", "correction")}
    return all(len({json.dumps(lb["answers"].get(k)) for lb in labels}) == 1 for k in scored)


def _passes(labels: list[dict], finals: list[dict], defs: dict[int, dict]) -> bool:
    key = _first_key(labels, "passfail", defs)
    if finals and key and key in finals[-1]["answers"]:
        return finals[-1]["answers"][key] == "pass"
    votes = [lb["answers"].get(key) for lb in labels if key]
    return bool(votes) and votes.count("pass") > len(votes) / 2


def _keep(labels: list[dict], finals: list[dict], rating, defs: dict[int, dict], filters) -> bool:
    """Whether an output with these labels, final labels and mean rating passes the export's
    label-based filters."""
    if filters.get("reviewed") and not finals:
        return False
    if filters.get("agreed") and not _agreed(labels, defs):
        return False
    minimum = filters.get("min_rating")
    if minimum is not None and (rating is None or rating < float(minimum)):
        return False
    return not (filters.get("require_pass") and not _passes(labels, finals, defs))


def carried_projects(labels: list[dict], finals: list[dict]) -> list[int]:
    """Ids of the projects whose definitions a row carries: those of its labels."""
    return sorted({lb["project"] for lb in labels} | {f["project"] for f in finals})


def label_facts(labels, finals, project_ids: list[int], projects: dict, filters: dict):
    """(mean rating, whether the label-based filters keep the output)."""
    defs = {pk: projects[pk] for pk in project_ids}
    rating = _mean_rating(labels, defs)
    return rating, _keep(labels, finals, rating, defs, filters)


GEN_FIELDS = (
    "pk",
    "item_id",
    "item__dataset_id",
    "item__index",
    "item__external_id",
    "item__messages",
    "item__prompt",
    "item__reference",
    "item__metadata",
    "run_id",
    "sample_index",
    "output",
    "finish_reason",
    "error",
    "prompt_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "ttft_s",
    "latency_s",
    "decode_tps",
    "cost_usd",
    "concurrency",
    "backend_version",
    "machine",
    "finished_at",
)


def use_sql() -> bool:
    """Whether exports take PostgreSQL's path (annotate/export_sql.py)."""
    return connection.vendor == "postgresql"


def rows(filters: dict, progress=None, sql: bool | None = None) -> Iterator[dict]:
    """Full rows, streamed, in generation order; `progress(n)` is told how many outputs were
    gone through. sql: PostgreSQL's path (the default there) or the ORM's. On PostgreSQL's,
    the connection streams while rows come: query nothing else until the iteration ends."""
    if use_sql() if sql is None else sql:
        from annotate.exports import sql as export_sql  # which imports this module

        return export_sql.rows(filters, progress)
    return _orm_rows(filters, progress)


def _orm_rows(filters: dict, progress=None) -> Iterator[dict]:
    """One query for the outputs, one for their labels, one for their reviews, each read
    CHUNK rows at a time and merged by generation id."""
    gens = generations(filters)
    label_stream, final_stream = _labels(gens, filters)
    labels, finals = _Merged(label_stream), _Merged(final_stream)
    runs, projects = run_definitions(), project_definitions()
    seen = 0
    for g in gens.values_list(*GEN_FIELDS, named=True).iterator(chunk_size=CHUNK):
        row_labels, row_finals = labels.take(g.pk), finals.take(g.pk)
        project_ids = carried_projects(row_labels, row_finals)
        rating, keep = label_facts(row_labels, row_finals, project_ids, projects, filters)
        if keep:
            row = full_row(g, runs[g.run_id], row_labels, row_finals)
            yield {**row, "projects": [projects[pk] for pk in project_ids], "mean_rating": rating}
        seen += 1
        if progress and seen % CHUNK == 0:
            progress(CHUNK)
    if progress and seen % CHUNK:
        progress(seen % CHUNK)


def full_row(g, run: tuple[str, dict], labels: list[dict], finals: list[dict]) -> dict:
    """One output's row from its GEN_FIELDS (a named values_list row), its run's
    (configuration name, params), its labels and final labels; rows() adds the definitions of
    the projects its labels belong to (so that a re-import can rebuild them:
    annotate/reimport.py) and its mean rating."""
    config_name, params = run
    return {
        "schema_version": SCHEMA_VERSION,
        "id": g.pk,
        "item": {
            "id": g.item_id,
            "dataset_id": g.item__dataset_id,
            "index": g.item__index,
            "external_id": g.item__external_id,
            "messages": g.item__messages,
            "prompt": g.item__prompt,
            "reference": g.item__reference,
            "metadata": g.item__metadata,
        },
        "generation": {
            "run_id": g.run_id,
            "model_config": config_name,
            "backend": params.get("backend"),
            "model": params.get("model"),
            "params": params,
            "sample_index": g.sample_index,
            "output": g.output,
            "finish_reason": g.finish_reason,
            "error": g.error,
        },
        "measurements": {
            "prompt_tokens": g.prompt_tokens,
            "output_tokens": g.output_tokens,
            "cache_read_tokens": g.cache_read_tokens,
            "cache_write_tokens": g.cache_write_tokens,
            "ttft_s": g.ttft_s,
            "latency_s": g.latency_s,
            "decode_tps": g.decode_tps,
            "cost_usd": float(g.cost_usd) if g.cost_usd is not None else None,
            "concurrency": g.concurrency,
            "backend_version": g.backend_version,
            "machine": g.machine,
            "finished_at": _iso(g.finished_at),
        },
        "labels": labels,
        "final": finals,
    }


def flat_row(row: dict) -> dict:
    item, gen, m = row["item"], row["generation"], row["measurements"]
    return {
        "id": row["id"],
        "dataset_id": item["dataset_id"],
        "item_index": item["index"],
        "external_id": item["external_id"],
        "prompt": item["prompt"],
        "reference": item["reference"],
        "model_config": gen["model_config"],
        "backend": gen["backend"],
        "model": gen["model"],
        "run_id": gen["run_id"],
        "sample_index": gen["sample_index"],
        "output": gen["output"],
        "finish_reason": gen["finish_reason"],
        "error": gen["error"],
        "prompt_tokens": m["prompt_tokens"],
        "output_tokens": m["output_tokens"],
        "ttft_s": m["ttft_s"],
        "latency_s": m["latency_s"],
        "decode_tps": m["decode_tps"],
        "cost_usd": m["cost_usd"],
        "machine": m["machine"],
        "labels_n": len(row["labels"]),
        "mean_rating": row["mean_rating"],
        "messages_json": json.dumps(item["messages"]),
        "metadata_json": json.dumps(item["metadata"]),
        "labels_json": json.dumps(row["labels"]),
        "final_json": json.dumps(row["final"]),
    }


def corrected_output(row: dict) -> str:
    """The gold answer: the reviewer's correction, else an annotator's, else the output."""
    defs = {p["id"]: p for p in row["projects"]}
    key = _first_key(row["labels"], "correction", defs)
    for source in [
        *(f["answers"] for f in reversed(row["final"])),
        *(lb["answers"] for lb in reversed(row["labels"])),
    ]:
        if key and (text := source.get(key)) and text.strip():
            return text
    return row["generation"]["output"]


def chat_row(row: dict) -> dict:
    system = row["generation"]["params"].get("system_prompt", "")
    messages = build_messages(row["item"]["messages"], system)
    return {"messages": [*messages, {"role": "assistant", "content": corrected_output(row)}]}


def preference_pairs(filters: dict, sql: bool | None = None) -> Iterator[dict]:
    """Pairs from comparison votes, then from ratings (best against worst rated output of an
    item with different ratings)."""
    votes = Annotation.objects.filter(
        state=AnnotationState.SUBMITTED,
        task__project__kind=ProjectKind.COMPARE,
        answers__verdict__in=["left", "right"],
    )
    if filters.get("project"):
        votes = votes.filter(task__project_id=filters["project"])
    for answers, left_id, right_id in votes.values_list(
        "answers", "task__generation_id", "task__generation_b_id"
    ).iterator():
        left, right = (
            Generation.objects.select_related("item", "run").in_bulk([left_id, right_id]).values()
        )
        winner, loser = (left, right) if answers["verdict"] == "left" else (right, left)
        yield _pair(winner, loser, "comparison")
    by_item: dict[int, list[tuple[float, dict]]] = defaultdict(list)
    for row in rows({**filters, "min_rating": None}, sql=sql):
        if row["mean_rating"] is not None:
            by_item[row["item"]["id"]].append((row["mean_rating"], row))
    for rated in by_item.values():
        rated.sort(key=lambda pair: pair[0])
        (low, worst), (high, best) = rated[0], rated[-1]
        if high > low:
            yield {
                "prompt": chat_row(best)["messages"][:-1],
                "chosen": [{"role": "assistant", "content": corrected_output(best)}],
                "rejected": [{"role": "assistant", "content": worst["generation"]["output"]}],
                "source": "rating",
                "chosen_rating": high,
                "rejected_rating": low,
            }


def _pair(winner: Generation, loser: Generation, source: str) -> dict:
    prompt = build_messages(winner.item.messages, winner.run.params.get("system_prompt", ""))
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


def _write_csv(path: Path, records: Iterator[dict]) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow(flat_row(record))
            n += 1
    return n


def _write_parquet(path: Path, records: Iterator[dict]) -> int:
    n = 0
    with parquet_writer(path) as writer:
        batch: list[dict] = []
        for record in records:
            batch.append(flat_row(record))
            if len(batch) >= CHUNK:
                writer.write_table(pa.Table.from_pylist(batch, schema=PARQUET_SCHEMA))
                n, batch = n + len(batch), []
        if batch or not n:
            writer.write_table(pa.Table.from_pylist(batch, schema=PARQUET_SCHEMA))
            n += len(batch)
    return n


def write_export(fmt: str, filters: dict, path: Path, progress=None, sql: bool | None = None):
    """Write an export's file in format fmt; returns how many rows it has. sql: PostgreSQL's
    path (the default there) or the ORM's."""
    sql = use_sql() if sql is None else sql
    if fmt == "preference":
        return _write_jsonl(path, preference_pairs(filters, sql=sql))
    if sql and fmt in ("jsonl", "csv", "parquet"):
        from annotate.exports import sql as export_sql  # which imports this module

        return export_sql.write(fmt, filters, path, progress)
    source = rows(filters, progress, sql=sql)
    if fmt in ("sft", "openai"):
        return _write_jsonl(path, (chat_row(r) for r in source))
    if fmt == "jsonl":
        return _write_jsonl(path, source)
    return (_write_csv if fmt == "csv" else _write_parquet)(path, source)


def run_export(export: Export) -> Export:
    """Write the export's file and manifest, updating its progress as it goes."""
    folder = Path(settings.VAR_DIR) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / export.filename
    export.total = generations(export.filters).count()
    export.status, export.done = ExportStatus.RUNNING, 0
    export.save(update_fields=("total", "status", "done"))

    def progress(n: int) -> None:
        export.done += n
        Export.objects.filter(pk=export.pk).update(done=export.done)

    try:
        written = write_export(export.format, export.filters, path, progress)
    except Exception as exc:
        Export.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error=str(exc))
        raise
    export.manifest = manifest(export, written)
    Path(f"{path}.manifest.json").write_text(json.dumps(export.manifest, indent=2))
    export.path, export.rows, export.done = str(path), written, export.total
    export.status, export.finished_at = ExportStatus.DONE, timezone.now()
    export.save()
    return export


def manifest(export: Export, written: int) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "format": export.format,
        "filters": export.filters,
        "counts": {"outputs_considered": export.total, "rows": written},
        "file": export.filename,
        "created_at": export.created_at.isoformat(),
        "finished_at": timezone.now().isoformat(),
        "exported_by": export.owner.username,
    }


def clean_filters(data: dict) -> dict:
    """Filters from a form or the API: ids as ints, dates as ISO strings, flags as booleans."""
    out: dict = {}
    for key in ("project", "dataset", "model", "run"):
        if data.get(key):
            out[key] = int(data[key])
    if data.get("min_rating") not in (None, ""):
        out["min_rating"] = float(data["min_rating"])
    for key in ("since", "until"):
        if data.get(key):
            out[key] = date.fromisoformat(str(data[key])).isoformat()
    for key in ("require_pass", "agreed", "reviewed", "pseudonyms"):
        if data.get(key) in (True, "on", "true", "1", 1):
            out[key] = True
    return out
