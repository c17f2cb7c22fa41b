"""bench/stats.py's data: users, configurations, items, runs and their generations
(bench/_stats_generations.py), labels; found again by their marker (imported after
django.setup())."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from _people import make_users
from _stats_generations import finish_runs, insert_generations, make_runs, plan_runs, restart_ids
from _stats_profiles import (
    ANNOTATORS,
    COMPARE_SHARE,
    ITEMS,
    LABEL_SHARE,
    MAX_TOKENS,
    PREFIX,
    PROFILES,
    Bench,
    Profile,
)
from django.contrib.auth import get_user_model
from django.db import connection
from pg import copy_rows, vacuum_analyze

from annotate.comparisons.pairs import compare_questions
from annotate.datasets.models import Dataset
from annotate.labeling.models import Project, ProjectKind, ProjectMember
from inference.models import Generation, GenerationStatus, ModelConfig


def existing_data(bench: Bench) -> int | None:
    """The superuser's id if the stored data matches the marker and its size, else None."""
    if not Dataset.objects.filter(name=f"{PREFIX} dataset", description=bench.marker).exists():
        return None
    if Generation.objects.filter(status=GenerationStatus.DONE).count() != bench.generations:
        return None
    root = get_user_model().objects.filter(username=f"{PREFIX}-root").first()
    return root.pk if root else None


# --- Building: configurations, items, runs ------------------------------------------------------


def profiles(models: int) -> list[Profile]:
    """PROFILES in turn; past the tenth, copies with a numbered name."""
    out = []
    for k in range(models):
        p = PROFILES[k % len(PROFILES)]
        suffix = f"-{k // len(PROFILES)}" if k >= len(PROFILES) else ""
        out.append(Profile(**{**p.__dict__, "name": p.name + suffix}))
    return out


def make_configs(models: list[Profile], owner) -> list[Any]:
    return ModelConfig.objects.bulk_create(
        ModelConfig(
            name=f"{PREFIX} {p.name}",
            backend=p.backend,
            model=p.model,
            max_tokens=MAX_TOKENS,
            batch_size=p.concurrency[0],  # in flight: a batch (local) or requests (hosted)
            concurrency=p.concurrency[0],
            hourly_usd=Decimal(p.hourly_usd),
            owner=owner,
        )
        for p in models
    )


def insert_items(dataset_id: int) -> None:
    """ITEMS prompts with ids 1..ITEMS."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_item
                (id, dataset_id, index, external_id, messages, prompt, reference, metadata)
            SELECT i + 1, %s, i, '',
                   jsonb_build_array(jsonb_build_object('role', 'user',
                                                        'content', 'Question ' || i || '?')),
                   'Question ' || i || '?', '', '{}'::jsonb
            FROM generate_series(0, %s - 1) AS i
            """,
            [dataset_id, ITEMS],
        )
    restart_ids("annotate_item")


# --- Building: annotations ----------------------------------------------------------------------


LABEL_QUESTIONS = [
    {"key": "quality", "label": "Quality", "kind": "rating", "min": 1, "max": 5, "required": True},
    {"key": "correct", "label": "Correct", "kind": "passfail", "required": True},
]
# fmt: off
TASK_COLUMNS = ("id", "project_id", "generation_id", "generation_b_id", "claimed", "is_full",
                "submitted", "number")
ANNOTATION_COLUMNS = ("id", "task_id", "annotator_id", "state", "answers", "started_at",
                      "submitted_at", "time_spent_s")
# fmt: on


def make_project(kind: str, owner, runs: list[Any], annotators: list[Any]):
    project = Project.objects.create(name=f"{PREFIX} {kind}", kind=kind, overlap=1, owner=owner)
    project.questions = (
        compare_questions(project) if kind == ProjectKind.COMPARE else LABEL_QUESTIONS
    )
    project.save(update_fields=("questions",))
    project.runs.set(runs)
    ProjectMember.objects.bulk_create(ProjectMember(project=project, user=u) for u in annotators)
    return project


def label_tasks(gens: dict[str, np.ndarray], count: int, rng) -> list[tuple[int, None, int]]:
    """(generation, None, model) of count random DONE generations."""
    done = np.flatnonzero(~gens["failed"])
    pick = rng.choice(done, size=min(count, len(done)), replace=False)
    return [(int(gens["id"][i]), None, int(gens["model"][i])) for i in np.sort(pick)]


def compare_tasks(gens: dict[str, np.ndarray], count: int, models: int, rng) -> list[tuple]:
    """(left, right, left model, right model): two models' first DONE output of one item."""
    done = ~gens["failed"]
    keys, first_at = np.unique(
        gens["model"][done] * ITEMS + gens["item"][done] - 1, return_index=True
    )
    first = dict(zip(keys.tolist(), gens["id"][done][first_at].tolist(), strict=True))
    pairs: dict[tuple[int, int], tuple] = {}
    while len(pairs) < count:
        item = int(rng.integers(0, ITEMS))
        a, b = (int(x) for x in rng.choice(models, size=2, replace=False))
        left, right = first.get(a * ITEMS + item), first.get(b * ITEMS + item)
        if left and right:
            pairs[(left, right)] = (a, b)
    return [(left, right, a, b) for (left, right), (a, b) in pairs.items()]


def label_answer(p: Profile, rng) -> dict:
    rating = int(np.clip(round(rng.normal(p.quality, 0.9)), 1, 5))
    return {"quality": rating, "correct": "pass" if rng.random() < p.quality / 5 else "fail"}


def compare_answer(a: Profile, b: Profile, rng) -> dict:
    p_left = 1 / (1 + math.exp(-(a.quality - b.quality) * 1.5))
    u = rng.random()
    verdict = "tie" if u < 0.1 else ("left" if rng.random() < p_left else "right")
    return {"verdict": verdict}


def insert_annotations(
    models: list[Profile], gens: dict[str, np.ndarray], projects: dict, annotators: list, rng
) -> int:
    """Tasks and one submitted annotation each, by COPY; returns how many."""
    done = int((~gens["failed"]).sum())
    labels = label_tasks(gens, round(done * LABEL_SHARE), rng)
    pairs = compare_tasks(gens, round(done * COMPARE_SHARE), len(models), rng)
    label_project, compare_project = projects[ProjectKind.LABEL], projects[ProjectKind.COMPARE]
    tasks = [(label_project.pk, g, None) for g, _, _ in labels]
    tasks += [(compare_project.pk, left, right) for left, right, _, _ in pairs]
    answers = [label_answer(models[k], rng) for _, _, k in labels]
    answers += [compare_answer(models[a], models[b], rng) for _, _, a, b in pairs]
    copy_rows(
        "annotate_task",
        TASK_COLUMNS,
        # Task numbers are random in the app (blind queues); any distinct ones do here.
        ((t + 1, project, g, g_b, 1, True, 1, t + 1) for t, (project, g, g_b) in enumerate(tasks)),
    )
    now = datetime.now(UTC)
    who = rng.integers(0, len(annotators), len(tasks)).tolist()
    copy_rows(
        "annotate_annotation",
        ANNOTATION_COLUMNS,
        (annotation_row(t + 1, annotators[who[t]].pk, answers[t], now) for t in range(len(tasks))),
    )
    restart_ids("annotate_task", "annotate_annotation")
    return len(tasks)


def annotation_row(task_id: int, annotator_id: int, answers: dict, now: datetime) -> tuple:
    """A submitted annotation of task_id (its id too), thirty seconds' work, minutes ago."""
    submitted = now - timedelta(minutes=task_id % 5000)
    started = submitted - timedelta(seconds=30)
    return (
        task_id,
        task_id,
        annotator_id,
        "submitted",
        json.dumps(answers),
        started,
        submitted,
        30.0,
    )


# --- Building: all of it ------------------------------------------------------------------------


def build(bench: Bench) -> tuple[int, dict[str, float]]:
    """Build the data; returns the superuser's id and the seconds of each part."""
    start = time.perf_counter()
    models = profiles(bench.models)
    owner, root, annotators = make_users(PREFIX, ANNOTATORS)
    configs = make_configs(models, owner)
    dataset = Dataset.objects.create(name=f"{PREFIX} dataset", owner=owner)
    insert_items(dataset.pk)
    plans = plan_runs(bench, models, datetime.now(UTC))
    runs = make_runs(plans, configs, dataset, owner)
    gens = insert_generations(bench, models, plans, runs)
    finish_runs()
    seconds = {"generations": time.perf_counter() - start}
    projects = {
        kind: make_project(kind, owner, runs, annotators)
        for kind in (ProjectKind.LABEL, ProjectKind.COMPARE)
    }
    rng = np.random.default_rng(bench.seed + 1)
    insert_annotations(models, gens, projects, annotators, rng)
    seconds["annotations"] = time.perf_counter() - start - seconds["generations"]
    vacuum_analyze()
    # The marker last: an interrupted build is rebuilt.
    Dataset.objects.filter(pk=dataset.pk).update(description=bench.marker)
    seconds["build"] = time.perf_counter() - start
    return root.pk, seconds
