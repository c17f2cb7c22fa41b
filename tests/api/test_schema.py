"""Schemathesis against the OpenAPI schema: generated requests to every endpoint, as a signed-in
owner; no answer may be a server error, and every documented answer must match its schema."""

from __future__ import annotations

import base64

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from annotate.wsgi import application
from tests.conftest import make_dataset, make_project

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.specs.openapi.checks.response_schema_conformance,
]


@pytest.fixture
def auth(owner, mlx_config, django_capture_on_commit_callbacks):
    """Basic auth of an owner, some data to find; the WSGI app keeps the test's connection
    open (as Django's test client does)."""

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)

    make_project(owner, mlx_config, n=2)
    make_dataset(owner, 2)
    token = base64.b64encode(b"owner:pw-owner-123").decode()
    yield {"Authorization": f"Basic {token}"}
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_the_api_never_fails_and_matches_its_schema(case, auth, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # no broker: runs stay queued
        case.call_and_validate(headers=auth, checks=CHECKS)
