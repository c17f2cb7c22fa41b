"""The doorbell: Celery messages that tell workers a run has work. The database row is the
truth; a message only says "look". Actions, the generation task and the watchdog ring it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from celery import current_app
from django.db import transaction
from kombu.exceptions import KombuError

from inference import routing
from inference.models import Run
from inference.workers import online_on

log = logging.getLogger(__name__)
BROKER_DOWN = (
    "The task queue could not be reached, so no worker will do this; nothing was done. "
    "Try again in a moment, or see the Health page."
)

# Rung by name: the task's module imports this one (it rings again when it must wait).
GENERATE_RUN_TASK = "inference.tasks.generate_run_task"


def enqueue_run(
    run_id: int, countdown: float = 0, queue: str | None = None, leg: str | None = None
) -> None:
    """Ring the doorbell after commit, on the queue of the run's backend (looked up unless
    the caller has it). A routed run (inference/routing.py) is rung on each leg's queue,
    unless `leg` names one."""
    if queue is None:
        params = Run.objects.only("params").get(pk=run_id).params
        targets = [t for t in routing.legs(params) if leg is None or t[0] == leg]
    else:
        targets = [(leg, queue)]
    for target_leg, target_queue in targets:
        kwargs = {"leg": target_leg} if target_leg else None
        transaction.on_commit(partial(_send, run_id, kwargs, target_queue, countdown))


def _send(run_id: int, kwargs: dict | None, queue: str, countdown: float) -> None:
    current_app.send_task(
        GENERATE_RUN_TASK, args=(run_id,), kwargs=kwargs, queue=queue, countdown=countdown or None
    )


def ring_workers(run: Run) -> int:
    """Start a run's work: one doorbell per worker online on its queue (at least one), so that
    every worker holding the model takes a share; claims are atomic, so no item is done twice.
    A routed run rings each leg's queue. Returns how many were rung."""
    rung = 0
    for leg, queue in routing.legs(run.params):
        n = max(1, online_on(queue))
        for _ in range(n):
            enqueue_run(run.pk, queue=queue, leg=leg)
        rung += n
    return rung


def send_when_committed(task, args: tuple, queue: str, refused: Callable[[], None]) -> None:
    """Send a Celery task once the transaction commits. A broker that cannot be reached does
    not fail the request that asked: refused() marks the work failed, saying why, and frees
    what it held (the request answers with that state, never a 500)."""

    def send() -> None:
        try:
            task.apply_async(args, queue=queue)
        except (KombuError, OSError):
            log.exception("the broker refused %s%r", task.name, args)
            refused()

    transaction.on_commit(send)
