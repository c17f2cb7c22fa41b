"""Re-import of Annotate's own full JSONL export: the items, and with them the runs, outputs
with their measurements, labeling projects, every annotator's label and the reviewers' final
labels, comparison projects with their voted pairs (each on the sides it was shown) and their
votes, so that an exported file rebuilds its work in another (empty) instance.

Rows are read in order and written in batches inside the import's transaction. A malformed row
is reported with its line number and nothing is written (annotate.datasets.records.ImportFailed).
Each row is checked first (annotate/datasets/export_rows.py).
Names are matched, not ids: an existing model configuration of the same name is reused.
The labels, final labels and votes become the importer's (one label per output and project,
one vote per pair: the others are left out and counted), unless a superuser keeps their
authors (annotate/datasets/authors.py). A vote comes on the rows of both outputs of its pair;
a pair is rebuilt once both rows are read (at the end), and left out, counted, when the file
holds only one of them (an export filtered by run, say).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone

from annotate.datasets.authors import Authors
from annotate.datasets.export_rows import CheckedRow, RowError, check_row, is_export_row
from annotate.datasets.models import Dataset, Item
from annotate.datasets.records import LineError, LineErrors, unstorable
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import (
    Annotation,
    AnnotationState,
    Project,
    ProjectKind,
    ProjectMember,
    Role,
    Task,
)
from inference.access import check_egress, operator_egress
from inference.backends import get_backend_class
from inference.backends.base import concurrency_of
from inference.backends.egress import Egress
from inference.errors import Invalid
from inference.lifecycle import create_finished_run
from inference.models import Generation, GenerationStatus, ModelConfig, Run
from inference.pricing import PRICING_FIELDS, pricing_problems

BATCH = 1000


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
    # Who the labels now belong to, None where their authors were kept.
    attributed_to: str | None = None
    # Labels by other annotators of an output already labeled here (not kept).
    labels_left_out: int = 0
    votes: int = 0
    # Votes by other annotators of a pair already voted on here (not kept).
    votes_left_out: int = 0
    # Voted pairs whose other output is not in the file.
    pairs_left_out: int = 0


class Restorer:
    """Writes checked rows into a new dataset, batch by batch, mapping the exporting
    instance's ids to new rows."""

    def __init__(self, dataset: Dataset, owner, keep_authors: bool = False) -> None:
        self.dataset, self.owner = dataset, owner
        self.authors = Authors(owner, keep_authors)
        self.now = timezone.now()
        self.items: dict[int, int] = {}
        self.runs: dict[int, Run] = {}
        self.projects: dict[int, Project] = {}
        self.members: set[tuple[int, int]] = set()
        self.project_runs: set[tuple[int, int]] = set()
        self.seen_rows: dict[int, int] = {}
        self.seen_outputs: dict[tuple[int, int, int], int] = {}
        self.outputs: dict[int, Generation] = {}  # the exported row id's new output
        self.definitions: dict[int, dict] = {}
        # (project, left row id, right row id): the pair's votes as each side's row has them.
        self.pairs: dict[tuple[int, int, int], dict[str, list[dict]]] = {}
        self.egress = operator_egress()  # the same allow-lists as a configuration's save
        self.done = Restored(attributed_to=None if keep_authors else owner.get_username())

    def write(self, rows: list[CheckedRow]) -> None:
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
        for row, gen in zip(rows, gens, strict=True):
            self.outputs[row.row_id] = gen
            self._pending_votes(row)

    def _pending_votes(self, row: CheckedRow) -> None:
        for vote in row.votes:
            self.definitions.setdefault(vote["project"], row.projects[vote["project"]])
            sides = (row.row_id, vote["other"])
            left, right = sides if vote["side"] == "left" else sides[::-1]
            pair = self.pairs.setdefault((vote["project"], left, right), {})
            pair.setdefault(vote["side"], []).append(vote)

    def _labels(self, rows: list[CheckedRow], gens: list[Generation]) -> None:
        tasks, notes = [], []
        for row, gen in zip(rows, gens, strict=True):
            for old in sorted(row.projects):
                if row.projects[old]["kind"] != ProjectKind.LABEL:
                    continue
                project = self._project(old, row.projects[old])
                self._link(project, gen.run)
                labels = [lb for lb in row.labels if lb["project"] == old]
                if not self.authors.keep:  # all the importer's: one label per output
                    self.done.labels_left_out += len(labels[1:])
                    labels = labels[:1]
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
                notes += [self._annotation(task, label, project) for label in labels]
        Task.objects.bulk_create(tasks)
        Annotation.objects.bulk_create(notes)
        self.done.labels += len(notes)

    def _comparisons(self) -> None:
        """The voted pairs whose two rows were both read, on the sides they were shown, and
        their votes (those of either row: they are the same)."""
        tasks, notes = [], []
        for (old, left, right), by_side in self.pairs.items():
            votes = by_side.get("left") or by_side["right"]
            if left not in self.outputs or right not in self.outputs:
                self.done.pairs_left_out += 1
                continue
            project = self._project(old, self.definitions[old])
            pair = (self.outputs[left], self.outputs[right])
            for gen in pair:
                self._link(project, gen.run)
            if not self.authors.keep:  # all the importer's: one vote per pair
                self.done.votes_left_out += len(votes[1:])
                votes = votes[:1]
            task = Task(
                project=project,
                generation=pair[0],
                generation_b=pair[1],
                claimed=len(votes),
                submitted=len(votes),
                is_full=len(votes) >= project.overlap,
            )
            tasks.append(task)
            notes += [self._annotation(task, vote, project) for vote in votes]
        Task.objects.bulk_create(tasks, batch_size=BATCH)
        Annotation.objects.bulk_create(notes, batch_size=BATCH)
        self.done.votes += len(notes)

    def _annotation(self, task: Task, label: dict, project: Project) -> Annotation:
        at = label["at"] or self.now
        return Annotation(
            task=task,
            annotator=self._user(label["user"], project, Role.ANNOTATOR),
            state=AnnotationState.SUBMITTED,
            answers=label["answers"],
            started_at=at,
            submitted_at=at,
            time_spent_s=label["time_spent_s"],
        )

    def _run(self, row: CheckedRow) -> Run:
        run = self.runs.get(row.run_id)
        if run is None:
            fields = _config_fields(row.params)
            run = self.runs[row.run_id] = create_finished_run(
                self.dataset, self.owner, row.config_name, fields, row.params, self.now
            )
            self.done.runs += 1
        return run

    def _project(self, old: int, definition: dict) -> Project:
        project = self.projects.get(old)
        if project is None:
            project = self.projects[old] = Project.objects.create(owner=self.owner, **definition)
            self.done.projects += 1
        return project

    def _link(self, project: Project, run: Run) -> None:
        if (project.pk, run.pk) not in self.project_runs:
            self.project_runs.add((project.pk, run.pk))
            project.runs.add(run)

    def _user(self, name: str, project: Project, role: str):
        user = self.authors.user(name)
        if (project.pk, user.pk) not in self.members and user.pk != project.owner_id:
            self.members.add((project.pk, user.pk))
            ProjectMember.objects.get_or_create(project=project, user=user, defaults={"role": role})
        return user

    def finish(self) -> Restored:
        """The voted pairs, totals of the runs, and tasks for the projects' unlabeled
        outputs and pairs not voted on."""
        self._comparisons()
        for run in self.runs.values():
            Run.objects.filter(pk=run.pk).update(total=run.generations.count())
        for project in self.projects.values():
            sync_tasks(project)
        self.done.users_created = self.authors.created
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
    counts = dict(params)
    if not get_backend_class(params["backend"]).is_local:  # older exports: in batch_size
        counts["concurrency"] = concurrency_of(params)
    for key in ("max_tokens", "batch_size", "concurrency", "seed"):
        value = counts.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
            fields[key] = value
    if params.get("mode") in ("stream", "batch"):
        fields["mode"] = params["mode"]
    return fields | _pricing_fields(params)


def _pricing_fields(params: dict) -> dict:
    """The pricing fields the run kept (inference.pricing.PRICING_FIELDS; a file of an older
    Annotate lacks some: they keep their default), each read as its model field reads it.
    Invalid names a bad value, or pricing the configuration's save would refuse."""
    fields = {}
    for name in PRICING_FIELDS:
        if params.get(name) is None:
            continue
        try:
            value = ModelConfig._meta.get_field(name).clean(params[name], None)
        except ValidationError as exc:
            raise Invalid(f"`generation.params.{name}`: {' '.join(exc.messages)}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid(f"`generation.params.{name}`: a finite number, not {value}.")
        fields[name] = value
    if problems := pricing_problems(fields):
        raise Invalid(f"`generation.params`: {' '.join(problems.values())}")
    return fields


def restore(
    dataset: Dataset,
    records: Iterable[tuple[int, dict | None, str]],
    owner,
    keep_authors: bool = False,
    unit: str = "line",
) -> Restored:
    """Rebuild the work of an export's rows (line number, record, read error) into `dataset`,
    attributed to `owner` unless `keep_authors` (the caller checks who may);
    ImportFailed names the bad lines, or elements when `unit` says so (the caller's
    transaction is then rolled back)."""
    restorer = Restorer(dataset, owner, keep_authors)
    errors = LineErrors(unit)
    batch: list[CheckedRow] = []
    for line, row in _checked(records, restorer, unit):
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


def _checked(records, restorer: Restorer, unit: str) -> Iterator[tuple[int, CheckedRow | str]]:
    for line, record, error in records:
        if error:
            yield line, error
            continue
        if not is_export_row(record):
            yield line, f"not a row of an Annotate export, unlike the file's first {unit}"
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
            yield line, f"row id {row.row_id} is also on {unit} {first}"
            continue
        output = (row.run_id, row.item_id, row.generation["sample_index"])
        if (first := restorer.seen_outputs.setdefault(output, line)) != line:
            yield line, f"the same run, item and sample as {unit} {first}"
            continue
        if why := _egress_problem(row.params, restorer.egress):
            yield line, why
            continue
        try:
            _pricing_fields(row.params)
        except Invalid as exc:
            yield line, str(exc)
            continue
        if why := _author_problem(row, restorer.authors):
            yield line, why
            continue
        yield line, row


def _egress_problem(params: dict, egress: Egress) -> str | None:
    """Why the run's hosted settings may not be stored here: a base URL or key variable the
    operator does not allow (inference.access.check_egress, as on a configuration's save)."""
    where = (str(params.get("base_url") or ""), str(params.get("api_key_env") or ""))
    try:
        check_egress(params["backend"], *where, egress=egress)
    except Invalid as exc:
        return f"`generation.params`: {exc}"
    return None


def _author_problem(row: CheckedRow, authors: Authors) -> str | None:
    """Why the row's authors cannot be kept: a name no account may have, or one annotator
    twice on an output of a project."""
    if not authors.keep:
        return None
    for where, person, entries in (
        ("labels", "annotator", row.labels),
        ("final", "reviewer", row.finals),
        ("comparisons", "annotator", row.votes),
    ):
        for n, entry in enumerate(entries):
            if entry["user"] is not None and (why := authors.problem(entry["user"])):
                return f"`{where}[{n}].{person}` {entry['user'][:60]!r}: {why}"
    seen: set[tuple[int, str]] = set()
    for n, label in enumerate(row.labels):
        if (label["project"], label["user"]) in seen:
            return f"`labels[{n}].annotator`: the same annotator twice on one output of a project"
        seen.add((label["project"], label["user"]))
    voted: set[tuple[int, str, int, str]] = set()
    for n, vote in enumerate(row.votes):
        if (key := (vote["project"], vote["side"], vote["other"], vote["user"])) in voted:
            return f"`comparisons[{n}].annotator`: the same annotator twice on one pair"
        voted.add(key)
    return None
