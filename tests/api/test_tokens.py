"""POST /api/tokens: a script signs in once with its password and keeps a token."""

from __future__ import annotations

import base64

import pytest

from annotate.accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def basic(username: str, password: str) -> dict:
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {pair}"}


def post(client, body: dict, **headers):
    return client.post("/api/tokens", body, content_type="application/json", **headers)


def test_a_password_makes_a_token_shown_once_that_then_works(client, annotator):
    made = post(client, {"name": "nightly export"}, **basic("annie", "pw-annie-123"))
    assert made.status_code == 201, made.content
    body = made.json()
    secret = body["token"]
    assert body["name"] == "nightly export" and secret.startswith(body["prefix"])
    row = ApiToken.objects.get(pk=body["id"], user=annotator)
    # Only the digest is kept: the secret is in no column, so no later response can show it.
    assert row.digest == ApiToken.hash(secret)
    assert secret not in (row.name, row.prefix, row.digest)
    mine = client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert mine.status_code == 200 and mine.json() == []


def test_a_token_cannot_make_another(client, annotator):
    _, secret = ApiToken.issue(annotator, "leaked")
    refused = post(client, {"name": "more"}, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert refused.status_code == 401
    assert ApiToken.objects.filter(user=annotator).count() == 1


def test_a_wrong_password_or_none_makes_no_token(client, annotator):
    assert post(client, {"name": "x"}, **basic("annie", "wrong")).status_code == 401
    assert post(client, {"name": "x"}).status_code == 401
    assert not ApiToken.objects.exists()


def test_the_browser_session_makes_one_too(client, annotator):
    client.force_login(annotator)
    made = post(client, {"name": "from the browser"})
    assert made.status_code == 201 and ApiToken.objects.filter(user=annotator).count() == 1


def test_a_bad_name_is_a_422(client, annotator):
    for body in ({"name": ""}, {"name": "x" * 101}, {}, {"name": "x", "user": "owner"}):
        refused = post(client, body, **basic("annie", "pw-annie-123"))
        assert refused.status_code == 422, body
    assert not ApiToken.objects.exists()
