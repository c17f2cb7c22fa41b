"""bench/leaderboard.py's data: synthetic votes from known true ratings (Bradley-Terry), COPY'd
into PostgreSQL with the runs and tasks they compare (imported after django.setup())."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from _people import make_users
from django.db import connection
from pg import copy_rows, vacuum_analyze

from annotate.comparisons.pairs import compare_questions
from annotate.datasets.models import Dataset
from annotate.labeling.models import Project, ProjectKind, ProjectMember, draw_numbers
from inference.models import ModelConfig, Run, RunStatus

if TYPE_CHECKING:
    from leaderboard import Bench

PREFIX = "bench-lb"
TIE, BOTH_BAD = 0.08, 0.04
VERDICTS = ("left", "right", "tie", "both bad")
CATEGORIES = ("math", "code", "writing", "facts")


@dataclass
class Built:
    project_id: int
    superuser_id: int
    annotator_ids: list[int]
    config_ids: list[int]  # model k's configuration
    true_ratings: np.ndarray  # model k's rating, mean 1000
    spare_pairs: list[tuple[int, int]]  # (left, right) generation ids no task uses yet
    seconds: dict[str, float]


# --- The synthetic votes ------------------------------------------------------------------------


def true_ratings(models: int, rng: np.random.Generator) -> np.ndarray:
    """Evenly spaced ratings, mean 1000, dealt to the models in a random order."""
    return rng.permutation(np.linspace(850, 1150, models))


def plan_pairs(bench: Bench, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(item, left model, right model) per comparison: pairs_per_item distinct model pairs
    per item; each model pair alternates sides from a random start."""
    a, b = np.triu_indices(bench.models, k=1)
    choice = rng.random((bench.items, len(a))).argsort(axis=1)[:, : bench.pairs_per_item]
    pair = choice.ravel()[: bench.comparisons]
    item = np.repeat(np.arange(bench.items), bench.pairs_per_item)[: bench.comparisons]
    order = np.argsort(pair, kind="stable")
    starts = np.searchsorted(pair[order], pair[order])  # first position of each pair's run
    seen = np.empty_like(pair)
    seen[order] = np.arange(len(pair)) - starts  # earlier comparisons of the same pair
    flip = (seen + rng.integers(0, 2, len(a))[pair]) % 2 == 1
    left, right = np.where(flip, b[pair], a[pair]), np.where(flip, a[pair], b[pair])
    return item, left, right


def draw_verdicts(
    ratings: np.ndarray, left: np.ndarray, right: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Verdict indexes into VERDICTS: Bradley-Terry with ties counted as half a win each."""
    p_left = 1 / (1 + 10 ** ((ratings[right] - ratings[left]) / 400))
    ties = TIE + BOTH_BAD
    decisive_left = (p_left - ties / 2) / (1 - ties)
    u = rng.random(len(left))
    verdict = np.where(rng.random(len(left)) < decisive_left, 0, 1)
    verdict[u < ties] = 3
    verdict[u < TIE] = 2
    return verdict


# --- Building the data --------------------------------------------------------------------------


def make_runs(bench: Bench, owner, dataset) -> list[Any]:
    """One model configuration and one COMPLETED run of it per model."""
    configs = ModelConfig.objects.bulk_create(
        ModelConfig(name=f"{PREFIX}-model-{k}", backend="openai", model=f"m{k}", owner=owner)
        for k in range(bench.models)
    )
    return Run.objects.bulk_create(
        Run(
            dataset=dataset,
            model_config=config,
            params=config.params(),
            status=RunStatus.COMPLETED,
            total=bench.items,
            created_by=owner,
        )
        for config in configs
    )


def insert_outputs(dataset_id: int, run_ids: list[int], items: int) -> None:
    """Items with ids 1..N (metadata: a category), and model k's generation of item i with id
    k * N + i + 1: a shared paragraph and a few words of the model's own, for the diff."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_item
                (id, dataset_id, index, external_id, messages, prompt, reference, metadata)
            SELECT i + 1, %s, i, '',
                   jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Prompt ' || i)),
                   'Prompt ' || i, '',
                   jsonb_build_object('category', (%s::text[])[1 + i %% %s])
            FROM generate_series(0, %s - 1) AS i
            """,
            [dataset_id, list(CATEGORIES), len(CATEGORIES), items],
        )
        cursor.execute(
            """
            INSERT INTO annotate_generation
                (id, run_id, item_id, sample_index, status, output, finish_reason,
                 prompt_tokens, output_tokens, latency_s, error, attempts, retries,
                 backend_version, machine, worker, started_at, finished_at)
            SELECT (r.k - 1) * %(n)s + i.id, r.run_id, i.id, 0, 'done',
                   'Answer to prompt ' || i.index || E'.\n\n'
                   || repeat('The reasoning goes step by step through the question. ', 6)
                   || 'Model ' || (r.k - 1) || ' concludes: ' || md5(i.id || '-' || r.k) || '.',
                   'stop', 12, 90, 0.5, '', 1, 0, '', '', '', now(), now()
            FROM unnest(%(runs)s::bigint[]) WITH ORDINALITY AS r(run_id, k)
            CROSS JOIN annotate_item i
            """,
            {"n": items, "runs": run_ids},
        )
    restart_ids("annotate_item", "annotate_generation")


def restart_ids(*tables: str) -> None:
    """Move the id sequences past rows inserted with explicit ids."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )


TASK_COLUMNS = ("id", "project_id", "generation_id", "generation_b_id", "claimed", "is_full")
ANNOTATION_COLUMNS = ("id", "task_id", "annotator_id", "state", "answers", "started_at")


def insert_votes(
    bench: Bench, project_id: int, annotator_ids: list[int], plan: dict[str, np.ndarray]
) -> None:
    """One full task per comparison (ids 1..C), each with one submitted annotation, by COPY."""
    n = bench.items
    left = (plan["left"] * n + plan["item"] + 1).tolist()
    right = (plan["right"] * n + plan["item"] + 1).tolist()
    numbers = draw_numbers(project_id, bench.comparisons)  # Task.number: random, unique
    copy_rows(
        "annotate_task",
        (*TASK_COLUMNS, "submitted", "number"),
        (
            (t + 1, project_id, left[t], right[t], 1, True, 1, numbers[t])
            for t in range(bench.comparisons)
        ),
    )
    rng = np.random.default_rng(bench.seed + 1)
    who = rng.integers(0, len(annotator_ids), bench.comparisons).tolist()
    ages = rng.uniform(0, 7 * 24 * 3600, bench.comparisons).tolist()
    answers = [json.dumps({"verdict": v}) for v in VERDICTS]
    verdicts = plan["verdict"].tolist()
    now = datetime.now(UTC)

    def row(t: int) -> tuple:
        submitted_at = now - timedelta(seconds=ages[t])
        started_at = submitted_at - timedelta(seconds=30)
        vote = answers[verdicts[t]]
        person = annotator_ids[who[t]]
        return (t + 1, t + 1, person, "submitted", vote, started_at, submitted_at, 30.0)

    copy_rows(
        "annotate_annotation",
        (*ANNOTATION_COLUMNS, "submitted_at", "time_spent_s"),
        (row(t) for t in range(bench.comparisons)),
    )
    restart_ids("annotate_task", "annotate_annotation")


def spare_pairs(bench: Bench, plan: dict[str, np.ndarray], count: int) -> list[tuple[int, int]]:
    """Generation pairs of the first items that no task shows, for the votes added later."""
    shown = zip(plan["item"].tolist(), plan["left"].tolist(), plan["right"].tolist(), strict=True)
    used = {(item, min(a, b), max(a, b)) for item, a, b in shown}
    pairs = list(zip(*(side.tolist() for side in np.triu_indices(bench.models, k=1)), strict=True))
    out: list[tuple[int, int]] = []
    for item in range(bench.items):
        for a, b in pairs:
            if (item, a, b) not in used:
                out.append((a * bench.items + item + 1, b * bench.items + item + 1))
            if len(out) == count:
                return out
    return out


def build(bench: Bench) -> Built:
    start = time.perf_counter()
    rng = np.random.default_rng(bench.seed)
    ratings = true_ratings(bench.models, rng)
    item, left, right = plan_pairs(bench, rng)
    plan = {
        "item": item,
        "left": left,
        "right": right,
        "verdict": draw_verdicts(ratings, left, right, rng),
    }
    owner, root, annotators = make_users(PREFIX, bench.annotators)
    dataset = Dataset.objects.create(name=f"{PREFIX} dataset", owner=owner)
    runs = make_runs(bench, owner, dataset)
    insert_outputs(dataset.pk, [r.pk for r in runs], bench.items)
    seconds = {"outputs": time.perf_counter() - start}
    project = Project.objects.create(
        name=f"{PREFIX} project", kind=ProjectKind.COMPARE, overlap=1, owner=owner
    )
    project.questions = compare_questions(project)
    project.save(update_fields=("questions",))
    project.runs.set(runs)
    ProjectMember.objects.bulk_create(ProjectMember(project=project, user=u) for u in annotators)
    insert_votes(bench, project.pk, [u.pk for u in annotators], plan)
    seconds["votes"] = time.perf_counter() - start - seconds["outputs"]
    vacuum_analyze()
    seconds["build"] = time.perf_counter() - start
    return Built(
        project_id=project.pk,
        superuser_id=root.pk,
        annotator_ids=[u.pk for u in annotators],
        config_ids=[r.model_config_id for r in runs],
        true_ratings=ratings,
        spare_pairs=spare_pairs(bench, plan, bench.vote_rounds + bench.fresh_votes),
        seconds=seconds,
    )
