"""Exports' rows through the ORM, on any database: the outputs, their labels, their reviews and
their comparison votes (as the left output, as the right) read CHUNK rows at a time by five
cursors and merged by generation id. PostgreSQL's path (annotate/exports/sql.py) gives the
same rows."""

from __future__ import annotations

from collections.abc import Iterator

from annotate.exports.filters import generations, label_projects
from annotate.exports.formats import CHUNK, SCHEMA_VERSION
from annotate.exports.labels import (
    carried_projects,
    label_facts,
    namer,
    project_definitions,
    run_definitions,
)
from annotate.labeling.models import Annotation, AnnotationState, ProjectKind, Task


def _labels(gens, filters: dict) -> tuple[Iterator, Iterator]:
    """Streams of (generation id, submitted label) and (generation id, final label) for the
    outputs `gens` selects, in generation order, as rows() goes through them."""
    notes = Annotation.objects.filter(
        task__generation_id__in=gens.values("pk"),
        state=AnnotationState.SUBMITTED,
        task__project__kind=ProjectKind.LABEL,
    )
    tasks = Task.objects.filter(
        generation_id__in=gens.values("pk"), final__isnull=False, project__kind=ProjectKind.LABEL
    )
    if (projects := label_projects(filters)) is not None:
        notes = notes.filter(task__project_id__in=projects)
        tasks = tasks.filter(project_id__in=projects)
    name = namer(filters)
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


VOTE_FIELDS = (
    "task__project_id",
    "annotator__username",
    "answers",
    "time_spent_s",
    "submitted_at",
    "started_at",
    "pk",
)


def _votes(gens, filters: dict) -> list[Iterator]:
    """Streams of (generation id, ((started_at, id), comparison vote)) for the outputs `gens`
    selects, in generation order: one of the outputs shown on the left, one of those on the
    right, so each vote comes on both outputs of its pair, "side" saying where this one was
    shown and "other" which output was beside it."""
    notes = Annotation.objects.filter(
        state=AnnotationState.SUBMITTED, task__project__kind=ProjectKind.COMPARE
    )
    if (projects := label_projects(filters)) is not None:
        notes = notes.filter(task__project_id__in=projects)
    name = namer(filters)
    return [
        _side_votes(notes, gens, side, shown, beside, name)
        for side, shown, beside in (
            ("left", "task__generation_id", "task__generation_b_id"),
            ("right", "task__generation_b_id", "task__generation_id"),
        )
    ]


def _side_votes(notes, gens, side: str, shown: str, beside: str, name) -> Iterator:
    found = notes.filter(**{f"{shown}__in": gens.values("pk")}).order_by(shown, "started_at", "pk")
    for gen_id, other, project, user, answers, spent, at, started, pk in found.values_list(
        shown, beside, *VOTE_FIELDS
    ).iterator(chunk_size=CHUNK):
        vote = {
            "project": project,
            "side": side,
            "other": other,
            "annotator": name(user),
            "answers": answers,
            "time_spent_s": spent,
            "submitted_at": _iso(at),
        }
        yield gen_id, ((started, pk), vote)


def _take_votes(sides: list[_Merged], pk: int) -> list[dict]:
    """An output's votes from both sides' streams, in (started_at, id) order (the SQL
    path's)."""
    return [vote for _, vote in sorted(v for side in sides for v in side.take(pk))]


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
    "prefill_tps",
    "peak_memory_mb",
    "served_by__name",
    "route_reason",
    "cost_usd",
    "concurrency",
    "backend_version",
    "machine",
    "finished_at",
)


def orm_rows(filters: dict, progress=None) -> Iterator[dict]:
    """One query for the outputs, one for their labels, one for their reviews, two for their
    votes, each read CHUNK rows at a time and merged by generation id."""
    gens = generations(filters)
    label_stream, final_stream = _labels(gens, filters)
    labels, finals = _Merged(label_stream), _Merged(final_stream)
    votes = [_Merged(stream) for stream in _votes(gens, filters)]
    runs, projects = run_definitions(), project_definitions()
    seen = 0
    for g in gens.values_list(*GEN_FIELDS, named=True).iterator(chunk_size=CHUNK):
        row_labels, row_finals = labels.take(g.pk), finals.take(g.pk)
        row_votes = _take_votes(votes, g.pk)
        project_ids = carried_projects(row_labels, row_finals, row_votes)
        rating, keep = label_facts(row_labels, row_finals, project_ids, projects, filters)
        if keep:
            row = full_row(g, runs[g.run_id], row_labels, row_finals, row_votes)
            yield {**row, "projects": [projects[pk] for pk in project_ids], "mean_rating": rating}
        seen += 1
        if progress and seen % CHUNK == 0:
            progress(CHUNK)
    if progress and seen % CHUNK:
        progress(seen % CHUNK)


def full_row(
    g, run: tuple[str, dict], labels: list[dict], finals: list[dict], votes: list[dict]
) -> dict:
    """One output's row from its GEN_FIELDS (a named values_list row), its run's
    (configuration name, params), its labels, final labels and comparison votes; rows() adds
    the definitions of the projects they belong to (so that a re-import can rebuild them:
    annotate/datasets/reimport.py) and its mean rating."""
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
            # Routed runs (inference/routing.py): the configuration that served it, and why.
            "served_by": g.served_by__name,
            "route_reason": g.route_reason,
        },
        "measurements": {
            "prompt_tokens": g.prompt_tokens,
            "output_tokens": g.output_tokens,
            "cache_read_tokens": g.cache_read_tokens,
            "cache_write_tokens": g.cache_write_tokens,
            "ttft_s": g.ttft_s,
            "latency_s": g.latency_s,
            "decode_tps": g.decode_tps,
            "prefill_tps": g.prefill_tps,
            "peak_memory_mb": g.peak_memory_mb,
            "cost_usd": float(g.cost_usd) if g.cost_usd is not None else None,
            "concurrency": g.concurrency,
            "backend_version": g.backend_version,
            "machine": g.machine,
            "finished_at": _iso(g.finished_at),
        },
        "labels": labels,
        "final": finals,
        "comparisons": votes,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None
