"""bench/annotation_queue.py's checks, from the annotations themselves, and its report
(imported after django.setup())."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from _annotation_queue_load import Phase, Samples
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, AnnotationState, Project

if TYPE_CHECKING:
    from annotation_queue import Bench

GOAL_P95_MS = 50.0


def scalars(query: str, params: list | dict) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()


def task_counts(project_id: int, k: int, order: str = "id") -> dict[str, int]:
    """over_assigned, counter_drift and gaps (see the module's docstring; in the queue's
    order), in one query."""
    if order not in ("id", "number"):
        raise ValueError(order)
    over, drift, gaps = scalars(
        f"""
        WITH c AS (
            SELECT t.{order} AS rank, t.id, t.claimed, t.submitted, t.is_full,
                   count(a.id) FILTER (WHERE a.state IN ('held', 'submitted')) AS live,
                   count(a.id) FILTER (WHERE a.state = 'submitted') AS done,
                   count(a.id) AS seen
            FROM annotate_task t LEFT JOIN annotate_annotation a ON a.task_id = t.id
            WHERE t.project_id = %(p)s
            GROUP BY t.id)
        SELECT
            count(*) FILTER (WHERE claimed > %(k)s OR submitted > %(k)s OR live > %(k)s),
            count(*) FILTER (
                WHERE claimed <> live OR submitted <> done OR is_full <> (claimed >= %(k)s)),
            count(*) FILTER (
                WHERE live < %(k)s AND rank < (SELECT max(rank) FROM c WHERE seen > 0))
        FROM c
        """,
        {"p": project_id, "k": k},
    )
    return {"over_assigned": over, "counter_drift": drift, "gaps": gaps}


def doubled(project_id: int) -> int:
    return scalars(
        """
        SELECT count(*) FROM (
            SELECT 1 FROM annotate_annotation a JOIN annotate_task t ON t.id = a.task_id
            WHERE t.project_id = %s GROUP BY a.task_id, a.annotator_id HAVING count(*) > 1) d
        """,
        [project_id],
    )[0]


def lowest_open_unseen(project_id: int, user_id: int, k: int, order: str = "id") -> int | None:
    """The task a fair queue owes this annotator now, from the annotations themselves: the
    first in the queue's order (a blind project's random numbers, else ids)."""
    if order not in ("id", "number"):
        raise ValueError(order)
    row = scalars(
        f"""
        SELECT t.id FROM annotate_task t
        WHERE t.project_id = %(p)s
          AND (SELECT count(*) FROM annotate_annotation a
               WHERE a.task_id = t.id AND a.state IN ('held', 'submitted')) < %(k)s
          AND NOT EXISTS (SELECT 1 FROM annotate_annotation a
                          WHERE a.task_id = t.id AND a.annotator_id = %(u)s)
        ORDER BY t.{order} LIMIT 1
        """,
        {"p": project_id, "k": k, "u": user_id},
    )
    return row[0] if row else None


def skipped_on_final_asks(project_id: int, user_ids: list[int], k: int) -> int:
    """Each annotator asks once more, one at a time; how many are not given the task owed."""
    project = Project.objects.get(pk=project_id)
    mismatches = 0
    for user in get_user_model().objects.filter(pk__in=user_ids).order_by("pk"):
        owed = lowest_open_unseen(project_id, user.pk, k, "number" if project.blind else "id")
        annotation = annotation_queue.next_task(project, user)
        mismatches += (annotation.task_id if annotation else None) != owed
    return mismatches


def check(project_id: int, user_ids: list[int], k: int) -> dict[str, int]:
    held = Annotation.objects.filter(task__project_id=project_id, state=AnnotationState.HELD)
    order = "number" if Project.objects.get(pk=project_id).blind else "id"
    found = {"holds_left": held.count(), "gaps": task_counts(project_id, k, order)["gaps"]}
    found["skipped"] = skipped_on_final_asks(project_id, user_ids, k)
    # Counted after the final asks, so that their new holds are checked too.
    after = task_counts(project_id, k)
    found["over_assigned"] = after["over_assigned"]
    found["counter_drift"] = after["counter_drift"]
    found["doubled"] = doubled(project_id)
    return found


# --- Report -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank, rounded to 0.01 ms."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, -(-len(ordered) * q // 100)))
    return round(ordered[int(rank) - 1], 2)


def mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def print_phase(phase: Phase) -> None:
    rate = phase.labels / phase.wall_s
    print(f"\n{phase.name}: {phase.labels} labels in {phase.wall_s:.1f} s, {rate:.1f} labels/s")
    print(f"  {'call':<8}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'cpu ms':>9}")
    for op, wall in phase.samples.wall.items():
        cpu = phase.samples.cpu[op]
        figures = [percentile(wall, q) for q in (50, 95, 99, 100)] + [mean(cpu)]
        print(f"  {op:<8}{len(wall):>6}" + "".join(f"{f:>9.1f}" for f in figures))
    for error in phase.samples.errors[:5]:
        print(f"  ERROR {error}")


def summary(bench: Bench, phases: dict[str, Phase], found: dict, extra: dict) -> dict:
    queue, serial = phases["queue"], phases["serial"]
    views = phases.get("views") or Phase("views", Samples(), 1.0, 0)
    q, v, s = queue.samples.wall, views.samples.wall, serial.samples.wall
    return {
        **http_summary(phases),
        "next_p50_ms": percentile(q.get("next", []), 50),
        "next_p95_ms": percentile(q.get("next", []), 95),
        "next_p99_ms": percentile(q.get("next", []), 99),
        "submit_p50_ms": percentile(q.get("submit", []), 50),
        "submit_p95_ms": percentile(q.get("submit", []), 95),
        "submit_p99_ms": percentile(q.get("submit", []), 99),
        "skip_p95_ms": percentile(q.get("skip", []), 95),
        "next_cpu_ms": mean(queue.samples.cpu.get("next", [])),
        "submit_cpu_ms": mean(queue.samples.cpu.get("submit", [])),
        "labels_per_s": round(queue.labels / queue.wall_s, 1),
        "labels": queue.labels,
        "skips": len(q.get("skip", [])),
        "serial_next_p50_ms": percentile(s.get("next", []), 50),
        "serial_next_p95_ms": percentile(s.get("next", []), 95),
        "serial_submit_p95_ms": percentile(s.get("submit", []), 95),
        "next_view_p50_ms": percentile(v.get("next", []), 50),
        "next_view_p95_ms": percentile(v.get("next", []), 95),
        "page_view_p95_ms": percentile(v.get("page", []), 95),
        "submit_view_p50_ms": percentile(v.get("submit", []), 50),
        "submit_view_p95_ms": percentile(v.get("submit", []), 95),
        "view_labels_per_s": round(views.labels / views.wall_s, 1),
        **found,
        "errors": sum(len(phase.samples.errors) for phase in phases.values()),
        "generations": bench.generations,
        "annotators": bench.annotators,
        "overlap": bench.overlap,
        "rounds": bench.rounds,
        "view_rounds": bench.view_rounds,
        "think_ms": bench.think_ms,
        "done": bench.done,
        "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
        **extra,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def http_summary(phases: dict[str, Phase]) -> dict:
    if "http_sat" not in phases:
        return {}
    sat, half = phases["http_sat"], phases["http_half"]
    return {
        "http_labels_per_s": round(sat.labels / sat.wall_s, 1),
        "http_sat_next_p95_ms": percentile(sat.samples.wall.get("next", []), 95),
        "http_half_labels_per_s": round(half.labels / half.wall_s, 1),
        "http_next_p50_ms": percentile(half.samples.wall.get("next", []), 50),
        "http_next_p95_ms": percentile(half.samples.wall.get("next", []), 95),
        "http_submit_p50_ms": percentile(half.samples.wall.get("submit", []), 50),
        "http_submit_p95_ms": percentile(half.samples.wall.get("submit", []), 95),
        "http_errors": len(sat.samples.errors) + len(half.samples.errors),
    }


def print_goals(result: dict) -> None:
    goals = {
        f"next p95 < {GOAL_P95_MS:g} ms": (result["next_p95_ms"] or 0) < GOAL_P95_MS,
        f"submit p95 < {GOAL_P95_MS:g} ms": (result["submit_p95_ms"] or 0) < GOAL_P95_MS,
        "no task over-assigned": result["over_assigned"] == 0,
        "no task skipped": result["skipped"] == 0,
        "no doubled label": result["doubled"] == 0,
        "no counter drift": result["counter_drift"] == 0,
        "no errors": result["errors"] == 0,
    }
    print()
    for goal, met in goals.items():
        print(f"  [{'met' if met else 'MISSED'}] {goal}")
