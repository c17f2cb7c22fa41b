"""Values at the edges get a clear 4xx, never a 500 (issue 13, finding 10)."""

from __future__ import annotations

import pytest

from annotate.accounts.models import ApiToken
from annotate.labeling import annotation_queue
from tests.conftest import make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, owner):
    _, token = ApiToken.issue(owner, "edges")
    return lambda method, url, body: getattr(client, method)(
        url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_a_label_answer_too_large_for_a_float_is_refused(api, owner, mlx_config):
    project = make_project(owner, mlx_config, n=1)
    held = annotation_queue.next_task(project, owner)
    url = f"/api/projects/{project.pk}/tasks/{held.task.number}/label"
    response = api("post", url, '{"answers": {"quality": 1e400, "correct": "pass"}}')
    assert response.status_code == 422, response.content


def test_a_seed_past_64_bits_is_refused(api):
    body = f'{{"name": "s", "backend": "mlx", "model": "m", "seed": {2**70}}}'
    assert api("post", "/api/models", body).status_code == 422


def test_the_page_refuses_a_seed_past_64_bits_too(client, owner):
    client.force_login(owner)
    form = {"name": "s", "backend": "mlx", "model": "m", "max_tokens": 16, "seed": 2**70}
    response = client.post("/models/new/", {**form, "stop": "", "batch_size": 8})
    assert response.status_code == 400 and b"less than or equal to" in response.content


def test_the_export_page_refuses_an_infinite_rating_filter(client, owner):
    client.force_login(owner)
    response = client.post("/exports/", {"format": "jsonl", "min_rating": "1e999"})
    assert response.status_code == 200 and b"Enter a number" in response.content


def test_an_export_filter_past_a_float_is_refused(api):
    response = api("post", "/api/exports", '{"format": "jsonl", "min_rating": 1e999}')
    assert response.status_code == 422


@pytest.mark.parametrize(
    "url", ["/stats/?config=12345678901234567890123", "/stats.csv?config=12345678901234567890123"]
)
def test_statistics_with_a_huge_id_answer_plainly(client, owner, url):
    client.force_login(owner)
    assert client.get(url).status_code in (200, 400)


def test_a_body_over_the_limit_is_refused_with_debug_on(api, settings):
    settings.DEBUG = True
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    response = api("post", "/api/models", body)
    assert (
        response.status_code == 413 and "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]
    )
