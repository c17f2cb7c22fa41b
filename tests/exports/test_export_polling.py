"""A background export on SQLite (the embedded default) finishes while a script polls it with
an API token, each poll writing the token's last use: the export's progress writes and the
polls' writes never meet a "database is locked"."""

from __future__ import annotations

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from annotate.accounts.models import ApiToken
from annotate.exports.formats import CHUNK
from annotate.exports.models import Export
from inference.actions import create_run
from inference.models import GenerationStatus
from tests.conftest import make_dataset

# The failure this guards against is SQLite's (a read snapshot on the worker's connection).
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.requires_database("sqlite"),
]
# More outputs than one chunk of the export's reads: progress is written between chunks.
OUTPUTS = 3 * CHUNK + 100


def test_an_export_polled_with_a_token_finishes(owner, mlx_config, start_worker, settings):
    settings.EXPORT_INLINE_MAX = 10
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):  # no generation here
        run = create_run(owner, make_dataset(owner, OUTPUTS).pk, mlx_config.pk)
    run.generations.update(status=GenerationStatus.DONE, output="def answer():\n    return 1\n")
    _, token = ApiToken.issue(owner, "poller")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    api = Client(raise_request_exception=False)
    start_worker()

    failures, polls, body = [], 0, {}
    for fmt in ("jsonl", "csv"):
        made = api.post(
            "/api/exports", {"format": fmt, "run": run.pk}, content_type="application/json", **auth
        )
        assert made.status_code == 201, made.content
        assert made.json()["status"] == "queued"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # As if a minute had passed: each poll writes the token's last use, as a busy
            # instance's other requests write while the export reads.
            ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
            polled = api.get(f"/api/exports/{made.json()['id']}", **auth)
            polls += 1
            if polled.status_code != 200:
                failures.append((polled.status_code, polled.content[:200]))
                continue
            body = polled.json()
            if body["status"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert (body["status"], body["error"]) == ("done", ""), body
        assert (body["rows"], body["done"], body["total"]) == (OUTPUTS,) * 3
    assert failures == []
    assert polls > 4  # the polls did meet the exports while they ran
    assert Export.objects.filter(status="done").count() == 2
