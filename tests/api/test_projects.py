from __future__ import annotations

import pytest

from annotate.labeling import annotation_queue
from annotate.labeling.models import Project
from inference.actions import create_run
from tests.conftest import join, make_dataset, make_project

pytestmark = pytest.mark.django_db


def test_labeling_through_the_api_with_the_pages_roles(
    client, owner, mlx_config, annotator, reviewer, outsider
):
    source = make_project(owner, mlx_config, n=2, overlap=1)
    client.force_login(owner)
    made = client.post(
        "/api/projects",
        {
            "name": "api",
            "runs": [source.runs.get().pk],
            "blind": True,
            "questions": [{"label": "Good?", "kind": "passfail"}],
        },
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    project = Project.objects.get(name="api")
    assert project.tasks.count() == 2
    for username, role in (("annie", "annotator"), ("rita", "reviewer")):
        added = client.post(
            f"/api/projects/{project.pk}/members",
            {"username": username, "role": role},
            content_type="application/json",
        )
        assert added.status_code == 201

    client.force_login(annotator)
    held = client.post(f"/api/projects/{project.pk}/next").json()
    assert held["models"] is None and held["outputs"][0].startswith("def answer_")
    bad = client.post(
        f"/api/projects/{project.pk}/tasks/{held['task_id']}/label",
        {"answers": {"good": "maybe"}},
        content_type="application/json",
    )
    assert bad.status_code == 422 and "not one of pass, fail" in bad.json()["detail"]
    ok = client.post(
        f"/api/projects/{project.pk}/tasks/{held['task_id']}/label",
        {"answers": {"good": "pass"}, "time_spent_s": 3},
        content_type="application/json",
    )
    assert ok.status_code == 200 and ok.json()["state"] == "submitted"
    assert client.get(f"/api/projects/{project.pk}/agreement").status_code == 403
    assert len(client.get(f"/api/projects/{project.pk}/labels").json()) == 1

    client.force_login(reviewer)
    final = client.post(
        f"/api/projects/{project.pk}/tasks/{held['task_id']}/final",
        {"answers": {"good": "fail"}},
        content_type="application/json",
    )
    assert final.json()["final"] == {"good": "fail"}
    assert client.get(f"/api/projects/{project.pk}/progress").json()["reviewed"] == 1

    client.force_login(outsider)
    assert client.get(f"/api/projects/{project.pk}").status_code == 404
    assert client.get("/api/projects").json() == []


def test_an_annotator_gets_no_content_when_the_queue_is_empty(client, owner, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=1)
    join(project, annotator)
    client.force_login(annotator)
    first = client.post(f"/api/projects/{project.pk}/next").json()
    client.post(f"/api/projects/{project.pk}/tasks/{first['task_id']}/skip")
    assert client.post(f"/api/projects/{project.pk}/next").status_code == 204


def test_owners_edit_sync_and_staff_projects_through_the_api(
    client, owner, mlx_config, annotator, annotator2, reviewer
):
    project = make_project(owner, mlx_config, n=2, overlap=2)
    join(project, annotator)
    join(project, annotator2)
    join(project, reviewer, role="reviewer")
    url = f"/api/projects/{project.pk}"
    for person, verdict in ((annotator, "pass"), (annotator2, "fail")):
        held = annotation_queue.next_task(project, person)
        annotation_queue.submit(held, {"quality": 3, "correct": verdict}, 1.0)
    first_task = held.task.number

    client.force_login(reviewer)
    assert client.get(f"{url}/disagreements").json() == [first_task]
    assert client.put(url, {"name": "x"}, content_type="application/json").status_code == 403

    client.force_login(owner)
    body = {
        "name": "renamed",
        "guidelines": "Be strict.",
        "overlap": 1,
        "runs": [project.runs.get().pk],
    }
    edited = client.put(url, body, content_type="application/json")
    assert edited.status_code == 200, edited.content
    project.refresh_from_db()
    assert (project.name, project.guidelines, project.overlap) == ("renamed", "Be strict.", 1)
    assert project.questions[0]["key"] == "quality"  # questions left out: kept
    changed = client.put(url, {**body, "kind": "compare"}, content_type="application/json")
    assert changed.status_code == 409

    # Outputs of a run finished later join the queue when the owner syncs.
    other = create_run(owner, make_dataset(owner, 3).pk, mlx_config.pk)
    other.generations.update(status="done", output="def later(): ...")
    client.put(url, {**body, "runs": []}, content_type="application/json")
    project.runs.add(other)
    assert client.post(f"{url}/sync").json() == {"added": 3}

    assert client.delete(f"{url}/members/annie").status_code == 204
    assert client.delete(f"{url}/members/annie").status_code == 404
    assert not project.members.filter(user=annotator).exists()
    assert project.tasks.filter(annotations__annotator=annotator).exists()  # labels stay
