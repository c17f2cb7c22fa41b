"""bench/judging.py's runs: the project to judge, the fake OpenAI-compatible server, the worker,
and one judge run through it, counted (imported after django.setup())."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from common import wait_finished
from django.contrib.auth import get_user_model
from django.db.models import Count, Max
from environment import start_worker

from annotate.datasets.actions import import_dataset
from annotate.judges.actions import attach_judge, start_judging
from annotate.judges.models import JudgeLabel, JudgeRun
from annotate.labeling.models import Project, Task
from inference.actions import create_run
from inference.models import Generation, GenerationStatus, ModelConfig
from tests.support.fake_openai import FakeOpenAI

if TYPE_CHECKING:
    from judging import Bench

POLL_S = 0.05
MODEL = "gpt-4o-mini"
CHAT_PATH = "/v1/chat/completions"
# Both required: a strict schema whatever the builder does with optional questions.
QUESTIONS = [
    {"key": "quality", "label": "Quality", "kind": "rating", "min": 1, "max": 5, "required": True},
    {"key": "correct", "label": "Correct?", "kind": "passfail", "required": True},
]
# What the fake answers to the judge's schema (tests/support/fake_structured.answer_for).
SERVED = {"quality": 1, "correct": "pass"}


def start_server(bench: Bench, api_key: str) -> FakeOpenAI:
    """The fake API with TCP_NODELAY on its connections, as real API front ends have (see
    bench/api_concurrency.py: Nagle's delay is a cost of the fake, not of the app)."""
    server = FakeOpenAI(api_key=api_key, latency=bench.latency, filler_words=4)
    handler = server._httpd.RequestHandlerClass
    server._httpd.RequestHandlerClass = type(
        "NoDelayHandler", (handler,), {"disable_nagle_algorithm": True}
    )
    return server.start()


def build_project(owner, n: int, stamp: str) -> Project:
    """A label project over one completed run of n outputs, imported as outputs made
    elsewhere would be."""
    lines = "".join(
        json.dumps(
            {
                "id": f"q{i}",
                "prompt": f"Bench judging {stamp} prompt {i}: name a colour.",
                "outputs": [{"model": f"bench-judged-{stamp}", "output": f"Colour {i}: blue."}],
            }
        )
        + "\n"
        for i in range(n)
    )
    name = f"bench-judging-{stamp}"
    import_dataset(owner, io.BytesIO(lines.encode()), "outputs.jsonl", name, project_kind="label")
    project = Project.objects.get(name=name)
    project.questions = QUESTIONS
    project.save(update_fields=("questions",))
    return project


def make_config(owner, server: FakeOpenAI, bench: Bench, stamp: str) -> ModelConfig:
    return ModelConfig.objects.create(
        name=f"bench-judge-{stamp}",
        backend="openai",
        model=MODEL,
        base_url=server.base_url,
        api_key_env="OPENAI_API_KEY",
        max_tokens=64,
        concurrency=bench.concurrency,
        owner=owner,
    )


def warm_up(owner, config: ModelConfig, stamp: str) -> None:
    """A tiny structured run: the worker imports the SDK and builds its client."""
    lines = "".join(json.dumps({"prompt": f"warm {stamp} {i}"}) + "\n" for i in range(2))
    dataset = import_dataset(owner, io.BytesIO(lines.encode()), "warm.jsonl", f"warm-{stamp}")
    schema = {
        "type": "object",
        "properties": {"reasoning": {"type": "string"}},
        "required": ["reasoning"],
        "additionalProperties": False,
    }
    run = create_run(owner, dataset.pk, config.pk, response_schema=schema)
    wait_finished(run.pk, timeout=120)


def wait_labelled(judge_run: JudgeRun, tasks: int, timeout: float) -> None:
    """The run's end, then its labels: the receiver stores them as the run ends; wait until
    every task has one or the count holds still for a second."""
    wait_finished(judge_run.run_id, timeout=timeout, poll_s=POLL_S)
    last, still_since = -1, time.monotonic()
    while time.monotonic() - still_since < 1.0:
        count = judge_run.labels.count()
        if count >= tasks:
            return
        if count != last:
            last, still_since = count, time.monotonic()
        time.sleep(POLL_S)


def count(judge_run: JudgeRun, project: Project, server: FakeOpenAI) -> dict:
    """Lost: tasks without a label of this run. Doubled: tasks with more than one label,
    items with more than one generation row, prompts answered completely more than once."""
    tasks = Task.objects.filter(project=project)
    lost = tasks.exclude(judge_labels__judge_run=judge_run).count()
    labels = JudgeLabel.objects.filter(judge_run=judge_run)
    double_labels = labels.values("task_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    gens = Generation.objects.filter(run=judge_run.run_id)
    double_rows = (
        gens.values("item_id", "sample_index").annotate(n=Count("pk")).filter(n__gt=1).count()
    )
    double_served = sum(1 for n in server.ledger.completed.values() if n > 1)
    return {
        "tasks": tasks.count(),
        "labels": labels.count(),
        "labels_as_served": sum(1 for a in labels.values_list("answers", flat=True) if a == SERVED),
        "lost": lost,
        "doubled": double_labels + double_rows + double_served,
        "failed": gens.filter(status=GenerationStatus.FAILED).count(),
        "server_requests": sum(1 for r in server.ledger.records if r.path == CHAT_PATH),
        "max_in_flight": server.ledger.max_in_flight,
    }


def measure(bench: Bench, log: Path, api_key: str) -> dict:
    """Build, start the server and the worker, warm up, judge once (timed), count."""
    owner, _ = get_user_model().objects.update_or_create(
        username="bench-judging", defaults={"is_superuser": True, "is_staff": True}
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    project = build_project(owner, bench.outputs, stamp)
    with start_server(bench, api_key) as server:
        config = make_config(owner, server, bench, stamp)
        worker = start_worker("bench-judge", log, "api", "threads", bench.worker_concurrency)
        try:
            warm_up(owner, config, stamp)
            server.ledger.reset()
            created = time.time()
            judge = attach_judge(owner, project.pk, {"model_config": config.pk, "name": stamp})
            judge_run = start_judging(owner, judge.pk)
            started = time.time()
            wait_labelled(judge_run, bench.outputs, timeout=max(600, bench.ideal_s * 10))
        finally:
            worker.stop()
        judge_run.run.refresh_from_db()
        last_label = judge_run.labels.aggregate(at=Max("created_at"))["at"]
        ended = max(t for t in (judge_run.run.finished_at, last_label) if t is not None)
        wall_s = ended.timestamp() - created
        figures = count(judge_run, project, server)
        run = judge_run.run
        parts = {  # where the time went, from the run's timestamps
            "start_judging_s": started - created,  # the judge prompts rendered, the run made
            "dispatch_s": run.started_at.timestamp() - started,  # broker pickup
            "generation_s": (run.finished_at - run.started_at).total_seconds(),
            "labels_s": (ended - run.finished_at).total_seconds(),  # answers parsed, stored
        }
    return {
        "time_vs_ideal": round(wall_s / bench.ideal_s, 3),
        "lost": figures["lost"],
        "doubled": figures["doubled"],
        "judged_per_s": round(figures["labels"] / wall_s, 2),
        "outputs": bench.outputs,
        "wall_s": round(wall_s, 3),
        "ideal_s": round(bench.ideal_s, 3),
        "latency_s": bench.latency,
        "concurrency": bench.concurrency,
        "run_status": judge_run.run.status,
        "schema_via": judge_run.run.params.get("response_schema_via"),
        **figures,
        **{key: round(value, 3) for key, value in parts.items()},
    }
