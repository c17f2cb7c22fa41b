"""The health page as an operator reads it: when each worker was last heard from, in words,
and the models a worker holds as soon as it has loaded one."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from inference import backends
from inference.actions import create_run
from inference.models import WorkerHeartbeat
from inference.runner import process_run
from tests.conftest import make_dataset


def test_last_seen_reads_as_time_ago_with_the_exact_time_on_hover(owner_client):
    seen = timezone.now() - timedelta(minutes=3, seconds=10)
    WorkerHeartbeat.objects.create(
        hostname="mlx@box", queues=["mlx"], loaded=[], pid=1, machine="box", last_seen=seen
    )
    html = owner_client.get("/health/").content.decode()
    row = re.search(r"<tr><td>mlx@box</td>.*?</tr>", html, re.S).group(0)
    shown = re.sub(r"<[^>]+>", " ", row)
    assert "3\xa0minutes ago" in shown
    assert seen.isoformat()[:16] not in shown  # no raw ISO timestamp in the text
    assert f'title="{seen:%Y-%m-%d %H:%M:%S} UTC"' in row


def test_a_worker_seen_seconds_ago_reads_so_not_as_0_minutes(owner_client):
    seen = timezone.now() - timedelta(seconds=20)
    WorkerHeartbeat.objects.create(
        hostname="mlx@box", queues=["mlx"], loaded=[], pid=1, machine="box", last_seen=seen
    )
    html = owner_client.get("/health/").content.decode()
    row = re.search(r"<tr><td>mlx@box</td>.*?</tr>", html, re.S).group(0)
    shown = re.sub(r"<[^>]+>", " ", row)
    assert re.search(r"\b2\d\xa0seconds ago", shown), shown
    assert "minutes" not in shown


def test_a_worker_reports_a_model_when_it_loads_it_not_at_the_next_heartbeat(
    owner, mlx_config, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(backends, "_instances", {})  # this process holds no model yet
    WorkerHeartbeat.objects.create(
        hostname="mlx@box", queues=["mlx"], loaded=[], pid=1, machine="box"
    )
    with django_capture_on_commit_callbacks(execute=False):  # no broker: run the body here
        run = create_run(owner, make_dataset(owner, 2).pk, mlx_config.pk)
    process_run(run.pk, worker="mlx@box")
    assert WorkerHeartbeat.objects.get().loaded == [f"mlx:{mlx_config.model}"]
