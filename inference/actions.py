"""What people and scripts do with generation: start, cancel, resume and retry runs, save a
model configuration, add a price. The pages, the API and management commands call these;
each checks who may act (inference.access) and raises the domain errors (inference.errors)."""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from inference import routing
from inference.access import (
    can_set_prices,
    check_egress,
    check_rights,
    get_config_for_user,
    get_run_for_user,
    require_manager,
)
from inference.backends import BACKEND_CHOICES, get_backend_class
from inference.doorbell import ring_workers
from inference.errors import Conflict, Invalid
from inference.leases import release_expired_leases
from inference.models import (
    ACTIVE_RUN_STATUSES,
    Generation,
    GenerationStatus,
    ModelConfig,
    Price,
    Run,
    RunStatus,
)
from inference.pricing import PRICING_FIELDS, pricing_problems
from inference.structured import SchemaInvalid, check_response_schema, stored_schema

BULK = 2000
# What a run may set apart from its configuration (annotate/stats/sweeps.py's points).
OVERRIDABLE = frozenset({"batch_size", "concurrency", "max_tokens", "sweep"})
# What a person sets on a configuration; the owner and the creation date are the action's.
CONFIG_FIELDS = frozenset(
    f.name for f in ModelConfig._meta.concrete_fields if f.name not in ("id", "owner", "created_at")
) | {"route_primary_id", "route_fallback_id"}


@transaction.atomic
def create_run(
    user,
    dataset_id: int,
    config_id: int,
    samples_per_prompt: int = 1,
    response_schema: dict | None = None,
    item_ids: list[int] | None = None,
    overrides: dict | None = None,
) -> Run:
    """A run of a dataset through a configuration, both of which the caller sees (managers):
    one pending generation per item and sample, then its first doorbell after commit.
    `response_schema`: a JSON schema of an object that every answer must match (structured
    output, inference/structured.py); kept in the run's params as JSON text (in order).
    `item_ids`: only these items of the dataset (a sample); `overrides`: settings of
    OVERRIDABLE that replace the configuration's in this run's params (a speed sweep's point)."""
    if samples_per_prompt < 1:
        raise Invalid("Samples per prompt must be at least 1.")
    if response_schema is not None:
        try:
            check_response_schema(response_schema)
        except SchemaInvalid as exc:
            raise Invalid(str(exc)) from None
    # By label: datasets belong to the app above, which generation does not import.
    dataset = get_object_or_404(apps.get_model("annotate", "Dataset"), pk=dataset_id)
    check_rights(user, dataset.owner_id, write=False)
    config = get_config_for_user(user, config_id)
    _check_generates(config.backend)
    if unknown := set(overrides or {}) - OVERRIDABLE:
        raise Invalid(f"A run cannot override: {', '.join(sorted(unknown))}")
    items = dataset.items.order_by("index")
    if item_ids is not None:
        items = items.filter(pk__in=item_ids)
    now = timezone.now()
    run = Run.objects.create(
        dataset=dataset,
        model_config=config,
        samples_per_prompt=samples_per_prompt,
        params={
            **config.params(),
            **({"response_schema": stored_schema(response_schema)} if response_schema else {}),
            **(overrides or {}),
        },
        created_by=user,
        resumed_at=now,
        last_activity_at=now,
    )
    run.total = _add_generations(run, items, samples_per_prompt)
    run.save(update_fields=("total",))
    if run.total and routing.rule_of(run.params):
        routing.assign(run)
    if run.total:
        ring_workers(run)
    else:
        run._set(status=RunStatus.COMPLETED, finished_at=now)
    return run


def _add_generations(run: Run, items, samples_per_prompt: int) -> int:
    batch: list[Generation] = []
    total = 0
    for item_id in items.values_list("pk", flat=True).iterator():
        for sample in range(samples_per_prompt):
            batch.append(Generation(run=run, item_id=item_id, sample_index=sample))
        if len(batch) >= BULK:
            total += len(Generation.objects.bulk_create(batch))
            batch = []
    return total + len(Generation.objects.bulk_create(batch))


@transaction.atomic
def cancel_run(user, run_id: int) -> int:
    """Stop a run (its creator or staff): pending generations are cancelled now, running ones
    by their worker within a second. Returns how many were cancelled here."""
    run = get_run_for_user(user, run_id, write=True)
    if not run.is_active:
        raise Conflict(f"Run {run.pk} is {run.get_status_display().lower()}, not running.")
    run.mark_cancelled()
    return Generation.objects.filter(run=run, status=GenerationStatus.PENDING).update(
        status=GenerationStatus.CANCELLED
    )


def _check_generates(backend: str) -> None:
    if not get_backend_class(backend).generates:
        raise Conflict("Imported outputs are never generated: start a run of another model.")


def _requeue(run: Run, statuses: tuple[str, ...]) -> int:
    _check_generates(run.params["backend"])
    moved = Generation.objects.filter(run=run, status__in=statuses).update(
        status=GenerationStatus.PENDING, error=""
    )
    has_work = Generation.objects.filter(run=run, status=GenerationStatus.PENDING).exists()
    if has_work:
        run.mark_requeued()
        ring_workers(run)
    return moved


@transaction.atomic
def resume_run(user, run_id: int) -> int:
    """Continue a cancelled or stalled run (its creator or staff): cancelled generations
    become pending again and a worker is asked for. Returns how many were requeued."""
    run = get_run_for_user(user, run_id, write=True)
    # The run's row lock, as a stopping worker's Lease.give_back takes it: its in-flight
    # items are written cancelled before this requeues them, or pending after.
    run.status = Run.objects.select_for_update().values_list("status", flat=True).get(pk=run.pk)
    if run.status not in (RunStatus.CANCELLED, *ACTIVE_RUN_STATUSES):
        raise Conflict(
            f"Run {run.pk} is {run.get_status_display().lower()}; retry failed items instead."
        )
    release_expired_leases()
    # A stalled run has pending work, so _requeue rings for it even when nothing was cancelled.
    return _requeue(run, (GenerationStatus.CANCELLED,))


@transaction.atomic
def retry_failed(user, run_id: int) -> int:
    """Generate the failed items of a run again (its creator or staff). Returns how many."""
    run = get_run_for_user(user, run_id, write=True)
    moved = _requeue(run, (GenerationStatus.FAILED,))
    if not moved:
        raise Conflict("This run has no failed items.")
    return moved


def _check_backend(name: str) -> None:
    known = dict(BACKEND_CHOICES)
    if name not in known:
        raise Invalid(f"Unknown backend {name!r}; known: {', '.join(known)}")


@transaction.atomic
def save_model_config(user, config_id: int | None, fields: dict) -> ModelConfig:
    """Create a configuration (managers) or replace the settings of one (its creator or
    staff); runs keep the settings they started with. Fields not given keep their value."""
    require_manager(user)
    if unknown := set(fields) - CONFIG_FIELDS:
        raise Invalid(f"Unknown fields: {', '.join(sorted(unknown))}")
    config = (
        get_config_for_user(user, config_id, write=True) if config_id else ModelConfig(owner=user)
    )
    _check_backend(fields.get("backend", config.backend))
    name = fields.get("name", config.name)
    if ModelConfig.objects.filter(name=name).exclude(pk=config.pk).exists():
        raise Conflict(f"A model configuration named {name!r} exists already.")
    for key, value in fields.items():
        setattr(config, key, value)
    _check_route(user, config)
    check_egress(config.backend, config.base_url, config.api_key_env)
    if problems := pricing_problems({f: getattr(config, f) for f in PRICING_FIELDS}):
        raise Invalid(" ".join(problems.values()))
    config.save()
    return config


def _check_route(user, config: ModelConfig) -> None:
    """A routed configuration (inference/routing.py) names two configurations the user sees
    (routing.check_route says which may be legs); it generates with its primary's backend."""
    for name in ("route_primary", "route_fallback"):  # the API gives ids, the form objects
        value = getattr(config, f"{name}_id")
        if value is not None:
            setattr(config, name, get_config_for_user(user, value))
    routing.check_route(config)
    if config.route_primary is not None:
        config.backend, config.model = config.route_primary.backend, config.route_primary.model


def create_price(user, fields: dict) -> Price:
    """A hosted model's price from a date on (staff only). Costs already recorded keep the
    price they were made at."""
    if not can_set_prices(user):
        raise PermissionDenied("Only staff members can change prices.")
    _check_backend(fields["backend"])
    key = {k: fields[k] for k in ("backend", "model", "effective_from")}
    if Price.objects.filter(**key).exists():
        raise Conflict("A price for this model from this date exists already.")
    return Price.objects.create(**fields)
