"""Issue 13, finding 7: an export carries only labels the caller may read. A manager who gets
404 on a project's pages gets 404 for an export filtered on it, is not offered it in the export
form, and an export without a project filter carries none of its labels, final labels or
comparison votes. Checked by recounting the database, on both export paths where PostgreSQL
runs the SQL one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from annotate.accounts.models import ApiToken
from annotate.exports.actions import start_export
from annotate.exports.models import Export
from annotate.exports.rows import rows
from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, Project, ProjectKind, Task
from inference.models import Generation
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db

PATHS = [False, True] if connection.vendor == "postgresql" else [False]


@pytest.fixture
def mallory(django_user_model):
    """A manager ("Project owners" group) who is in none of the projects below."""
    user = django_user_model.objects.create_user("mallory", password="pw-mallory-123")
    user.groups.add(Group.objects.get(name="Project owners"))
    return user


@pytest.fixture
def private(owner, mlx_config, annotator, annotator2):
    """A label project with labels and a final label, and a comparison project with a vote,
    none of which mallory is in."""
    project = make_project(owner, mlx_config, n=2)
    project.name = "Private labels"
    project.save()
    join(project, annotator)
    for _ in range(2):
        held = annotation_queue.next_task(project, annotator)
        annotation_queue.submit(held, {"quality": 5, "correct": "pass"}, 1.0)
    task = project.tasks.order_by("pk").first()
    task.final = {"quality": 1, "correct": "fail"}
    task.save()
    compare = Project.objects.create(name="Private duel", kind=ProjectKind.COMPARE, owner=owner)
    # Two answers to one prompt (a pair across prompts is no pair: test_preference_prompts).
    first = project.runs.get().generations.order_by("pk").first()
    second = Generation.objects.create(
        run=first.run, item=first.item, sample_index=1, status="done", output="Another answer."
    )
    Task.objects.create(project=compare, generation=first, generation_b=second)
    join(compare, annotator2)
    held = annotation_queue.next_task(compare, annotator2)
    annotation_queue.submit(held, {"verdict": "left"}, 1.0)
    return project, compare


def _token_client(user) -> Client:
    _, token = ApiToken.issue(user, "exports")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_project_one_cannot_open_cannot_be_exported(mallory, private):
    project, compare = private
    for pk in (project.pk, compare.pk):
        assert _token_client(mallory).get(f"/api/projects/{pk}").status_code == 404
        api = _token_client(mallory).post(
            "/api/exports", {"format": "jsonl", "project": pk}, content_type="application/json"
        )
        assert api.status_code == 404, api.content
        page = Client()
        page.force_login(mallory)
        response = page.post("/exports/", {"format": "jsonl", "project": pk})
        assert response.status_code == 200  # the form again, with the error
        assert "Select a valid choice" in response.content.decode()
    assert not Export.objects.exists()


def test_the_export_form_lists_only_projects_one_may_review(mallory, owner, annotator, private):
    project, compare = private
    page = Client()
    page.force_login(mallory)
    html = page.get("/exports/").content.decode()
    assert project.name not in html and compare.name not in html
    page.force_login(owner)
    html = page.get("/exports/").content.decode()
    assert project.name in html and compare.name in html
    # An annotator who is also a manager reads only their own labels: not offered either.
    annotator.groups.add(Group.objects.get(name="Project owners"))
    page.force_login(annotator)
    assert project.name not in page.get("/exports/").content.decode()


@pytest.mark.parametrize("sql", PATHS)
def test_an_unfiltered_export_carries_no_label_of_a_project_one_is_not_in(
    mallory, owner, private, sql
):
    project, _ = private
    theirs = start_export(mallory, "jsonl", {})
    exported = [json.loads(line) for line in Path(theirs.path).read_text().splitlines()]
    outputs = set(project.tasks.values_list("generation_id", flat=True))
    assert outputs <= {row["id"] for row in exported}  # the outputs, yes
    assert all(row["labels"] == [] and row["final"] == [] for row in exported)
    # Recounted from the database: what the owner's export carries is every label there is.
    mine = list(rows(start_export(owner, "jsonl", {}).filters, sql=sql))
    carried = sum(len(row["labels"]) for row in mine)
    assert carried == Annotation.objects.filter(task__project=project, state="submitted").count()
    assert sum(len(row["final"]) for row in mine) == 1
    assert all(not r["labels"] for r in rows(theirs.filters, sql=sql))


def test_comparison_votes_of_a_project_one_is_not_in_make_no_pairs(mallory, owner, private):
    theirs = start_export(mallory, "preference", {})
    pairs = [json.loads(line) for line in Path(theirs.path).read_text().splitlines()]
    assert [p for p in pairs if p["source"] == "comparison"] == []
    mine = start_export(owner, "preference", {})
    pairs = [json.loads(line) for line in Path(mine.path).read_text().splitlines()]
    assert len([p for p in pairs if p["source"] == "comparison"]) == 1


@pytest.mark.parametrize("sql", PATHS)
def test_a_project_filter_carries_no_final_label_of_another_project(
    owner, mlx_config, private, sql
):
    """Before, final labels set in another project over the same outputs came along."""
    project, _ = private
    other = Project.objects.create(name="Other", owner=owner)
    other.runs.add(project.runs.get())
    for task in project.tasks.all():
        Task.objects.create(project=other, generation=task.generation, final={"quality": 3})
    exported = list(rows({"project": project.pk}, sql=sql))
    finals = [f for row in exported for f in row["final"]]
    assert [f["project"] for f in finals] == [project.pk]
