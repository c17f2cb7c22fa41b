"""bench/stats.py's runs and generations: runs planned over 90 days, seeded measurements of
every generation, COPY'd into PostgreSQL in one transaction (imported after django.setup())."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from _stats_profiles import CHARS_PER_TOKEN, DAYS, ITEMS, MAX_TOKENS, STUDIO_2, Bench, Profile
from django.db import connection, transaction
from pg import copy_rows

from inference.models import Run, RunStatus
from inference.pricing import find_price


def restart_ids(*tables: str) -> None:
    """Move the id sequences past rows inserted with explicit ids."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )


@dataclass
class RunPlan:
    """One run: which model, on which machine, how many slots (items), when it started."""

    model: int
    machine: str
    concurrency: int
    version: str
    slots: int
    start: datetime


def plan_runs(bench: Bench, models: list[Profile], now: datetime) -> list[RunPlan]:
    """Per model, its share of the slots (DONE plus FAILED) in runs of ITEMS, the last one
    shorter, spread over the last DAYS days; the first half on the older version."""
    total = bench.generations + bench.failed
    shares = np.full(bench.models, total // bench.models)
    shares[: total % bench.models] += 1
    plans = []
    for k, p in enumerate(models):
        count = math.ceil(shares[k] / ITEMS)
        step = timedelta(days=DAYS) / count
        for r in range(count):
            plans.append(
                RunPlan(
                    model=k,
                    machine=p.machines[r % len(p.machines)],
                    concurrency=p.concurrency[r % len(p.concurrency)],
                    version=p.versions[0 if r < count / 2 else -1],
                    slots=min(ITEMS, int(shares[k]) - r * ITEMS),
                    start=now - timedelta(days=DAYS) + r * step + timedelta(minutes=7 * k),
                )
            )
    return plans


def make_runs(plans: list[RunPlan], configs: list[Any], dataset, owner) -> list[Any]:
    return Run.objects.bulk_create(
        Run(
            dataset=dataset,
            model_config=configs[p.model],
            params=configs[p.model].params(),
            status=RunStatus.COMPLETED_WITH_ERRORS,
            total=p.slots,
            created_by=owner,
            created_at=p.start,
            started_at=p.start,
            resumed_at=p.start,
            finished_at=p.start + timedelta(hours=1),  # corrected after the generations
            last_activity_at=p.start,
        )
        for p in plans
    )


# --- Building: the generations ------------------------------------------------------------------


def lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


@dataclass
class Measured:
    """One run's generations as columns."""

    prompt: np.ndarray
    output: np.ndarray
    ttft: np.ndarray
    tps: np.ndarray
    latency: np.ndarray
    started: np.ndarray  # seconds after the run's start
    failed: np.ndarray  # bool


def measure_run(
    plan: RunPlan, p: Profile, item_prompt: np.ndarray, failed: np.ndarray, rng
) -> Measured:
    """Seeded measurements of one run's slots (failed: which of them failed); studio-2
    (M4 Max) decodes 25% faster."""
    n = plan.slots
    speed = 1.25 if plan.machine == STUDIO_2 else 1.0
    # Per-sequence decode speed falls with the batch (MLX), not with concurrent API requests.
    batch = (8 / plan.concurrency) ** 0.6 if p.backend == "mlx" else 1.0
    prompt = np.maximum(item_prompt[:n] * rng.uniform(0.9, 1.1), 8).astype(np.int64)
    output = np.clip(lognormal(rng, p.output_tokens, 0.55, n), 2, MAX_TOKENS).astype(np.int64)
    prefill = prompt / (3000.0 if p.backend == "mlx" else 20000.0)
    ttft = lognormal(rng, p.ttft_s, 0.35, n) + prefill
    tps = lognormal(rng, p.decode_tps * speed * batch, 0.18, n)
    latency = ttft + (output - 1) / tps
    starts = slot_starts(latency, plan.concurrency)
    return Measured(prompt, output, ttft, tps, latency, starts, failed)


def slot_starts(latency: np.ndarray, concurrency: int) -> np.ndarray:
    """Start times with `concurrency` requests in flight: each slot runs its share in turn."""
    starts = np.zeros_like(latency)
    for slot in range(concurrency):
        mine = latency[slot::concurrency]
        starts[slot::concurrency] = np.concatenate(([0.0], np.cumsum(mine)[:-1]))
    return starts


def costs(p: Profile, m: Measured, concurrency: int, price) -> np.ndarray:
    """Hosted: the list price per token; local: the machine's hourly price, shared."""
    if price is None:
        return float(p.hourly_usd) * m.latency / 3600 / concurrency
    per_in, per_out = float(price.input_per_mtok), float(price.output_per_mtok)
    return (m.prompt * per_in + m.output * per_out) / 1e6


GENERATION_COLUMNS = (
    "id", "run_id", "item_id", "sample_index", "status", "output", "finish_reason",
    "prompt_tokens", "output_tokens", "ttft_s", "latency_s", "decode_tps", "cost_usd",
    "concurrency", "error", "attempts", "retries", "backend_version", "machine", "worker",
    "started_at", "finished_at",
)  # fmt: skip


def timestamps(start: datetime, seconds: np.ndarray) -> list[str]:
    base = np.datetime64(start.replace(tzinfo=None), "us")
    moments = base + (seconds * 1e6).astype("timedelta64[us]")
    return np.datetime_as_string(moments, timezone="UTC").tolist()


FAILED_ERROR = "RateLimitError: 429 Too Many Requests"
NOT_MEASURED = (None,) * 6  # a failed generation's tokens, timings and cost


def run_rows(
    first_id: int, run, plan: RunPlan, m: Measured, cost: np.ndarray, text: str
) -> Iterator[tuple]:
    """The COPY rows of one run's generations (item i + 1 in slot i), ids from first_id."""
    started = timestamps(plan.start, m.started)
    finished = timestamps(plan.start, m.started + m.latency)
    worker = f"celery@{plan.machine.split()[0]}"
    offsets = np.random.default_rng(first_id).integers(0, len(text) // 2, plan.slots).tolist()
    lists = [c.tolist() for c in (m.prompt, m.output, m.ttft, m.latency, m.tps, cost)]
    failed = m.failed.tolist()
    ok, error = (plan.concurrency, "", 1, 0), (plan.concurrency, FAILED_ERROR, 1, 0)
    for i, measured in enumerate(zip(*lists, strict=True)):
        key = (first_id + i, run.pk, i + 1, 0)
        env = (plan.version, plan.machine, worker, started[i])
        if failed[i]:
            yield (*key, "failed", "", "", *NOT_MEASURED, *error, *env, None)
            continue
        output = measured[1]
        text_out = text[offsets[i] : offsets[i] + CHARS_PER_TOKEN * output]
        reason = "length" if output >= MAX_TOKENS else "stop"
        yield (*key, "done", text_out, reason, *measured, *ok, *env, finished[i])


def filler_text(rng: np.random.Generator) -> str:
    """Text to cut outputs from: random words, so that it compresses like prose, not better."""
    letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
    weights = np.linspace(2.0, 0.1, len(letters))
    vocab = [
        "".join(rng.choice(letters, size=rng.integers(2, 10), p=weights / weights.sum()))
        for _ in range(3000)
    ]
    words = rng.choice(vocab, size=2 * MAX_TOKENS * CHARS_PER_TOKEN // 3)
    return " ".join(words)


@contextmanager
def bulk_load(table: str) -> Iterator[None]:
    """Load table in one transaction without checking its foreign keys row by row (the rows
    refer to what was just made) and with its plain indexes dropped, rebuilt at the end. An
    interrupted load rolls back whole, indexes included."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname"
            " NOT IN (SELECT conname FROM pg_constraint)",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL session_replication_role = replica")  # no foreign key triggers
        yield
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        for _, definition in indexes:
            cursor.execute(definition)


def insert_generations(
    bench: Bench, models: list[Profile], plans: list[RunPlan], runs: list[Any]
) -> dict[str, np.ndarray]:
    """Every run's generations by one COPY; returns (id, model, item, failed) of each."""
    rng = np.random.default_rng(bench.seed)
    text = filler_text(rng)
    item_prompt = lognormal(rng, 420, 0.7, ITEMS)
    prices = [find_price(p.backend, p.model) if p.backend != "mlx" else None for p in models]
    index: dict[str, list] = {"id": [], "model": [], "item": [], "failed": []}
    failed = np.zeros(bench.generations + bench.failed, dtype=bool)
    failed[rng.choice(len(failed), bench.failed, replace=False)] = True  # exactly that many

    def rows() -> Iterator[tuple]:
        next_id = 1
        for plan, run in zip(plans, runs, strict=True):
            p = models[plan.model]
            m = measure_run(
                plan, p, item_prompt, failed[next_id - 1 : next_id - 1 + plan.slots], rng
            )
            cost = costs(p, m, plan.concurrency, prices[plan.model])
            yield from run_rows(next_id, run, plan, m, cost, text)
            remember(index, next_id, plan, m)
            next_id += plan.slots

    with bulk_load("annotate_generation"):
        copy_rows("annotate_generation", GENERATION_COLUMNS, rows())
    restart_ids("annotate_generation")
    return {k: np.concatenate(v) for k, v in index.items()}


def remember(index: dict[str, list], first_id: int, plan: RunPlan, m: Measured) -> None:
    """Keep each generation's id, model, item and failure, to choose what to annotate."""
    n = plan.slots
    index["id"].append(np.arange(first_id, first_id + n))
    index["model"].append(np.full(n, plan.model))
    index["item"].append(np.arange(1, n + 1))
    index["failed"].append(m.failed)


def finish_runs() -> None:
    """Each run's finish: its last generation's."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE annotate_run r SET finished_at = g.last, last_activity_at = g.last
            FROM (SELECT run_id, max(finished_at) AS last FROM annotate_generation
                  GROUP BY run_id) g
            WHERE g.run_id = r.id
            """
        )
