"""Speed sweeps: the advice "smaller batches for interactive use, batch for throughput, fewer
max tokens" measured. A sweep runs one seeded sample of a dataset's items through one
configuration at each point (in flight: an MLX batch size or an API concurrency) × max tokens,
one ordinary run a point (params["sweep"] = {"id", "point"}, so the statistics keep it).

1. The sample: `sample_items` draws the items with random.Random(seed), the same for a seed.
2. The points run one after another, never at once, or they would measure each other: the
   first starts with the sweep, each next one when the previous run finishes or fails
   (receivers.py listens to inference.signals.run_finished and run_failed): a failed point
   keeps its error and the sweep goes on, ending "completed with errors". A cancelled point
   holds the sweep until it is resumed and finishes; a cancelled sweep (actions.cancel_sweep)
   starts no point again and keeps the points measured.
3. Each point's figures: throughput is the run's tokens/s (inference.figures, as the speed &
   cost page counts it); latency is per request, p50 and p95 of its done generations.
4. The knee (`mark_knees`), per max-tokens series in order of in flight: the first point after
   which doubling what is in flight gains less than KNEE_GAIN (10%) throughput while the p50
   latency still grows. Beyond it, more in flight only makes each request slower. A series
   whose throughput still grows by 10% a doubling at its largest point has no knee yet.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from annotate.stats.models import Sweep
from inference.actions import create_run
from inference.backends import get_backend_class
from inference.figures import run_span, run_tokens_per_s
from inference.models import ACTIVE_RUN_STATUSES, GenerationStatus, Run, RunStatus

KNEE_GAIN = 0.10


def in_flight_key(backend: str) -> str:
    """The run setting a point varies: a local model's batch, an API's concurrency."""
    return "batch_size" if get_backend_class(backend).is_local else "concurrency"


def sample_items(item_ids: list[int], size: int, seed: int) -> list[int]:
    """`size` of the items, drawn with `seed` from them in id order (all if fewer)."""
    ordered = sorted(item_ids)
    return sorted(random.Random(seed).sample(ordered, min(size, len(ordered))))


def sweep_runs(sweep: Sweep) -> dict[int, Run]:
    """The sweep's runs by point (the latest, should a point have two)."""
    runs = Run.objects.filter(params__sweep__id=sweep.pk).order_by("pk")
    return {run.params["sweep"]["point"]: run for run in runs}


@transaction.atomic
def start_next_point(sweep_id: int) -> Run | None:
    """Start the first point without a run, unless one of the sweep's runs is still going.
    Returns the run started, or None (all started, or one still running)."""
    sweep = Sweep.objects.select_for_update().select_related("model_config").get(pk=sweep_id)
    if sweep.cancelled_at is not None:
        return None
    runs = sweep_runs(sweep)
    if any(run.status in ACTIVE_RUN_STATUSES for run in runs.values()):
        return None
    todo = [i for i in range(len(sweep.points)) if i not in runs]
    if not todo:
        return None
    point = sweep.points[todo[0]]
    key = in_flight_key(sweep.model_config.backend)
    return create_run(
        sweep.created_by,
        sweep.dataset_id,
        sweep.model_config_id,
        item_ids=sweep.item_ids,
        overrides={
            key: point["in_flight"],
            "max_tokens": point["max_tokens"],
            "sweep": {"id": sweep.pk, "point": todo[0]},
        },
    )


@dataclass
class SweepPoint:
    index: int
    in_flight: int
    max_tokens: int
    run: Run | None
    done: int = 0
    tokens_per_s: float | None = None
    p50_latency_s: float | None = None
    p95_latency_s: float | None = None
    knee: bool = False

    def as_dict(self) -> dict:
        return {
            "point": self.index,
            "in_flight": self.in_flight,
            "max_tokens": self.max_tokens,
            "run": self.run.pk if self.run else None,
            "status": self.run.status if self.run else "waiting",
            "error": self.run.error if self.run else "",
            "done": self.done,
            "total": self.run.total if self.run else None,
            "tokens_per_s": self.tokens_per_s,
            "p50_latency_s": self.p50_latency_s,
            "p95_latency_s": self.p95_latency_s,
            "knee": self.knee,
        }


def measure(run: Run) -> dict:
    """A point's figures from its run's done generations."""
    done = run.generations.filter(status=GenerationStatus.DONE)
    span = done.aggregate(**run_span())
    latencies = [x for x in done.values_list("latency_s", flat=True) if x is not None]
    p50, p95 = np.percentile(latencies, [50, 95]).tolist() if latencies else (None, None)
    return {
        "done": done.count(),
        "tokens_per_s": run_tokens_per_s(**span),
        "p50_latency_s": p50,
        "p95_latency_s": p95,
    }


def sweep_points(sweep: Sweep) -> list[SweepPoint]:
    """Every point with its run and figures, the knees marked."""
    runs = sweep_runs(sweep)
    points = []
    for i, p in enumerate(sweep.points):
        run = runs.get(i)
        figures = measure(run) if run else {}
        points.append(SweepPoint(i, p["in_flight"], p["max_tokens"], run, **figures))
    mark_knees(points)
    return points


def mark_knees(points: list[SweepPoint]) -> None:
    """Set `knee` on the knee of each max-tokens series (the module's rule 4)."""
    for max_tokens in {p.max_tokens for p in points}:
        series = sorted(
            (
                p
                for p in points
                if p.max_tokens == max_tokens and p.tokens_per_s and p.p50_latency_s is not None
            ),
            key=lambda p: p.in_flight,
        )
        for a, b in zip(series, series[1:], strict=False):
            doublings = math.log2(b.in_flight / a.in_flight)
            if doublings <= 0:
                continue
            gain = (b.tokens_per_s / a.tokens_per_s) ** (1 / doublings) - 1
            if gain < KNEE_GAIN and b.p50_latency_s > a.p50_latency_s:
                a.knee = True
                break


def sweep_progress(sweep: Sweep, points: list[SweepPoint]) -> dict:
    """How far the sweep is: points finished of all, whether it still runs, and its status
    in the runs' words (inference.models.RunStatus): running; completed, or completed with
    errors when a point failed, had errors or was cancelled; cancelled (the sweep, or a point
    that holds it); failed when the next point could not start (`sweep.error`)."""
    ended = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS, RunStatus.FAILED)
    finished = sum(1 for p in points if p.run and p.run.status in ended)
    statuses = [p.run.status if p.run else None for p in points]
    active = any(s in ACTIVE_RUN_STATUSES for s in statuses) and sweep.cancelled_at is None
    if sweep.cancelled_at is not None:
        status = RunStatus.CANCELLED
    elif active:
        status = RunStatus.RUNNING
    elif None not in statuses:
        clean = all(s == RunStatus.COMPLETED for s in statuses)
        status = RunStatus.COMPLETED if clean else RunStatus.COMPLETED_WITH_ERRORS
    elif sweep.error:
        status = RunStatus.FAILED
    elif RunStatus.CANCELLED in statuses:
        status = RunStatus.CANCELLED
    else:  # between two points: the next one is being started
        status, active = RunStatus.RUNNING, True
    return {
        "finished": finished,
        "points": len(points),
        "running": active,
        "status": status.value,
        "status_label": status.label,
    }
