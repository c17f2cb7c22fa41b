"""Deployment settings, sign-in throttling, health."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys

import pytest
from axes.utils import reset as axes_reset

from inference.models import WorkerHeartbeat
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def test_the_deploy_check_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "annotate.example.com",
        "DJANGO_SETTINGS_MODULE": "annotate.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "",
        "DJANGO_SETTINGS_MODULE": "annotate.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_sign_in_is_throttled_after_repeated_failures(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        response = client.post("/accounts/login/", {"username": "owner", "password": "nope"})
        assert response.status_code == 200
    # The failure that reaches the limit is answered as cooled down already.
    third = client.post("/accounts/login/", {"username": "owner", "password": "nope"})
    assert third.status_code == 429
    locked = client.post("/accounts/login/", {"username": "owner", "password": "pw-owner-123"})
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()

    token = base64.b64encode(b"owner:pw-owner-123").decode()
    api = client.get("/api/datasets", HTTP_AUTHORIZATION=f"Basic {token}")
    assert api.status_code == 429
    axes_reset(username="owner")  # what `manage.py axes_reset_username owner` does
    assert (
        client.post(
            "/accounts/login/", {"username": "owner", "password": "pw-owner-123"}
        ).status_code
        == 302
    )


def test_health_reports_services_workers_and_waiting_work(owner_client, client):
    WorkerHeartbeat.objects.create(
        hostname="mlx@studio",
        queues=["mlx"],
        loaded=["mlx:/models/qwen"],
        machine="studio (Apple M2)",
    )
    report = owner_client.get("/api/health").json()
    assert report["checks"]["database"]["ok"] and report["checks"]["broker"]["ok"]
    assert report["workers"][0]["models"] == ["mlx:/models/qwen"] and report["workers"][0]["online"]
    page = owner_client.get("/health/").content.decode()
    assert "mlx@studio" in page and "mlx:/models/qwen" in page
    assert client.get("/healthz").status_code == 200  # no login needed
