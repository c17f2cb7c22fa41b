from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.accounts.models import ApiToken
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db


def show(label, call):
    with CaptureQueriesContext(connection) as q:
        r = call()
    print(f"\n=== {label}: {len(q)} status {r.status_code}")
    for s in q.captured_queries:
        print("  ", s["sql"][:230])
    return r


def test_probe(client, owner, annotator, mlx_config):
    project = make_project(owner, mlx_config, n=5, overlap=2)
    join(project, annotator)
    client.force_login(annotator)
    client.get(f"/projects/{project.pk}/next/")
    r = show("page next", lambda: client.get(f"/projects/{project.pk}/next/"))
    url = r["Location"]
    show("page task", lambda: client.get(url))
    show("page submit", lambda: client.post(url, {"quality": "3", "correct": "pass", "time_spent_s": "5"}))
    from django.test import Client
    api = Client()
    _, secret = ApiToken.issue(annotator, "q")
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    r = show("api next", lambda: api.post(f"/api/projects/{project.pk}/next"))
    n = r.json()["task_id"]
    show("api submit", lambda: api.post(f"/api/projects/{project.pk}/tasks/{n}/label", {"answers": {"quality": 3, "correct": "pass"}, "time_spent_s": 5}, content_type="application/json"))
    s = Client(); s.force_login(annotator)
    r = show("api next (session)", lambda: s.post(f"/api/projects/{project.pk}/next"))
