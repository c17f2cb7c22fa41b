"""A run's start and end as its workers move them. A run that ends with its work done says so
(inference.signals.run_finished), and so does one that fails as a whole (run_failed);
generation knows nothing of who listens. A run made elsewhere, its outputs imported, is
finished when it is made (create_finished_run)."""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from inference.models import Generation, GenerationStatus, ModelConfig, Run, RunStatus
from inference.signals import run_failed, run_finished

log = logging.getLogger(__name__)


def start_run(run: Run) -> bool:
    """Mark the run running, if it is still active; False if there is nothing to do."""
    now = timezone.now()
    return bool(
        Run.objects.filter(pk=run.pk, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).update(
            status=RunStatus.RUNNING,
            started_at=Coalesce("started_at", now),
            last_activity_at=now,
        )
    )


def create_finished_run(
    dataset, owner, config_name: str, config_fields: dict, params: dict, at
) -> Run:
    """A completed run of `dataset` whose outputs were made elsewhere (an outputs file, an
    export), never sent to a worker: its configuration is the existing one named
    `config_name`, else a new one of `config_fields` owned by `owner`. The import that calls
    it has checked who may; the caller writes its outputs and total."""
    config = ModelConfig.objects.filter(name=config_name).first()
    if config is None:
        config = ModelConfig.objects.create(name=config_name, owner=owner, **config_fields)
    return Run.objects.create(
        dataset=dataset,
        model_config=config,
        params=params,
        status=RunStatus.COMPLETED,
        created_by=owner,
        started_at=at,
        finished_at=at,
        last_activity_at=at,
    )


def finish_run_if_done(run: Run) -> bool:
    """When no generation is left to do, the run ends: completed, or completed with errors,
    and announces it. Returns True if work is left."""
    gens = Generation.objects.filter(run=run)
    if gens.filter(status__in=(GenerationStatus.PENDING, GenerationStatus.RUNNING)).exists():
        return True
    failed = gens.filter(status=GenerationStatus.FAILED).exists()
    status = RunStatus.COMPLETED_WITH_ERRORS if failed else RunStatus.COMPLETED
    ended = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status, finished_at=timezone.now()
    )
    if ended:
        # After commit, so receivers see the ended run, and no receiver's failure can undo it.
        transaction.on_commit(partial(_announce, run_finished, "run_finished", run))
    return False


def fail_run(run: Run, error: str) -> None:
    """The run fails as a whole, saying why, and announces it (inference.signals.run_failed)
    after commit. Its items already done stay done."""
    run.mark_failed(error)
    transaction.on_commit(partial(_announce, run_failed, "run_failed", run))


def _announce(signal, name: str, run: Run) -> None:
    """Tell every receiver; one that fails is logged and stops neither the others nor the
    task that ended the run."""
    for receiver, result in signal.send_robust(sender=Run, run=run):
        if isinstance(result, Exception):
            log.error("run %s: %r failed on %s", run.pk, receiver, name, exc_info=result)
