"""Whose labels a re-imported export brings back: the importer's, unless a superuser keeps
the authors the file names (annotate/datasets/authors.py), through the page, the API and
`manage.py import_dataset`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from annotate.datasets.models import Dataset
from annotate.exports.models import Export
from annotate.exports.rows import run_export
from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, Project, ProjectMember, Task
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db

DOORS = ("page", "api", "command")


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("admin", password="pw-admin-123")


@pytest.fixture
def root(django_user_model):
    """Another superuser: the one importing."""
    return django_user_model.objects.create_superuser("root", password="pw-root-123")


@pytest.fixture
def export_rows(owner, mlx_config, admin, annotator) -> list[dict]:
    """A full JSONL export: two outputs, each labeled by admin and annie, one reviewed by
    admin."""
    project = make_project(owner, mlx_config, n=2, overlap=2)
    join(project, admin)
    join(project, annotator)
    for person, quality in ((admin, 5), (annotator, 2)):
        for _ in range(2):
            task = annotation_queue.next_task(project, person)
            annotation_queue.submit(task, {"quality": quality, "correct": "pass"}, 1.0)
    task = project.tasks.order_by("pk").first()
    task.final, task.reviewed_by = {"quality": 4, "correct": "pass"}, admin
    task.reviewed_at = timezone.now()
    task.save()
    export = Export.objects.create(owner=owner, format="jsonl", filters={"project": project.pk})
    return [json.loads(line) for line in Path(run_export(export).path).read_text().splitlines()]


def _file(tmp_path, rows: list[dict]) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _import(door: str, user, path: Path, keep: bool = False) -> tuple[int, str]:
    """Import `path` as `user` through one door: (HTTP status, or 0 / 1 for the command's
    success / refusal; what it said)."""
    if door == "command":
        args = ["--keep-authors"] if keep else []
        try:
            call_command("import_dataset", str(path), "--owner", user.username, *args)
        except CommandError as exc:
            return 1, str(exc)
        return 0, ""
    client = Client()
    client.force_login(user)
    data = {"keep_authors": "true" if door == "api" else "on"} if keep else {}
    with path.open("rb") as stream:
        url = "/api/datasets" if door == "api" else "/datasets/import/"
        response = client.post(url, {"file": stream, **data})
    return response.status_code, response.content.decode()


def _restored_project() -> Project:
    dataset = Dataset.objects.get(source_filename="export.jsonl")
    return Project.objects.get(runs__dataset=dataset)


@pytest.mark.parametrize("door", DOORS)
def test_a_managers_import_gives_the_labels_to_the_manager_not_to_admin(
    door, owner, admin, export_rows, tmp_path, django_user_model
):
    users = django_user_model.objects.count()
    status, said = _import(door, owner, _file(tmp_path, export_rows))
    assert status in (0, 201, 302), said

    project = _restored_project()
    labels = Annotation.objects.filter(task__project=project)
    # admin's and annie's label on each output, both the manager's now: one kept per output.
    assert [label.annotator for label in labels] == [owner, owner]
    assert sorted(label.answers["quality"] for label in labels) == [5, 5]
    assert Task.objects.get(project=project, final__isnull=False).reviewed_by == owner
    assert project.owner == owner and not ProjectMember.objects.filter(project=project).exists()
    assert not admin.annotations.filter(task__project=project).exists()
    assert django_user_model.objects.count() == users
    if door == "api":
        restored = json.loads(said)["restored"]
        assert (restored["attributed_to"], restored["labels_left_out"]) == ("owner", 2)


def test_the_page_says_what_was_left_out(owner_client, export_rows, tmp_path):
    with _file(tmp_path, export_rows).open("rb") as stream:
        page = owner_client.post("/datasets/import/", {"file": stream}, follow=True)
    assert (
        "with 2 labels (1 reviewed), all attributed to owner; 2 labels by other annotators of "
        "outputs already labeled were left out"
    ) in page.content.decode()


def test_a_manager_may_not_keep_the_authors(owner, export_rows, tmp_path, django_user_model):
    path = _file(tmp_path, export_rows)
    counts = Dataset.objects.count(), django_user_model.objects.count()
    status, said = _import("api", owner, path, keep=True)
    assert status == 403 and "Only a superuser" in json.loads(said)["detail"]
    status, said = _import("command", owner, path, keep=True)
    assert status == 1 and "Only a superuser" in said
    assert (Dataset.objects.count(), django_user_model.objects.count()) == counts
    # The page offers no such choice, and a forged one is not taken.
    client = Client()
    client.force_login(owner)
    assert 'name="keep_authors"' not in client.get("/datasets/").content.decode()
    assert _import("page", owner, path, keep=True)[0] == 302
    assert {a.annotator for a in Annotation.objects.filter(task__project=_restored_project())} == {
        owner
    }


def test_a_superuser_sees_the_choice_on_the_page(root):
    client = Client()
    client.force_login(root)
    assert 'name="keep_authors"' in client.get("/datasets/").content.decode()


@pytest.mark.parametrize("door", DOORS)
def test_a_superuser_keeping_the_authors_gives_the_labels_to_the_named_users(
    door, root, admin, annotator, export_rows, tmp_path
):
    status, said = _import(door, root, _file(tmp_path, export_rows), keep=True)
    assert status in (0, 201, 302), said

    project = _restored_project()
    labels = Annotation.objects.filter(task__project=project)
    assert sorted((a.annotator.username, a.answers["quality"]) for a in labels) == [
        ("admin", 5),
        ("admin", 5),
        ("annie", 2),
        ("annie", 2),
    ]
    assert Task.objects.get(project=project, final__isnull=False).reviewed_by == admin
    roles = dict(project.members.values_list("user__username", "role"))
    assert roles == {"admin": "reviewer", "annie": "annotator"}  # admin reviewed too


@pytest.mark.parametrize("door", DOORS)
def test_names_no_account_may_have_are_refused_by_line_and_nothing_is_imported(
    door, root, export_rows, tmp_path, django_user_model
):
    export_rows[0]["labels"][0]["annotator"] = "admin\u200b"
    export_rows[1]["final"] = [{**export_rows[0]["final"][0], "reviewer": "<b>x</b>"}]
    path = _file(tmp_path, export_rows)
    tables = (Dataset, Project, Annotation, django_user_model)
    before = [table.objects.count() for table in tables]

    status, said = _import(door, root, path, keep=True)

    assert status in (1, 400), said
    assert [table.objects.count() for table in tables] == before
    said = "\n".join(json.loads(said)["errors"]) if door == "api" else said
    assert "line 1: `labels[0].annotator`" in said and "line 2: `final[0].reviewer`" in said
    assert "admin\\u200b" in said  # the invisible character shown
    assert "Enter a valid username" in said
    if door == "page":
        assert "&lt;b&gt;x&lt;/b&gt;" in said and "<b>x</b>" not in said
    # Without keeping the authors the names are only text: the same file imports as root's.
    assert _import(door, root, path)[0] in (0, 201, 302)
    assert not django_user_model.objects.filter(username__in=["admin\u200b", "<b>x</b>"]).exists()


def test_look_alike_and_repeated_names_are_refused_when_keeping_authors(
    root, admin, export_rows, tmp_path, django_user_model
):
    export_rows[0]["labels"][1]["annotator"] = "Admin"  # only the case differs
    export_rows[1]["labels"][1]["annotator"] = "ａｄｍｉｎ"  # fullwidth: NFKC makes it admin
    long = dict(export_rows[0], id=10**9, generation=dict(export_rows[0]["generation"]))
    long["generation"]["sample_index"] = 1
    long["labels"] = [dict(long["labels"][0], annotator="n" * 151)]
    twice = dict(export_rows[0], id=10**9 + 1, generation=dict(export_rows[0]["generation"]))
    twice["generation"]["sample_index"] = 2
    twice["labels"] = [long["labels"][0] | {"annotator": "admin"}] * 2
    counts = Dataset.objects.count(), django_user_model.objects.count()

    status, said = _import("api", root, _file(tmp_path, [*export_rows, long, twice]), keep=True)

    assert status == 400, said
    errors = json.loads(said)["errors"]
    assert errors[0] == (
        "line 1: `labels[1].annotator` 'Admin': differs only in case from the user 'admin'."
    )
    assert errors[1].startswith("line 2: `labels[1].annotator` 'ａｄｍｉｎ': not written the way")
    assert errors[2].startswith("line 3: `labels[0].annotator` 'nnnn")
    assert "at most 150 characters" in errors[2]
    assert errors[3] == (
        "line 4: `labels[1].annotator`: the same annotator twice on one output of a project"
    )
    assert (Dataset.objects.count(), django_user_model.objects.count()) == counts
