"""bench/annotation_queue.py's data: its annotators, N DONE generations and a project over
them, built in PostgreSQL (imported after django.setup())."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connection
from pg import vacuum_analyze

from annotate.datasets.models import Dataset
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project, ProjectMember
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.models import ModelConfig, Run, RunStatus

if TYPE_CHECKING:
    from annotation_queue import Bench

PREFIX = "bench-queue"
HOLD_S = 900  # longer than any run: no hold expires during the bench


# --- Building the data --------------------------------------------------------------------------


def make_users(count: int) -> tuple[Any, list[Any]]:
    """The project's owner and `count` annotators, without passwords (hashing is slow)."""
    User = get_user_model()
    names = [f"{PREFIX}-owner"] + [f"{PREFIX}-a{i:02d}" for i in range(count)]
    users = [User(username=name) for name in names]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    users = list(User.objects.filter(username__in=names).order_by("username"))
    return users[-1], users[:-1]  # "-owner" sorts after "-a00".."-aNN"


def insert_outputs(dataset_id: int, run_id: int, count: int) -> None:
    """`count` items, and one DONE generation with a short output for each, in two statements."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_item
                (dataset_id, index, external_id, messages, prompt, reference, metadata)
            SELECT %s, i, '',
                   jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Prompt ' || i)),
                   'Prompt ' || i, '', '{}'::jsonb
            FROM generate_series(0, %s - 1) AS i
            """,
            [dataset_id, count],
        )
        cursor.execute(
            """
            INSERT INTO annotate_generation
                (run_id, item_id, sample_index, status, output, finish_reason, prompt_tokens,
                 output_tokens, latency_s, error, attempts, retries, backend_version, machine,
                 worker, started_at, finished_at)
            SELECT %s, id, 0, 'done', 'Answer number ' || index || '.', 'stop', 12, 4, 0.1,
                   '', 1, 0, '', '', '', now(), now()
            FROM annotate_item WHERE dataset_id = %s
            """,
            [run_id, dataset_id],
        )


def build(bench: Bench) -> tuple[int, list[int], dict[str, float]]:
    """The project and its annotators: (project id, annotator ids, seconds by step)."""
    start = time.perf_counter()
    owner, annotators = make_users(bench.annotators)
    dataset = Dataset.objects.create(name=f"{PREFIX} dataset", owner=owner)
    config = ModelConfig.objects.create(
        name=f"{PREFIX}-config", backend="openai", model="bench-synthetic", owner=owner
    )
    run = Run.objects.create(
        dataset=dataset,
        model_config=config,
        params=config.params(),
        status=RunStatus.COMPLETED,
        total=bench.generations,
        created_by=owner,
    )
    insert_outputs(dataset.pk, run.pk, bench.generations)
    project = Project.objects.create(
        name=f"{PREFIX} project",
        questions=DEFAULT_QUESTIONS,
        overlap=bench.overlap,
        hold_s=HOLD_S,
        owner=owner,
    )
    project.runs.add(run)
    ProjectMember.objects.bulk_create(ProjectMember(project=project, user=u) for u in annotators)
    steps = {"outputs": time.perf_counter() - start}
    if (created := sync_tasks(project)) != bench.generations:
        raise RuntimeError(f"sync_tasks made {created} tasks for {bench.generations} outputs")
    steps["sync_tasks"] = time.perf_counter() - start - steps["outputs"]
    user_ids = [u.pk for u in annotators]
    prefill(project.pk, user_ids, bench.overlap, int(bench.done * bench.generations))
    vacuum_analyze(("annotate_item", "annotate_generation", "annotate_task", "annotate_annotation"))
    return project.pk, user_ids, steps


def prefill(project_id: int, user_ids: list[int], k: int, count: int) -> None:
    """Label the project's first `count` tasks fully, as if the team had been at it for a
    while: k submitted annotations each, from the annotators in turn."""
    first = "SELECT id FROM annotate_task WHERE project_id = %(p)s ORDER BY id LIMIT %(count)s"
    params = {"p": project_id, "count": count, "k": k, "users": user_ids, "n": len(user_ids)}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO annotate_annotation
                (task_id, annotator_id, state, answers, started_at, submitted_at, time_spent_s)
            SELECT t.id, (%(users)s::int[])[(t.id + j) %% %(n)s + 1], 'submitted',
                   '{{"quality": 3, "correct": "pass"}}', now() - interval '1 day',
                   now() - interval '1 day', 5
            FROM ({first}) t CROSS JOIN generate_series(0, %(k)s - 1) AS j
            """,
            params,
        )
        cursor.execute(
            f"""UPDATE annotate_task SET claimed = %(k)s, submitted = %(k)s, is_full = true
                WHERE id IN ({first})""",
            params,
        )
