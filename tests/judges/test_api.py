"""The judges' API: attach, change, start, follow a judge run and read its labels; who may."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from annotate.judges.models import Judge, JudgeLabel, JudgeRun
from inference.models import Run
from tests.conftest import join, make_project
from tests.judges.conftest import answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner, mlx_config):
    return make_project(owner, mlx_config, n=3)


def call(client, method, url, body=None):
    send = getattr(client, method)
    if body is None:
        return send(url)
    return send(url, json.dumps(body), content_type="application/json")


def test_an_owner_attaches_starts_and_follows_a_judge_through_the_api(
    owner_client, project, mlx_config, django_capture_on_commit_callbacks
):
    response = call(
        owner_client,
        "post",
        f"/api/projects/{project.pk}/judges",
        {"model_config_id": mlx_config.pk},
    )
    assert response.status_code == 201, response.content
    judge = response.json()
    assert judge["version"] == 1 and "{output}" in judge["rubric"] and judge["name"] == "demo"
    assert [j["id"] for j in owner_client.get(f"/api/projects/{project.pk}/judges").json()] == [
        judge["id"]
    ]

    patched = call(owner_client, "patch", f"/api/judges/{judge['id']}", {"few_shot": 1})
    assert patched.json()["version"] == 1  # the rubric did not change
    new_rubric = judge["rubric"] + "\nBe brief."
    patched = call(owner_client, "patch", f"/api/judges/{judge['id']}", {"rubric": new_rubric})
    assert patched.json()["version"] == 2

    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        started = call(owner_client, "post", f"/api/judges/{judge['id']}/runs", {})
    assert started.status_code == 201, started.content
    jr = started.json()
    assert (jr["version"], jr["total"], jr["done"], jr["labels"], jr["status"]) == (
        2,
        3,
        0,
        0,
        "queued",
    )
    assert jr["rubric"].endswith("Be brief.")

    judge_run = JudgeRun.objects.get(pk=jr["id"])
    good = json.dumps({"reasoning": "ok", "quality": 3, "correct": "pass"})
    answer(judge_run, lambda g: good, django_capture_on_commit_callbacks)
    followed = owner_client.get(f"/api/judge-runs/{jr['id']}").json()
    assert (followed["status"], followed["done"], followed["percent"], followed["labels"]) == (
        "completed",
        3,
        100,
        3,
    )
    assert followed["consistency"] is None  # not a comparison
    labels = owner_client.get(f"/api/judge-runs/{jr['id']}/labels?limit=2").json()
    assert labels["count"] == 3 and len(labels["items"]) == 2
    numbers = set(project.tasks.values_list("number", flat=True))
    assert {item["task"] for item in labels["items"]} <= numbers
    assert labels["items"][0]["answers"] == {"quality": 3, "correct": "pass"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"model_config_id": 10**9}, None),  # 404
        ({"model_config_id": 1, "inconsistent": "maybe"}, None),  # 422 by the schema
        ({"model_config_id": 1, "rubric": "No output shown."}, "add {output}"),
        ({"model_config_id": 1, "few_shot": 99}, None),
        ({"model_config_id": 1, "colour": "red"}, None),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_is_made(
    owner_client, project, mlx_config, body, detail
):
    if body["model_config_id"] == 1:
        body["model_config_id"] = mlx_config.pk
    response = call(owner_client, "post", f"/api/projects/{project.pk}/judges", body)
    assert response.status_code in (404, 422), response.content
    if detail:
        assert detail in response.json()["detail"]
    assert not Judge.objects.exists()


def test_a_project_without_outputs_in_its_human_sample_says_so(owner_client, project, mlx_config):
    judge = call(
        owner_client,
        "post",
        f"/api/projects/{project.pk}/judges",
        {"model_config_id": mlx_config.pk},
    ).json()
    response = call(owner_client, "post", f"/api/judges/{judge['id']}/runs", {"sample_only": True})
    assert response.status_code == 409 and "human sample" in response.json()["detail"]
    assert not JudgeRun.objects.exists()


@pytest.mark.parametrize("role", ["annotator", "reviewer", None])
def test_non_owners_are_refused_by_the_api(client, owner, project, mlx_config, annotator, role):
    if role:
        join(project, annotator, role)
    judge = Judge.objects.create(
        project=project, model_config=mlx_config, name="j", rubric="{output}", created_by=owner
    )
    judge_run = JudgeRun.objects.create(judge=judge, version=1, rubric="{output}")
    JudgeLabel.objects.create(judge_run=judge_run, task=project.tasks.first(), answers={})
    client.force_login(annotator)
    for method, url, body in [
        ("get", f"/api/projects/{project.pk}/judges", None),
        ("post", f"/api/projects/{project.pk}/judges", {"model_config_id": mlx_config.pk}),
        ("get", f"/api/judges/{judge.pk}", None),
        ("patch", f"/api/judges/{judge.pk}", {"name": "mine"}),
        ("post", f"/api/judges/{judge.pk}/runs", {}),
        ("get", f"/api/judge-runs/{judge_run.pk}", None),
        ("get", f"/api/judge-runs/{judge_run.pk}/labels", None),
    ]:
        assert call(client, method, url, body).status_code in (403, 404), (method, url)
    judge.refresh_from_db()
    assert judge.name == "j" and Judge.objects.count() == 1 and Run.objects.count() == 1
