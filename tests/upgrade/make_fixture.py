"""Populate a database made by the code BEFORE the restructuring (commit 7a97971), for
tests/upgrade/test_upgrade.py. It imports that code's model paths (`annotate.models`,
`annotate.queue`, ...), so it runs only in a checkout of 7a97971, never in the current tree.

How before_restructure.sqlite3 and before_restructure.sql were made:

    git -C /work/main worktree add /tmp/before 7a97971
    cd /tmp/before
    PY=/work/main/.venv/bin/python FIXTURE=/work/main/tests/upgrade

    # SQLite: migrate, populate, then one self-contained file (no -wal beside it).
    export DATABASE_URL=sqlite:////tmp/before-db.sqlite3
    $PY manage.py migrate
    $PY $FIXTURE/make_fixture.py /tmp/before
    sqlite3 /tmp/before-db.sqlite3 "VACUUM INTO '$FIXTURE/before_restructure.sqlite3'"

    # PostgreSQL: the same, dumped as plain SQL that psql restores.
    createdb -h 127.0.0.1 -U postgres before_fixture
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/before_fixture
    $PY manage.py migrate
    $PY $FIXTURE/make_fixture.py /tmp/before
    pg_dump -h 127.0.0.1 -U postgres --no-owner --no-privileges before_fixture \
        > $FIXTURE/before_restructure.sql
    dropdb -h 127.0.0.1 -U postgres before_fixture

    git -C /work/main worktree remove --force /tmp/before

The argument is the checkout of 7a97971 (its root goes on sys.path). Rows are made through
that code's own functions where it has one (import_dataset, create_run, sync_tasks, the
annotation queue's next_task/submit/skip, leaderboard.refresh) and through its ORM for what
workers and pages would write (outputs, failures, a final label, an export, a heartbeat). No
worker or broker runs. Timestamps, passwords and the token are fixed, so both databases hold
the same values.
"""

from __future__ import annotations

import io
import json
import os
import sys
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from unittest import mock

T0 = datetime.fromisoformat("2026-11-20T09:00:00+00:00")


def main(checkout: str) -> None:
    sys.path.insert(0, os.path.abspath(checkout))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    if get_user_model().objects.exists():
        sys.exit("The database already has users: give the script a freshly migrated one.")
    from django.db import transaction

    with transaction.atomic():
        populate()
    report()


def populate() -> None:
    # Modules of 7a97971 that this tree no longer has sort as third-party, hence the order.
    from annotate.importing import import_dataset
    from annotate.projects import sync_tasks
    from annotate.runs import create_run
    from annotate.schema import DEFAULT_QUESTIONS
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, Permission

    from annotate import leaderboard, queue
    from annotate.comparisons import compare_questions
    from annotate.models import (
        ApiToken,
        Export,
        ModelConfig,
        Price,
        Project,
        ProjectKind,
        ProjectMember,
        ProviderBatch,
        RunStatus,
        WorkerHeartbeat,
    )

    # 1. People: an owner (the "Project owners" group that migration 0005 made), an annotator,
    #    a reviewer with one permission of their own.
    def user(name: str, **fields):
        password = make_password(f"pw-{name}-123", salt=f"fixture{name}")
        return get_user_model().objects.create(
            username=name, password=password, date_joined=T0, email=f"{name}@example.com", **fields
        )

    owner = user("olivia", first_name="Olivia", last_name="Owner")
    owner.groups.add(Group.objects.get(name="Project owners"))
    annie = user("annie")
    rita = user("rita")
    rita.user_permissions.add(Permission.objects.get(codename="view_export"))
    ApiToken.objects.create(
        user=owner,
        name="laptop",
        prefix="ann_fixture0",
        digest=ApiToken.hash("ann_fixture0-not-a-real-token"),
        created_at=T0,
        last_used_at=T0 + timedelta(hours=1),
    )

    # 2. Two datasets of five items each, with metadata (one a chat with a system turn).
    lines = [
        {"prompt": f"Write a function that returns {i} squared.", "id": f"sq-{i}", "level": i % 3}
        for i in range(5)
    ]
    lines[0]["reference"] = "def f():\n    return 0\n"
    squares = import_dataset(
        io.BytesIO("".join(json.dumps(r) + "\n" for r in lines).encode()),
        "squares.jsonl",
        "Squares",
        owner,
        description="Five small coding prompts.",
    )
    chats = [
        {
            "messages": [
                {"role": "system", "content": "Answer in one line."},
                {"role": "user", "content": f"Name a prime above {10 * i}."},
            ],
            "topic": "primes",
            "tags": ["math", f"t{i}"],
        }
        for i in range(5)
    ]
    primes = import_dataset(
        io.BytesIO("".join(json.dumps(r) + "\n" for r in chats).encode()),
        "primes.jsonl",
        "Primes",
        owner,
    )

    # 3. Two model configurations and a price of our own beside the seeded ones.
    mlx = ModelConfig.objects.create(
        name="demo-mlx",
        backend="mlx",
        model="var/models/demo",
        system_prompt="You write Python.",
        temperature=0.7,
        top_p=0.9,
        max_tokens=128,
        seed=42,
        stop=["\n\n\n"],
        batch_size=8,
        hourly_usd=Decimal("1.2500"),
        owner=owner,
        created_at=T0,
    )
    haiku = ModelConfig.objects.create(
        name="haiku",
        backend="anthropic",
        model="claude-haiku-4-5",
        temperature=0.2,
        max_tokens=256,
        batch_size=4,
        base_url="https://anthropic.example.com/v1",
        api_key_env="FIXTURE_ANTHROPIC_KEY",
        mode="batch",
        queue="api.slow",
        owner=owner,
        created_at=T0,
    )
    Price.objects.create(
        backend="anthropic",
        model="claude-haiku-4-5",
        input_per_mtok=Decimal("0.9000"),
        output_per_mtok=Decimal("4.5000"),
        cache_read_per_mtok=None,
        batch_discount=Decimal("0.500"),
        effective_from=date(2026, 11, 1),
        source="fixture",
    )

    # 4. Runs through create_run (no doorbell: nothing listens), then what workers would write.
    with mock.patch("annotate.runs.enqueue_run", autospec=True):
        run_mlx = create_run(squares, mlx, owner)
        run_api = create_run(squares, haiku, owner)
        run_queued = create_run(primes, mlx, owner, samples_per_prompt=2)
    finish(run_mlx, done=(0, 1, 2, 3), failed=(4,), worker="w-mlx@fixture")
    finish(run_api, done=(0, 1, 2), failed=(3,), worker="w-api@fixture")
    run_mlx._set(status=RunStatus.COMPLETED_WITH_ERRORS, started_at=T0, finished_at=T0 + HOUR)
    run_api._set(status=RunStatus.RUNNING, started_at=T0, last_activity_at=T0 + HOUR)
    batch = ProviderBatch.objects.create(
        run=run_api,
        batch_id="msgbatch_fixture_01",
        status="ended",
        submitted_at=T0,
        ended_at=T0 + HOUR,
        collected_at=T0 + HOUR,
        size=3,
        lease_token=uuid.UUID("00000000-0000-4000-8000-000000000001"),
    )
    run_api.generations.filter(status="done").update(provider_batch=batch)
    assert run_queued.generations.filter(status="pending").count() == 10

    # 5. A labeling project: two annotations submitted, one skipped, one held; a final label.
    quality = Project.objects.create(
        name="Quality",
        description="Are the squares right?",
        guidelines="Run the code **in your head**.",
        questions=DEFAULT_QUESTIONS,
        overlap=2,
        hold_s=600,
        owner=owner,
        created_at=T0,
    )
    quality.runs.add(run_mlx, run_api)
    sync_tasks(quality)
    for person, role in ((owner, "owner"), (annie, "annotator"), (rita, "reviewer")):
        ProjectMember.objects.create(project=quality, user=person, role=role)
    first = queue.next_task(quality, annie)
    queue.submit(
        first,
        {"quality": 4, "correct": "pass", "issues": ["format error"], "comment": "Fine."},
        12.5,
    )
    queue.skip(queue.next_task(quality, annie), 3.0)
    queue.next_task(quality, annie)  # held: the annotator is on it now
    review = queue.next_task(quality, rita)
    queue.submit(
        review,
        {"quality": 2, "correct": "fail", "correction": "def f():\n    return 0 ** 2\n"},
        30.0,
    )
    task = review.task
    task.final = {"quality": 3, "correct": "pass", "comment": "Settled by the reviewer."}
    task.reviewed_by, task.reviewed_at = rita, T0 + 2 * HOUR
    task.save(update_fields=("final", "reviewed_by", "reviewed_at"))

    # 6. A comparison project over both runs: votes, and its stored leaderboard.
    arena = Project.objects.create(
        name="Arena",
        kind=ProjectKind.COMPARE,
        side_ratings=True,
        owner=owner,
        created_at=T0 + HOUR,
    )
    arena.questions = compare_questions(arena)
    arena.save(update_fields=("questions",))
    arena.runs.add(run_mlx, run_api)
    sync_tasks(arena)
    ProjectMember.objects.create(project=arena, user=annie, role="annotator")
    ProjectMember.objects.create(project=arena, user=rita, role="reviewer")
    for verdict in ("left", "tie"):
        vote = queue.next_task(arena, annie)
        queue.submit(vote, {"verdict": verdict, "left_rating": 4, "right_rating": 3}, 8.0)
    leaderboard.refresh(arena.pk, rounds=50)

    # 7. An export a worker finished, and a worker's last heartbeat.
    Export.objects.create(
        owner=owner,
        format="jsonl",
        filters={"projects": [quality.pk], "labeled": True},
        status="done",
        total=7,
        done=7,
        rows=7,
        path="exports/annotate-export-1-jsonl.jsonl",
        manifest={"rows": 7, "format": "jsonl", "sha256": "0" * 64},
        created_at=T0 + 3 * HOUR,
        finished_at=T0 + 3 * HOUR + timedelta(seconds=2),
    )
    WorkerHeartbeat.objects.create(
        hostname="celery@fixture-mlx",
        queues=["mlx", "api"],
        loaded=["var/models/demo"],
        pid=4242,
        machine="fixture-box",
        started_at=T0,
        last_seen=T0 + HOUR,
    )


HOUR = timedelta(hours=1)


def finish(run, done: tuple[int, ...], failed: tuple[int, ...], worker: str) -> None:
    """Write what a worker writes: outputs with their measurements, or an error."""
    for g in run.generations.select_related("item").order_by("item__index"):
        i = g.item.index
        start = T0 + timedelta(minutes=i)
        if i in done:
            g.status = "done"
            g.output = f"def f():\n    return {i} ** 2\n"
            g.finish_reason = "stop"
            g.prompt_tokens, g.output_tokens = 20 + i, 12 + i
            g.cache_read_tokens = 4 if run.params["backend"] == "anthropic" else None
            g.ttft_s, g.latency_s, g.decode_tps = 0.05, 0.75 + i / 10, 31.5
            g.cost_usd = Decimal("0.00001234") * (i + 1)
            g.concurrency = 4
        elif i in failed:
            g.status = "failed"
            g.error = "RateLimitError: 429 Too Many Requests (after 5 attempts)"
            g.retries = 4
        else:
            continue
        g.attempts = 1
        g.machine, g.worker, g.backend_version = "fixture-box", worker, "fixture 1.0"
        g.started_at, g.finished_at = start, start + timedelta(seconds=2)
        g.save()


def report() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            if table.startswith(("annotate_", "auth_")):
                cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
                print(f"{table:40} {cursor.fetchone()[0]}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
