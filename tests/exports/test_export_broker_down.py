"""A background export asked for while the broker cannot be reached: the request answers with
a failed export that says why (no 500), rather than one queued for ever."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client
from kombu.exceptions import OperationalError

from annotate.accounts.models import ApiToken
from annotate.exports.models import Export
from annotate.exports.tasks import export_task
from inference.actions import create_run
from inference.models import GenerationStatus
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_export_the_broker_refuses_fails_with_its_reason(owner, mlx_config, settings):
    settings.EXPORT_INLINE_MAX = 5
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):  # no generation here
        run = create_run(owner, make_dataset(owner, 20).pk, mlx_config.pk)
    run.generations.update(status=GenerationStatus.DONE, output="four")
    _, token = ApiToken.issue(owner, "t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    refused = OperationalError("[Errno 111] Connection refused")
    with mock.patch.object(export_task, "apply_async", side_effect=refused):
        made = Client().post(
            "/api/exports",
            {"format": "jsonl", "run": run.pk},
            content_type="application/json",
            **auth,
        )
    assert made.status_code == 201, made.content
    export = Export.objects.get()
    assert export.status == "failed" and "task queue could not be reached" in export.error
    shown = Client().get(f"/api/exports/{export.pk}", **auth).json()
    assert shown["status"] == "failed"
