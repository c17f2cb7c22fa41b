"""Re-import of Annotate's own full JSONL export: the items, and with them the runs, outputs
with their measurements, labeling projects, every annotator's label and the reviewers' final
labels, so that an exported file rebuilds its work in another (empty) instance.

Rows are read in order and written in batches inside the import's transaction. A malformed row
is reported with its line number and nothing is written (annotate.datasets.importing.ImportFailed).
Names are matched, not ids: an existing model configuration or user of the same name is
reused; a missing annotator or reviewer is created without a password (an admin sets one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotate.datasets.models import Dataset, Item
from annotate.labeling.models import (
    Annotation,
    AnnotationState,
    Project,
    ProjectKind,
    ProjectMember,
    Role,
    Task,
)
from annotate.labeling.questions import SchemaError, clean_answers, normalize_questions
from inference.backends import BACKENDS
from inference.models import Generation, GenerationStatus, ModelConfig, Run, RunStatus

if TYPE_CHECKING:
    from annotate.datasets.importing import ParsedItem

BATCH = 1000
MEASURES_INT = ("prompt_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
MEASURES_FLOAT = ("ttft_s", "latency_s", "decode_tps")


class RowError(ValueError):
    """What is wrong with one exported row."""


def is_export_row(record) -> bool:
    """Whether a parsed line is a row of Annotate's full JSONL export."""
    return (
        isinstance(record, dict)
        and "schema_version" in record
        and isinstance(record.get("item"), dict)
        and isinstance(record.get("generation"), dict)
    )


@dataclass
class Restored:
    """What a re-import rebuilt, for the page's message and the API."""

    items: int = 0
    outputs: int = 0
    runs: int = 0
    projects: int = 0
    labels: int = 0
    reviewed: int = 0
    users_created: list[str] = field(default_factory=list)


def _obj(record: dict, key: str, where: str) -> dict:
    value = record.get(key)
    if not isinstance(value, dict):
        raise RowError(f"`{where}` must be an object")
    return value


def _int(value, where: str, optional: bool = False, limit: int = 2**31) -> int | None:
    """A whole number from 0 to below limit (by default what an integer column holds; ids
    of the exporting instance are only keys, up to 2**63)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise RowError(f"`{where}` must be a whole number from 0 to {limit - 1}")
    return value


def _key(value, where: str) -> int:
    return _int(value, where, limit=2**63)


def _float(value, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"`{where}` must be a number")
    return float(value)


def _str(value, where: str, optional: bool = True) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise RowError(f"`{where}` must be {'text' if optional else 'non-empty text'}")
    return value


def _when(value, where: str):
    if value is None:
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, but no such date or time
        parsed = None
    if parsed is None:
        raise RowError(f"`{where}` must be an ISO 8601 date and time")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def _cost(value) -> Decimal | None:
    if value is None:
        return None
    try:
        cost = Decimal(str(_float(value, "measurements.cost_usd")))
    except InvalidOperation as exc:
        raise RowError("`measurements.cost_usd` must be a number") from exc
    if not cost.is_finite() or abs(cost) >= 10**6:
        raise RowError("`measurements.cost_usd` is out of range")
    return cost.quantize(Decimal("1e-8"))


@dataclass
class _Row:
    """One exported row, checked; ids are the exporting instance's."""

    row_id: int
    item_id: int
    item: ParsedItem
    run_id: int
    config_name: str
    params: dict
    generation: dict
    labels: list[dict]
    finals: list[dict]
    projects: dict[int, dict]


def check_row(record: dict) -> _Row:
    """The row's parts, checked; RowError names the first problem."""
    item = _obj(record, "item", "item")
    gen = _obj(record, "generation", "generation")
    measures = record.get("measurements") or {}
    if not isinstance(measures, dict):
        raise RowError("`measurements` must be an object")
    from annotate.datasets.importing import parse_record

    parsed = parse_record(
        {
            "messages": item.get("messages"),
            "reference": item.get("reference") or "",
            "id": item.get("external_id") or None,
            "metadata": item.get("metadata") or {},
        }
    )
    params = _obj(gen, "params", "generation.params")
    if not isinstance(params.get("backend"), str) or params["backend"] not in BACKENDS:
        raise RowError(f"`generation.params.backend` must be one of {', '.join(BACKENDS)}")
    _str(params.get("model"), "generation.params.model", optional=False)
    generation = {
        "sample_index": _int(gen.get("sample_index", 0), "generation.sample_index"),
        "output": _str(gen.get("output"), "generation.output"),
        "finish_reason": _str(gen.get("finish_reason"), "generation.finish_reason")[:40],
        "error": _str(gen.get("error"), "generation.error"),
        "cost_usd": _cost(measures.get("cost_usd")),
        "concurrency": _int(measures.get("concurrency"), "measurements.concurrency", True),
        "backend_version": _str(measures.get("backend_version"), "backend_version")[:100],
        "machine": _str(measures.get("machine"), "measurements.machine")[:200],
        "finished_at": _when(measures.get("finished_at"), "measurements.finished_at"),
    }
    for key in MEASURES_INT:
        generation[key] = _int(measures.get(key), f"measurements.{key}", optional=True)
    for key in MEASURES_FLOAT:
        generation[key] = _float(measures.get(key), f"measurements.{key}")
    definitions = record.get("projects") or []
    if not isinstance(definitions, list):
        raise RowError("`projects` must be a list")
    projects = {}
    for n, definition in enumerate(definitions):
        if not isinstance(definition, dict):
            raise RowError(f"`projects[{n}]` must be an object")
        pk = _key(definition.get("id"), f"projects[{n}].id")
        try:
            questions = normalize_questions(definition.get("questions") or [])
        except (SchemaError, TypeError, ValueError, AttributeError) as exc:
            raise RowError(f"`projects[{n}].questions`: {exc}") from exc
        projects[pk] = {
            "name": _str(definition.get("name"), f"projects[{n}].name", optional=False)[:200],
            "description": _str(definition.get("description"), f"projects[{n}].description"),
            "guidelines": _str(definition.get("guidelines"), f"projects[{n}].guidelines"),
            "questions": questions,
            "overlap": max(1, min(_int(definition.get("overlap", 1), "overlap") or 1, 100)),
            "blind": bool(definition.get("blind", True)),
        }
    return _Row(
        row_id=_key(record.get("id"), "id"),
        item_id=_key(item.get("id"), "item.id"),
        item=parsed,
        run_id=_key(gen.get("run_id"), "generation.run_id"),
        config_name=_str(gen.get("model_config"), "generation.model_config", optional=False)[:200],
        params=params,
        generation=generation,
        labels=_labels(record.get("labels"), "labels", projects, "annotator"),
        finals=_labels(record.get("final"), "final", projects, "reviewer"),
        projects=projects,
    )


def _labels(value, where: str, projects: dict[int, dict], person: str) -> list[dict]:
    """Labels (or final labels) of a row, their answers checked against their project."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError(f"`{where}` must be a list")
    out = []
    for n, label in enumerate(value):
        here = f"{where}[{n}]"
        if not isinstance(label, dict):
            raise RowError(f"`{here}` must be an object")
        project = _key(label.get("project"), f"{here}.project")
        if project not in projects:
            raise RowError(f"`{here}.project` {project} is not among the row's `projects`")
        answers = label.get("answers")
        if not isinstance(answers, dict):
            raise RowError(f"`{here}.answers` must be an object")
        try:
            answers = clean_answers(projects[project]["questions"], answers)
        except (SchemaError, TypeError, ValueError) as exc:
            raise RowError(f"`{here}.answers`: {exc}") from exc
        name = label.get(person)
        out.append(
            {
                "project": project,
                "answers": answers,
                "user": None if name is None else _str(name, f"{here}.{person}", False)[:150],
                "time_spent_s": _float(label.get("time_spent_s"), f"{here}.time_spent_s") or 0,
                "at": _when(
                    label.get("submitted_at" if person == "annotator" else "reviewed_at"),
                    here,
                ),
            }
        )
    if person == "annotator" and any(label["user"] is None for label in out):
        raise RowError(f"every label in `{where}` needs its annotator")
    return out


class Restorer:
    """Writes checked rows into a new dataset, batch by batch, mapping the exporting
    instance's ids to new rows."""

    def __init__(self, dataset: Dataset, owner) -> None:
        self.dataset, self.owner = dataset, owner
        self.now = timezone.now()
        self.items: dict[int, int] = {}
        self.runs: dict[int, Run] = {}
        self.projects: dict[int, Project] = {}
        self.users: dict[str, object] = {}
        self.members: set[tuple[int, int]] = set()
        self.project_runs: set[tuple[int, int]] = set()
        self.seen_rows: dict[int, int] = {}
        self.seen_outputs: dict[tuple[int, int, int], int] = {}
        self.done = Restored()

    def write(self, rows: list[_Row]) -> None:
        new_items: dict[int, Item] = {}
        for row in rows:
            if row.item_id not in self.items and row.item_id not in new_items:
                index = len(self.items) + len(new_items)
                new_items[row.item_id] = row.item.item(self.dataset, index)
        Item.objects.bulk_create(new_items.values())
        self.items.update((old, item.pk) for old, item in new_items.items())
        gens = [
            Generation(
                run=self._run(row),
                item_id=self.items[row.item_id],
                status=GenerationStatus.DONE,
                attempts=1,
                **row.generation,
            )
            for row in rows
        ]
        Generation.objects.bulk_create(gens)
        self.done.items += len(new_items)
        self.done.outputs += len(gens)
        self._labels(rows, gens)

    def _labels(self, rows: list[_Row], gens: list[Generation]) -> None:
        tasks, notes = [], []
        for row, gen in zip(rows, gens, strict=True):
            for old in sorted(row.projects):
                project = self._project(old, row.projects[old])
                self._link(project, gen.run)
                labels = [lb for lb in row.labels if lb["project"] == old]
                finals = [f for f in row.finals if f["project"] == old]
                final = finals[-1] if finals else None
                task = Task(
                    project=project,
                    generation=gen,
                    claimed=len(labels),
                    submitted=len(labels),
                    is_full=len(labels) >= project.overlap,
                    final=final["answers"] if final else None,
                    reviewed_by=self._user(final["user"], project, Role.REVIEWER)
                    if final and final["user"]
                    else None,
                    reviewed_at=final["at"] if final else None,
                )
                tasks.append(task)
                self.done.reviewed += final is not None
                for label in labels:
                    at = label["at"] or self.now
                    notes.append(
                        Annotation(
                            task=task,
                            annotator=self._user(label["user"], project, Role.ANNOTATOR),
                            state=AnnotationState.SUBMITTED,
                            answers=label["answers"],
                            started_at=at,
                            submitted_at=at,
                            time_spent_s=label["time_spent_s"],
                        )
                    )
        Task.objects.bulk_create(tasks)
        Annotation.objects.bulk_create(notes)
        self.done.labels += len(notes)

    def _run(self, row: _Row) -> Run:
        run = self.runs.get(row.run_id)
        if run is None:
            config = ModelConfig.objects.filter(name=row.config_name).first()
            if config is None:
                config = ModelConfig.objects.create(
                    name=row.config_name, owner=self.owner, **_config_fields(row.params)
                )
            run = self.runs[row.run_id] = Run.objects.create(
                dataset=self.dataset,
                model_config=config,
                params=row.params,
                status=RunStatus.COMPLETED,
                created_by=self.owner,
                started_at=self.now,
                finished_at=self.now,
                last_activity_at=self.now,
            )
            self.done.runs += 1
        return run

    def _project(self, old: int, definition: dict) -> Project:
        project = self.projects.get(old)
        if project is None:
            project = self.projects[old] = Project.objects.create(
                kind=ProjectKind.LABEL, owner=self.owner, **definition
            )
            self.done.projects += 1
        return project

    def _link(self, project: Project, run: Run) -> None:
        if (project.pk, run.pk) not in self.project_runs:
            self.project_runs.add((project.pk, run.pk))
            project.runs.add(run)

    def _user(self, name: str, project: Project, role: str):
        user = self.users.get(name)
        if user is None:
            model = get_user_model()
            user = model.objects.filter(username=name).first()
            if user is None:
                user = model(username=name)
                user.set_unusable_password()
                user.save()
                self.done.users_created.append(name)
            self.users[name] = user
        if (project.pk, user.pk) not in self.members and user.pk != project.owner_id:
            self.members.add((project.pk, user.pk))
            ProjectMember.objects.get_or_create(project=project, user=user, defaults={"role": role})
        return user

    def finish(self) -> Restored:
        """Totals of the runs, and tasks for the projects' unlabeled outputs."""
        from annotate.labeling.projects import sync_tasks

        for run in self.runs.values():
            Run.objects.filter(pk=run.pk).update(total=run.generations.count())
        for project in self.projects.values():
            sync_tasks(project)
        return self.done


def _config_fields(params: dict) -> dict:
    """A model configuration's fields from the parameters a run kept."""
    fields = {
        "backend": params["backend"],
        "model": str(params["model"])[:500],
        "system_prompt": str(params.get("system_prompt") or ""),
        "stop": params.get("stop") if isinstance(params.get("stop"), list) else [],
        "base_url": str(params.get("base_url") or "")[:200],
        "api_key_env": str(params.get("api_key_env") or "")[:100],
    }
    for key in ("temperature", "top_p"):
        if isinstance(params.get(key), int | float) and not isinstance(params.get(key), bool):
            fields[key] = params[key]
    for key in ("max_tokens", "batch_size", "seed"):
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
            fields[key] = value
    if params.get("mode") in ("stream", "batch"):
        fields["mode"] = params["mode"]
    return fields


def restore(dataset: Dataset, records: Iterable[tuple[int, dict | None, str]], owner) -> Restored:
    """Rebuild the work of an export's rows (line number, record, read error) into `dataset`;
    ImportFailed names the bad lines (the caller's transaction is then rolled back)."""
    from annotate.datasets.importing import LineErrors

    restorer = Restorer(dataset, owner)
    errors = LineErrors()
    batch: list[_Row] = []
    for line, row in _checked(records, restorer):
        if isinstance(row, str):
            errors.add(line, row)
        elif not errors.total:  # after a bad line, check on to report all, write nothing
            batch.append(row)
            if len(batch) >= BATCH:
                restorer.write(batch)
                batch = []
    errors.raise_any()
    restorer.write(batch)
    return restorer.finish()


def _checked(records, restorer: Restorer) -> Iterator[tuple[int, _Row | str]]:
    from annotate.datasets.importing import LineError, unstorable

    for line, record, error in records:
        if error:
            yield line, error
            continue
        if not is_export_row(record):
            yield line, "not a row of an Annotate export, unlike the file's first line"
            continue
        if why := unstorable(record):
            yield line, why
            continue
        try:
            row = check_row(record)
        except (RowError, LineError) as exc:
            yield line, str(exc)
            continue
        if (first := restorer.seen_rows.setdefault(row.row_id, line)) != line:
            yield line, f"row id {row.row_id} is also on line {first}"
            continue
        output = (row.run_id, row.item_id, row.generation["sample_index"])
        if (first := restorer.seen_outputs.setdefault(output, line)) != line:
            yield line, f"the same run, item and sample as line {first}"
            continue
        yield line, row
