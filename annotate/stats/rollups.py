"""Rollups: each finished run's figures per machine and serving configuration, computed once
from its generations and stored (models.RunRollup), so that the statistics read a few hundred
rows at any number of generations, including just after a worker writes a result.

1. A run that ends with its work done is rolled up by a worker right after (tasks.py, on
   inference's run_finished); any other finished run without a valid rollup (cancelled,
   failed, imported, finished before rollups existed) is rolled up by the first
   model_stats() that needs it, which stores it: slow once, never wrong.
2. A rollup is valid while its run is finished and its finished_at unchanged: resuming or
   retrying a run clears finished_at, so the old rollup is ignored, and replaced when the
   run ends again. One without a sketch of every measurement (stored before that
   measurement existed) is computed again once.
3. Runs still going are aggregated live the same way, each time, and not stored.
4. The finished runs' rollups are kept in Django's cache under the finished runs and their
   finished_at: a worker's result (a running run) leaves them there.

5. A routed run's generations (inference/routing.py) are rolled up per configuration that
   served them (Generation.served_by), so a local leg and an API leg are never pooled; an
   unrouted run's under its own configuration.

Counts, token sums and costs are exact; percentiles come from sketch.py, within
sketch.RELATIVE_ERROR.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.db.models import Case, Count, ExpressionWrapper, F, FloatField, Q, Sum, Value, When
from django.db.models.functions import Abs, Floor, Ln

from annotate.stats import sketch
from annotate.stats.models import RunRollup
from inference.figures import priced_count, recorded_cost, run_span
from inference.models import ACTIVE_RUN_STATUSES, Generation, GenerationStatus, Run
from inference.routing import served_config

# prefill_tps and peak_memory_mb are local backends' only (hosted ones leave them empty).
PERCENTILE_FIELDS = ("ttft_s", "latency_s", "decode_tps", "prefill_tps", "peak_memory_mb")
# A generation's end-to-end tokens/s: output tokens over its whole latency (speed.py).
END_TO_END = "end_to_end_tps"
SKETCHED = {*PERCENTILE_FIELDS, END_TO_END}
# Sent by name: the task's module imports this one.
ROLL_UP_TASK = "annotate.stats.tasks.roll_up_run_task"
DONE = Q(status=GenerationStatus.DONE)
SERVED = served_config()


def rollups_in_scope(config_ids=None, run_ids=None) -> list[tuple[int, RunRollup]]:
    """(serving configuration id, rollup) of every run in scope with done or failed
    generations: stored ones where valid, new ones (stored) for finished runs without, live
    ones for runs still going. With `config_ids`, the rollups of those configurations' runs
    and of the routed runs' legs they served."""
    runs = Run.objects.all()
    if config_ids:
        legs = Generation.objects.filter(served_by_id__in=config_ids).values("run_id")
        runs = runs.filter(Q(model_config_id__in=config_ids) | Q(pk__in=legs))
    if run_ids:
        runs = runs.filter(pk__in=run_ids)
    rows = list(runs.values_list("pk", "model_config_id", "status", "finished_at"))
    config_of = {pk: config for pk, config, _, _ in rows}
    finished = {pk: at for pk, _, status, at in rows if status not in ACTIVE_RUN_STATUSES}
    # The finished runs' rollups change only when one of them ends, resumes or goes: kept
    # in the cache under those runs and their finished_at, as loading them costs most.
    key = f"run-rollups:v3:{hashlib.sha256(repr(sorted(finished.items())).encode()).hexdigest()}"
    ended = cache.get(key)
    if ended is None:
        ended = [
            r
            for r in RunRollup.objects.filter(run__in=runs).order_by(
                "run_id", "machine", "config_id"
            )
            if r.run_id in finished
            and r.run_finished_at == finished[r.run_id]
            # One stored before rollups were split by serving configuration is computed again.
            and r.config_id is not None
            # One stored before a measurement had its sketch is computed again.
            and r.sketches.keys() >= SKETCHED
        ]
        missing = finished.keys() - {r.run_id for r in ended}
        ended += roll_up(missing, {pk: finished[pk] for pk in missing}) if missing else []
        cache.set(key, ended, timeout=600)
    live = compute_rollups([pk for pk in config_of if pk not in finished], {})
    rollups = [(r.config_id, r) for r in (*ended, *live)]
    # A routed configuration asked for shows its legs; a leg's configuration, its share.
    wanted = set(config_ids or ())
    return [(c, r) for c, r in rollups if not wanted or {c, config_of[r.run_id]} & wanted]


def roll_up_run(run_id: int) -> list[RunRollup]:
    """Store the rollups of a finished run (what the worker does when a run ends); nothing
    for a run still going."""
    run = Run.objects.filter(pk=run_id).exclude(status__in=ACTIVE_RUN_STATUSES).first()
    return roll_up([run.pk], {run.pk: run.finished_at}) if run else []


def roll_up(run_ids: Iterable[int], finished_at: dict) -> list[RunRollup]:
    """Compute and store the rollups of finished runs, replacing older ones. A store that
    fails (SQLite busy with a worker's writes) loses nothing: the next reader computes
    them again."""
    run_ids = list(run_ids)
    rollups = compute_rollups(run_ids, finished_at)
    try:
        with transaction.atomic():
            RunRollup.objects.filter(run_id__in=run_ids).delete()
            # Another reader or the worker may store the same rollups at the same time.
            RunRollup.objects.bulk_create(rollups, ignore_conflicts=True)
    except DatabaseError:
        pass
    return rollups


def compute_rollups(run_ids: list[int], finished_at: dict) -> list[RunRollup]:
    """Unsaved rollups, one per (run, machine, serving configuration) with done or failed
    generations."""
    if not run_ids:
        return []
    gens = Generation.objects.filter(run_id__in=run_ids).annotate(served=SERVED)
    by_key = _counts(gens, finished_at)
    _environment(gens.filter(DONE), by_key)
    _sketches(gens.filter(DONE), by_key)
    return list(by_key.values())


def _counts(gens, finished_at: dict) -> dict[tuple[int, str, int], RunRollup]:
    priced_done = DONE & Q(cost_usd__isnull=False)
    measured = DONE & Q(output_tokens__isnull=False)
    rows = (
        gens.filter(status__in=(GenerationStatus.DONE, GenerationStatus.FAILED))
        .values("run_id", "machine", "served")
        .annotate(
            done=Count("pk", filter=DONE),
            failed=Count("pk", filter=Q(status=GenerationStatus.FAILED)),
            prompt=Sum("prompt_tokens", filter=DONE),
            cost=recorded_cost(),
            priced=priced_count(),
            priced_prompt=Sum("prompt_tokens", filter=priced_done),
            priced_output=Sum("output_tokens", filter=priced_done),
            measured=Count("pk", filter=measured),
            measured_prompt_n=Count("prompt_tokens", filter=measured),
            measured_prompt=Sum("prompt_tokens", filter=measured),
            **run_span(),
        )
        .order_by("run_id", "machine", "served")
    )
    return {
        (r["run_id"], r["machine"], r["served"]): RunRollup(
            run_id=r["run_id"],
            machine=r["machine"],
            config_id=r["served"],
            run_finished_at=finished_at.get(r["run_id"]),
            done=r["done"],
            failed=r["failed"],
            prompt_tokens=r["prompt"] or 0,
            output_tokens=r["output_tokens"] or 0,
            cost_usd=r["cost"],
            priced=r["priced"],
            priced_prompt_tokens=r["priced_prompt"] or 0,
            priced_output_tokens=r["priced_output"] or 0,
            measured=r["measured"],
            measured_prompt_n=r["measured_prompt_n"],
            measured_prompt_tokens=r["measured_prompt"] or 0,
            first_start=r["first_start"],
            last_finish=r["last_finish"],
            versions=[],
            concurrency=[],
            sketches={},
        )
        for r in rows
    }


def _environment(done, by_key) -> None:
    """The library versions (oldest first) and the concurrency values of each rollup."""
    rows = (
        done.values("run_id", "machine", "served", "backend_version", "concurrency")
        .annotate(n=Count("pk"))
        .order_by("run_id", "machine", "served", "backend_version", "concurrency")
    )
    for r in rows:
        rollup = by_key[(r["run_id"], r["machine"], r["served"])]
        if r["backend_version"] and r["backend_version"] not in rollup.versions:
            rollup.versions.append(r["backend_version"])
        if r["concurrency"] and r["concurrency"] not in rollup.concurrency:
            rollup.concurrency.append(r["concurrency"])


def _measures() -> dict[str, tuple]:
    """{sketch name: (the value, which done generations have one)}"""
    measures = {name: (F(name), Q(**{f"{name}__isnull": False})) for name in PERCENTILE_FIELDS}
    rate = ExpressionWrapper(F("output_tokens") * 1.0 / F("latency_s"), output_field=FloatField())
    measures[END_TO_END] = (rate, Q(latency_s__gt=0, output_tokens__gt=0))
    return measures


def _sketches(done, by_key) -> None:
    """Each measurement's buckets, counted by the database (sketch.py)."""
    for name, (value, measured) in _measures().items():
        rows = (
            done.filter(measured)
            .annotate(value=value)
            .annotate(
                sign=Case(
                    When(value__gt=0, then=Value(1)),
                    When(value__lt=0, then=Value(-1)),
                    default=Value(0),
                ),
                # CASE first: the logarithm of 0 is an error in PostgreSQL.
                bucket=Case(
                    When(~Q(value=0), then=Floor(Ln(Abs("value")) / Value(sketch.LOG_GAMMA))),
                    default=Value(None),
                    output_field=FloatField(),
                ),
            )
            .values_list("run_id", "machine", "served", "sign", "bucket")
            .annotate(n=Count("pk"))
            .order_by()
        )
        buckets: dict = defaultdict(list)
        for run_id, machine, served, sign, bucket, n in rows:
            buckets[(run_id, machine, served)].append((sign, bucket, n))
        for key, rollup in by_key.items():
            rollup.sketches[name] = sketch.from_buckets(buckets.get(key, ()))
