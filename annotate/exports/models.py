"""Exports of labeled data: a file written now or by a worker, with its manifest."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSONL: everything"
    CSV = "csv", "CSV: one flat row per output"
    PARQUET = "parquet", "Parquet: everything"
    SFT = "sft", "SFT chat JSONL (messages)"
    OPENAI = "openai", "OpenAI fine-tuning chat JSONL"
    PREFERENCE = "preference", "Preference pairs JSONL (prompt, chosen, rejected)"
    COMPARISONS = "comparisons", "Comparison votes JSONL: one row per vote, both sides"
    COMPARISONS_CSV = "comparisons_csv", "Comparison votes CSV: one flat row per vote"
    COMPARISONS_PARQUET = "comparisons_parquet", "Comparison votes Parquet"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Export(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    format = models.CharField(max_length=20, choices=ExportFormat)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=ExportStatus, default=ExportStatus.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Outputs to go through.")
    done = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0, help_text="Rows written.")
    path = models.CharField(max_length=500, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format})"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def filename(self) -> str:
        ext = self.format.rpartition("_")[2]
        ext = ext if ext in ("csv", "parquet") else "jsonl"
        return f"annotate-export-{self.pk}-{self.format}.{ext}"
