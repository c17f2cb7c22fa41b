"""A token's last use is written at most once a minute: a script polling the API makes reads,
not a write per request (on SQLite, one writer at a time for the whole database)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def _token_writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "apitoken" in q["sql"]]


def test_a_token_s_last_use_is_written_at_most_once_a_minute(client, owner):
    row, token = ApiToken.issue(owner, "poller")
    client.force_login(owner)
    assert "never" in client.get("/account/tokens/").content.decode()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    before = timezone.now()
    assert client.get("/api/exports", **auth).status_code == 200
    row.refresh_from_db()
    first = row.last_used_at
    assert first >= before
    assert first.strftime("%Y-%m-%d %H:%M") in client.get("/account/tokens/").content.decode()

    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert client.get("/api/exports", **auth).status_code == 200
    assert _token_writes(queries) == []
    row.refresh_from_db()
    assert row.last_used_at == first

    # A minute later, the next request writes it again.
    ApiToken.objects.update(last_used_at=first - timedelta(seconds=61))
    assert client.get("/api/exports", **auth).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at >= first


def test_two_requests_at_once_write_the_last_use_once(client, owner):
    row, token = ApiToken.issue(owner, "poller")
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=5))
    other = timezone.now() - timedelta(seconds=1)
    first = QuerySet.first

    def read_then_another_request_writes(queryset):
        # This request has read the stale row; another request writes its use before this
        # one's UPDATE runs.
        found = first(queryset)
        if queryset.model is ApiToken:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=other)
        return found

    with mock.patch.object(
        QuerySet, "first", autospec=True, side_effect=read_then_another_request_writes
    ):
        response = client.get("/api/exports", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.last_used_at == other
