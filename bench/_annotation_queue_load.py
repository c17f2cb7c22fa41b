"""bench/annotation_queue.py's load: annotators calling the queue's functions or its views in
threads, each call timed (imported after django.setup())."""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, AnnotationState, Project
from annotate.labeling.questions import clean_answers

if TYPE_CHECKING:
    from annotation_queue import Bench

TASK_URL = re.compile(r"/projects/\d+/tasks/\d+/$")


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
