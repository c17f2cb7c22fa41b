"""The comparison votes export: one row per submitted vote, with the item, both outputs as the
annotator saw them (left is the task's generation, right its generation_b), their models and
measurements, the verdict (ties and "both bad" included), the reason, the side ratings, who
voted (pseudonymised as labels are), the time spent and when. JSONL rows nest each side; CSV
and Parquet flatten them to VOTE_COLUMNS.

Votes come only from the projects the export may carry (filters.label_projects); the
output filters (dataset, model, run, dates, only labeled) keep a vote when either of its
outputs passes them. The label-based filters (rating, pass, agreement, review) are about
labels, not votes, and change nothing here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from annotate.exports.filters import generations, label_projects
from annotate.exports.formats import CHUNK, jsonl_line, spreadsheet_safe
from annotate.exports.labels import namer
from annotate.labeling.models import Annotation, AnnotationState, ProjectKind

# The filters that select outputs; a vote passes when one of its two outputs does.
OUTPUT_FILTERS = ("dataset", "model", "run", "since", "until", "labeled")
SIDE_MEASURES = ("latency_s", "ttft_s", "prompt_tokens", "output_tokens", "cost_usd")
SIDES = (("left", "task__generation"), ("right", "task__generation_b"))

VOTE_FIELDS = (
    "pk",
    "task__project_id",
    "task_id",
    "task__generation__item_id",
    "task__generation__item__external_id",
    "messages_text",
    *(
        f"{path}{suffix}"
        for _, path in SIDES
        for suffix in ("_id", "__run__model_config__name", "__output")
        + tuple(f"__{m}" for m in SIDE_MEASURES)
    ),
    "answers_text",
    "annotator__username",
    "time_spent_s",
    "submitted_at",
)
_SIDE_WIDTH = 3 + len(SIDE_MEASURES)

_SIDE_TYPES = (
    ("generation_id", pa.int64()),
    ("model_config", pa.string()),
    ("output", pa.string()),
    ("latency_s", pa.float64()),
    ("ttft_s", pa.float64()),
    ("prompt_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
)
VOTE_SCHEMA = pa.schema(
    [
        ("vote_id", pa.int64()),
        ("project_id", pa.int64()),
        ("task_id", pa.int64()),
        ("item_id", pa.int64()),
        ("external_id", pa.string()),
        ("messages_json", pa.string()),
        *((f"{side}_{name}", kind) for side, _ in SIDES for name, kind in _SIDE_TYPES),
        ("verdict", pa.string()),
        ("reason", pa.string()),
        ("left_rating", pa.float64()),
        ("right_rating", pa.float64()),
        ("annotator", pa.string()),
        ("time_spent_s", pa.float64()),
        ("submitted_at", pa.string()),
    ]
)
VOTE_COLUMNS = VOTE_SCHEMA.names
# Dictionary encoding pays for repeated values only (formats.PARQUET_DICTIONARY's reason).
VOTE_DICTIONARY = ["left_model_config", "right_model_config", "verdict", "annotator"]


def votes(filters: dict):
    """The submitted votes an export with these filters carries, in id order."""
    notes = Annotation.objects.filter(
        state=AnnotationState.SUBMITTED, task__project__kind=ProjectKind.COMPARE
    )
    if (projects := label_projects(filters)) is not None:
        notes = notes.filter(task__project_id__in=projects)
    if any(filters.get(key) for key in OUTPUT_FILTERS):
        gens = generations(filters).values("pk")
        notes = notes.filter(Q(task__generation_id__in=gens) | Q(task__generation_b_id__in=gens))
    return notes.order_by("pk")


def _side(values: tuple) -> dict:
    gen_id, config, output, latency, ttft, prompt_tokens, output_tokens, cost = values
    return {
        "generation_id": gen_id,
        "model_config": config,
        "output": output,
        "latency_s": latency,
        "ttft_s": ttft,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "cost_usd": float(cost) if cost is not None else None,
    }


def _found(filters: dict) -> Iterator[tuple]:
    """The votes' VOTE_FIELDS; the item's messages and the answers as the database's JSON
    text: the messages are written back out unparsed (what Django's JSON decoding cost)."""
    found = votes(filters).annotate(
        messages_text=Cast("task__generation__item__messages", TextField()),
        answers_text=Cast("answers", TextField()),
    )
    return found.values_list(*VOTE_FIELDS).iterator(chunk_size=CHUNK)


def _parts(v: tuple, name) -> tuple:
    """(head, left, right, answers, annotator, time spent, submitted at) of a vote's fields."""
    width = 6 + 2 * _SIDE_WIDTH
    answers = orjson.loads(v[width])
    at = v[width + 3]
    return (
        v[:6],
        v[6 : 6 + _SIDE_WIDTH],
        v[6 + _SIDE_WIDTH : width],
        answers,
        name(v[width + 1]),
        v[width + 2],
        at.isoformat() if at else None,
    )


def vote_rows(filters: dict, raw: bool = False) -> Iterator[dict]:
    """One row per vote (the JSONL form); raw: the messages as the database's JSON text
    (orjson.Fragment), to be written back out unparsed."""
    name = namer(filters)
    for v in _found(filters):
        head, left, right, answers, annotator, spent, at = _parts(v, name)
        pk, project, task, item, external, messages = head
        yield {
            "vote_id": pk,
            "project_id": project,
            "task_id": task,
            "item": {
                "id": item,
                "external_id": external,
                "messages": orjson.Fragment(messages) if raw else orjson.loads(messages),
            },
            "left": _side(left),
            "right": _side(right),
            "verdict": answers.get("verdict"),
            "reason": answers.get("reason") or "",
            "left_rating": answers.get("left_rating"),
            "right_rating": answers.get("right_rating"),
            "annotator": annotator,
            "time_spent_s": spent,
            "submitted_at": at,
        }


def flat_votes(filters: dict) -> Iterator[tuple]:
    """One row per vote in VOTE_COLUMNS order (CSV and Parquet)."""
    name = namer(filters)
    for v in _found(filters):
        head, left, right, answers, annotator, spent, at = _parts(v, name)
        left_cost, right_cost = (None if s[-1] is None else float(s[-1]) for s in (left, right))
        yield (
            *head,
            *left[:-1],
            left_cost,
            *right[:-1],
            right_cost,
            answers.get("verdict"),
            answers.get("reason") or "",
            answers.get("left_rating"),
            answers.get("right_rating"),
            annotator,
            spent,
            at,
        )


def write_votes(fmt: str, filters: dict, path: Path) -> int:
    """Write the votes as JSONL ("comparisons"), CSV or Parquet; returns the rows written."""
    n = 0
    if fmt == "comparisons":
        lines = (jsonl_line(row) for row in vote_rows(filters, raw=True))
        with path.open("wb") as f:
            while batch := list(islice(lines, 500)):
                f.write(b"".join(batch))  # a write a batch, not a row
                n += len(batch)
        return n
    found = flat_votes(filters)
    if fmt == "comparisons_csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(VOTE_COLUMNS)
            for row in found:
                writer.writerow([spreadsheet_safe(cell) for cell in row])
                n += 1
        return n
    with pq.ParquetWriter(path, VOTE_SCHEMA, use_dictionary=VOTE_DICTIONARY) as writer:
        batch: list[tuple] = []
        for row in found:
            batch.append(row)
            if len(batch) == CHUNK:
                writer.write_table(_table(batch))
                n, batch = n + len(batch), []
        if batch or not n:
            writer.write_table(_table(batch))
            n += len(batch)
    return n


def _table(batch: list[tuple]) -> pa.Table:
    columns = list(zip(*batch, strict=True)) or [[] for _ in VOTE_SCHEMA]
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, VOTE_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=VOTE_SCHEMA)
