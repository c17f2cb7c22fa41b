"""The work of a generation task, as plain functions tests call directly.

A task claims pending generations of a run (a lease: token and expiry, inference/leases.py),
feeds them to the backend, writes each result only while it still holds the lease, and gives
back what it did not finish. A worker that dies leaves leases that expire;
`release_expired_leases` hands their generations to the next worker. So no item is lost, and
none is written twice.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inference import routing
from inference.access import operator_egress
from inference.backends import BackendError, get_backend, loaded_models, model_facts
from inference.backends.base import GenerationResult
from inference.doorbell import enqueue_run
from inference.leases import Lease, release_expired_leases
from inference.lifecycle import fail_run, finish_run_if_done, start_run
from inference.measurement import decode_tps, machine
from inference.models import ACTIVE_RUN_STATUSES, GenerationStatus, Run
from inference.pricing import find_price, generation_cost
from inference.provider_batches import process_batches
from inference.routing import reroute_result
from inference.structured import response_schema
from inference.workers import report_loaded

log = logging.getLogger(__name__)


def write_result(lease: Lease, result: GenerationResult, backend_version: str, price=None) -> bool:
    """Write one result if the lease still holds it; False if another worker took it over.
    `price` is the price row found when the task started (None: priced by the hour)."""
    if result.error and lease.served_by is not None:
        rerouted = reroute_result(lease, result)  # a routed run's primary: to the fallback?
        if rerouted is not None:
            return rerouted
    if result.cancelled:
        return bool(lease.give_back([result.key]))
    params = lease.run.params
    fields = dict(
        status=GenerationStatus.FAILED if result.error else GenerationStatus.DONE,
        output=result.output,
        finish_reason=result.finish_reason,
        prompt_tokens=result.prompt_tokens,
        output_tokens=result.output_tokens,
        cache_read_tokens=result.cache_read_tokens,
        cache_write_tokens=result.cache_write_tokens,
        ttft_s=result.timing.ttft_s,
        latency_s=result.timing.latency_s,
        decode_tps=decode_tps(result.output_tokens, result.timing),
        prefill_tps=result.prefill_tps,
        peak_memory_mb=result.peak_memory_mb,
        concurrency=result.concurrency,
        cost_usd=None if result.error else generation_cost(price, params, result, result.batched),
        retries=result.retries,
        error=result.error,
        backend_version=backend_version,
        machine=machine(),
        lease_token=None,
        lease_expires_at=None,
        finished_at=timezone.now(),
    )
    written = lease.held().filter(pk=result.key).update(**fields)
    if not written:
        log.warning("generation %s: lease lost, another worker got there first", result.key)
    elif lease.served_by is not None and not result.error:
        routing.slow_primary(lease, result)  # a routed run's primary too slow: the rest away
    return bool(written)


class BufferedWriter:
    """Results written a few at a time, each group in one transaction, so that the database
    round trips do not stall the batch between decode steps. Flushed at least every
    `max_wait_s` and whenever the backend claims more work."""

    def __init__(
        self, lease: Lease, version: str, price, max_items: int = 8, max_wait_s: float = 0.25
    ) -> None:
        self.lease, self.version, self.price = lease, version, price
        self.max_items, self.max_wait_s = max_items, max_wait_s
        self.pending: list[GenerationResult] = []
        self.oldest = 0.0

    def __call__(self, result: GenerationResult) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append(result)
        if len(self.pending) >= self.max_items or time.monotonic() - self.oldest > self.max_wait_s:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with transaction.atomic():
            for result in self.pending:
                write_result(self.lease, result, self.version, self.price)
        self.pending = []


def backend_params(params: dict) -> dict:
    """A run's settings and the operator's limits: what a backend reads (no Django)."""
    return {
        **params,
        "max_attempts": settings.API_MAX_ATTEMPTS,
        "timeout_s": float(settings.API_TIMEOUT_S),
        "egress": operator_egress().as_params(),
    }


@contextmanager
def status_text(run: Run, backend):
    """While the backend loads (perhaps downloading its model), what it says it is doing is
    the run's status_text (the run page's progress shows it) and the run counts as alive;
    cleared when loading ends, however it ends."""
    said = False

    def say(text: str) -> None:
        nonlocal said
        said = True
        Run.objects.filter(pk=run.pk).update(
            status_text=text[:300], last_activity_at=timezone.now()
        )

    backend.on_status = say
    try:
        yield
    finally:
        backend.on_status = None
        if said:
            Run.objects.filter(pk=run.pk).update(status_text="")


def process_run(
    run_id: int, worker: str, budget_s: float | None = None, leg: str | None = None
) -> float | None:
    """Work on a run for up to budget_s seconds. Returns in how many seconds the run needs
    another task (0: at once; batch mode: the next poll), or None if it needs none.

    1. Give back expired leases; mark the run running (stop if it was cancelled or ended).
    2. Load the backend (once per process); a configuration error fails the run, no item used.
    3. Let the backend claim and generate until the budget is spent or the run is cancelled
       (batch mode: submit and poll provider batches, inference/provider_batches.py).
    4. Give back what is unfinished; end the run if nothing is left.

    A routed run (inference/routing.py) is worked one leg at a time: `leg` (None: the
    primary) names the configuration whose generations this task claims and generates with.
    """
    budget_s = settings.TASK_TIME_BUDGET_S if budget_s is None else budget_s
    release_expired_leases()
    run = Run.objects.filter(pk=run_id).first()
    if run is None or not start_run(run):
        return None
    served_by = routing.leg_config_id(run.params, leg)
    if served_by is not None:
        if not routing.leg_has_work(run, served_by):
            return None  # the other leg's worker ends the run
        run.params = routing.leg_params(run.params, leg)  # in this task only, never saved
    try:
        params = backend_params(run.params)
        held = loaded_models()
        backend = get_backend(params)
        if loaded_models() != held:
            report_loaded(worker, loaded_models(), model_facts())
        with status_text(run, backend):
            backend.check()
        backend.check_params(params)
        version = backend.version()
    except BackendError as exc:
        if served_by is not None and routing.reroute_unstartable(run, served_by, str(exc)):
            enqueue_run(run.pk, leg=routing.FALLBACK)
            return None
        fail_run(run, str(exc))
        return None
    record_schema_via(run, backend, params)
    # Loading a model can take longer than the stall time: say the run is alive.
    Run.objects.filter(pk=run.pk).update(last_activity_at=timezone.now())
    price = None if backend.is_local else find_price(run.params["backend"], run.params["model"])
    if run.params.get("mode") == "batch":
        return process_batches(
            run, backend, worker, lambda lease, result: write_result(lease, result, version, price)
        )
    lease = Lease(run, worker)
    lease.served_by = served_by
    deadline = time.monotonic() + budget_s
    stop = _stop_check(run, lease, deadline)
    writer = BufferedWriter(lease, version, price, max_items=backend.in_flight(run.params))

    claimed = 0

    def claim(n: int):
        nonlocal claimed
        writer.flush()  # finished rows first: progress stays true while the batch refills
        requests = [] if stop.stopping else lease.claim(n)
        claimed += len(requests)
        return requests

    try:
        backend.generate(
            params,
            claim=claim,
            emit=writer,
            should_stop=stop,
        )
        writer.flush()
    finally:
        record_schema_via(run, backend, params)
        lease.give_back()
        if lease.rerouted:
            enqueue_run(run.pk, leg=routing.FALLBACK)
    if not finish_run_if_done(run):
        return None
    if served_by is not None and not routing.leg_has_work(run, served_by):
        return None  # what is left is the other leg's
    # Work is left but none was free: other workers hold it, alive or dead. Look again when
    # a dead worker's lease could have run out, instead of spinning.
    return 0.0 if claimed else max(settings.GENERATION_LEASE_S / 2, 1.0)


def record_schema_via(run: Run, backend, params: dict) -> None:
    """Say in the run's params how its response schema was honoured (inference/structured.py):
    a server that refused structured output mid-run is recorded, never hidden."""
    if not response_schema(run.params):
        return
    via = backend.schema_via(params)
    if run.params.get("response_schema_via") != via:
        run.params = {**run.params, "response_schema_via": via}
        # The stored params, not this task's (a routed run's leg's): only the key changes.
        stored = Run.objects.only("params").get(pk=run.pk).params
        Run.objects.filter(pk=run.pk).update(params={**stored, "response_schema_via": via})


class _stop_check:
    """should_stop for the backend: the run was cancelled (checked once a second), or the
    task's time budget is spent (then claim no more, finish what is in flight)."""

    def __init__(self, run: Run, lease: Lease, deadline: float) -> None:
        self.run, self.lease, self.deadline = run, lease, deadline
        self.checked = 0.0
        self.cancelled = False
        self.stopping = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.checked >= 1.0:
            self.checked = now
            self.lease.renew()
            # Only an ended run stops the work: a resumed (queued) run goes on.
            self.cancelled = not Run.objects.filter(
                pk=self.run.pk, status__in=ACTIVE_RUN_STATUSES
            ).exists()
        self.stopping = self.cancelled or now > self.deadline
        return self.cancelled
