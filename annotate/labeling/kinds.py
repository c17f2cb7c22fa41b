"""The kinds of project, each with the rules that differ between them: how its tasks are
built from its runs' outputs, and its fixed questions, if it has some (else the project's
own schema).

Labeling registers its own kind here; a part above it registers the others
(annotate/comparisons/kind.py, imported by AnnotateConfig.ready()), so labeling never
imports the parts that build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from annotate.labeling.models import Project, ProjectKind
from annotate.labeling.outputs import add_output_tasks
from annotate.labeling.questions import normalize_questions
from annotate.labeling.sample import draw_sample


@dataclass(frozen=True)
class KindRules:
    build_tasks: Callable[[Project], int]  # adds the missing tasks, returns how many
    fixed_questions: Callable[[Project], list[dict]] | None = None
    # Called with the project's id inside the transaction that saved a submitted label.
    after_submit: Callable[[int], None] | None = None


RULES: dict[str, KindRules] = {}


def register(kind: str, rules: KindRules) -> None:
    RULES[kind] = rules


def rules_for(kind: str) -> KindRules:
    try:
        return RULES[kind]
    except KeyError:
        raise LookupError(
            f"No rules for projects of kind {kind!r}: its part registers them when Django "
            "starts (AnnotateConfig.ready())."
        ) from None


def sync_tasks(project: Project) -> int:
    """Add the tasks the project's runs' outputs call for, as its kind builds them (a
    comparison project: the pairs to compare); returns how many are new."""
    with transaction.atomic():
        # One at a time per project (PostgreSQL; SQLite has one writer anyway): two would
        # plan the same pairs' sides, or draw the same task numbers, from the same counts.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        created = rules_for(project.kind).build_tasks(project)
        draw_sample(project)  # new tasks join it; a project that asks for none has none
        return created


def questions_for(project: Project, given: list[dict]) -> list[dict]:
    """The questions the project asks: its kind's fixed ones, else `given` checked (raises
    SchemaError)."""
    fixed = rules_for(project.kind).fixed_questions
    return fixed(project) if fixed else normalize_questions(given)


register(ProjectKind.LABEL, KindRules(build_tasks=add_output_tasks))
