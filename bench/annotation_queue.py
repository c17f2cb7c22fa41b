"""The labeling queue under load: how long "next item" and "submit" take on the server while
annotators work at once, and whether any task goes to too many people or gets passed over.

Usage: python bench/annotation_queue.py [--quick] [--generations 100000] [--annotators 20]
           [--overlap 2] [--rounds 100] [--view-rounds 25] [--think-ms 0] [--done 0]

Needs PostgreSQL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/annotate_bench_queue,
created if missing. The bench's tables in it are emptied at start, so its name must contain
"bench". Phases, all on one project:

- serial: one annotator alone calls `annotation_queue.next_task` then `submit`: the latency
  without contention;
- queue: --annotators threads, each with its own database connection, call `next_task` then
  `submit` (every other annotator `skip`s a fifth of the time) --rounds times, back to back
  unless --think-ms. Each call is timed around the function alone: server time, no HTTP.
  Its thread CPU time is kept too, to tell the work apart from waiting (row locks, commits,
  the GIL, the machine's other load);
- views: the same through the real views with `django.test.Client`, in-process, one client
  and one `force_login` per annotator thread: GET /projects/<pk>/next/ (302 to the task), GET
  the task page, POST the answers (302) or POST .../skip/, each timed around `client.get` /
  `client.post` (middleware, session, view, template).

Then, from the annotations themselves (every count should be 0):
- over_assigned: tasks whose `claimed` or `submitted` counter, or whose count of held plus
  submitted annotations, exceeds the overlap k;
- doubled: (task, annotator) pairs with more than one annotation (the unique constraint forbids
  them; counted anyway);
- counter_drift: tasks whose `claimed` differs from their held + submitted annotations, whose
  `submitted` differs from their submitted annotations, or whose `is_full` is not claimed >= k;
- skipped: when every annotator has stopped (no hold left), each asks once more, one after
  the other; they must get the lowest-id task with fewer than k held or submitted annotations
  that they have not seen, computed in SQL just before the call. skipped = how many did not.
  (gaps, for information: tasks below the highest one handed out still short of k before those
  asks; skips and SKIP LOCKED leave some, and the asks must fill them lowest first.)

How:
1. Create the database if missing, django.setup() (then DEBUG off, as in production: no query
   log, no template debug), migrate, truncate the tables the bench fills, delete its users.
2. Build, timed apart from the goal: 21 users, a dataset of N items with one sample each
   (N = --generations), a model configuration, a COMPLETED run with N DONE generations (short
   outputs), inserted by INSERT ... SELECT FROM generate_series; a project over the run with
   overlap k, the default questions and the annotators as members; its N tasks made by the
   app's `sync_tasks`; with --done F, the first F x N tasks already labeled k times by the
   annotators in turn (a project under way: "next" must get past them); VACUUM ANALYZE.
3. Warm up (one untimed round each way, counting the SQL statements of each call), run the
   phases, then the checks.
4. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
Goals: p95 of next and submit under 50 ms in the queue phase, every check 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg import ensure_database, reset, setup_django, vacuum_analyze  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotate_bench_queue"
PREFIX = "bench-queue"
GOAL_P95_MS = 50.0
HOLD_S = 900  # longer than any run: no hold expires during the bench
TASK_URL = re.compile(r"/projects/\d+/tasks/\d+/$")
# The tables the bench fills, emptied at start (and whatever references them, by CASCADE).


@dataclass(frozen=True)
class Bench:
    generations: int
    annotators: int
    overlap: int
    rounds: int
    view_rounds: int
    serial_rounds: int
    skip_rate: float
    think_ms: float
    done: float
    seed: int


@dataclass
class Samples:
    """Per-call wall and thread-CPU times in ms, by operation."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, op: str, wall_ms: float, cpu_ms: float) -> None:
        self.wall.setdefault(op, []).append(wall_ms)
        self.cpu.setdefault(op, []).append(cpu_ms)

    def merge(self, other: Samples) -> None:
        for op, values in other.wall.items():
            self.wall.setdefault(op, []).extend(values)
            self.cpu.setdefault(op, []).extend(other.cpu[op])
        self.errors.extend(other.errors)


@dataclass
class Phase:
    name: str
    samples: Samples
    wall_s: float
    labels: int


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k generations, fewer rounds")
    parser.add_argument("--generations", type=int, help="default 100000, 10000 quick")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--overlap", type=int, default=2, help="the project's k")
    parser.add_argument("--rounds", type=int, help="next items per annotator (100, 40 quick)")
    parser.add_argument("--view-rounds", type=int, help="same through the views (25, 10 quick)")
    parser.add_argument("--serial-rounds", type=int, help="one annotator alone (100, 30 quick)")
    parser.add_argument("--skip-rate", type=float, default=0.2, help="of odd annotators")
    parser.add_argument("--think-ms", type=float, default=0, help="mean pause between calls")
    parser.add_argument(
        "--done", type=float, default=0, help="fraction of tasks labeled before the phases"
    )
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    quick = args.quick
    return Bench(
        generations=args.generations or (10_000 if quick else 100_000),
        annotators=args.annotators,
        overlap=args.overlap,
        rounds=args.rounds or (40 if quick else 100),
        view_rounds=args.view_rounds or (10 if quick else 25),
        serial_rounds=args.serial_rounds or (30 if quick else 100),
        skip_rate=args.skip_rate,
        think_ms=args.think_ms,
        done=args.done,
        seed=args.seed,
    )


# --- Building the data --------------------------------------------------------------------------


def make_users(count: int) -> tuple[Any, list[Any]]:
    """The project's owner and `count` annotators, without passwords (hashing is slow)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    names = [f"{PREFIX}-owner"] + [f"{PREFIX}-a{i:02d}" for i in range(count)]
    users = [User(username=name) for name in names]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    users = list(User.objects.filter(username__in=names).order_by("username"))
    return users[-1], users[:-1]  # "-owner" sorts after "-a00".."-aNN"


def insert_outputs(dataset_id: int, run_id: int, count: int) -> None:
    """`count` items, and one DONE generation with a short output for each, in two statements."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_item
                (dataset_id, index, external_id, messages, prompt, reference, metadata)
            SELECT %s, i, '',
                   jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Prompt ' || i)),
                   'Prompt ' || i, '', '{}'::jsonb
            FROM generate_series(0, %s - 1) AS i
            """,
            [dataset_id, count],
        )
        cursor.execute(
            """
            INSERT INTO annotate_generation
                (run_id, item_id, sample_index, status, output, finish_reason, prompt_tokens,
                 output_tokens, latency_s, error, attempts, retries, backend_version, machine,
                 worker, started_at, finished_at)
            SELECT %s, id, 0, 'done', 'Answer number ' || index || '.', 'stop', 12, 4, 0.1,
                   '', 1, 0, '', '', '', now(), now()
            FROM annotate_item WHERE dataset_id = %s
            """,
            [run_id, dataset_id],
        )


def build(bench: Bench) -> tuple[int, list[int], dict[str, float]]:
    """The project and its annotators: (project id, annotator ids, seconds by step)."""
    from annotate.datasets.models import Dataset
    from annotate.labeling.models import Project, ProjectMember
    from annotate.labeling.projects import sync_tasks
    from annotate.labeling.questions import DEFAULT_QUESTIONS
    from inference.models import ModelConfig, Run, RunStatus

    start = time.perf_counter()
    owner, annotators = make_users(bench.annotators)
    dataset = Dataset.objects.create(name=f"{PREFIX} dataset", owner=owner)
    config = ModelConfig.objects.create(
        name=f"{PREFIX}-config", backend="openai", model="bench-synthetic", owner=owner
    )
    run = Run.objects.create(
        dataset=dataset,
        model_config=config,
        params=config.params(),
        status=RunStatus.COMPLETED,
        total=bench.generations,
        created_by=owner,
    )
    insert_outputs(dataset.pk, run.pk, bench.generations)
    project = Project.objects.create(
        name=f"{PREFIX} project",
        questions=DEFAULT_QUESTIONS,
        overlap=bench.overlap,
        hold_s=HOLD_S,
        owner=owner,
    )
    project.runs.add(run)
    ProjectMember.objects.bulk_create(ProjectMember(project=project, user=u) for u in annotators)
    steps = {"outputs": time.perf_counter() - start}
    if (created := sync_tasks(project)) != bench.generations:
        raise RuntimeError(f"sync_tasks made {created} tasks for {bench.generations} outputs")
    steps["sync_tasks"] = time.perf_counter() - start - steps["outputs"]
    user_ids = [u.pk for u in annotators]
    prefill(project.pk, user_ids, bench.overlap, int(bench.done * bench.generations))
    vacuum_analyze(("annotate_item", "annotate_generation", "annotate_task", "annotate_annotation"))
    return project.pk, user_ids, steps


def prefill(project_id: int, user_ids: list[int], k: int, count: int) -> None:
    """Label the project's first `count` tasks fully, as if the team had been at it for a
    while: k submitted annotations each, from the annotators in turn."""
    from django.db import connection

    first = "SELECT id FROM annotate_task WHERE project_id = %(p)s ORDER BY id LIMIT %(count)s"
    params = {"p": project_id, "count": count, "k": k, "users": user_ids, "n": len(user_ids)}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO annotate_annotation
                (task_id, annotator_id, state, answers, started_at, submitted_at, time_spent_s)
            SELECT t.id, (%(users)s::int[])[(t.id + j) %% %(n)s + 1], 'submitted',
                   '{{"quality": 3, "correct": "pass"}}', now() - interval '1 day',
                   now() - interval '1 day', 5
            FROM ({first}) t CROSS JOIN generate_series(0, %(k)s - 1) AS j
            """,
            params,
        )
        cursor.execute(
            f"""UPDATE annotate_task SET claimed = %(k)s, submitted = %(k)s, is_full = true
                WHERE id IN ({first})""",
            params,
        )


# --- The load -----------------------------------------------------------------------------------


def timed(samples: Samples, op: str, call: Callable[..., Any], *args: Any) -> Any:
    """call(*args), with its wall and thread-CPU time recorded under op."""
    wall, cpu = time.perf_counter(), time.thread_time()
    result = call(*args)
    samples.add(op, 1000 * (time.perf_counter() - wall), 1000 * (time.thread_time() - cpu))
    return result


def think(ctx: dict, rng: random.Random) -> None:
    """An annotator reading: ctx["think_s"] on average, from half to one and a half of it."""
    if ctx["think_s"]:
        time.sleep(ctx["think_s"] * rng.uniform(0.5, 1.5))


def random_answers(rng: random.Random) -> dict[str, str]:
    """Form fields for the default questions' two required ones."""
    return {"quality": str(rng.randint(1, 5)), "correct": rng.choice(("pass", "fail"))}


def skips(bench: Bench, index: int, rng: random.Random) -> bool:
    """Every other annotator skips now and then; the rest never do."""
    return index % 2 == 1 and rng.random() < bench.skip_rate


def annotate_directly(bench: Bench, ctx: dict, index: int, rounds: int, samples: Samples) -> None:
    """One annotator calling the queue's functions: next, then submit or skip."""
    from django.contrib.auth import get_user_model

    from annotate.labeling import annotation_queue
    from annotate.labeling.models import Project
    from annotate.labeling.questions import clean_answers

    project = Project.objects.get(pk=ctx["project_id"])
    user = get_user_model().objects.get(pk=ctx["user_ids"][index])
    rng = random.Random(f"{bench.seed}-direct-{index}")
    ctx["barrier"].wait()
    for _ in range(rounds):
        think(ctx, rng)
        annotation = timed(samples, "next", annotation_queue.next_task, project, user)
        if annotation is None:
            return
        if skips(bench, index, rng):
            timed(samples, "skip", annotation_queue.skip, annotation, 3.0)
            continue
        answers = clean_answers(project.questions, random_answers(rng))
        think(ctx, rng)
        timed(samples, "submit", annotation_queue.submit, annotation, answers, 5.0)


def annotate_through_views(
    bench: Bench, ctx: dict, index: int, rounds: int, samples: Samples
) -> None:
    """One annotator in a browser: next (302), the task page, then POST answers or skip."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=ctx["user_ids"][index]))
    rng = random.Random(f"{bench.seed}-views-{index}")
    next_url = f"/projects/{ctx['project_id']}/next/"
    ctx["barrier"].wait()
    for _ in range(rounds):
        think(ctx, rng)
        response = timed(samples, "next", client.get, next_url)
        if response.status_code != 302:
            return  # nothing left for this annotator
        task_url = response["Location"]
        if not TASK_URL.search(task_url):
            raise RuntimeError(f"next redirected to {task_url!r}")
        expect(timed(samples, "page", client.get, task_url), 200, task_url)
        think(ctx, rng)
        if skips(bench, index, rng):
            form = {"time_spent_s": "3"}
            response = timed(samples, "skip", client.post, f"{task_url}skip/", form)
        else:
            form = {**random_answers(rng), "time_spent_s": "5"}
            response = timed(samples, "submit", client.post, task_url, form)
        expect(response, 302, task_url)


def expect(response, status: int, url: str) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{url}: HTTP {response.status_code}, expected {status}")


def warm_up(project_id: int, user_id: int) -> dict[str, int]:
    """One untimed round each way, before the phases: imports, URL resolving and template
    compiling are not what they measure. Returns the SQL statements each call sent."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from annotate.labeling import annotation_queue
    from annotate.labeling.models import Project

    def count(op: str, call: Callable[..., Any], *args: Any) -> Any:
        with CaptureQueriesContext(connection) as queries:
            result = call(*args)
        statements[op] = len(queries)
        return result

    statements: dict[str, int] = {}
    project, user = Project.objects.get(pk=project_id), get_user_model().objects.get(pk=user_id)
    annotation = count("next", annotation_queue.next_task, project, user)
    count("submit", annotation_queue.submit, annotation, {"quality": 3, "correct": "pass"}, 1.0)
    client = Client()
    client.force_login(user)
    task_url = count("next_view", client.get, f"/projects/{project_id}/next/")["Location"]
    count("page_view", client.get, task_url)
    answers = random_answers(random.Random(0))
    expect(count("submit_view", client.post, task_url, answers), 302, task_url)
    return statements


def run_phase(name: str, worker: Callable, bench: Bench, ctx: dict, rounds: int) -> Phase:
    """worker(bench, ctx, index, rounds, samples) in one thread per ctx["user_ids"], each with
    its own database connection, timed from the moment all of them are ready."""
    from django.db import connection

    from annotate.labeling.models import Annotation, AnnotationState

    ctx = {**ctx, "barrier": threading.Barrier(len(ctx["user_ids"]) + 1)}
    results: list[Samples] = []

    def target(index: int) -> None:
        samples = Samples()
        try:
            worker(bench, ctx, index, rounds, samples)
        except Exception as exc:  # noqa: BLE001 - reported, and counted as an error
            samples.errors.append(f"{name} annotator {index}: {exc!r}")
            ctx["barrier"].abort()
        finally:
            connection.close()
            results.append(samples)

    labels = Annotation.objects.filter(
        task__project_id=ctx["project_id"], state=AnnotationState.SUBMITTED
    )
    before = labels.count()
    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(ctx["user_ids"]))]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ctx["barrier"].wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - start
    samples = Samples()
    for result in results:
        samples.merge(result)
    return Phase(name, samples, wall_s, labels.count() - before)


# --- Checks -------------------------------------------------------------------------------------


def scalars(query: str, params: list | dict) -> tuple:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()


def task_counts(project_id: int, k: int) -> dict[str, int]:
    """over_assigned, counter_drift and gaps (see the module's docstring), in one query."""
    over, drift, gaps = scalars(
        """
        WITH c AS (
            SELECT t.id, t.claimed, t.submitted, t.is_full,
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
            count(*) FILTER (WHERE live < %(k)s AND id < (SELECT max(id) FROM c WHERE seen > 0))
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


def lowest_open_unseen(project_id: int, user_id: int, k: int) -> int | None:
    """The task a fair queue owes this annotator now, from the annotations themselves."""
    row = scalars(
        """
        SELECT min(t.id) FROM annotate_task t
        WHERE t.project_id = %(p)s
          AND (SELECT count(*) FROM annotate_annotation a
               WHERE a.task_id = t.id AND a.state IN ('held', 'submitted')) < %(k)s
          AND NOT EXISTS (SELECT 1 FROM annotate_annotation a
                          WHERE a.task_id = t.id AND a.annotator_id = %(u)s)
        """,
        {"p": project_id, "k": k, "u": user_id},
    )
    return row[0]


def skipped_on_final_asks(project_id: int, user_ids: list[int], k: int) -> int:
    """Each annotator asks once more, one at a time; how many are not given the task owed."""
    from django.contrib.auth import get_user_model

    from annotate.labeling import annotation_queue
    from annotate.labeling.models import Project

    project = Project.objects.get(pk=project_id)
    mismatches = 0
    for user in get_user_model().objects.filter(pk__in=user_ids).order_by("pk"):
        owed = lowest_open_unseen(project_id, user.pk, k)
        annotation = annotation_queue.next_task(project, user)
        mismatches += (annotation.task_id if annotation else None) != owed
    return mismatches


def check(project_id: int, user_ids: list[int], k: int) -> dict[str, int]:
    from annotate.labeling.models import Annotation, AnnotationState

    held = Annotation.objects.filter(task__project_id=project_id, state=AnnotationState.HELD)
    found = {"holds_left": held.count(), "gaps": task_counts(project_id, k)["gaps"]}
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
    from django.conf import settings

    queue, views, serial = (phases[name] for name in ("queue", "views", "serial"))
    q, v, s = queue.samples.wall, views.samples.wall, serial.samples.wall
    return {
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


def main(argv: list[str] | None = None) -> int:
    bench = bench_from_args(parse_args(argv))
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"This bench needs PostgreSQL; DATABASE_URL is {url!r}")
    ensure_database(url)
    setup_django(url)
    reset(PREFIX)
    start = time.perf_counter()
    project_id, user_ids, steps = build(bench)
    build_s = time.perf_counter() - start
    print(f"build: {build_s:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")")
    statements = warm_up(project_id, user_ids[0])
    print("SQL statements a call: " + ", ".join(f"{k} {v}" for k, v in statements.items()))
    alone = {"project_id": project_id, "user_ids": user_ids[:1], "think_s": 0}
    everyone = {"project_id": project_id, "user_ids": user_ids, "think_s": bench.think_ms / 1000}
    phases = {
        "serial": run_phase("serial", annotate_directly, bench, alone, bench.serial_rounds),
        "queue": run_phase("queue", annotate_directly, bench, everyone, bench.rounds),
        "views": run_phase("views", annotate_through_views, bench, everyone, bench.view_rounds),
    }
    for phase in phases.values():
        print_phase(phase)
    found = check(project_id, user_ids, bench.overlap)
    print("\nchecks: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    extra = {"build_s": round(build_s, 1), "statements": statements}
    result = summary(bench, phases, found, extra)
    print_goals(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
