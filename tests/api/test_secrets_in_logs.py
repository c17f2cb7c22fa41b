"""No password, token or key reaches a log line, at any level, even with DEBUG on (issue 13,
finding 11: django-ninja logged `Unexpected auth - 'Basic <base64 user:password>'`)."""

from __future__ import annotations

import base64
import logging

import pytest

from annotate.accounts.models import ApiToken

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def test_no_secret_reaches_the_logs(client, django_user_model, caplog, settings):
    settings.DEBUG = True  # ninja logs the header only in DEBUG: the worst case
    user = django_user_model.objects.create_superuser("ada", password=PASSWORD)
    _, token = ApiToken.issue(user, "script")
    basic = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    wrong = base64.b64encode(b"ada:not the password").decode()
    headers = [
        f"Basic {basic}",
        f"Basic {wrong}",
        f"Bearer {token}",
        "Bearer not-a-token-at-all",
        f"Token {token}",  # a scheme nobody speaks
        basic,  # no scheme at all
    ]
    caplog.set_level(logging.DEBUG)
    statuses = [
        client.get("/api/models", HTTP_AUTHORIZATION=header).status_code for header in headers
    ]
    assert statuses == [200, 401, 200, 401, 401, 200]
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args}" for r in caplog.records)
    assert caplog.records  # the requests did log (401s), so the check below means something
    for secret in (PASSWORD, basic, wrong, token, "not the password"):
        assert secret not in logged
