"""A background import that no worker takes (the message lost, or no worker on the api queue)
neither waits for ever nor keeps its upload: after IMPORT_JOB_MAX_WAIT_S it fails with the
reason, and stored uploads no unfinished job holds are removed, by every worker as it starts
and by `manage.py sweep_imports`. Meanwhile its page says that no worker takes imports."""

from __future__ import annotations

import io
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from annotate.datasets import jobs
from annotate.datasets.models import Dataset, ImportJob
from inference.watchdog import heartbeat
from tests.conftest import wait_for
from tests.datasets.test_background_import import prompts_file

HOUR = 3600


@pytest.fixture(autouse=True)
def _no_uploads_left():
    """Other tests count the stored uploads: leave none behind."""
    yield
    for path in (Path(settings.VAR_DIR) / "imports").glob("*"):
        path.unlink(missing_ok=True)


def queued_job(owner, age_s: float) -> ImportJob:
    """A stored upload whose job was made `age_s` seconds ago and never sent to a worker."""
    job = jobs.store_upload(owner, io.BytesIO(prompts_file(50)), "big.jsonl")
    then = time.time() - age_s
    os.utime(job.path, (then, then))
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=age_s))
    return ImportJob.objects.get(pk=job.pk)


def stray_upload(name: str, age_s: float) -> Path:
    path = Path(settings.VAR_DIR) / "imports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"prompt": "left behind"}\n')
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


@pytest.mark.django_db
def test_an_import_no_worker_takes_fails_after_the_wait_and_its_upload_goes(owner, settings):
    settings.IMPORT_JOB_MAX_WAIT_S = HOUR
    stale = queued_job(owner, 2 * HOUR)
    young = queued_job(owner, 60)
    old_stray = stray_upload("0123abcd.upload", 3 * HOUR)  # a job deleted in the admin, say
    new_stray = stray_upload("4567cdef.upload", 5)  # being stored: its job is not made yet

    out = io.StringIO()
    call_command("sweep_imports", stdout=out)
    assert "Imports failed after 1 h without a worker: 1; stored uploads removed: 1." in (
        out.getvalue()
    )

    stale.refresh_from_db()
    assert stale.status == "failed" and stale.finished_at
    assert stale.errors == [
        "No worker took this import within 1 h; nothing was imported. "
        "Check that a worker consumes the api queue, then upload it again."
    ]
    assert not Path(stale.path).exists() and not old_stray.exists()
    assert ImportJob.objects.get(pk=young.pk).status == "queued" and Path(young.path).exists()
    assert new_stray.exists()
    # A message that turns up late finds the job ended and imports nothing.
    assert jobs.run_import_job(stale.pk) is None
    assert Dataset.objects.count() == 0
    # The page gives the reason, not "1 bad line".
    client = Client()
    client.force_login(owner)
    page = client.get(f"/datasets/imports/{stale.pk}/").content.decode()
    assert "Nothing was imported.</strong>" in page and "No worker took this import" in page
    assert "bad line" not in page


@pytest.mark.django_db
def test_an_import_that_stopped_being_read_fails_too(owner, settings):
    settings.IMPORT_JOB_MAX_WAIT_S = HOUR
    job = queued_job(owner, 3 * HOUR)
    ImportJob.objects.filter(pk=job.pk).update(status="running")
    job.progress_path.write_text("100")  # the worker read 100 bytes, two hours ago
    then = time.time() - 2 * HOUR
    os.utime(job.progress_path, (then, then))
    assert jobs.sweep_import_jobs() == (1, 0)
    job.refresh_from_db()
    assert job.status == "failed" and "stopped reading this file 1 h ago" in job.errors[0]
    assert not job.progress_path.exists() and not Path(job.path).exists()
    # One read a minute ago keeps a job alive, however old it is.
    alive = queued_job(owner, 3 * HOUR)
    ImportJob.objects.filter(pk=alive.pk).update(status="running")
    alive.progress_path.write_text("100")
    assert jobs.sweep_import_jobs() == (0, 0)
    assert ImportJob.objects.get(pk=alive.pk).status == "running"


@pytest.mark.django_db
def test_the_page_says_when_no_worker_takes_imports(owner):
    job = queued_job(owner, 5)
    client = Client()
    client.force_login(owner)
    page = client.get(f"/datasets/imports/{job.pk}/").content.decode()
    assert 'data-testid="no-import-worker"' in page and "-Q api" in page
    heartbeat("api@box", ["api"])  # a worker on the api queue, heard from just now
    page = client.get(f"/datasets/imports/{job.pk}/").content.decode()
    assert 'data-testid="no-import-worker"' not in page and "waiting for a worker" in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_worker_sweeps_as_it_starts(owner, start_worker):
    stale = queued_job(owner, 2 * HOUR)
    start_worker("sweeper", queues="api", env={"IMPORT_JOB_MAX_WAIT_S": str(HOUR)})
    wait_for(lambda: ImportJob.objects.get(pk=stale.pk).status == "failed", what="the stale import")
    assert not Path(stale.path).exists()
