"""Leases: the generations one task holds (a token and an expiry), renewed while it works and
checked at every write. A worker that dies leaves leases that expire;
`release_expired_leases` hands their generations to the next worker. So no item is lost, and
none is written twice."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from inference.backends.base import GenerationRequest
from inference.models import Generation, GenerationStatus, Run, RunStatus
from inference.prompts import build_messages

RUNNING = GenerationStatus.RUNNING
PENDING = GenerationStatus.PENDING


class Lease:
    """The generations one task holds, renewed while it works, checked at every write."""

    def __init__(
        self, run: Run, worker: str, token: uuid.UUID | None = None, lease_s: float | None = None
    ) -> None:
        self.run = run
        self.worker = worker
        self.token = token or uuid.uuid4()
        self.lease_s = lease_s or settings.GENERATION_LEASE_S
        self.renewed = time.monotonic()
        # Routed runs (inference/routing.py): claim only this leg's generations.
        self.served_by: int | None = None
        self.rerouted = 0

    def expiry(self):
        return timezone.now() + timedelta(seconds=self.lease_s)

    def held(self):
        return Generation.objects.filter(lease_token=self.token, status=RUNNING)

    def claim(self, n: int) -> list[GenerationRequest]:
        """Atomically take up to n pending generations of the run."""
        with transaction.atomic():
            pending = Generation.objects.filter(run=self.run, status=PENDING).order_by("pk")
            if self.served_by is not None:
                pending = pending.filter(served_by_id=self.served_by)
            if connection.features.has_select_for_update_skip_locked:
                pending = pending.select_for_update(skip_locked=True)
            ids = list(pending.values_list("pk", flat=True)[:n])
            Generation.objects.filter(pk__in=ids, status=PENDING).update(
                status=RUNNING,
                lease_token=self.token,
                lease_expires_at=self.expiry(),
                attempts=F("attempts") + 1,
                worker=self.worker,
                started_at=timezone.now(),
                error="",
            )
        rows = self.held().filter(pk__in=ids).select_related("item")
        system = self.run.params.get("system_prompt", "")
        return [
            GenerationRequest(g.pk, build_messages(g.item.messages, system), g.sample_index)
            for g in rows
        ]

    def renew(self) -> None:
        """Extend the lease and show the run as alive, at most every quarter lease."""
        if time.monotonic() - self.renewed < settings.GENERATION_LEASE_S / 4:
            return
        self.renewed = time.monotonic()
        self.held().update(lease_expires_at=self.expiry())
        Run.objects.filter(pk=self.run.pk).update(last_activity_at=timezone.now())

    def give_back(self, pks: list[int] | None = None) -> int:
        """Release what this task holds (or the given ones of it) because it stopped:
        cancelled while the run is cancelled, else back to pending.

        Decided under the run's row lock, which resume_run takes too: a resume that lands
        between the worker seeing the cancel and this write must not leave items cancelled
        in a run that goes on (it would end without them)."""
        with transaction.atomic():
            status = (
                Run.objects.select_for_update()
                .filter(pk=self.run.pk)
                .values_list("status", flat=True)
                .first()
            )
            to = GenerationStatus.CANCELLED if status == RunStatus.CANCELLED else PENDING
            held = self.held() if pks is None else self.held().filter(pk__in=pks)
            return held.update(status=to, lease_token=None, lease_expires_at=None)


def release_expired_leases(now=None) -> int:
    """Give back generations whose worker stopped renewing its lease (killed, lost its network).
    A generation that has used up its attempts fails instead of looping for ever."""
    now = now or timezone.now()
    expired = Generation.objects.filter(status=RUNNING, lease_expires_at__lt=now)
    common = dict(lease_token=None, lease_expires_at=None)
    failed = expired.filter(attempts__gte=settings.MAX_ATTEMPTS).update(
        status=GenerationStatus.FAILED,
        error="The worker stopped while generating this, on every attempt.",
        finished_at=now,
        **common,
    )
    return failed + expired.update(status=PENDING, **common)
