"""Datasets of prompts: each item is the conversation sent to a model and, if known,
what it should answer."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Dataset(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source_filename = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """One prompt: the conversation sent to the model, and what it should answer, if known."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
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
