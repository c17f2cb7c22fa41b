"""The judge pages: attach a judge in the browser's form, its page, start judging, and who may."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from annotate.judges.models import Judge, JudgeRun
from annotate.judges.rubrics import POINTWISE
from inference.models import Run
from inference.structured import response_schema
from tests.conftest import join, make_project
from tests.judges.conftest import answer, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner, mlx_config):
    return make_project(owner, mlx_config, n=3, guidelines="Rate <b>honestly</b>.")


def test_the_project_page_offers_to_attach_a_judge_and_the_form_has_the_default_rubric(
    owner_client, project
):
    page = owner_client.get(f"/projects/{project.pk}/").content.decode()
    assert "Judges" in page and f"/projects/{project.pk}/judges/new/" in page
    form = owner_client.get(f"/projects/{project.pk}/judges/new/").content.decode()
    assert "{questions}" in form and "The answer to judge:" in form  # the default, to edit


def test_an_owner_attaches_a_judge_starts_it_and_follows_it_to_the_run_page(
    owner_client, owner, project, mlx_config
):
    body = {
        "model_config": mlx_config.pk,
        "name": "",
        "rubric": POINTWISE,
        "few_shot": 2,
        "inconsistent": "tie",
    }
    response = owner_client.post(f"/projects/{project.pk}/judges/new/", body)
    judge = Judge.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == f"/judges/{judge.pk}/"
    assert (judge.name, judge.few_shot, judge.version) == ("demo", 2, 1)

    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        response = owner_client.post(f"/judges/{judge.pk}/runs/", follow=True)
    judge_run = JudgeRun.objects.get(judge=judge)
    run = judge_run.run
    assert run.total == 3 and response_schema(run.params)["required"] == [
        "reasoning",
        "quality",
        "correct",
        "issues",
        "comment",
    ]
    page = response.content.decode()
    assert f"/runs/{run.pk}/" in page and "Progress, cost, retry" in page
    prompt = run.dataset.items.first().prompt
    assert "Rate &lt;b&gt;" not in prompt and "Rate <b>honestly</b>." in prompt  # as written
    assert "(none)" in prompt  # no reference
    assert run.dataset.purpose == "judge"
    assert run.dataset.name not in owner_client.get("/datasets/").content.decode()
    run_page = owner_client.get(f"/runs/{run.pk}/").content.decode()
    assert 'data-testid="judge-run-note"' in run_page and f"/judges/{judge.pk}/" in run_page


def test_the_judge_page_shows_labels_escaped_and_a_new_rubric_is_a_new_version(
    owner_client, owner, project, mlx_config, django_capture_on_commit_callbacks
):
    judge, judge_run = start(owner, project, mlx_config)
    why = "<script>alert(1)</script> looks fine"
    good = json.dumps({"reasoning": why, "quality": 5, "correct": "pass"})
    answer(judge_run, lambda g: good, django_capture_on_commit_callbacks)
    page = owner_client.get(f"/judges/{judge.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert page.count("quality</code>=5") == 3

    body = {
        "model_config": mlx_config.pk,
        "name": "strict",
        "rubric": POINTWISE + "\nBe strict.",
        "few_shot": 0,
        "inconsistent": "tie",
    }
    assert owner_client.post(f"/judges/{judge.pk}/edit/", body).status_code == 302
    judge.refresh_from_db()
    assert (judge.name, judge.version) == ("strict", 2)
    bad = {**body, "rubric": "Rate it."}
    response = owner_client.post(f"/judges/{judge.pk}/edit/", bad, follow=True)
    assert "add {output}" in response.content.decode()
    judge.refresh_from_db()
    assert judge.version == 2 and judge.rubric.endswith("Be strict.")  # nothing lost


@pytest.mark.parametrize("role", ["annotator", "reviewer", None])
def test_people_who_do_not_own_the_project_cannot_attach_or_see_a_judge(
    client, owner, project, mlx_config, annotator, role
):
    if role:
        join(project, annotator, role)
    judge, _ = start(owner, project, mlx_config)
    client.force_login(annotator)
    assert client.get(f"/judges/{judge.pk}/").status_code in (403, 404)
    assert client.get(f"/projects/{project.pk}/judges/new/").status_code in (403, 404)
    body = {"model_config": mlx_config.pk, "rubric": POINTWISE, "few_shot": 0}
    assert client.post(f"/projects/{project.pk}/judges/new/", body).status_code in (403, 404)
    assert client.post(f"/judges/{judge.pk}/runs/").status_code in (403, 404)
    assert Judge.objects.count() == 1 and Run.objects.count() == 2


def test_another_projects_owner_cannot_touch_this_judge(
    client, owner, project, mlx_config, django_user_model
):
    from django.contrib.auth.models import Group

    other = django_user_model.objects.create_user("other-owner", password="pw-other-123")
    other.groups.add(Group.objects.get(name="Project owners"))
    make_project(other, mlx_config, n=1)
    judge, _ = start(owner, project, mlx_config)
    client.force_login(other)
    assert client.get(f"/judges/{judge.pk}/").status_code == 404
    assert client.post(f"/judges/{judge.pk}/runs/").status_code == 404
    assert JudgeRun.objects.filter(judge=judge).count() == 1


def test_a_new_rubric_versions_run_is_compared_with_the_old_on_the_judge_page(
    owner_client, owner, project, mlx_config, django_capture_on_commit_callbacks
):
    from annotate.judges.actions import start_judging, update_rubric

    judge, first = start(owner, project, mlx_config)
    good = json.dumps({"reasoning": "ok", "quality": 4, "correct": "pass"})
    answer(first, lambda g: good, django_capture_on_commit_callbacks)
    update_rubric(owner, judge.pk, {"rubric": judge.rubric + "\nBe strict."})
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        second = start_judging(owner, judge.pk)
    assert (first.version, second.version) == (1, 2)
    strict = json.dumps({"reasoning": "strict", "quality": 2, "correct": "fail"})
    answer(second, lambda g: strict, django_capture_on_commit_callbacks)

    page = owner_client.get(f"/judges/{judge.pk}/").content.decode()
    assert 'data-testid="judge-versions"' in page and "Rubric v1 against v2" in page
    assert page.count("quality</code>=2") == 3  # the newest run's labels
    older = owner_client.get(f"/judges/{judge.pk}/?run={first.pk}").content.decode()
    assert older.count("quality</code>=4") == 3 and 'data-testid="judge-versions"' not in older
