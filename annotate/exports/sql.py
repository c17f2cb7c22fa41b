"""Exports on PostgreSQL: the outputs stream out of the database SQL_CHUNK at a time, each with
its labels and final labels already serialized as JSON by the database. Python adds what
depends on label semantics (the projects a row carries, its mean rating, the label-based
filters) with annotate/exports/labels.py's functions, then writes JSONL lines (orjson, the
database's JSON embedded as is), CSV rows or Parquet columns straight from the streamed
values: no ORM object, no JSON parsed but the labels'.

The rows are those of the ORM path (annotate/exports/orm.py; tests/exports/test_exports.py
compares them): labels in (started_at, id) order, final labels in task order, timestamps as
Python's isoformat() in UTC. Between two statements the export's progress is written, so each
statement is a snapshot of its own, as each of the ORM path's three cursors is.
"""

from __future__ import annotations

import csv
import json
from array import array
from collections import namedtuple
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import orjson
import pyarrow as pa
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q

from annotate.exports.filters import generations, label_projects
from annotate.exports.formats import (
    CHUNK,
    CSV_COLUMNS,
    PARQUET_SCHEMA,
    SCHEMA_VERSION,
    parquet_writer,
    spreadsheet_safe,
)
from annotate.exports.labels import (
    PROJECT_FIELDS,
    carried_projects,
    label_facts,
    project_definitions,
    pseudonym,
    run_definitions,
)
from annotate.labeling.models import Annotation, AnnotationState, Project, Task
from inference.models import Run

# Outputs per statement: large enough that planning is a small part of the work, small
# enough that the progress bar moves and the database sorts each chunk's labels in memory.
SQL_CHUNK = 10_000
# Rows psycopg takes from the stream at a time.
STREAM_BATCH = 500
# The formats this module writes (the others are made from rows()).
FORMATS = ("jsonl", "csv", "parquet")


def _iso(column: str) -> str:
    """SQL: a timestamp as Python's datetime.isoformat() gives it for an aware UTC datetime
    (microseconds only when not zero), NULL stays NULL."""
    return (
        f"replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
        f"'.000000', '') || '+00:00'"
    )


def _json_iso(column: str) -> str:
    return f"""coalesce('"' || {_iso(column)} || '"', 'null')"""


# The streamed columns: (name, SQL, type). "json" is JSON text, written back out as it is.
COLUMNS = (
    ("id", "g.id", "int8"),
    ("item_id", "g.item_id", "int8"),
    ("dataset_id", "i.dataset_id", "int8"),
    ("index", "i.index", "int8"),
    ("external_id", "i.external_id", "text"),
    ("messages", "i.messages", "json"),
    ("prompt", "i.prompt", "text"),
    ("reference", "i.reference", "text"),
    ("metadata", "i.metadata", "json"),
    ("run_id", "g.run_id", "int8"),
    ("sample_index", "g.sample_index", "int8"),
    ("output", "g.output", "text"),
    ("finish_reason", "g.finish_reason", "text"),
    ("error", "g.error", "text"),
    ("prompt_tokens", "g.prompt_tokens", "int8"),
    ("output_tokens", "g.output_tokens", "int8"),
    ("cache_read_tokens", "g.cache_read_tokens", "int8"),
    ("cache_write_tokens", "g.cache_write_tokens", "int8"),
    ("ttft_s", "g.ttft_s", "float8"),
    ("latency_s", "g.latency_s", "float8"),
    ("decode_tps", "g.decode_tps", "float8"),
    ("prefill_tps", "g.prefill_tps", "float8"),
    ("peak_memory_mb", "g.peak_memory_mb", "float8"),
    ("served_by", "sb.name", "text"),
    ("route_reason", "g.route_reason", "text"),
    ("cost_usd", "g.cost_usd", "float8"),
    ("concurrency", "g.concurrency", "int8"),
    ("backend_version", "g.backend_version", "text"),
    ("machine", "g.machine", "text"),
    ("finished_at", _iso("g.finished_at"), "text"),
    ("labels", "l.labels", "json"),
    ("finals", "f.finals", "json"),
    ("votes", "c.votes", "json"),
)
Streamed = namedtuple("Streamed", [name for name, _, _ in COLUMNS])
_CAST = {"int8": "int8", "float8": "float8", "text": "text", "json": "text"}

# A label and a final label as annotate/exports/orm.py's rows have them; {name} is the SQL of a
# user's name as JSON text.
LABEL = (
    """'{{"project": ' || t.project_id::text || ', "annotator": ' || {name}"""
    """ || ', "answers": ' || a.answers::text || ', "time_spent_s": ' || a.time_spent_s::text"""
    """ || ', "submitted_at": ' || """ + _json_iso("a.submitted_at") + " || '}}'"
)
FINAL = (
    """'{{"project": ' || t.project_id::text || ', "answers": ' || t.final::text"""
    """ || ', "reviewer": ' || {name} || ', "reviewed_at": ' || """
    + _json_iso("t.reviewed_at")
    + " || '}}'"
)

# A comparison vote on one output of its pair (v.side: where it was shown; v.other: the
# output beside it).
VOTE = (
    """'{{"project": ' || v.project_id::text || ', "side": "' || v.side || '", "other": '"""
    """ || v.other::text || ', "annotator": ' || {name} || ', "answers": ' || a.answers::text"""
    """ || ', "time_spent_s": ' || a.time_spent_s::text || ', "submitted_at": ' || """
    + _json_iso("a.submitted_at")
    + " || '}}'"
)

QUERY = """
WITH chunk (id) AS MATERIALIZED (SELECT unnest(%(ids)s::int8[]))
SELECT {columns}
FROM chunk
JOIN annotate_generation g ON g.id = chunk.id
JOIN annotate_item i ON i.id = g.item_id
LEFT JOIN annotate_modelconfig sb ON sb.id = g.served_by_id
LEFT JOIN (
    SELECT t.generation_id, '[' || string_agg({label}, ', ' ORDER BY a.started_at, a.id) || ']'
           AS labels
    FROM chunk
    JOIN annotate_task t ON t.generation_id = chunk.id
    JOIN annotate_project p ON p.id = t.project_id
    JOIN annotate_annotation a ON a.task_id = t.id
    JOIN {users} u ON u.id = a.annotator_id
    WHERE t.generation_id BETWEEN %(low)s AND %(high)s
      AND a.state = 'submitted' AND p.kind = 'label' {in_project}
    GROUP BY t.generation_id
) l ON l.generation_id = g.id
LEFT JOIN (
    SELECT t.generation_id, '[' || string_agg({final}, ', ' ORDER BY t.id) || ']' AS finals
    FROM chunk
    JOIN annotate_task t ON t.generation_id = chunk.id
    JOIN annotate_project p ON p.id = t.project_id
    LEFT JOIN {users} u ON u.id = t.reviewed_by_id
    WHERE t.generation_id BETWEEN %(low)s AND %(high)s AND t.final IS NOT NULL
      AND p.kind = 'label' {in_project}
    GROUP BY t.generation_id
) f ON f.generation_id = g.id
LEFT JOIN (
    SELECT v.generation_id, '[' || string_agg({vote}, ', ' ORDER BY a.started_at, a.id) || ']'
           AS votes
    FROM (
        SELECT t.id, t.project_id, t.generation_id, 'left' AS side, t.generation_b_id AS other
        FROM chunk JOIN annotate_task t ON t.generation_id = chunk.id
        WHERE t.generation_id BETWEEN %(low)s AND %(high)s AND t.generation_b_id IS NOT NULL
        UNION ALL
        SELECT t.id, t.project_id, t.generation_b_id, 'right', t.generation_id
        FROM chunk JOIN annotate_task t ON t.generation_b_id = chunk.id
        WHERE t.generation_b_id BETWEEN %(low)s AND %(high)s
    ) v
    JOIN annotate_project p ON p.id = v.project_id
    JOIN annotate_annotation a ON a.task_id = v.id
    JOIN {users} u ON u.id = a.annotator_id
    WHERE a.state = 'submitted' AND p.kind = 'compare' {in_vote_project}
    GROUP BY v.generation_id
) c ON c.generation_id = g.id
WHERE g.id BETWEEN %(low)s AND %(high)s
ORDER BY g.id
"""


def _name_sql(filters: dict) -> tuple[str, dict]:
    """SQL of a user's name (u.username) as JSON text, and its parameters: with pseudonyms,
    looked up in a mapping made here (SHA-256 with the secret key, which stays in Python)."""
    if not filters.get("pseudonyms"):
        return "coalesce(to_json(u.username)::text, 'null')", {}
    people = Annotation.objects.filter(state=AnnotationState.SUBMITTED).values("annotator_id")
    reviewers = Task.objects.filter(reviewed_by__isnull=False).values("reviewed_by_id")
    names = get_user_model().objects.filter(Q(pk__in=people) | Q(pk__in=reviewers))
    mapping = {u: pseudonym(u) for u in names.values_list("username", flat=True)}
    # Nobody is missing but a user who labeled since; they get null, never their name.
    sql = "coalesce(to_json(%(names)s::jsonb ->> u.username)::text, 'null')"
    return sql, {"names": json.dumps(mapping)}


def _statement(filters: dict, ids: array, name: tuple[str, dict]) -> tuple[str, dict]:
    """The query of the outputs of these ids (in increasing order), and its parameters; name
    is _name_sql()'s."""
    name_sql, names = name
    projects = label_projects(filters)
    query = QUERY.format(
        columns=", ".join(f"({sql})::{_CAST[kind]}" for _, sql, kind in COLUMNS),
        label=LABEL.format(name=name_sql),
        final=FINAL.format(name=name_sql),
        vote=VOTE.format(name=name_sql),
        users=connection.ops.quote_name(get_user_model()._meta.db_table),
        in_project="" if projects is None else "AND t.project_id = ANY(%(projects)s)",
        in_vote_project="" if projects is None else "AND v.project_id = ANY(%(projects)s)",
    )
    # The id range lets each join's index scan start at the chunk, not at the first output.
    params = {"ids": list(ids), "low": ids[0], "high": ids[-1], "projects": projects, **names}
    return query, params


class _Definitions:
    """Runs' (configuration name, params) and projects' definitions by id, all read
    before the first statement: while one streams, the connection takes no other query."""

    def __init__(self) -> None:
        self.runs, self.projects = run_definitions(), project_definitions()
        for pk, *run in Run.objects.values_list("pk", "model_config__name", "params"):
            self.runs[pk] = tuple(run)
        for project in Project.objects.values(*PROJECT_FIELDS):
            self.projects[project["id"]] = project
        self.fragments: dict[tuple[str, int], orjson.Fragment] = {}

    def known(self, run_id: int, project_ids: list[int]) -> bool:
        return run_id in self.runs and all(pk in self.projects for pk in project_ids)

    def fragment(self, kind: str, pk: int) -> orjson.Fragment:
        """A run's params or a project's definition as JSON, made once."""
        key = (kind, pk)
        if key not in self.fragments:
            value = self.runs[pk][1] if kind == "params" else self.projects[pk]
            self.fragments[key] = orjson.Fragment(json.dumps(value, ensure_ascii=False))
        return self.fragments[key]


# One output as it streams: its values, labels, final labels and comparison votes, the
# projects it carries.
Output = namedtuple("Output", "values labels finals votes project_ids")


def output_ids(filters: dict) -> array:
    """The ids of the outputs generations(filters) selects, in order, in one pass: selecting
    each chunk anew would go through the filters' subqueries (a project's tasks) once a chunk,
    and their number is the export's total. 8 bytes an output."""
    return array("q", generations(filters).values_list("pk", flat=True).iterator(CHUNK))


def _outputs(
    filters: dict, defs: _Definitions, progress=None, ids: array | None = None
) -> Iterator[Output]:
    """Every output generations(filters) selects, in id order, SQL_CHUNK at a time, each
    chunk's progress(n) told after its statement. Rows stream in batches as the database
    makes them (psycopg's stream()), so that it works on the next ones while Python writes
    these; meanwhile the connection takes no other query, so an output of a run or project
    made since the definitions were read waits, with those after it, for the end of its
    statement (then the definitions can be read). ids: output_ids(filters), if the caller
    has them already."""
    ids = output_ids(filters) if ids is None else ids
    name = _name_sql(filters)
    for start in range(0, len(ids), SQL_CHUNK):
        chunk = ids[start : start + SQL_CHUNK]
        statement, params = _statement(filters, chunk, name)
        waiting = []
        with connection.cursor() as cursor:
            for values in cursor.cursor.stream(statement, params, size=STREAM_BATCH):
                output = _output(Streamed._make(values))
                if waiting or not defs.known(output.values.run_id, output.project_ids):
                    waiting.append(output)
                else:
                    yield output
        yield from waiting
        if progress:
            progress(len(chunk))


def _output(r: Streamed) -> Output:
    # orjson: answers are checked against their questions (small numbers, text), so its
    # floats for integers past 64 bits never apply here.
    labels = orjson.loads(r.labels) if r.labels else []
    finals = orjson.loads(r.finals) if r.finals else []
    votes = orjson.loads(r.votes) if r.votes else []
    return Output(r, labels, finals, votes, carried_projects(labels, finals, votes))


def _kept(
    filters: dict, defs: _Definitions, progress=None, ids: array | None = None
) -> Iterator[tuple[Output, float]]:
    """(output, mean rating) of each output the label-based filters keep."""
    for output in _outputs(filters, defs, progress, ids):
        labels, finals, project_ids = output.labels, output.finals, output.project_ids
        rating, keep = label_facts(labels, finals, project_ids, defs.projects, filters)
        if keep:
            yield output, rating


def full_row(defs: _Definitions, output: Output, rating, raw: bool = False) -> dict:
    """The row of annotate/exports/rows.py's rows(); raw: JSON values as the database wrote
    them (orjson.Fragment), to be written back out unparsed."""
    r = output.values
    config_name, params = defs.runs[r.run_id]
    if raw:
        messages, metadata = orjson.Fragment(r.messages), orjson.Fragment(r.metadata)
        params_value = defs.fragment("params", r.run_id)
        labels = orjson.Fragment(r.labels) if r.labels else []
        finals = orjson.Fragment(r.finals) if r.finals else []
        votes = orjson.Fragment(r.votes) if r.votes else []
        projects = [defs.fragment("project", pk) for pk in output.project_ids]
    else:
        messages, metadata = json.loads(r.messages), json.loads(r.metadata)
        params_value, labels, finals = params, output.labels, output.finals
        votes = output.votes
        projects = [defs.projects[pk] for pk in output.project_ids]
    return {
        "schema_version": SCHEMA_VERSION,
        "id": r.id,
        "item": {
            "id": r.item_id,
            "dataset_id": r.dataset_id,
            "index": r.index,
            "external_id": r.external_id,
            "messages": messages,
            "prompt": r.prompt,
            "reference": r.reference,
            "metadata": metadata,
        },
        "generation": {
            "run_id": r.run_id,
            "model_config": config_name,
            "backend": params.get("backend"),
            "model": params.get("model"),
            "params": params_value,
            "sample_index": r.sample_index,
            "output": r.output,
            "finish_reason": r.finish_reason,
            "error": r.error,
            "served_by": r.served_by,
            "route_reason": r.route_reason,
        },
        "measurements": {
            "prompt_tokens": r.prompt_tokens,
            "output_tokens": r.output_tokens,
            "cache_read_tokens": r.cache_read_tokens,
            "cache_write_tokens": r.cache_write_tokens,
            "ttft_s": r.ttft_s,
            "latency_s": r.latency_s,
            "decode_tps": r.decode_tps,
            "prefill_tps": r.prefill_tps,
            "peak_memory_mb": r.peak_memory_mb,
            "cost_usd": r.cost_usd,
            "concurrency": r.concurrency,
            "backend_version": r.backend_version,
            "machine": r.machine,
            "finished_at": r.finished_at,
        },
        "labels": labels,
        "final": finals,
        "comparisons": votes,
        "projects": projects,
        "mean_rating": rating,
    }


def flat_row(defs: _Definitions, output: Output, rating) -> tuple:
    """The row of annotate/exports/formats.py's flat_row(), as a tuple in CSV_COLUMNS order."""
    r = output.values
    config_name, params = defs.runs[r.run_id]
    return (
        r.id,
        r.dataset_id,
        r.index,
        r.external_id,
        r.prompt,
        r.reference,
        config_name,
        params.get("backend"),
        params.get("model"),
        r.served_by,
        r.route_reason,
        r.run_id,
        r.sample_index,
        r.output,
        r.finish_reason,
        r.error,
        r.prompt_tokens,
        r.output_tokens,
        r.ttft_s,
        r.latency_s,
        r.decode_tps,
        r.prefill_tps,
        r.peak_memory_mb,
        r.cost_usd,
        r.machine,
        len(output.labels),
        rating,
        r.messages,
        r.metadata,
        r.labels or "[]",
        r.finals or "[]",
        r.votes or "[]",
    )


def rows(filters: dict, progress=None) -> Iterator[dict]:
    """annotate/exports/rows.py's rows(), from the database's stream: until the iteration ends,
    the connection takes no other query (psycopg would wait for itself)."""
    defs = _Definitions()
    for output, rating in _kept(filters, defs, progress):
        yield full_row(defs, output, rating)


def write(fmt: str, filters: dict, path: Path, progress=None, ids: array | None = None) -> int:
    """Write the full JSONL, the CSV or the Parquet file; returns the rows written. ids:
    output_ids(filters), if the caller has them already."""
    defs, n = _Definitions(), 0
    kept = _kept(filters, defs, progress, ids)
    if fmt == "jsonl":
        lines = (
            orjson.dumps(full_row(defs, output, rating, raw=True), option=orjson.OPT_APPEND_NEWLINE)
            for output, rating in kept
        )
        with path.open("wb") as f:
            while batch := list(islice(lines, STREAM_BATCH)):
                f.write(b"".join(batch))  # a write a batch, not a row
                n += len(batch)
        return n
    flats = (flat_row(defs, output, rating) for output, rating in kept)
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            while batch := list(islice(flats, STREAM_BATCH)):
                writer.writerows([spreadsheet_safe(cell) for cell in row] for row in batch)
                n += len(batch)
        return n
    with parquet_writer(path) as writer:
        while True:
            batch = list(islice(flats, CHUNK))  # a row group of CHUNK rows
            if batch or not n:
                writer.write_table(_table(batch))
            n += len(batch)
            if len(batch) < CHUNK:
                return n


def _table(batch: list[tuple]) -> pa.Table:
    """Flat rows as a table of PARQUET_SCHEMA, column by column."""
    columns = list(zip(*batch, strict=True)) or [[] for _ in PARQUET_SCHEMA]
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, PARQUET_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=PARQUET_SCHEMA)
