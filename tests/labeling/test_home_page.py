"""The home page says what needs the person now (issue 16): items waiting for them in each of
their projects (recounted here from the database by the queue's rules, and by draining the
queue itself), reviews waiting, runs in flight with their progress (managers), the latest
comparison leaderboard (those who may see it), in a number of queries that does not grow."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.comparisons.leaderboard import Leaderboard, ModelRow
from annotate.labeling import actions
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind, Task
from inference.actions import create_run
from inference.models import GenerationStatus, RunStatus
from tests.conftest import join, make_dataset, make_project

pytestmark = pytest.mark.django_db

ANSWERS = {"quality": 4, "correct": "pass"}


def _recount(project, user) -> int:
    """What the queue would still hand `user`, counted in Python from the rows: a hold past
    its time is as good as given back; a task of theirs is waiting only if they hold it now."""
    now, waiting = timezone.now(), 0
    for task in Task.objects.filter(project=project).prefetch_related("annotations"):
        live = [
            a
            for a in task.annotations.all()
            if not (a.state == AnnotationState.HELD and a.held_until < now)
        ]
        mine = [a for a in live if a.annotator_id == user.pk]
        if mine:
            waiting += mine[0].state == AnnotationState.HELD
        elif len(live) < project.overlap:
            waiting += 1
    return waiting


def _waiting_shown(client, project) -> int:
    html = client.get("/").content.decode()
    row = html.split(f'data-project="{project.pk}"', 1)[1].split("</li>", 1)[0]
    figure = row.split('data-figure="waiting">', 1)[1].split("<", 1)[0]
    return 0 if figure == "nothing waiting" else int(figure.replace(",", ""))


def test_an_annotator_sees_the_items_waiting_for_them(
    client, owner, annotator, annotator2, reviewer, mlx_config
):
    project = make_project(owner, mlx_config, n=8, overlap=2)
    for person in (annotator, annotator2, reviewer):
        join(project, person)
    # Others' work: two labels by bert, a skip by rita, a hold of rita's that expired.
    for _ in range(2):
        held = actions.next_item(annotator2, project.pk)
        actions.submit_label(annotator2, project.pk, held.task.number, ANSWERS)
    held = actions.next_item(reviewer, project.pk)
    actions.skip_item(reviewer, project.pk, held.task.number)
    held = actions.next_item(reviewer, project.pk)
    Annotation.objects.filter(pk=held.pk).update(held_until=timezone.now() - timedelta(hours=1))
    # Annie's: a label, a skip and a live hold.
    held = actions.next_item(annotator, project.pk)
    actions.submit_label(annotator, project.pk, held.task.number, ANSWERS)
    held = actions.next_item(annotator, project.pk)
    actions.skip_item(annotator, project.pk, held.task.number)
    actions.next_item(annotator, project.pk)

    client.force_login(annotator)
    response = client.get("/")
    assert response.status_code == 200  # annotators too: no longer sent to the projects list
    expected = _recount(project, annotator)
    assert expected == 6  # 8 items less the one she labeled and the one she skipped
    assert _waiting_shown(client, project) == expected

    # The queue agrees: it hands her exactly that many items before saying none are left.
    handed = 0
    while (held := actions.next_item(annotator, project.pk)) is not None:
        actions.submit_label(annotator, project.pk, held.task.number, ANSWERS)
        handed += 1
    assert handed == expected
    assert _waiting_shown(client, project) == 0


def test_reviews_waiting_count_labeled_items_without_a_final_answer(
    client, owner, annotator, reviewer, mlx_config
):
    project = make_project(owner, mlx_config, n=4)
    join(project, annotator)
    join(project, reviewer, "reviewer")
    numbers = []
    for _ in range(3):
        held = actions.next_item(annotator, project.pk)
        actions.submit_label(annotator, project.pk, held.task.number, ANSWERS)
        numbers.append(held.task.number)
    actions.set_final_label(reviewer, project.pk, numbers[0], ANSWERS)
    expected = Task.objects.filter(project=project, submitted__gt=0, final__isnull=True).count()
    client.force_login(reviewer)
    html = client.get("/").content.decode()
    assert f'data-figure="unreviewed">{expected}<' in html and expected == 2
    client.force_login(annotator)
    assert 'id="reviews"' not in client.get("/").content.decode()  # not hers to review


def test_managers_see_runs_in_flight_with_their_progress(client, owner, annotator, mlx_config):
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, make_dataset(owner, 4).pk, mlx_config.pk)
    done = list(run.generations.order_by("pk")[:3])
    for g in done[:2]:
        g.status = GenerationStatus.DONE
        g.save()
    done[2].status = GenerationStatus.FAILED
    done[2].save()
    run.status = RunStatus.RUNNING
    run.save()
    finished = run.generations.filter(status__in=("done", "failed")).count()
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert f'max="{run.total}" value="{finished}"' in html and finished == 3
    assert f"{finished} / {run.total} done · 75%" in html
    client.force_login(annotator)
    assert 'id="runs-in-flight"' not in client.get("/").content.decode()


def _stored_board(owner, names, computed_at: str) -> Project:
    rows = [
        ModelRow(i, name, 1100 - 50 * i, 1000, 1200, 0.6 - 0.1 * i, 0.5, 0.7, 20, i + 1)
        for i, name in enumerate(names)
    ]
    board = Leaderboard(rows, [], 40, 20, 20, 0.5, 1.0, 100, computed_at=computed_at)
    return Project.objects.create(
        name=f"Arena {computed_at[:10]}",
        kind=ProjectKind.COMPARE,
        owner=owner,
        board=asdict(board),
        board_version=0,
    )


def test_the_latest_leaderboard_shows_its_top_models_to_those_who_may_see_it(
    client, owner, reviewer, annotator
):
    old = _stored_board(owner, ["old-model"], "2026-01-01T00:00:00+00:00")
    names = [f"model-{i}" for i in range(7)]
    latest = _stored_board(owner, names, "2026-02-01T00:00:00+00:00")
    for project in (old, latest):
        join(project, reviewer, "reviewer")
        join(project, annotator)
    client.force_login(reviewer)
    html = client.get("/").content.decode()
    board = html.split('id="leaderboard"', 1)[1].split("</section>", 1)[0]
    assert f"/projects/{latest.pk}/results/" in board
    shown = [name for name in names if f"<td>{name}</td>" in board]
    assert shown == names[:5] and "old-model" not in board
    client.force_login(annotator)  # blind: annotators never see which model is which
    assert 'id="leaderboard"' not in client.get("/").content.decode()


def test_the_home_page_takes_as_many_queries_for_many_projects_as_for_one(
    client, owner, annotator, mlx_config
):
    def queries() -> int:
        client.force_login(annotator)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    join(make_project(owner, mlx_config, n=3), annotator, "reviewer")
    one = queries()
    for role in ("annotator", "reviewer", "owner", "annotator", "reviewer"):
        join(make_project(owner, mlx_config, n=3), annotator, role)
    _stored_board(owner, ["m"], "2026-01-01T00:00:00+00:00")
    assert queries() == one
    # A manager: the session, the user and their permissions (2), projects, waiting items,
    # projects reviewed, reviews waiting, the latest board, runs in flight, their progress.
    client.force_login(owner)
    with CaptureQueriesContext(connection) as captured:
        client.get("/")
    assert len(captured) <= 11, [q["sql"][:120] for q in captured]
