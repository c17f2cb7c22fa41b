"""bench/api_concurrency.py's runs: the scenarios, the fake Anthropic server, the worker and
the app's runs through it, with what each lost, doubled or retried (imported after
django.setup())."""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from common import wait_finished
from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Sum
from environment import start_worker

from annotate.datasets.importing import import_dataset
from annotate.datasets.models import Item
from inference.actions import create_run
from inference.models import (
    ACTIVE_RUN_STATUSES,
    Generation,
    GenerationStatus,
    ModelConfig,
    Run,
    RunStatus,
)
from tests.support.fake_anthropic import FakeAnthropic

if TYPE_CHECKING:
    from api_concurrency import Bench

POLL_S = 0.05
MODEL = "claude-haiku-4-5"
API_KEY = os.environ["ANTHROPIC_API_KEY"]  # the fake's, set before django.setup()
MESSAGES_PATH = "/v1/messages"
# Every fault rate, so that a scenario sets all of them and inherits none from the last one.
NO_FAULTS = dict.fromkeys(
    ("rate_429", "rate_500", "rate_overloaded", "rate_slow", "rate_drop", "rate_stream_error"),
    0.0,
)


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    faults: dict[str, float] = field(default_factory=dict)


SCENARIOS = (
    Scenario("clean", "clean"),
    Scenario("faulty", "429 x 10%", {"rate_429": 0.1}),
    Scenario(
        "mixed",
        "429 10%, 500/529 2%, drop/stream err 1%",
        {
            "rate_429": 0.1,
            "rate_500": 0.02,
            "rate_overloaded": 0.02,
            "rate_drop": 0.01,
            "rate_stream_error": 0.01,
        },
    ),
)


@dataclass
class Result:
    key: str
    label: str
    status: str
    wall_s: float
    ideal_s: float
    lost: int
    doubled: int
    retries: int
    max_in_flight: int
    server_requests: int
    statuses: dict[str, int]
    dispatch_s: float
    startup_s: float
    requests_s: float
    tail_s: float
    mean_in_flight: float
    server_s: float
    client_s: float
    tasks: int
    worker_cpu_s: float | None
    retry_ideal_s: float

    @property
    def time_vs_ideal(self) -> float:
        return self.wall_s / self.ideal_s

    @property
    def time_vs_retry_ideal(self) -> float:
        """Against an ideal that also pays for the retries: their requests and their waits."""
        return self.wall_s / self.retry_ideal_s


def cancel_stale_runs() -> int:
    """Runs a crashed earlier bench left active in a shared database would be rung by the
    worker's watchdog and compete with ours: cancel the bench's own."""
    stale = Run.objects.filter(
        status__in=ACTIVE_RUN_STATUSES, model_config__name__startswith="bench-api-"
    )
    return stale.update(status=RunStatus.CANCELLED)


# --- The worker ---------------------------------------------------------------------------------


def tasks_received(log: Path) -> int:
    """Tasks the worker has taken so far, from its log. Not "succeeded": a task logs that
    after it has marked its run completed, so it may not be there yet when we look."""
    return log.read_text(errors="replace").count("] received")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all its threads (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- Runs ---------------------------------------------------------------------------------------


def prompt_texts(tag: str, n: int) -> list[str]:
    """n distinct prompts: each is its own prompt key at the server."""
    return [f"Bench {tag} prompt {i}: name a colour." for i in range(n)]


def make_dataset(owner, texts: list[str], name: str):
    lines = "".join(json.dumps({"prompt": t}) + "\n" for t in texts)
    return import_dataset(io.BytesIO(lines.encode()), "bench.jsonl", name, owner)


def make_config(owner, url: str, bench: Bench, name: str):
    return ModelConfig.objects.create(
        name=name,
        backend="anthropic",
        model=MODEL,
        base_url=url,
        max_tokens=bench.max_tokens,
        concurrency=bench.concurrency,
        owner=owner,
    )


def count_lost(run) -> int:
    """Items of the run's dataset without a DONE generation."""
    done = Generation.objects.filter(run=run, status=GenerationStatus.DONE).values("item_id")
    return Item.objects.filter(dataset=run.dataset_id).exclude(pk__in=done).count()


def count_doubled(run, completed: dict[str, int]) -> int:
    """Prompts answered completely more than once, plus (item, sample) pairs with more than
    one generation row (the unique constraint forbids them: counted all the same)."""
    rows = (
        Generation.objects.filter(run=run)
        .values("item_id", "sample_index")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    return rows + sum(1 for n in completed.values() if n > 1)


class App:
    """The bench's user, a fake server, and the runs made against it."""

    def __init__(self, server, bench: Bench, log: Path, worker_pid: int) -> None:
        self.server, self.bench, self.log, self.worker_pid = server, bench, log, worker_pid
        self.owner, _ = get_user_model().objects.update_or_create(
            username="bench-api", defaults={"is_superuser": True}
        )
        self.stamp = time.strftime("%Y%m%d-%H%M%S")

    def warm_up(self) -> float:
        """A tiny run: the worker imports the SDK and builds its client on the first task."""
        start = time.perf_counter()
        self.run_scenario(Scenario("warm", "warm-up"), requests=2)
        return time.perf_counter() - start

    def run_scenario(self, scenario: Scenario, requests: int | None = None) -> Result:
        """One run of the scenario's faults on fresh prompts, checked and timed."""
        n = requests or self.bench.requests
        texts = prompt_texts(f"{scenario.key}-{self.stamp}", n)
        name = f"bench-api-{scenario.key}-{self.stamp}"
        dataset = make_dataset(self.owner, texts, name)
        config = make_config(self.owner, self.server.url, self.bench, name)
        self.server.faults.configure(**{**NO_FAULTS, **scenario.faults})
        self.server.ledger.reset()
        tasks_before = tasks_received(self.log)
        clock = Clock(self.worker_pid)
        run = create_run(self.owner, dataset.pk, config.pk)
        status = wait_finished(run.pk, timeout=600, poll_s=POLL_S)
        clock.stop()
        return self.result(scenario, run.pk, status, clock, tasks_received(self.log) - tasks_before)

    def result(self, scenario: Scenario, run_id: int, status: str, clock: Clock, tasks) -> Result:
        run = Run.objects.get(pk=run_id)
        records = [r for r in self.server.ledger.records if r.path == MESSAGES_PATH]
        started = run.started_at.timestamp() if run.started_at else clock.created
        ended = run.finished_at.timestamp() if run.finished_at else time.time()
        # A run that failed before any request (a refused key) still gets a row.
        first_in = min((clock.wall(r.started) for r in records), default=started)
        last_out = max((clock.wall(r.finished) for r in records), default=started)
        span = last_out - first_in
        busy = sum(r.finished - r.started for r in records)
        gens = run.generations.aggregate(retries=Sum("retries"), latency=Avg("latency_s"))
        retries = gens["retries"] or 0
        statuses = self.server.ledger.statuses(MESSAGES_PATH)
        return Result(
            key=scenario.key,
            label=scenario.label,
            status=status,
            wall_s=ended - clock.created,
            ideal_s=run.total * self.bench.latency / self.bench.concurrency,
            lost=count_lost(run),
            doubled=count_doubled(run, self.server.ledger.completed),
            retries=retries,
            max_in_flight=self.server.ledger.max_in_flight,
            server_requests=len(records),
            statuses={str(k): v for k, v in sorted(statuses.items())},
            dispatch_s=started - clock.created,
            startup_s=first_in - started,
            requests_s=span,
            tail_s=ended - last_out,
            mean_in_flight=busy / span if span > 0 else 0.0,
            server_s=busy / max(len(records), 1),
            client_s=gens["latency"] or 0.0,
            tasks=tasks,
            worker_cpu_s=clock.worker_cpu_s,
            retry_ideal_s=self.retry_ideal_s(len(records), retries),
        )

    def retry_ideal_s(self, server_requests: int, retries: int) -> float:
        """Every request the server saw at `latency`, and each retry's mean wait (retry-after
        plus half the 25% jitter), spread over the slots."""
        waits = retries * self.bench.retry_after * 1.125
        return (server_requests * self.bench.latency + waits) / self.bench.concurrency


class Clock:
    """The moment a run is created, a way to put the server's monotonic times on the wall
    clock the database's timestamps use, and the worker's CPU time while the run lasted."""

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid
        self.cpu_before = cpu_seconds(worker_pid)
        self.worker_cpu_s: float | None = None
        self.created = time.time()
        self.offset = self.created - time.monotonic()

    def stop(self) -> None:
        after = cpu_seconds(self.worker_pid)
        if after is not None and self.cpu_before is not None:
            self.worker_cpu_s = after - self.cpu_before

    def wall(self, monotonic: float) -> float:
        return monotonic + self.offset


# --- Main ---------------------------------------------------------------------------------------


def start_server(bench: Bench):
    """The fake API, with TCP_NODELAY on its connections unless --fake-nagle (see the module
    docstring): Nagle's delay is a cost of the fake, not of the app."""
    server = FakeAnthropic(
        api_key=API_KEY, latency=bench.latency, retry_after=bench.retry_after, filler_words=4
    )
    if bench.nodelay:
        handler = server._httpd.RequestHandlerClass
        server._httpd.RequestHandlerClass = type(
            "NoDelayHandler", (handler,), {"disable_nagle_algorithm": True}
        )
    return server.start()


def measure(bench: Bench, log: Path) -> tuple[list[Result], float]:
    """Start the server and the worker, warm up, run every scenario, stop both."""
    stale = cancel_stale_runs()
    if stale:
        print(f"cancelled {stale} active bench run(s) left by an earlier bench", flush=True)
    with start_server(bench) as api:
        concurrency = bench.worker_concurrency if bench.pool == "threads" else None
        worker = start_worker("bench-api", log, "api", bench.pool, concurrency)
        app = App(api, bench, log, worker.proc.pid)
        try:
            warm_s = app.warm_up()
            results = []
            for scenario in SCENARIOS:
                results.append(app.run_scenario(scenario))
                print(f"  {scenario.label:<40} {results[-1].wall_s:6.2f} s", flush=True)
            return results, warm_s
        finally:
            worker.stop()
