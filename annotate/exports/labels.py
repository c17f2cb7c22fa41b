"""What an output's labels mean to an export, on both paths (the ORM's, annotate/exports/
orm.py, and PostgreSQL's, annotate/exports/sql.py): its mean rating, whether its annotators
agree, whether it passes, the projects its row carries, and the definitions of runs and
projects a row repeats. Annotators' names can become stable pseudonyms.

A label here is a dict with its "project" id and its "answers"; `defs` are the definitions of
the projects the labels belong to, by id.
"""

from __future__ import annotations

import functools
import hashlib
import json

from django.conf import settings

from annotate.labeling.models import Project
from annotate.labeling.ratings import first_key, mean_rating
from inference.models import Run

PROJECT_FIELDS = (
    "id",
    "name",
    "kind",
    "description",
    "guidelines",
    "questions",
    "overlap",
    "blind",
    "pairs_per_item",
    "side_ratings",
)


def pseudonym(username: str) -> str:
    """A stable stand-in for a name: the same person gets the same pseudonym in every export
    of this instance, and the name cannot be read back from it."""
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{username}".encode()).hexdigest()
    return f"annotator-{digest[:10]}"


def namer(filters: dict):
    """The name an export writes for a user's name."""
    if not filters.get("pseudonyms"):
        return lambda u: u
    return functools.lru_cache(maxsize=None)(pseudonym)


class Lazy(dict):
    """Rows of a small table by id, each read from the database once, when first asked for."""

    def __init__(self, load) -> None:
        super().__init__()
        self.load = load

    def __missing__(self, pk):
        self[pk] = self.load(pk)
        return self[pk]


def project_definitions() -> Lazy:
    """Projects' definitions by id: what a re-import needs to rebuild them."""
    return Lazy(lambda pk: Project.objects.values(*PROJECT_FIELDS).get(pk=pk))


def run_definitions() -> Lazy:
    """Runs' (configuration name, params) by id."""
    return Lazy(lambda pk: Run.objects.values_list("model_config__name", "params").get(pk=pk))


def first_label_key(labels: list[dict], kind: str, defs: dict[int, dict]) -> str | None:
    """The key of the first question of `kind` in the labels' projects, in label order."""
    return first_key((defs[lb["project"]]["questions"] for lb in labels), kind)


def _agreed(labels: list[dict], defs: dict[int, dict]) -> bool:
    if len(labels) < 2:
        return False
    questions = defs[labels[0]["project"]]["questions"]
    scored = {q["key"] for q in questions if q["kind"] not in ("text", "correction")}
    return all(len({json.dumps(lb["answers"].get(k)) for lb in labels}) == 1 for k in scored)


def _passes(labels: list[dict], finals: list[dict], defs: dict[int, dict]) -> bool:
    key = first_label_key(labels, "passfail", defs)
    if finals and key and key in finals[-1]["answers"]:
        return finals[-1]["answers"][key] == "pass"
    votes = [lb["answers"].get(key) for lb in labels if key]
    return bool(votes) and votes.count("pass") > len(votes) / 2


def verdict(labels: list[dict], finals: list[dict], defs: dict[int, dict]) -> str | None:
    """Pass or fail ("pass", "fail") by the first pass/fail question, as the pass filter
    decides it (the reviewer's final answer, else a majority of annotators); None where
    nobody answered it."""
    key = first_label_key(labels, "passfail", defs)
    answered = key and any(key in entry["answers"] for entry in (*labels, *finals[-1:]))
    if not answered:
        return None
    return "pass" if _passes(labels, finals, defs) else "fail"


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


def carried_projects(labels: list[dict], finals: list[dict], votes: list[dict]) -> list[int]:
    """Ids of the projects whose definitions a row carries: those of its labels and votes."""
    return sorted({entry["project"] for entry in (*labels, *finals, *votes)})


def label_facts(labels, finals, project_ids: list[int], projects: dict, filters: dict):
    """(mean rating, whether the label-based filters keep the output)."""
    defs = {pk: projects[pk] for pk in project_ids}
    rating = mean_rating([(defs[lb["project"]]["questions"], lb["answers"]) for lb in labels])
    return rating, _keep(labels, finals, rating, defs, filters)
