from __future__ import annotations

import re

import pytest

from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, AnnotationState, Project, Task
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db
HOSTILE = (
    '<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n'
    '[click](javascript:alert(3))\n\n```python\nprint("<b>hi</b>")\n```\n'
)


@pytest.fixture
def project(owner, mlx_config, annotator, reviewer):
    project = make_project(owner, mlx_config, n=3, overlap=2)
    join(project, annotator)
    join(project, reviewer, "reviewer")
    return project


def label(client, project, answers):
    response = client.get(f"/projects/{project.pk}/next/")
    assert response.status_code == 302
    task_url = response["Location"]
    return task_url, client.post(task_url, answers)


def test_an_annotator_labels_and_gets_the_next_item(client, project, annotator):
    client.force_login(annotator)
    url, response = label(
        client,
        project,
        {"quality": "4", "correct": "pass", "issues": ["refusal"], "time_spent_s": "7.5"},
    )
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/next/"
    saved = Annotation.objects.get(annotator=annotator, state=AnnotationState.SUBMITTED)
    # The correction box, sent untouched, is no correction.
    assert saved.answers == {"quality": 4, "correct": "pass", "issues": ["refusal"]}
    assert saved.time_spent_s == 7.5
    # Going back to the labeled item shows the answers, ready to edit.
    page = client.get(url).content.decode()
    assert re.search(r'value="4"\s+checked', page)


def test_a_missing_answer_is_refused_with_its_reason(client, project, annotator):
    client.force_login(annotator)
    _, response = label(client, project, {"correct": "pass"})
    assert response.status_code == 400
    assert "Quality: an answer is required." in response.content.decode()
    assert not Annotation.objects.filter(state=AnnotationState.SUBMITTED).exists()


def test_blind_mode_keeps_the_model_out_of_the_page(client, project, annotator, mlx_config):
    client.force_login(annotator)
    html = client.get(client.get(f"/projects/{project.pk}/next/")["Location"]).content.decode()
    assert mlx_config.model not in html and mlx_config.name not in html
    assert "/generations/" not in html and "/runs/" not in html
    project.blind = False
    project.save()
    html = client.get(client.get(f"/projects/{project.pk}/next/")["Location"]).content.decode()
    assert mlx_config.model in html


def test_model_output_is_rendered_as_sanitized_markdown(client, owner, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=1, outputs=[HOSTILE])
    join(project, annotator)
    client.force_login(annotator)
    html = client.get(client.get(f"/projects/{project.pk}/next/")["Location"]).content.decode()
    rendered = html.split("data-rendered>", 1)[1].split("</div>", 1)[0]
    assert "<script" not in rendered and "<img" not in rendered
    assert 'href="javascript:' not in rendered  # the link is left as inert text
    assert '<span class="nb">print</span>' in rendered  # highlighted code
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the raw view, escaped


def test_roles_limit_what_each_person_sees(client, project, annotator, reviewer, outsider):
    client.force_login(outsider)
    assert client.get(f"/projects/{project.pk}/").status_code == 404
    assert client.get(f"/projects/{project.pk}/next/").status_code == 404
    client.force_login(annotator)
    for url in (
        "/datasets/",
        "/runs/",
        "/models/",
        f"/projects/{project.pk}/review/",
        f"/projects/{project.pk}/edit/",
    ):
        assert client.get(url).status_code == 403, url
    assert client.get("/api/runs").status_code == 403
    other = Task.objects.filter(project=project).last()
    assert client.get(f"/projects/{project.pk}/tasks/{other.number}/").status_code == 403
    client.force_login(reviewer)
    assert client.get(f"/projects/{project.pk}/review/").status_code == 200
    assert client.get(f"/projects/{project.pk}/edit/").status_code == 403


def test_a_reviewer_sees_disagreements_and_sets_the_final_label(
    client, project, annotator, annotator2, reviewer
):
    join(project, annotator2)
    for person, verdict in ((annotator, "pass"), (annotator2, "fail")):
        client.force_login(person)
        label(client, project, {"quality": "3", "correct": verdict})
    client.force_login(reviewer)
    listing = client.get(f"/projects/{project.pk}/review/?show=disagreements").content.decode()
    task = Task.objects.get(submitted=2)
    assert f"/projects/{project.pk}/review/{task.number}/" in listing
    page = client.get(f"/projects/{project.pk}/review/{task.number}/").content.decode()
    assert "annie" in page and "bert" in page
    response = client.post(
        f"/projects/{project.pk}/review/{task.number}/", {"quality": "2", "correct": "fail"}
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.final["correct"] == "fail" and task.reviewed_by == reviewer
    overview = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Krippendorff" in overview and "annie" in overview


def test_an_owner_builds_a_project_and_its_questions_in_the_browser(client, owner, mlx_config):
    source = make_project(owner, mlx_config, n=4)
    client.force_login(owner)
    form = client.get("/projects/new/")
    assert form.status_code == 200
    data = {
        "name": "Helpfulness",
        "kind": "label",
        "overlap": "2",
        "hold_s": "600",
        "blind": "on",
        "runs": [source.runs.get().pk],
        "guidelines": "Be **strict**.",
        "q-TOTAL_FORMS": "3",
        "q-INITIAL_FORMS": "0",
        "q-0-label": "Helpful",
        "q-0-kind": "rating",
        "q-0-min": "1",
        "q-0-max": "7",
        "q-0-required": "on",
        "q-1-label": "Problems",
        "q-1-kind": "multi",
        "q-1-options": "wrong, rude, long",
        "q-2-label": "",
        "q-2-kind": "text",
    }
    response = client.post("/projects/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(name="Helpfulness")
    assert [q["key"] for q in project.questions] == ["helpful", "problems"]
    assert project.questions[1]["options"] == ["wrong", "rude", "long"]
    assert project.tasks.count() == 4


def test_the_pages_htmx_submit_is_told_where_to_go_without_loading_the_next_item(
    client, owner, mlx_config, annotator
):
    project = make_project(owner, mlx_config, n=2)
    join(project, annotator)
    client.force_login(annotator)
    held = annotation_queue.next_task(project, annotator)
    response = client.post(
        f"/projects/{project.pk}/tasks/{held.task.number}/",
        {"quality": "4", "correct": "pass"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/projects/{project.pk}/next/"
    held.refresh_from_db()
    assert held.state == "submitted"
    # The next item is claimed only when the browser goes there, not by the submit.
    assert project.tasks.filter(annotations__annotator=annotator).count() == 1
