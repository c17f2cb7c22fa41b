"""Imports run by a worker (an upload above IMPORT_INLINE_MAX_BYTES), and the import both paths
share: the file's dataset and, for a file of outputs, its project.

1. The upload is copied in chunks under VAR_DIR/imports and an ImportJob made (store_upload).
2. A worker runs it (run_import_job): the same import as in a request, all or nothing, while
   the file's bytes read so far go to a small file beside the upload (ImportJob.progress_path),
   a few times a second; on SQLite the import's transaction holds the write lock until it
   commits, so the database cannot carry the progress.
3. The job ends done (its dataset and summary) or failed (the bad lines, or a generic message
   for an unexpected error, which is logged); either way the stored file goes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotate.datasets import importing
from annotate.datasets.models import Dataset, ImportJob, ImportStatus
from annotate.datasets.records import ImportFailed
from annotate.labeling.actions import create_project
from inference.doorbell import BROKER_DOWN

log = logging.getLogger(__name__)

COPY_CHUNK = 2**20
PROGRESS_EVERY_S = 0.25
UNEXPECTED = "The import failed on the server; nothing was imported. Try again, or ask an admin."


@transaction.atomic
def import_file(
    user,
    stream: IO[bytes],
    filename: str,
    name: str = "",
    description: str = "",
    fmt: str | None = None,
    keep_authors: bool = False,
    project_kind: str = "",
    project_name: str = "",
) -> Dataset:
    """The dataset of a file and, for a file of outputs with `project_kind`, the project over
    its runs; all or nothing (ImportFailed). Who may ask is checked before (datasets.actions)."""
    dataset = importing.import_dataset(
        stream, filename, name, user, description, fmt=fmt, keep_authors=keep_authors
    )
    if project_kind:
        imported = getattr(dataset, "imported", None)
        if imported is None:
            raise ImportFailed(
                [f"{filename}: a project is made only from a file of outputs (see the README)"], 1
            )
        fields = {"name": project_name or dataset.name, "kind": project_kind}
        project, _ = create_project(user, fields, imported.runs.values())
        imported.project_id = project.pk
    return dataset


def store_upload(user, upload: IO[bytes], filename: str, **options) -> ImportJob:
    """A queued job holding a copy of the upload (read in chunks, never whole); `options` are
    the job's fields (name, description, fmt, keep_authors, project_kind, project_name)."""
    folder = Path(settings.VAR_DIR) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.upload"
    if upload.seekable():
        upload.seek(0)
    try:
        with path.open("wb") as stored:
            shutil.copyfileobj(upload, stored, COPY_CHUNK)
        size = path.stat().st_size
        return ImportJob.objects.create(
            owner=user,
            filename=filename,
            path=str(path),
            bytes_total=size,
            **options,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class _CountingFile(io.FileIO):
    """The stored upload, reporting how far into it the import has read (at most every
    PROGRESS_EVERY_S) to the job's progress file, replaced whole so a reader never sees half."""

    def __init__(self, job: ImportJob) -> None:
        super().__init__(job.path, "rb")
        self.progress = job.progress_path
        self.reported_at = 0.0

    def readinto(self, buffer) -> int | None:
        n = super().readinto(buffer)
        now = time.monotonic()
        if now - self.reported_at >= PROGRESS_EVERY_S:
            self.reported_at = now
            partial = self.progress.with_suffix(".progress-new")
            partial.write_text(str(self.tell()))
            os.replace(partial, self.progress)
        return n


def run_import_job(job_id: int) -> ImportJob | None:
    """Import a queued job's file. A job already done or failed is left alone (a message
    delivered twice); one left running by a worker that died starts again from the file,
    its import having rolled back with that worker."""
    claimed = ImportJob.objects.filter(
        pk=job_id, status__in=(ImportStatus.QUEUED, ImportStatus.RUNNING)
    )
    if not claimed.update(status=ImportStatus.RUNNING):
        return None
    job = ImportJob.objects.select_related("owner").get(pk=job_id)
    if not Path(job.path).is_file():
        job.mark_failed(["The uploaded file is gone; nothing was imported. Upload it again."], 1)
        return job
    try:
        with io.BufferedReader(_CountingFile(job), COPY_CHUNK) as stream:
            dataset = import_file(
                job.owner,
                stream,
                job.filename,
                job.name,
                job.description,
                fmt=job.fmt or None,
                keep_authors=job.keep_authors,
                project_kind=job.project_kind,
                project_name=job.project_name,
            )
    except ImportFailed as exc:
        job.mark_failed(exc.errors[:20], exc.total_errors, exc.unit)
    except Exception:
        log.exception("import job %s failed", job.pk)
        job.mark_failed([UNEXPECTED], 1)
    else:
        job.mark_done(dataset, importing.import_summary(dataset, job.filename))
    _remove_files(job)
    return job


def fail_unsent(job: ImportJob) -> None:
    """The broker could not be reached: no worker will import the upload, so it goes."""
    job.mark_failed([BROKER_DOWN], 1, unit="")
    _remove_files(job)


def sweep_import_jobs(now: float | None = None) -> tuple[int, int]:
    """Fail the background imports that no worker has taken, or read from, for
    IMPORT_JOB_MAX_WAIT_S (the message was lost, or no worker consumes the api queue), and
    remove stored uploads that no unfinished job holds. Returns (jobs failed, files removed).
    Files younger than the wait are kept: an upload being stored has no job yet."""
    now = time.time() if now is None else now
    oldest = now - settings.IMPORT_JOB_MAX_WAIT_S
    failed = 0
    active = ImportJob.objects.filter(status__in=(ImportStatus.QUEUED, ImportStatus.RUNNING))
    for job in active:
        touched = _last_touched(job)
        if touched >= oldest:
            continue
        hours = settings.IMPORT_JOB_MAX_WAIT_S / 3600
        if job.status == ImportStatus.QUEUED:
            reason = f"No worker took this import within {hours:g} h; nothing was imported."
        else:
            reason = f"The worker stopped reading this file {hours:g} h ago; nothing was imported."
        advice = "Check that a worker consumes the api queue, then upload it again."
        # Only if it is still where it was read: a worker may have taken it meanwhile.
        if ImportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=ImportStatus.FAILED,
            errors=[f"{reason} {advice}"],
            total_errors=1,
            unit="",
            finished_at=timezone.now(),
        ):
            failed += 1
            _remove_files(job)
    held = {Path(p).name for p in active.values_list("path", flat=True)}
    removed = 0
    folder = Path(settings.VAR_DIR) / "imports"
    for path in folder.glob("*") if folder.is_dir() else ():
        if path.name.split(".")[0] + ".upload" in held or path.stat().st_mtime >= oldest:
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return failed, removed


def _last_touched(job: ImportJob) -> float:
    """When the job last showed life: its progress file's last write, else its upload."""
    for path in (job.progress_path, Path(job.path)):
        with contextlib.suppress(OSError):
            return max(path.stat().st_mtime, job.created_at.timestamp())
    return job.created_at.timestamp()


def _remove_files(job: ImportJob) -> None:
    for path in (Path(job.path), job.progress_path, job.progress_path.with_suffix(".progress-new")):
        path.unlink(missing_ok=True)
