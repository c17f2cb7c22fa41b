"""bench/annotation_queue.py's HTTP mode: annotators on the REST API of a real gunicorn, as
in production (DEBUG off, the README's `gunicorn annotate.wsgi -w 4`, PostgreSQL), each with a
personal token (imported after django.setup()).

1. Saturation: --annotators threads call POST next then POST label back to back for
   --http-seconds: labels/s.
2. Open loop at half that rate: --http-annotators threads (200), each pausing a random
   think time (mean annotators / rate) before each next → label pair, so that requests
   arrive at about half the saturation rate whatever the server's latency; p95 of each.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

from _annotation_queue_load import Phase, Samples
from django.contrib.auth import get_user_model

from annotate.accounts.models import ApiToken
from annotate.labeling.models import Annotation, AnnotationState, ProjectMember

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.web_server import WebServer  # noqa: E402

ANSWERS = {"quality": 3, "correct": "pass"}


def make_annotators(project_id: int, prefix: str, count: int) -> list[str]:
    """count more members of the project, each with an API token; returns the tokens."""
    User = get_user_model()
    names = [f"{prefix}-h{i:03d}" for i in range(count)]
    User.objects.bulk_create(User(username=name) for name in names)
    users = list(User.objects.filter(username__in=names).order_by("username"))
    ProjectMember.objects.bulk_create(ProjectMember(project_id=project_id, user=u) for u in users)
    return [ApiToken.issue(user, "bench")[1] for user in users]


def start_gunicorn(app_dir: Path, workers: int, log: Path) -> tuple[WebServer, int]:
    """The production server (tests/support/web_server.py), sync workers, on plain http."""
    env = {**os.environ, "SECURE_SSL_REDIRECT": "false", "LOG_LEVEL": "WARNING"}
    server = WebServer.production(
        env, log, workers=workers, threads=1, app_dir=app_dir, access_log=False
    )
    server.start(60)
    return server, server.port


class Annotator:
    """One person on the API: a token, and a fresh connection a request (gunicorn's sync
    workers close each one, as behind a proxy)."""

    def __init__(self, port: int, token: str, project_id: int) -> None:
        self.port, self.project = port, project_id
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            payload = json.dumps(body) if body is not None else None
            connection.request("POST", path, payload, self.headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def pair(self, samples: Samples) -> bool:
        """next then label; False when nothing is left."""
        start = time.perf_counter()
        status, body = self.post(f"/api/projects/{self.project}/next")
        samples.add("next", 1000 * (time.perf_counter() - start), 0)
        if status == 204:
            return False
        if status != 200:
            raise RuntimeError(f"next: HTTP {status} {body[:200]!r}")
        number = json.loads(body)["task_id"]
        start = time.perf_counter()
        path = f"/api/projects/{self.project}/tasks/{number}/label"
        status, body = self.post(path, {"answers": ANSWERS, "time_spent_s": 5})
        samples.add("submit", 1000 * (time.perf_counter() - start), 0)
        if status != 200:
            raise RuntimeError(f"label: HTTP {status} {body[:200]!r}")
        return True


def run_http_phase(
    name: str, annotators: list[Annotator], seconds: float, think_s: float, seed: int
) -> Phase:
    """Each annotator pairs next → label (after a think time, if any) until `seconds` pass."""
    results: list[Samples] = []
    barrier = threading.Barrier(len(annotators) + 1)
    labels = Annotation.objects.filter(
        task__project_id=annotators[0].project, state=AnnotationState.SUBMITTED
    )
    before = labels.count()

    def target(index: int) -> None:
        samples, rng = Samples(), random.Random(f"{seed}-{name}-{index}")
        barrier.wait()
        deadline = time.perf_counter() + seconds
        try:
            # The first pause is spread over a whole think time: arrivals start even.
            pause = think_s * rng.random()
            while time.perf_counter() + pause < deadline:
                time.sleep(pause)
                if not annotators[index].pair(samples):
                    break
                pause = think_s * rng.uniform(0.5, 1.5)
        except Exception as exc:  # noqa: BLE001 - reported, and counted as an error
            samples.errors.append(f"{name} annotator {index}: {exc!r}")
        results.append(samples)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(annotators))]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - start
    merged = Samples()
    for result in results:
        merged.merge(result)
    return Phase(name, merged, wall_s, labels.count() - before)


def measure(project_id: int, prefix: str, bench, log: Path) -> dict[str, Phase]:
    """Saturation with bench.annotators, then half its rate with bench.http_annotators."""
    tokens = make_annotators(project_id, prefix, bench.http_annotators)
    server, port = start_gunicorn(Path(bench.app_dir), bench.http_workers, log)
    try:
        people = [Annotator(port, token, project_id) for token in tokens]
        warm = Samples()
        for person in people[: bench.http_workers * 2]:  # each worker's imports, untimed
            person.pair(warm)
        saturated = run_http_phase("http_sat", people[: bench.annotators], bench.http_seconds, 0, 1)
        rate = max(saturated.labels / saturated.wall_s / 2, 1.0)
        think_s = len(people) / rate
        # First pauses spread over a think time: arrivals at the rate from the start, so the
        # phase need not wait for every annotator at a slow rate.
        seconds = bench.http_seconds + min(think_s, bench.http_seconds)
        half = run_http_phase("http_half", people, seconds, think_s, 2)
    finally:
        server.stop()
    return {"http_sat": saturated, "http_half": half}
