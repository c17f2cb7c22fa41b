"""The speed & cost statistics at scale: how fast /stats/, /stats.csv and /api/stats answer,
and model_stats() alone, over a million measured generations in PostgreSQL.

Usage: python bench/stats.py [--quick] [--generations 1000000] [--models 10] [--repeat 5]
           [--rebuild] [--seed 1]

Needs PostgreSQL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/annotate_bench_stats,
created if missing. The bench's tables in it are emptied when it builds, so its name must
contain "bench".

How:
1. Create the database if missing, django.setup() (then DEBUG off: no query log), migrate.
2. Reuse the data when its marker (the bench dataset's description: version, generations,
   models, seed) and the count of DONE generations match; otherwise truncate and build,
   timed apart (build_s):
   - --models configurations: MLX models on local machines (the first on two machines,
     its runs alternating), and Anthropic and OpenAI models at their seeded list prices;
   - a dataset of ITEMS prompts, and per model as many COMPLETED runs over it as its share
     of the generations needs, spread over the last 90 days, older runs on older versions;
   - --generations DONE generations and FAILED_SHARE more FAILED ones, by COPY, with seeded
     measurements: prompt tokens lognormal per item, output tokens lognormal per model, time
     to first token lognormal plus prefill, decode tokens/s lognormal around the model's
     (machine's) speed, latency = ttft + (tokens - 1) / tps; start and finish times of
     `concurrency` requests in flight; cost from the price table (hosted) or the machine's
     hourly price times latency / concurrency (local); an output of ~4 characters a token;
   - quality: a rating project (1-5 and pass/fail) over LABEL_SHARE of the generations and
     a comparison project of COMPARE_SHARE pairs, one submitted annotation each, by COPY;
   then VACUUM ANALYZE.
3. Measure, as a superuser through django.test.Client, Django's cache emptied first: each
   URL's first GET in the process (cold: Python and the database's caches as the build or
   an earlier process left them), then one warm-up GET and the median of --repeat: /stats/,
   /stats/ with a projection query string, /stats.csv and /api/stats; model_stats() called
   directly; and /stats/ just after the writes of a worker recording a result (the median
   of AFTER_WRITE_ROUNDS): what any cache of the figures costs while runs are going.
4. Diagnose: the SQL statements each URL sends with their summed time (CaptureQueriesContext),
   the page's parts timed apart (model_stats, each chart, the projection), and EXPLAIN
   (ANALYZE, BUFFERS) of the slowest statements of the page.
5. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
Goals: stats_page_s < 0.5 and stats_api_s < 0.5 (seconds). The machine's other load counts:
compare runs at similar loadavg_1m.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import timed  # noqa: E402
from pg import copy_rows, ensure_database, reset, setup_django, vacuum_analyze  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotate_bench_stats"
PREFIX = "bench-stats"
DATA_VERSION = 2  # bump when the generated data changes: stored data is then rebuilt
GOALS = {"stats_page_s": 0.5, "stats_api_s": 0.5}
ITEMS = 2000  # prompts in the dataset: one run covers them all
FAILED_SHARE = 0.005  # FAILED generations beside the DONE ones
LABEL_SHARE = 0.01  # DONE generations rated in the label project
COMPARE_SHARE = 0.005  # comparisons, as a share of the DONE generations
ANNOTATORS = 5
CHARS_PER_TOKEN = 4
MAX_TOKENS = 1024
DAYS = 90
PROJECTION = "queries=10000&input_tokens=500&output_tokens=300&per_day=on"
URLS = {
    "stats_page": "/stats/",
    "stats_projection": f"/stats/?{PROJECTION}",
    "stats_csv": "/stats.csv",
    "stats_api": "/api/stats",
}
AFTER_WRITE_ROUNDS = 3
EXPLAIN_OVER_S = 0.05  # statements of the page slower than this are explained
# The tables the bench fills, emptied before a build (and whatever references them).


@dataclass(frozen=True)
class Profile:
    """A model as measured: medians of its lognormal distributions."""

    name: str
    backend: str
    model: str
    machines: tuple[str, ...]  # the runs alternate between them
    ttft_s: float
    decode_tps: float
    output_tokens: float
    quality: float  # mean rating 1-5
    hourly_usd: str = "0"
    concurrency: tuple[int, ...] = (8,)  # per run, in turn
    versions: tuple[str, ...] = ()  # older runs first


STUDIO_1, STUDIO_2 = "studio-1 (Apple M2 Ultra)", "studio-2 (Apple M4 Max)"
WORKER = "worker-1 (x86_64 Linux)"
MLX = ("mlx-lm 0.26.3, mlx 0.28.0", "mlx-lm 0.28.2, mlx 0.29.1")
ANTHROPIC = ("anthropic 0.64.0", "anthropic 0.69.0")
OPENAI = ("openai 1.99.9 → https://api.openai.com/v1", "openai 2.3.0 → https://api.openai.com/v1")
# fmt: off
PROFILES = (
    # name, backend, model, machines, ttft_s, decode_tps, output_tokens, quality, hourly_usd,
    # concurrency, versions
    Profile("qwen3-8b", "mlx", "mlx-community/Qwen3-8B-4bit", (STUDIO_1, STUDIO_2),
            0.22, 38, 260, 3.4, "1.20", (8, 8, 4), MLX),
    Profile("llama-3.2-3b", "mlx", "mlx-community/Llama-3.2-3B-Instruct-4bit", (STUDIO_1,),
            0.12, 85, 220, 2.9, "1.20", (8, 16), MLX),
    Profile("gemma-3-12b", "mlx", "mlx-community/gemma-3-12b-it-4bit", (STUDIO_2,),
            0.35, 26, 300, 3.6, "0.80", (8,), MLX),
    Profile("mistral-small-24b", "mlx", "mlx-community/Mistral-Small-24B-Instruct-2501-4bit",
            (STUDIO_1,), 0.6, 14, 280, 3.7, "1.20", (4,), MLX),
    Profile("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", (WORKER,),
            0.9, 70, 340, 4.4, "0", (16, 32), ANTHROPIC),
    Profile("claude-haiku-4-5", "anthropic", "claude-haiku-4-5", (WORKER,),
            0.5, 140, 300, 4.0, "0", (16, 32), ANTHROPIC),
    Profile("claude-opus-4-1", "anthropic", "claude-opus-4-1", (WORKER,),
            1.6, 40, 380, 4.6, "0", (8,), ANTHROPIC),
    Profile("gpt-4.1-mini", "openai", "gpt-4.1-mini", (WORKER,),
            0.45, 90, 250, 3.9, "0", (16,), OPENAI),
    Profile("gpt-4.1", "openai", "gpt-4.1", (WORKER,),
            0.7, 60, 320, 4.3, "0", (16, 8), OPENAI),
    Profile("gpt-4o-mini", "openai", "gpt-4o-mini", (WORKER,),
            0.4, 80, 240, 3.6, "0", (32,), OPENAI),
)
# fmt: on


@dataclass(frozen=True)
class Bench:
    generations: int
    models: int
    repeat: int
    seed: int
    rebuild: bool

    @property
    def failed(self) -> int:
        return round(self.generations * FAILED_SHARE)

    @property
    def marker(self) -> str:
        return json.dumps(
            {
                "bench": "stats",
                "version": DATA_VERSION,
                "generations": self.generations,
                "models": self.models,
                "seed": self.seed,
            },
            sort_keys=True,
        )


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k generations")
    parser.add_argument("--generations", type=int, help="DONE generations (default 1000000)")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per URL")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rebuild", action="store_true", help="build even if the data is there")
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    generations = args.generations or (100_000 if args.quick else 1_000_000)
    if args.models < 2 or generations < args.models * ITEMS:
        raise SystemExit(f"need --models >= 2 and --generations >= models x {ITEMS}")
    return Bench(generations, args.models, args.repeat, args.seed, args.rebuild)


def existing_data(bench: Bench) -> int | None:
    """The superuser's id if the stored data matches the marker and its size, else None."""
    from django.contrib.auth import get_user_model

    from annotate.datasets.models import Dataset
    from inference.models import Generation, GenerationStatus

    if not Dataset.objects.filter(name=f"{PREFIX} dataset", description=bench.marker).exists():
        return None
    if Generation.objects.filter(status=GenerationStatus.DONE).count() != bench.generations:
        return None
    root = get_user_model().objects.filter(username=f"{PREFIX}-root").first()
    return root.pk if root else None


# --- Building: configurations, items, runs ------------------------------------------------------


def profiles(models: int) -> list[Profile]:
    """PROFILES in turn; past the tenth, copies with a numbered name."""
    out = []
    for k in range(models):
        p = PROFILES[k % len(PROFILES)]
        suffix = f"-{k // len(PROFILES)}" if k >= len(PROFILES) else ""
        out.append(Profile(**{**p.__dict__, "name": p.name + suffix}))
    return out


def make_users() -> tuple[Any, Any, list[Any]]:
    """(owner, superuser, annotators), without passwords (hashing is slow)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    names = [f"{PREFIX}-a{i}" for i in range(ANNOTATORS)] + [f"{PREFIX}-owner"]
    users = [User(username=name) for name in names]
    users.append(User(username=f"{PREFIX}-root", is_superuser=True, is_staff=True))
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    by_name = {u.username: u for u in User.objects.filter(username__startswith=PREFIX)}
    annotators = [by_name[n] for n in names[:ANNOTATORS]]
    return by_name[f"{PREFIX}-owner"], by_name[f"{PREFIX}-root"], annotators


def make_configs(models: list[Profile], owner) -> list[Any]:
    from inference.models import ModelConfig

    return ModelConfig.objects.bulk_create(
        ModelConfig(
            name=f"{PREFIX} {p.name}",
            backend=p.backend,
            model=p.model,
            max_tokens=MAX_TOKENS,
            batch_size=p.concurrency[0],
            hourly_usd=Decimal(p.hourly_usd),
            owner=owner,
        )
        for p in models
    )


def insert_items(dataset_id: int) -> None:
    """ITEMS prompts with ids 1..ITEMS."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_item
                (id, dataset_id, index, external_id, messages, prompt, reference, metadata)
            SELECT i + 1, %s, i, '',
                   jsonb_build_array(jsonb_build_object('role', 'user',
                                                        'content', 'Question ' || i || '?')),
                   'Question ' || i || '?', '', '{}'::jsonb
            FROM generate_series(0, %s - 1) AS i
            """,
            [dataset_id, ITEMS],
        )
    restart_ids("annotate_item")


def restart_ids(*tables: str) -> None:
    """Move the id sequences past rows inserted with explicit ids."""
    from django.db import connection

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
    from inference.models import Run, RunStatus

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
    from django.db import connection, transaction

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
    from inference.pricing import find_price

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
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE annotate_run r SET finished_at = g.last, last_activity_at = g.last
            FROM (SELECT run_id, max(finished_at) AS last FROM annotate_generation
                  GROUP BY run_id) g
            WHERE g.run_id = r.id
            """
        )


# --- Building: annotations ----------------------------------------------------------------------


LABEL_QUESTIONS = [
    {"key": "quality", "label": "Quality", "kind": "rating", "min": 1, "max": 5, "required": True},
    {"key": "correct", "label": "Correct", "kind": "passfail", "required": True},
]
# fmt: off
TASK_COLUMNS = ("id", "project_id", "generation_id", "generation_b_id", "claimed", "is_full",
                "submitted")
ANNOTATION_COLUMNS = ("id", "task_id", "annotator_id", "state", "answers", "started_at",
                      "submitted_at", "time_spent_s")
# fmt: on


def make_project(kind: str, owner, runs: list[Any], annotators: list[Any]):
    from annotate.comparisons.pairs import compare_questions
    from annotate.labeling.models import Project, ProjectKind, ProjectMember

    project = Project.objects.create(name=f"{PREFIX} {kind}", kind=kind, overlap=1, owner=owner)
    project.questions = (
        compare_questions(project) if kind == ProjectKind.COMPARE else LABEL_QUESTIONS
    )
    project.save(update_fields=("questions",))
    project.runs.set(runs)
    ProjectMember.objects.bulk_create(ProjectMember(project=project, user=u) for u in annotators)
    return project


def label_tasks(gens: dict[str, np.ndarray], count: int, rng) -> list[tuple[int, None, int]]:
    """(generation, None, model) of count random DONE generations."""
    done = np.flatnonzero(~gens["failed"])
    pick = rng.choice(done, size=min(count, len(done)), replace=False)
    return [(int(gens["id"][i]), None, int(gens["model"][i])) for i in np.sort(pick)]


def compare_tasks(gens: dict[str, np.ndarray], count: int, models: int, rng) -> list[tuple]:
    """(left, right, left model, right model): two models' first DONE output of one item."""
    done = ~gens["failed"]
    keys, first_at = np.unique(
        gens["model"][done] * ITEMS + gens["item"][done] - 1, return_index=True
    )
    first = dict(zip(keys.tolist(), gens["id"][done][first_at].tolist(), strict=True))
    pairs: dict[tuple[int, int], tuple] = {}
    while len(pairs) < count:
        item = int(rng.integers(0, ITEMS))
        a, b = (int(x) for x in rng.choice(models, size=2, replace=False))
        left, right = first.get(a * ITEMS + item), first.get(b * ITEMS + item)
        if left and right:
            pairs[(left, right)] = (a, b)
    return [(left, right, a, b) for (left, right), (a, b) in pairs.items()]


def label_answer(p: Profile, rng) -> dict:
    rating = int(np.clip(round(rng.normal(p.quality, 0.9)), 1, 5))
    return {"quality": rating, "correct": "pass" if rng.random() < p.quality / 5 else "fail"}


def compare_answer(a: Profile, b: Profile, rng) -> dict:
    p_left = 1 / (1 + math.exp(-(a.quality - b.quality) * 1.5))
    u = rng.random()
    verdict = "tie" if u < 0.1 else ("left" if rng.random() < p_left else "right")
    return {"verdict": verdict}


def insert_annotations(
    models: list[Profile], gens: dict[str, np.ndarray], projects: dict, annotators: list, rng
) -> int:
    """Tasks and one submitted annotation each, by COPY; returns how many."""
    from annotate.labeling.models import ProjectKind

    done = int((~gens["failed"]).sum())
    labels = label_tasks(gens, round(done * LABEL_SHARE), rng)
    pairs = compare_tasks(gens, round(done * COMPARE_SHARE), len(models), rng)
    label_project, compare_project = projects[ProjectKind.LABEL], projects[ProjectKind.COMPARE]
    tasks = [(label_project.pk, g, None) for g, _, _ in labels]
    tasks += [(compare_project.pk, left, right) for left, right, _, _ in pairs]
    answers = [label_answer(models[k], rng) for _, _, k in labels]
    answers += [compare_answer(models[a], models[b], rng) for _, _, a, b in pairs]
    copy_rows(
        "annotate_task",
        TASK_COLUMNS,
        ((t + 1, project, g, g_b, 1, True, 1) for t, (project, g, g_b) in enumerate(tasks)),
    )
    now = datetime.now(UTC)
    who = rng.integers(0, len(annotators), len(tasks)).tolist()
    copy_rows(
        "annotate_annotation",
        ANNOTATION_COLUMNS,
        (annotation_row(t + 1, annotators[who[t]].pk, answers[t], now) for t in range(len(tasks))),
    )
    restart_ids("annotate_task", "annotate_annotation")
    return len(tasks)


def annotation_row(task_id: int, annotator_id: int, answers: dict, now: datetime) -> tuple:
    """A submitted annotation of task_id (its id too), thirty seconds' work, minutes ago."""
    submitted = now - timedelta(minutes=task_id % 5000)
    started = submitted - timedelta(seconds=30)
    return (
        task_id,
        task_id,
        annotator_id,
        "submitted",
        json.dumps(answers),
        started,
        submitted,
        30.0,
    )


# --- Building: all of it ------------------------------------------------------------------------


def build(bench: Bench) -> tuple[int, dict[str, float]]:
    """Build the data; returns the superuser's id and the seconds of each part."""
    from annotate.datasets.models import Dataset
    from annotate.labeling.models import ProjectKind

    start = time.perf_counter()
    models = profiles(bench.models)
    owner, root, annotators = make_users()
    configs = make_configs(models, owner)
    dataset = Dataset.objects.create(name=f"{PREFIX} dataset", owner=owner)
    insert_items(dataset.pk)
    plans = plan_runs(bench, models, datetime.now(UTC))
    runs = make_runs(plans, configs, dataset, owner)
    gens = insert_generations(bench, models, plans, runs)
    finish_runs()
    seconds = {"generations": time.perf_counter() - start}
    projects = {
        kind: make_project(kind, owner, runs, annotators)
        for kind in (ProjectKind.LABEL, ProjectKind.COMPARE)
    }
    rng = np.random.default_rng(bench.seed + 1)
    insert_annotations(models, gens, projects, annotators, rng)
    seconds["annotations"] = time.perf_counter() - start - seconds["generations"]
    vacuum_analyze()
    # The marker last: an interrupted build is rebuilt.
    Dataset.objects.filter(pk=dataset.pk).update(description=bench.marker)
    seconds["build"] = time.perf_counter() - start
    return root.pk, seconds


# --- Measurements -------------------------------------------------------------------------------


def client_for(user_id: int):
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client


def get(client, url: str) -> float:
    """Seconds to GET url, which must answer 200."""
    response, seconds = timed(client.get, url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: HTTP {response.status_code}")
    return seconds


def repeated(call: Callable[[], Any], repeat: int) -> tuple[float, float, list[float]]:
    """(first, median of repeat after one warm-up, the repeats)."""
    first = timed(call)[1]
    call()
    times = [timed(call)[1] for _ in range(repeat)]
    return first, statistics.median(times), times


def measure(user_id: int, repeat: int) -> dict[str, Any]:
    """Each URL cold (its first GET), then warm; the page first: page_cold_s is the
    process's first request. Then model_stats() called directly."""
    from django.core.cache import cache

    from annotate.stats.figures import model_stats

    cache.clear()  # whatever the app may cache starts empty, as after a deployment
    client = client_for(user_id)
    figures: dict[str, Any] = {}
    for name, url in URLS.items():
        cold, median, times = repeated(lambda url=url: get(client, url), repeat)
        figures |= {f"{name}_s": median, f"{name}_cold_s": cold, f"{name}_all": times}
    cold, median, times = repeated(model_stats, repeat)
    figures |= {"model_stats_s": median, "model_stats_cold_s": cold, "model_stats_all": times}
    figures["page_cold_s"] = figures["stats_page_cold_s"]
    return figures


def record_result() -> None:
    """The database writes of a worker recording a result: the generation (its values kept,
    so the figures do not drift) and its run's activity time."""
    from django.db.models import F
    from django.utils import timezone

    from inference.models import Generation, GenerationStatus, Run

    latest = Generation.objects.filter(status=GenerationStatus.DONE).latest("pk")
    Generation.objects.filter(pk=latest.pk).update(finished_at=F("finished_at"))
    Run.objects.filter(pk=latest.run_id).update(last_activity_at=timezone.now())


def measure_after_write(user_id: int, rounds: int) -> dict[str, Any]:
    """The page just after a worker wrote a result, rounds times: what a cache of the
    figures would cost while runs are going."""
    client = client_for(user_id)
    times = []
    for _ in range(rounds):
        record_result()
        times.append(get(client, URLS["stats_page"]))
    return {"page_after_write_s": statistics.median(times), "page_after_write_all": times}


# --- Diagnostics --------------------------------------------------------------------------------


def captured(call: Callable[[], Any]) -> list[dict]:
    """The SQL statements call sends, each with its seconds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        call()
    return [{"sql": q["sql"], "s": float(q["time"])} for q in queries.captured_queries]


def statements(user_id: int) -> dict[str, dict[str, float]]:
    """Per URL: SQL statements sent and their summed seconds."""
    client = client_for(user_id)
    out = {}
    for name, url in URLS.items():
        queries = captured(lambda url=url: get(client, url))
        out[name] = {"count": len(queries), "sql_s": sum(q["s"] for q in queries)}
    return out


def page_parts(repeat: int) -> dict[str, float]:
    """The page's parts on their own (medians): the statistics, each chart, the projection."""
    from annotate.stats import charts
    from annotate.stats.figures import model_stats
    from annotate.stats.projection import Workload, compare

    stats = model_stats()
    workload = Workload(queries=10000, input_tokens=500, output_tokens=300, per_day=True)
    parts = {
        "model_stats": model_stats,
        "latency_scatter": lambda: charts.latency_scatter(stats),
        "tps_boxes": lambda: charts.tps_boxes(stats),
        "cost_quality": lambda: charts.cost_quality(stats),
        "projection": lambda: compare(stats, workload),
    }
    return {name: repeated(call, repeat)[1] for name, call in parts.items()}


def slowest(user_id: int, limit: int = 4) -> list[dict]:
    """The page's slowest statements (one of each shape: the scatter sends one per model)."""
    client = client_for(user_id)
    queries = sorted(captured(lambda: get(client, URLS["stats_page"])), key=lambda q: -q["s"])
    seen, out = set(), []
    for q in queries:
        shape = q["sql"][:120]
        if q["s"] >= EXPLAIN_OVER_S and shape not in seen:
            seen.add(shape)
            out.append(q)
    return out[:limit]


def explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [row[0] for row in cursor.fetchall()]


def table_sizes() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_table_size('annotate_generation')),"
            " pg_size_pretty(pg_indexes_size('annotate_generation'))"
        )
        heap, indexes = cursor.fetchone()
    return {"generation_table": heap, "generation_indexes": indexes}


def diagnose(user_id: int, repeat: int) -> dict[str, Any]:
    slow = slowest(user_id)
    return {
        "statements": statements(user_id),
        "parts": page_parts(repeat),
        "slow": [{**q, "plan": explain(q["sql"])} for q in slow],
        "sizes": table_sizes(),
    }


# --- Report -------------------------------------------------------------------------------------


LABELS = {
    "stats_page": "GET /stats/",
    "stats_projection": "GET /stats/?queries=... (projection)",
    "stats_csv": "GET /stats.csv",
    "stats_api": "GET /api/stats",
    "model_stats": "model_stats() alone",
    "page_after_write": "GET /stats/ after a result is written",
}


def print_report(bench: Bench, seconds: dict, figures: dict, diag: dict) -> None:
    built = "built" if seconds else "reused (marker and size match)"
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items() if k != "build")
    print(
        f"\n{bench.generations} DONE generations of {bench.models} models; data {built}"
        + (f" in {seconds['build']:.1f} s ({parts})" if seconds else "")
    )
    sizes = diag["sizes"]
    print(
        f"  annotate_generation: {sizes['generation_table']}, indexes {sizes['generation_indexes']}"
    )
    print(f"\n  {'measure':<40}{'cold':>8}{'median':>8}{'stmts':>7}{'sql s':>8}  goal")
    for name, label in LABELS.items():
        goal = f"< {GOALS[f'{name}_s']}" if f"{name}_s" in GOALS else ""
        sql = diag["statements"].get(name, {})
        count, sql_s = sql.get("count", ""), sql.get("sql_s")
        cold = figures.get(f"{name}_cold_s")
        print(
            f"  {label:<40}{'' if cold is None else f'{cold:.3f}':>8}{figures[f'{name}_s']:>8.3f}"
            f"{count:>7}{'' if sql_s is None else f'{sql_s:.3f}':>8}  {goal}"
        )
    print("\n  the page's parts alone (median seconds):")
    for name, value in diag["parts"].items():
        print(f"    {name:<20}{value:>8.3f}")
    for q in diag["slow"]:
        print(f"\n  {q['s']:.3f} s: {q['sql'][:600]}")
        print("\n".join(f"    {line}" for line in q["plan"]))


def print_goals(figures: dict) -> None:
    print()
    for name, goal in GOALS.items():
        verdict = "met" if figures[name] < goal else "MISSED"
        print(f"  goal {name} < {goal} s: {verdict} ({figures[name]:.3f} s)")


def summary(bench: Bench, seconds: dict, figures: dict, diag: dict) -> dict:
    rounded = {k: round(v, 4) for k, v in figures.items() if isinstance(v, float)}
    return {
        **rounded,
        "generations": bench.generations,
        "models": bench.models,
        "build_s": round(seconds["build"], 2) if seconds else None,
        "reused": not seconds,
        "page_statements": diag["statements"]["stats_page"]["count"],
        "parts_s": {k: round(v, 4) for k, v in diag["parts"].items()},
        "goals_met": {name: figures[name] < goal for name, goal in GOALS.items()},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    bench = bench_from_args(parse_args(argv))
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    ensure_database(url)
    setup_django(url)
    user_id = None if bench.rebuild else existing_data(bench)
    seconds: dict[str, float] = {}
    if user_id is None:
        print(f"Building {bench.generations} generations ...", flush=True)
        reset(PREFIX)
        user_id, seconds = build(bench)
    figures = measure(user_id, bench.repeat)
    figures |= measure_after_write(user_id, AFTER_WRITE_ROUNDS)
    diag = diagnose(user_id, bench.repeat)
    print_report(bench, seconds, figures, diag)
    print_goals(figures)
    print(json.dumps(summary(bench, seconds, figures, diag)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
