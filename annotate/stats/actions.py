"""What people and scripts do with the statistics: start and cancel a speed sweep
(annotate/stats/sweeps.py). The page, the API and the management command call these; each
checks who may act."""

from __future__ import annotations

from contextlib import suppress

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from annotate.datasets.access import get_dataset_for_user
from annotate.stats.models import Sweep
from annotate.stats.sweeps import sample_items, start_next_point, sweep_runs
from inference.access import check_rights, get_config_for_user
from inference.actions import cancel_run
from inference.errors import Conflict, Invalid

MAX_VALUES = 8  # per axis: 8 in flight × 8 limits is 64 runs already
MAX_IN_FLIGHT = 256


def _values(name: str, values: list[int], top: int) -> list[int]:
    """Distinct values, ascending; a clear error for none, too many, or out of 1..top."""
    values = sorted(set(values))
    if not values:
        raise Invalid(f"Give at least one {name}.")
    if len(values) > MAX_VALUES:
        raise Invalid(f"At most {MAX_VALUES} values of {name}, not {len(values)}.")
    if values[0] < 1 or values[-1] > top:
        raise Invalid(f"Each {name} must be between 1 and {top}.")
    return values


@transaction.atomic
def create_sweep(
    user,
    dataset_id: int,
    config_id: int,
    in_flight: list[int],
    max_tokens: list[int],
    sample_size: int = 20,
    seed: int = 0,
) -> Sweep:
    """A speed sweep of a configuration over a sample of a dataset (managers who see both):
    one run per (in flight, max tokens), run one after another; the first starts now.
    `in_flight`: batch sizes of a local model, concurrencies of an API."""
    dataset = get_dataset_for_user(user, dataset_id)
    config = get_config_for_user(user, config_id)
    in_flight = _values("batch size or concurrency", in_flight, MAX_IN_FLIGHT)
    max_tokens = _values("max tokens", max_tokens, 100_000)
    if sample_size < 1:
        raise Invalid("The sample needs at least one item.")
    items = sample_items(list(dataset.items.values_list("pk", flat=True)), sample_size, seed)
    if not items:
        raise Invalid(f"Dataset {dataset.name!r} has no items to sweep.")
    sweep = Sweep.objects.create(
        dataset=dataset,
        model_config=config,
        created_by=user,
        seed=seed,
        item_ids=items,
        points=[{"in_flight": n, "max_tokens": m} for m in max_tokens for n in in_flight],
    )
    start_next_point(sweep.pk)  # create_run refuses a backend that never generates
    return sweep


def get_sweep_for_user(user, pk: int, write: bool = False) -> Sweep:
    """A sweep: managers see every one (as they see every run); its creator or staff change
    it."""
    sweep = get_object_or_404(Sweep.objects.select_related("dataset", "model_config"), pk=pk)
    check_rights(user, sweep.created_by_id, write=write)
    return sweep


@transaction.atomic
def cancel_sweep(user, pk: int) -> Sweep:
    """Stop a sweep (its creator or staff, as a run): the point in progress is cancelled by
    the run's own cancel action and no further point starts. The points measured stay."""
    sweep = get_sweep_for_user(user, pk, write=True)
    # The lock start_next_point takes: a point that ends meanwhile starts no next one.
    Sweep.objects.select_for_update().filter(pk=sweep.pk).first()
    sweep.refresh_from_db(fields=("cancelled_at",))
    if sweep.cancelled_at is not None:
        raise Conflict(f"Sweep {sweep.pk} is cancelled already.")
    runs = sweep_runs(sweep)
    if len(runs) == len(sweep.points) and not any(r.is_active for r in runs.values()):
        raise Conflict(f"Sweep {sweep.pk} has ended: every point has run.")
    sweep.cancelled_at = timezone.now()
    sweep.save(update_fields=("cancelled_at",))
    for run in runs.values():
        if run.is_active:
            # A point that ended meanwhile keeps its figures; none follows it.
            with suppress(Conflict):
                cancel_run(user, run.pk)
    return sweep
