"""A thread in every worker that keeps runs moving when a worker dies: it gives back expired
leases and rings the doorbell of runs nobody is working on. It never touches MLX."""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from inference import doorbell
from inference.backends import loaded_models, model_facts
from inference.backends.hub import cached_models
from inference.leases import release_expired_leases
from inference.measurement import machine
from inference.models import (
    ACTIVE_RUN_STATUSES,
    Generation,
    GenerationStatus,
    Run,
    WorkerHeartbeat,
)

log = logging.getLogger(__name__)
_started = threading.Event()


def sweep(rung: dict[int, float]) -> list[int]:
    """One pass: release expired leases, then ring stalled runs not rung in the last stall
    period. Returns the ids of the runs rung."""
    release_expired_leases()
    now = time.monotonic()
    active = Run.objects.filter(status__in=ACTIVE_RUN_STATUSES)
    ids = []
    for run in active:
        if (
            not run.is_stalled(timezone.now())
            or now - rung.get(run.pk, -1e9) < settings.RUN_STALL_S
        ):
            continue
        if Generation.objects.filter(run=run, status=GenerationStatus.PENDING).exists():
            doorbell.enqueue_run(run.pk)
            # Only a ring that reached the broker counts: one that failed is tried next sweep.
            rung[run.pk] = now
            ids.append(run.pk)
    return ids


def heartbeat(hostname: str, queues: list[str]) -> None:
    """Say this worker is alive, with its queues and the models it has loaded."""
    facts = model_facts()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": queues,
            "loaded": loaded_models(),
            "model_facts": facts,
            # Only workers of local models (the mlx queue, or one that loaded a local model)
            # scan their Hugging Face cache, at most every hub.SCAN_EVERY_S.
            "on_disk": cached_models() if "mlx" in queues or facts else [],
            "pid": os.getpid(),
            "machine": machine(),
            "last_seen": timezone.now(),
        },
    )


def _loop(hostname: str, queues: list[str]) -> None:
    rung: dict[int, float] = {}
    period = max(settings.GENERATION_LEASE_S / 2, 1)
    while True:
        try:
            close_old_connections()
            heartbeat(hostname, queues)
            if rung_now := sweep(rung):
                log.info("watchdog: rang stalled runs %s", rung_now)
        except Exception:  # a database or broker blip must not kill the thread
            log.exception("watchdog sweep failed")
        time.sleep(period)


def start(hostname: str, queues: list[str]) -> None:
    if not _started.is_set():
        _started.set()
        threading.Thread(
            target=_loop, args=(hostname, queues), name="annotate-watchdog", daemon=True
        ).start()
