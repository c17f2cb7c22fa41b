"""Datasets of prompts: each item is the conversation sent to a model and, if known,
what it should answer."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone


class DatasetPurpose(models.TextChoices):
    PROMPTS = "", "Prompts"
    # Rendered judge prompts (annotate/judges): made and read by a judge run, kept out of the
    # dataset lists.
    JUDGE = "judge", "Judge prompts"


class Dataset(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source_filename = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)
    purpose = models.CharField(
        max_length=10, choices=DatasetPurpose, default=DatasetPurpose.PROMPTS, blank=True
    )

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """One prompt: the conversation sent to the model, and what it should answer, if known."""

    # No index of its own: the unique (dataset, index) starts with it and gives file order,
    # where SQLite, given an index of the dataset alone, took it and then sorted.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    index = models.PositiveIntegerField(help_text="Position in the imported file, from 0.")
    external_id = models.CharField(max_length=200, blank=True)
    # Chat messages, [{"role": "system"|"user"|"assistant", "content": "..."}], ending with a
    # user turn. A plain prompt is stored as one user message.
    messages = models.JSONField()
    # The last user message, kept for listing and search.
    prompt = models.TextField()
    reference = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("dataset", "index")
        constraints = [
            models.UniqueConstraint(fields=("dataset", "index"), name="item_unique_index"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id}#{self.index}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """An upload above IMPORT_INLINE_MAX_BYTES, imported by a worker (annotate/datasets/jobs.py):
    the stored file (deleted when the job ends), the options asked for, and how it ended."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    filename = models.CharField(max_length=255)
    path = models.CharField(max_length=500, blank=True, help_text="The stored upload.")
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    fmt = models.CharField(max_length=10, blank=True)
    keep_authors = models.BooleanField(default=False)
    project_kind = models.CharField(max_length=20, blank=True)
    project_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=ImportStatus, default=ImportStatus.QUEUED)
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0, help_text="Written when it ends.")
    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    errors = models.JSONField(default=list, blank=True, help_text="The first bad lines.")
    total_errors = models.PositiveIntegerField(default=0)
    unit = models.CharField(max_length=20, default="line")
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        # the caller's imports, newest first (the datasets page, GET /api/imports)
        indexes = [models.Index(fields=("owner", "-created_at"), name="importjob_owner_recent")]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.filename})"

    @property
    def active(self) -> bool:
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)

    @property
    def progress_path(self) -> Path:
        """Bytes read so far, written by the worker beside the stored upload: the import's
        transaction holds SQLite's write lock, so progress cannot go to the database."""
        return Path(f"{self.path}.progress")

    @property
    def progress_bytes(self) -> int:
        """Bytes of the file read so far: the worker's progress file while it runs."""
        if self.status != ImportStatus.RUNNING or not self.path:
            return self.bytes_read
        try:
            return min(int(self.progress_path.read_text() or 0), self.bytes_total)
        except (OSError, ValueError):  # not written yet, or gone as the job ended
            return self.bytes_read

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        # the last bytes read are not yet imported: 100 waits for the commit
        return min(99, 100 * self.progress_bytes // self.bytes_total) if self.bytes_total else 0

    def mark_done(self, dataset: Dataset, summary: str) -> None:
        self.status, self.dataset, self.summary = ImportStatus.DONE, dataset, summary
        self.bytes_read, self.finished_at = self.bytes_total, timezone.now()
        self.save(update_fields=("status", "dataset", "summary", "bytes_read", "finished_at"))

    def mark_failed(self, errors: list[str], total_errors: int, unit: str = "line") -> None:
        self.status, self.errors, self.total_errors = ImportStatus.FAILED, errors, total_errors
        self.unit, self.finished_at = unit, timezone.now()
        self.save(update_fields=("status", "errors", "total_errors", "unit", "finished_at"))
