"""Undoing a skip (labeling.actions.unskip_item), through the page and the API: only the
annotator who skipped an item takes it back, and only while it still has a free slot."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from annotate.labeling.models import Annotation, AnnotationState, Task
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db

FULL = "has all the annotators it needs since you skipped it"
NOT_SKIPPED = "You have not skipped this item"


@pytest.fixture
def project(owner, mlx_config, annotator, annotator2, reviewer):
    project = make_project(owner, mlx_config, n=2, overlap=1)
    join(project, annotator)
    join(project, annotator2)
    join(project, reviewer, "reviewer")
    return project


def _skip_on_the_page(client, project) -> int:
    """Take the next item and skip it with the page's form; its number."""
    number = int(client.get(f"/projects/{project.pk}/next/")["Location"].split("/")[-2])
    skipped = client.post(f"/projects/{project.pk}/tasks/{number}/skip/")
    assert skipped.status_code == 302
    return number


def _mine(user, number: int) -> Annotation:
    return Annotation.objects.get(annotator=user, task__number=number)


def test_an_annotator_undoes_their_skip_on_the_page(client, project, annotator):
    client.force_login(annotator)
    skipped = _skip_on_the_page(client, project)
    following = client.get(f"/projects/{project.pk}/next/", follow=True)
    unskip_url = f"/projects/{project.pk}/tasks/{skipped}/unskip/"
    assert f"Item {skipped} skipped." in following.text
    assert f'action="{unskip_url}"' in following.text and "Undo skip" in following.text

    response = client.post(unskip_url)
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/tasks/{skipped}/"
    mine = _mine(annotator, skipped)
    assert mine.state == AnnotationState.HELD and mine.held_until > timezone.now()
    task = Task.objects.get(project=project, number=skipped)
    assert (task.claimed, task.is_full) == (1, True)

    page = client.get(response["Location"])
    assert 'id="skip-form"' in page.text and "Undo skip" not in page.text
    labeled = client.post(response["Location"], {"quality": "3", "correct": "fail"})
    assert labeled.status_code == 302
    mine.refresh_from_db()
    assert mine.state == AnnotationState.SUBMITTED
    assert mine.answers == {"quality": 3, "correct": "fail"}


def test_the_nothing_left_page_offers_the_last_skip_back(client, owner, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=1)
    join(project, annotator)
    client.force_login(annotator)
    skipped = _skip_on_the_page(client, project)
    done = client.get(f"/projects/{project.pk}/next/")
    assert "Nothing left for you" in done.text
    assert f'action="/projects/{project.pk}/tasks/{skipped}/unskip/"' in done.text
    assert "annotate/label.js" in done.text  # where the U key is handled


def test_an_annotator_undoes_their_skip_through_the_api(client, project, annotator):
    client.force_login(annotator)
    base = f"/api/projects/{project.pk}"
    held = client.post(f"{base}/next").json()
    number = held["task_id"]
    assert client.post(f"{base}/tasks/{number}/skip").status_code == 204

    response = client.post(f"{base}/tasks/{number}/unskip")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["task_id"], body["state"]) == (number, "held")
    assert body["outputs"] == held["outputs"]
    assert _mine(annotator, number).state == AnnotationState.HELD

    again = client.post(f"{base}/tasks/{number}/unskip")
    assert again.status_code == 409 and NOT_SKIPPED in again.json()["detail"]
    labeled = client.post(
        f"{base}/tasks/{number}/label",
        {"answers": {"quality": 5, "correct": "pass"}},
        content_type="application/json",
    )
    assert labeled.status_code == 200 and labeled.json()["state"] == "submitted"


def test_another_member_cannot_undo_an_annotators_skip(
    client, project, annotator, annotator2, reviewer, outsider
):
    client.force_login(annotator)
    skipped = _skip_on_the_page(client, project)
    page_url = f"/projects/{project.pk}/tasks/{skipped}/unskip/"
    api_url = f"/api/projects/{project.pk}/tasks/{skipped}/unskip"

    # Another annotator does not even see the item; an outsider not the project.
    for person, status in ((annotator2, 403), (outsider, 404)):
        client.force_login(person)
        assert client.post(page_url).status_code == status
        assert client.post(api_url).status_code == status
    # A reviewer sees it, but has no skip of their own to undo.
    client.force_login(reviewer)
    page = client.post(page_url)  # sent on to the next item, told why
    assert page.status_code == 302 and page["Location"] == f"/projects/{project.pk}/next/"
    assert NOT_SKIPPED in " ".join(map(str, get_messages(page.wsgi_request)))
    api = client.post(api_url)
    assert api.status_code == 409 and NOT_SKIPPED in api.json()["detail"]

    assert _mine(annotator, skipped).state == AnnotationState.SKIPPED
    assert not Annotation.objects.filter(task__number=skipped).exclude(annotator=annotator)
    assert Task.objects.get(project=project, number=skipped).claimed == 0


def test_a_skip_cannot_be_undone_once_others_filled_the_item(
    client, project, annotator, annotator2
):
    client.force_login(annotator)
    skipped = _skip_on_the_page(client, project)
    client.force_login(annotator2)  # the freed slot goes to the next person who asks
    taken = client.post(f"/api/projects/{project.pk}/next").json()
    assert taken["task_id"] == skipped

    client.force_login(annotator)
    page = client.post(f"/projects/{project.pk}/tasks/{skipped}/unskip/", follow=True)
    assert FULL in page.text
    assert page.redirect_chain[0][0] == f"/projects/{project.pk}/next/"
    api = client.post(f"/api/projects/{project.pk}/tasks/{skipped}/unskip")
    assert api.status_code == 409 and FULL in api.json()["detail"]

    assert _mine(annotator, skipped).state == AnnotationState.SKIPPED
    assert _mine(annotator2, skipped).state == AnnotationState.HELD
    assert Task.objects.get(project=project, number=skipped).claimed == 1
