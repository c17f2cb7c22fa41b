"""Measured runs for the Speed & cost page (issue 16): a local MLX configuration priced by the
hour of its machine (two batch sizes), a hosted Anthropic one with a price row (two
concurrencies; its streamed "decode" speed far above anything local), a priced OpenAI one that
was rated but never compared, and a hosted one without any price. Ratings from a labeling
project, win rates from a comparison between the first two."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from unittest import mock

from django.utils import timezone

from annotate.comparisons.pairs import compare_questions
from annotate.labeling import annotation_queue
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project, ProjectKind, Task
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig, Price, WorkerHeartbeat
from tests.conftest import make_dataset

ITEMS = 24
LOCAL_MACHINE = "vm (x86_64 Linux, 16 cores, Debian 12 bookworm)"
API_MACHINE = "api-worker-1"


def _run(owner, config, dataset, rng, *, hosted: bool, cost: Decimal | None, machine: str):
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, dataset.pk, config.pk)
    start = timezone.now()
    in_flight = config.concurrency if hosted else config.batch_size
    for g in run.generations.order_by("item__index"):
        tokens = rng.randint(40, 400)
        ttft = rng.uniform(0.35, 0.9) if hosted else rng.uniform(0.12, 0.45)
        # A stream delivers its tokens in bursts: its "decode" rate means little.
        stream = rng.uniform(0.004, 0.02) if hosted else tokens / rng.uniform(35, 60)
        g.status, g.output = GenerationStatus.DONE, "ok"
        g.prompt_tokens, g.output_tokens = rng.randint(30, 120), tokens
        g.ttft_s, g.latency_s = ttft, ttft + stream
        g.decode_tps = (tokens - 1) / stream
        g.machine, g.concurrency, g.cost_usd = machine, in_flight, cost
        g.started_at = start
        g.finished_at = start + timedelta(seconds=60 / in_flight)
        g.save()
    return run


def _configs(owner) -> dict[str, ModelConfig]:
    Price.objects.update_or_create(
        backend="anthropic",
        model="claude-haiku-4-5",
        effective_from=date(2025, 11, 1),
        defaults={"input_per_mtok": Decimal("1.00"), "output_per_mtok": Decimal("5.00")},
    )
    Price.objects.update_or_create(
        backend="openai",
        model="gpt-5-mini",
        effective_from=date(2025, 11, 1),
        defaults={"input_per_mtok": Decimal("0.25"), "output_per_mtok": Decimal("2.00")},
    )
    make = ModelConfig.objects.create
    return {
        "local": make(
            name="emo-mlx",
            backend="mlx",
            model="/models/emo",
            owner=owner,
            hourly_usd=Decimal("0.60"),
        ),
        "haiku": make(
            name="claude-haiku", backend="anthropic", model="claude-haiku-4-5", owner=owner
        ),
        "mini": make(name="gpt-mini", backend="openai", model="gpt-5-mini", owner=owner),
        "house": make(name="house-vllm", backend="openai", model="house-7b", owner=owner),
    }


def _rate(owner, runs, ratings: dict[int, int]) -> None:
    project = Project.objects.create(
        name="Quality", owner=owner, questions=DEFAULT_QUESTIONS, blind=False, overlap=1
    )
    project.runs.add(*runs)
    sync_tasks(project)
    while (held := annotation_queue.next_task(project, owner)) is not None:
        task = Task.objects.select_related("generation__run").get(pk=held.task_id)
        rating = ratings[task.generation.run.model_config_id]
        annotation_queue.submit(held, {"quality": rating, "correct": "pass"}, 1.0)


def _compare(owner, runs, winner_id: int) -> None:
    project = Project.objects.create(name="Arena", kind=ProjectKind.COMPARE, owner=owner, overlap=1)
    project.questions = compare_questions(project)
    project.save()
    project.runs.add(*runs)
    sync_tasks(project)
    votes = 0
    while (held := annotation_queue.next_task(project, owner)) is not None:
        task = Task.objects.select_related("generation__run").get(pk=held.task_id)
        winner_left = task.generation.run.model_config_id == winner_id
        wins = votes % 3 != 0  # two votes in three
        annotation_queue.submit(held, {"verdict": "left" if winner_left == wins else "right"}, 1.0)
        votes += 1


def seed_speed_and_cost(owner) -> dict[str, ModelConfig]:
    """The configurations, each with measured runs; returns them by a short name."""
    rng = random.Random(16)
    configs = _configs(owner)
    dataset = make_dataset(owner, ITEMS)
    local_cost = Decimal("0.0000017")  # 0.01 s of a $0.60/h machine, as the runner records it
    runs = {}
    for batch in (1, 8):
        configs["local"].batch_size = batch
        configs["local"].save()
        runs[("local", batch)] = _run(
            owner, configs["local"], dataset, rng, hosted=False, cost=local_cost,
            machine=LOCAL_MACHINE,
        )  # fmt: skip
    for concurrency in (4, 16):
        configs["haiku"].concurrency = concurrency
        configs["haiku"].save()
        runs[("haiku", concurrency)] = _run(
            owner, configs["haiku"], dataset, rng, hosted=True, cost=Decimal("0.0017"),
            machine=API_MACHINE,
        )  # fmt: skip
    runs["mini"] = _run(
        owner, configs["mini"], dataset, rng, hosted=True, cost=Decimal("0.0004"),
        machine=API_MACHINE,
    )  # fmt: skip
    runs["house"] = _run(
        owner, configs["house"], dataset, rng, hosted=True, cost=None, machine=API_MACHINE
    )
    ratings = {configs["local"].pk: 3, configs["haiku"].pk: 5, configs["mini"].pk: 4}
    ratings[configs["house"].pk] = 4
    _rate(owner, [runs[("local", 1)], runs[("haiku", 4)], runs["mini"], runs["house"]], ratings)
    _compare(owner, [runs[("local", 1)], runs[("haiku", 4)]], configs["haiku"].pk)
    # What the local model's worker told of it at load, as its heartbeat carries it.
    facts = {"model": "/models/emo", "weights_bytes": 4_280_000_000, "bits": 4, "group_size": 64}
    facts |= {"load_s": 2.14, "cold": False, "kv_cache": "KVCache", "max_kv_size": None}
    WorkerHeartbeat.objects.create(
        hostname="mlx@studio", machine=LOCAL_MACHINE, model_facts=[facts]
    )
    return configs
