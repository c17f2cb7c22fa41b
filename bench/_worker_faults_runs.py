"""bench/worker_faults.py's runs: the data on a model that never stops early, the workers warmed
up, and runs followed while one worker is killed (imported after django.setup())."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from _worker_faults_checks import outcome
from _worker_faults_outcome import (
    NAME_PREFIX,
    SUCCEEDED,
    Kill,
    Outcome,
    Watch,
    short,
)
from _worker_faults_workers import Worker, start_workers, stop_workers
from common import copy_without_eos, demo_model_path
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from environment import ROOT

from annotate.celery import app
from annotate.datasets.importing import import_dataset
from inference.actions import create_run
from inference.models import (
    ACTIVE_RUN_STATUSES,
    Generation,
    GenerationStatus,
    ModelConfig,
    Run,
    RunStatus,
)

if TYPE_CHECKING:
    from worker_faults import Bench

PROMPTS_FILE = ROOT / "annotate" / "demo" / "coding_prompts.jsonl"
POLL_S = 0.1


def cancel_stale_runs() -> int:
    """Active runs an earlier, crashed bench left in a shared database would be rung by the
    workers' watchdogs and compete with ours."""
    stale = Run.objects.filter(
        status__in=ACTIVE_RUN_STATUSES, model_config__name__startswith=NAME_PREFIX
    )
    return stale.update(status=RunStatus.CANCELLED)


def purge_mlx_queue() -> int:
    """Doorbells an earlier bench left in the broker."""
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return 0  # a fresh temporary folder
    with app.connection_for_write() as conn:
        return conn.default_channel.queue_purge("mlx") or 0


# --- The model and the data ---------------------------------------------------------------------


def prompt_texts(n: int) -> list[str]:
    base = [json.loads(line)["prompt"] for line in PROMPTS_FILE.read_text().splitlines() if line]
    return [f"{base[i % len(base)]} Call it solution_{i}." for i in range(n)]


def make_dataset(owner, texts: list[str], name: str):
    lines = "".join(json.dumps({"prompt": t}) + "\n" for t in texts)
    return import_dataset(io.BytesIO(lines.encode()), "bench.jsonl", name, owner)


def make_config(owner, model: Path, name: str, max_tokens: int, batch_size: int):
    return ModelConfig.objects.create(
        name=name,
        backend="mlx",
        model=str(model),
        temperature=0.8,
        top_p=0.95,
        max_tokens=max_tokens,
        seed=0,
        batch_size=batch_size,
        owner=owner,
    )


# --- Runs ---------------------------------------------------------------------------------------


def wait_finished(run_ids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Run.objects.filter(pk__in=run_ids, status__in=ACTIVE_RUN_STATUSES).exists():
            return True
        time.sleep(POLL_S)
    return False


def warm_up(workers: list[Worker], owner, model: Path, rounds: int = 4) -> float:
    """Tiny runs, one per worker at a time, until every worker has finished a task: each loads
    the model on its first one (its runs may be finished by a worker that is already warm).
    Not timed."""
    start = time.perf_counter()
    name = f"{NAME_PREFIX}warm-{time.strftime('%Y%m%d-%H%M%S')}"
    dataset = make_dataset(owner, prompt_texts(2), name)
    config = make_config(owner, model, name, 4, 2)
    for _ in range(rounds):
        wait_finished([create_run(owner, dataset.pk, config.pk).pk for _ in workers], 120)
        idle = time.monotonic() + 120
        while time.monotonic() < idle and any(w.busy() for w in workers):
            time.sleep(POLL_S)
        if all(w.count(SUCCEEDED) for w in workers):
            break
    warmed = [short(w.name) for w in workers if w.count(SUCCEEDED)]
    print(f"  warm-up: {warmed} finished a task, {time.perf_counter() - start:.1f} s", flush=True)
    return time.perf_counter() - start


def poll(run_id: int) -> tuple[int, dict[str, int]]:
    """(DONE generations, leased generations by worker)."""
    gens = Generation.objects.filter(run_id=run_id)
    done = gens.filter(status=GenerationStatus.DONE).count()
    leased = gens.filter(status=GenerationStatus.RUNNING).values("worker").annotate(n=Count("pk"))
    return done, {row["worker"]: row["n"] for row in leased}


def follow(
    run_id: int,
    created: float,
    timeout: float,
    workers: list[Worker],
    on_poll: Callable[[int, dict[str, int]], None],
) -> tuple[bool, Watch]:
    """Poll the run until it ends, the timeout, or no worker is left; on_poll sees every
    poll."""
    watch = Watch()
    while time.time() - created < timeout:
        if not Run.objects.filter(pk=run_id, status__in=ACTIVE_RUN_STATUSES).exists():
            return True, watch
        if not any(w.alive for w in workers):
            print("  no worker left alive: the run cannot end", flush=True)
            break
        done, leased = poll(run_id)
        watch.polls += 1
        watch.both_busy += len(leased) >= 2
        on_poll(done, leased)
        time.sleep(POLL_S)
    return False, watch


class Killer:
    """on_poll of the fault run: at half the items done, SIGKILL the worker holding the most
    leased items, and note which items it held."""

    def __init__(self, workers: list[Worker], run_id: int, items: int, created: float) -> None:
        self.workers = {w.name: w for w in workers}
        self.run_id, self.half, self.created = run_id, items // 2, created
        self.kill: Kill | None = None

    def __call__(self, done: int, leased: dict[str, int]) -> None:
        if self.kill is not None or done < self.half or not leased:
            return  # between two tasks nobody holds anything: wait for the next poll
        victim = max(leased, key=leased.__getitem__)
        self.workers[victim.split("@")[0]].kill()
        at = time.time()
        self.kill = Kill(victim, at, at - self.created, done, self.held_by(victim))
        print(f"  killed {short(victim)} at {done} done, {len(self.kill.in_flight)} in flight")

    def held_by(self, worker: str) -> frozenset[int]:
        rows = Generation.objects.filter(
            run_id=self.run_id, status=GenerationStatus.RUNNING, worker=worker
        )
        return frozenset(rows.values_list("pk", flat=True))


def run_once(key: str, workers: list[Worker], dataset, config, owner, bench: Bench) -> Outcome:
    """One run of the dataset through the workers; the fault run kills one halfway."""
    for worker in workers:
        worker.mark()
    alive = [w for w in workers if w.alive]
    created = time.time()
    run = create_run(owner, dataset.pk, config.pk)  # one doorbell per worker online: they share it
    killer = Killer(workers, run.pk, bench.items, created) if key == "fault" else None
    finished, watch = follow(run.pk, created, bench.timeout_s, alive, killer or (lambda *_: None))
    watch.kill = killer.kill if killer else None
    watch.died = {short(w.name): w.last_error() for w in alive if not w.alive and not w.killed}
    return outcome(key, run.pk, created, finished, watch, workers)


# --- Main ---------------------------------------------------------------------------------------


def prepare(bench: Bench, tmp: Path):
    """The bench's user, dataset and configuration, on a model that never stops early."""
    model = copy_without_eos(demo_model_path(), tmp / "model")
    owner, _ = get_user_model().objects.update_or_create(
        username="bench-faults", defaults={"is_superuser": True}
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dataset = make_dataset(owner, prompt_texts(bench.items), f"{NAME_PREFIX}{stamp}")
    config = make_config(owner, model, f"{NAME_PREFIX}{stamp}", bench.max_tokens, bench.batch_size)
    return owner, model, dataset, config


def measure(bench: Bench, tmp: Path) -> tuple[Outcome, Outcome, float]:
    if stale := cancel_stale_runs():
        print(f"  cancelled {stale} active run(s) an earlier bench left", flush=True)
    if purged := purge_mlx_queue():
        print(f"  purged {purged} message(s) an earlier bench left in the mlx queue", flush=True)
    owner, model, dataset, config = prepare(bench, tmp)
    workers = start_workers(bench.workers, tmp)
    try:
        warm_s = warm_up(workers, owner, model)
        results = []
        for key in ("clean", "fault"):
            results.append(run_once(key, workers, dataset, config, owner, bench))
            print(f"  {key}: {results[-1].status} in {results[-1].wall_s:.1f} s", flush=True)
        return results[0], results[1], warm_s
    finally:
        stop_workers(workers)
