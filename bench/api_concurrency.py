"""Hosted-API runs through the whole app: how close they come to the ideal time, and whether
faults lose or double any item.

Usage: python bench/api_concurrency.py [--quick] [--requests 200] [--latency 0.3]
                                      [--concurrency 16] [--pool threads|solo] [--fake-nagle]

Measures, against `tests.support.fake_anthropic.FakeAnthropic` driven by the real `anthropic`
SDK (the server waits --latency seconds before its first byte, then streams a short answer with
no delay between tokens):

- clean: N distinct prompts, `create_run` with a ModelConfig(backend="anthropic",
  batch_size=--concurrency, max_tokens 16), processed by a real `celery -A annotate worker -Q
  api --pool threads --concurrency 4` process, as in production (`--pool solo` to compare).
  Wall time from just before `create_run` to the run's `finished_at`, which the worker stamps
  as it ends the run. ideal = N * latency / concurrency; time_vs_ideal = wall / ideal (goal
  <= 1.25). Whole requests come in waves, so even a perfect worker needs
  ceil(N / concurrency) * latency (3.9 s, not 3.75 s, for 200 at 16). The server's
  max_in_flight shows whether the backend reached `concurrency` requests at once;
- faulty: the same with 10% of requests refused with a 429 (retry-after --retry-after s);
- mixed: 429 10%, 500 and 529 2% each, dropped streams and error events in streams 1% each.

Every run is checked: lost = items without a DONE generation; doubled = prompts the server
answered completely more than once, plus (item, sample) pairs with more than one generation
row; retries = sum of Generation.retries. x retry-ideal: against an ideal that also pays for
every request the server saw and each retry's wait. Where the time goes, from the run's
timestamps and the server's ledger: dispatch (create_run to the run marked running: broker
pickup), start-up (to the first request at the server), requests (first in to last answer out;
mean in flight = request-seconds at the server / that span), tail (to the run completed); per
request, the time at the server and the latency the worker measured; the worker's CPU seconds.

The fake server's handler writes each SSE event as a small TCP segment; with Nagle's algorithm
on, the client's delayed ACK held each of a run of sequential requests ~45 ms (with 16 in flight
the difference was within the noise). Real API front ends set TCP_NODELAY, so the bench sets it
on its server (`--fake-nagle`: leave the fake as it is).

How:
1. Start the fake server; set ANTHROPIC_API_KEY; point the settings at a temporary
   ANNOTATE_VAR_DIR (SQLite and the filesystem broker, unless DATABASE_URL / CELERY_BROKER_URL
   are set); django.setup() and migrate.
2. Start the worker, wait for " ready." in its log, and warm it up with a tiny run (the SDK is
   imported and the client built on its first task). None of this is timed.
3. Run each scenario in turn on its own prompts, with the ledger reset before each.
4. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common import wait_finished  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOAL_TIME_VS_IDEAL = 1.25
POLL_S = 0.05
MODEL = "claude-haiku-4-5"
API_KEY = "sk-bench-local"
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


@dataclass(frozen=True)
class Bench:
    requests: int
    latency: float
    concurrency: int
    max_tokens: int
    retry_after: float
    pool: str
    worker_concurrency: int
    nodelay: bool

    @property
    def ideal_s(self) -> float:
        return self.requests * self.latency / self.concurrency

    @property
    def waves_s(self) -> float:
        """The floor for whole requests: ceil(requests / concurrency) latencies."""
        return -(-self.requests // self.concurrency) * self.latency


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


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="96 requests (under a minute)")
    parser.add_argument("--requests", type=int, help="prompts a run (default 200, 96 quick)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds to first byte")
    parser.add_argument("--concurrency", type=int, default=16, help="the config's batch_size")
    parser.add_argument("--max-tokens", type=int, default=16, help="answers are shorter")
    parser.add_argument("--retry-after", type=float, default=0.2, help="retry-after of a 429")
    parser.add_argument("--pool", choices=("threads", "solo"), default="threads")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="threads pool only")
    parser.add_argument(
        "--fake-nagle",
        action="store_true",
        help="leave Nagle's algorithm on in the fake server (see the docstring)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    return Bench(
        requests=args.requests or (96 if args.quick else 200),
        latency=args.latency,
        concurrency=args.concurrency,
        max_tokens=args.max_tokens,
        retry_after=args.retry_after,
        pool=args.pool,
        worker_concurrency=args.worker_concurrency if args.pool == "threads" else 1,
        nodelay=not args.fake_nagle,
    )


def setup_django(var_dir: Path) -> None:
    """Point the settings at var_dir (SQLite and the filesystem broker unless DATABASE_URL /
    CELERY_BROKER_URL say otherwise) before Django reads them; the worker inherits them."""
    os.environ["ANNOTATE_VAR_DIR"] = str(var_dir)
    os.environ["ANTHROPIC_API_KEY"] = API_KEY
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotate.settings"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def cancel_stale_runs() -> int:
    """Runs a crashed earlier bench left active in a shared database would be rung by the
    worker's watchdog and compete with ours: cancel the bench's own."""
    from inference.models import ACTIVE_RUN_STATUSES, Run, RunStatus

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
    from annotate.datasets.importing import import_dataset

    lines = "".join(json.dumps({"prompt": t}) + "\n" for t in texts)
    return import_dataset(io.BytesIO(lines.encode()), "bench.jsonl", name, owner)


def make_config(owner, url: str, bench: Bench, name: str):
    from inference.models import ModelConfig

    return ModelConfig.objects.create(
        name=name,
        backend="anthropic",
        model=MODEL,
        base_url=url,
        max_tokens=bench.max_tokens,
        batch_size=bench.concurrency,
        owner=owner,
    )


def count_lost(run) -> int:
    """Items of the run's dataset without a DONE generation."""
    from annotate.datasets.models import Item
    from inference.models import Generation, GenerationStatus

    done = Generation.objects.filter(run=run, status=GenerationStatus.DONE).values("item_id")
    return Item.objects.filter(dataset=run.dataset_id).exclude(pk__in=done).count()


def count_doubled(run, completed: dict[str, int]) -> int:
    """Prompts answered completely more than once, plus (item, sample) pairs with more than
    one generation row (the unique constraint forbids them: counted all the same)."""
    from django.db.models import Count

    from inference.models import Generation

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
        from django.contrib.auth import get_user_model

        self.server, self.bench, self.log, self.worker_pid = server, bench, log, worker_pid
        self.owner, _ = get_user_model().objects.get_or_create(username="bench-api")
        self.stamp = time.strftime("%Y%m%d-%H%M%S")

    def warm_up(self) -> float:
        """A tiny run: the worker imports the SDK and builds its client on the first task."""
        start = time.perf_counter()
        self.run_scenario(Scenario("warm", "warm-up"), requests=2)
        return time.perf_counter() - start

    def run_scenario(self, scenario: Scenario, requests: int | None = None) -> Result:
        """One run of the scenario's faults on fresh prompts, checked and timed."""
        from inference.actions import create_run

        n = requests or self.bench.requests
        texts = prompt_texts(f"{scenario.key}-{self.stamp}", n)
        name = f"bench-api-{scenario.key}-{self.stamp}"
        dataset = make_dataset(self.owner, texts, name)
        config = make_config(self.owner, self.server.url, self.bench, name)
        self.server.faults.configure(**{**NO_FAULTS, **scenario.faults})
        self.server.ledger.reset()
        tasks_before = tasks_received(self.log)
        clock = Clock(self.worker_pid)
        run = create_run(dataset, config, self.owner)
        status = wait_finished(run.pk, timeout=600, poll_s=POLL_S)
        clock.stop()
        return self.result(scenario, run.pk, status, clock, tasks_received(self.log) - tasks_before)

    def result(self, scenario: Scenario, run_id: int, status: str, clock: Clock, tasks) -> Result:
        from django.db.models import Avg, Sum

        from inference.models import Run

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


# --- Report -------------------------------------------------------------------------------------


def print_table(results: list[Result], bench: Bench, warm_s: float) -> None:
    workers = f"--pool {bench.pool}" + (
        f" --concurrency {bench.worker_concurrency}" if bench.pool == "threads" else ""
    )
    print(
        f"\n{bench.requests} requests, {bench.latency:g} s to first byte, {bench.concurrency} in "
        f"flight, max_tokens {bench.max_tokens}; worker: celery -A annotate worker -Q api "
        f"{workers}; ideal {bench.ideal_s:.2f} s (whole waves: {bench.waves_s:.2f} s); warm-up "
        f"run {warm_s:.1f} s (not timed); fake server TCP_NODELAY "
        f"{'on' if bench.nodelay else 'off (--fake-nagle)'}; load {os.getloadavg()[0]:.2f}\n"
    )
    head = ("wall s", "x ideal", "lost", "doubled", "retries", "max inf", "mean inf", "tasks")
    _print_rows(head, results, _outcome_cells)
    print(
        "\nWhere the time goes (s): dispatch = create_run -> run running (broker pickup);"
        "\nstart-up -> first request at the server; requests = first in -> last answer out;"
        "\ntail -> run completed. Per request: server = time at the server; client = latency"
        "\nthe worker measured. x retry-ideal: against an ideal that pays for the retries.\n"
    )
    head = ("dispatch", "start-up", "requests", "tail", "server", "client", "cpu s", "x r-ideal")
    _print_rows(head, results, _time_cells)
    for r in results:
        print(f"  {r.label}: server answers {r.statuses}")


def _print_rows(head: tuple[str, ...], results: list[Result], cells) -> None:
    print(f"{'run':<40}" + "".join(f"{h:>10}" for h in head))
    for r in results:
        print(f"{r.label:<40}" + "".join(f"{c:>10}" for c in cells(r)))


def _outcome_cells(r: Result) -> tuple:
    counts = (r.lost, r.doubled, r.retries, r.max_in_flight)
    return (
        f"{r.wall_s:.2f}",
        f"{r.time_vs_ideal:.2f}",
        *counts,
        f"{r.mean_in_flight:.1f}",
        r.tasks,
    )


def _time_cells(r: Result) -> tuple:
    cpu = "-" if r.worker_cpu_s is None else f"{r.worker_cpu_s:.2f}"
    times = (r.dispatch_s, r.startup_s, r.requests_s, r.tail_s, r.server_s, r.client_s)
    return (*(f"{t:.3f}" for t in times), cpu, f"{r.time_vs_retry_ideal:.2f}")


def goals(results: list[Result]) -> list[tuple[str, bool]]:
    by_key = {r.key: r for r in results}
    clean = by_key["clean"]
    checks = [
        (
            f"clean run time_vs_ideal <= {GOAL_TIME_VS_IDEAL}",
            clean.time_vs_ideal <= GOAL_TIME_VS_IDEAL,
        )
    ]
    for r in results:
        ok = r.status == "completed" and r.lost == 0 and r.doubled == 0
        checks.append((f"{r.label}: completed, nothing lost or doubled", ok))
    return checks


def summary(results: list[Result], bench: Bench) -> dict[str, Any]:
    by_key = {r.key: r for r in results}
    clean, faulty = by_key["clean"], by_key["faulty"]
    return {
        "time_vs_ideal": round(clean.time_vs_ideal, 3),
        "lost": faulty.lost,
        "doubled": faulty.doubled,
        "faulty_time_vs_ideal": round(faulty.time_vs_ideal, 3),
        "retries": faulty.retries,
        "max_in_flight": clean.max_in_flight,
        "requests": bench.requests,
        "concurrency": bench.concurrency,
        "latency_s": bench.latency,
        "ideal_s": round(bench.ideal_s, 3),
        "waves_s": round(bench.waves_s, 3),
        "pool": bench.pool,
        "fake_nodelay": bench.nodelay,
        # The machine is shared: compare runs only at a similar load.
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "database": os.environ.get("DATABASE_URL", "sqlite").split(":")[0],
        "broker": os.environ.get("CELERY_BROKER_URL", "filesystem://").split(":")[0],
        "runs": {
            r.key: {
                **_rounded(asdict(r)),
                "time_vs_ideal": round(r.time_vs_ideal, 3),
                "time_vs_retry_ideal": round(r.time_vs_retry_ideal, 3),
            }
            for r in results
        },
    }


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}


def report(results: list[Result], bench: Bench, warm_s: float) -> None:
    print_table(results, bench, warm_s)
    print()
    for name, met in goals(results):
        print(f"{'met   ' if met else 'MISSED'}  {name}")
    print(json.dumps(summary(results, bench)), flush=True)


# --- Main ---------------------------------------------------------------------------------------


def start_server(bench: Bench):
    """The fake API, with TCP_NODELAY on its connections unless --fake-nagle (see the module
    docstring): Nagle's delay is a cost of the fake, not of the app."""
    from tests.support.fake_anthropic import FakeAnthropic

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
    from tests.support.processes import celery_worker

    with start_server(bench) as api:
        concurrency = bench.worker_concurrency if bench.pool == "threads" else None
        worker = celery_worker("bench-api", log, "api", bench.pool, concurrency)
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


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    args = parse_args(argv)
    bench = bench_from_args(args)
    tmp = Path(tempfile.mkdtemp(prefix="annotate-bench-api-"))
    try:
        setup_django(tmp)
        print(f"Benchmarking the api queue (worker log: {tmp / 'worker.log'})", flush=True)
        results, warm_s = measure(bench, tmp / "worker.log")
        report(results, bench, warm_s)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
