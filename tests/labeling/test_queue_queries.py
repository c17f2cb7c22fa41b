"""Many annotators at once: "next" and "submit" send few SQL statements, through the page and
the API (each statement is a round trip to the database under every request). The counts
include the SAVEPOINTs of the test's own transaction; they were 8/16 (page next/submit) and
17/15 (API) before the project came with the caller's role and the task with their label,
and the API's next 13 (9 now) before the held task came with its outputs and item."""

from __future__ import annotations

import pytest
from django.test import Client

from annotate.accounts.models import ApiToken
from annotate.labeling.models import Annotation, AnnotationState
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db

ANSWERS = {"quality": 3, "correct": "pass"}


@pytest.fixture
def project(owner, annotator, mlx_config):
    project = make_project(owner, mlx_config, n=5, overlap=2)
    join(project, annotator)
    return project


def token_client(user) -> Client:
    client = Client()
    _, secret = ApiToken.issue(user, "queue")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def submitted(project, annotator) -> list[dict]:
    labels = Annotation.objects.filter(
        task__project=project, annotator=annotator, state=AnnotationState.SUBMITTED
    )
    return list(labels.values_list("answers", flat=True))


def test_the_api_takes_and_labels_an_item_in_few_statements(
    project, annotator, django_assert_max_num_queries
):
    api = token_client(annotator)
    api.get(f"/api/projects/{project.pk}")  # the token's first use is written once
    with django_assert_max_num_queries(9):
        taken = api.post(f"/api/projects/{project.pk}/next")
    assert taken.status_code == 200
    number = taken.json()["task_id"]
    body = {"answers": ANSWERS, "time_spent_s": 5}
    with django_assert_max_num_queries(10):
        saved = api.post(
            f"/api/projects/{project.pk}/tasks/{number}/label",
            body,
            content_type="application/json",
        )
    assert saved.status_code == 200
    assert saved.json()["annotator"] == annotator.username
    assert saved.json()["task_id"] == number
    assert submitted(project, annotator) == [ANSWERS]


def test_the_page_takes_and_labels_an_item_in_few_statements(
    client, project, annotator, django_assert_max_num_queries
):
    client.force_login(annotator)
    with django_assert_max_num_queries(10):
        taken = client.get(f"/projects/{project.pk}/next/")
    assert taken.status_code == 302
    task_url = taken["Location"]
    with django_assert_max_num_queries(11):
        saved = client.post(task_url, {"quality": "3", "correct": "pass", "time_spent_s": "5"})
    assert saved.status_code == 302
    assert submitted(project, annotator) == [ANSWERS]


def test_an_annotator_still_cannot_label_an_item_they_were_not_given(
    client, owner, mlx_config, annotator, annotator2
):
    project = make_project(owner, mlx_config, n=5, overlap=1)
    join(project, annotator)
    join(project, annotator2)
    other = token_client(annotator2).post(f"/api/projects/{project.pk}/next").json()["task_id"]
    mine = token_client(annotator).post(f"/api/projects/{project.pk}/next").json()["task_id"]
    client.force_login(annotator)
    assert client.get(f"/projects/{project.pk}/tasks/{mine}/").status_code == 200
    body = {"answers": ANSWERS, "time_spent_s": 1}
    label = f"/api/projects/{project.pk}/tasks/{other}/label"
    refused = token_client(annotator).post(label, body, content_type="application/json")
    assert refused.status_code == 403
    page = client.post(f"/projects/{project.pk}/tasks/{other}/", {"quality": "3"})
    assert page.status_code == 403
    assert submitted(project, annotator) == []
