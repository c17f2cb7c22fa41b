from __future__ import annotations

import pytest

from annotate.models import Project
from tests.conftest import join, make_project

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
