"""Exports and imports at scale: how fast `run_export` writes 100k labeled outputs as JSONL,
Parquet, CSV and SFT chat JSONL, how fast `import_dataset` reads a 100k-line JSONL file, and
how much memory each takes.

Usage: python bench/export.py [--quick] [--rows 100000] [--import-lines N] [--repeat N]
           [--profile] [--tracemalloc] [--rebuild] [--seed 1]

Needs PostgreSQL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/annotate_bench_export,
created if missing (--rebuild drops and recreates it, so its name must contain "bench").

How:
1. Create the database if missing, django.setup() (then DEBUG off: no query log), migrate,
   delete what an interrupted earlier run left (imported datasets, export rows).
2. Reuse the data of this size when its marker (a dataset named for --rows and --seed, its
   description the data's version) exists; otherwise build it, timed apart (build_s), in one
   transaction so an interrupted build leaves nothing behind:
   - ROWS items (a system turn on a third of them, a reference on a fifth, metadata) and one
     DONE generation each of one OpenAI-backed run, by INSERT ... SELECT FROM generate_series:
     outputs of ~1 KB of mixed prose, code, quotes, newlines and non-ASCII text, and every
     measurement (tokens, ttft, latency, decode speed, cost, concurrency, machine);
   - a label project (the default questions, overlap 2) with one task per generation, and
     1 or 2 submitted labels per task (half each) by 10 annotators, answers such as
     {"quality": 4, "correct": "pass"}, now and then a comment or a correction; 5% of the
     tasks reviewed with final answers. Tasks and labels go in by COPY. Then VACUUM ANALYZE.
3. Measure, each operation in a fresh `python bench/export.py --child ...` process, so that
   peaks do not mix: the child sets Django up, imports the code under test, notes its RSS,
   then runs the operation and reports the wall time and its peak RSS (getrusage ru_maxrss):
   - `run_export(Export(owner, format, {"project": pk}))` for jsonl, parquet, csv and sft,
     every output of the project (no label filter drops any): rows/s = rows written / time;
   - `import_dataset()` of a JSONL file written beforehand (--import-lines lines of ~500
     bytes: prompts, chat messages and Alpaca records with ids and metadata) into a new
     dataset, deleted afterwards: lines/s.
   Each figure is the best of --repeat processes (shared machines are noisy); the peak is
   the largest. --tracemalloc adds a traced process per operation (the Python heap's peak);
   --profile a cProfile'd one, and prints its hot spots.
4. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
Goals: export rows/s >= 50k (JSONL and Parquet), import lines/s >= 20k, and each process's
peak RSS under 300 MB (the peak of the whole process, Python and libraries included; the
growth over its RSS before the operation is reported beside it). The machine's other load
counts: compare runs at similar loadavg_1m.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg import copy_rows, ensure_database, setup_django, vacuum_analyze  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotate_bench_export"
PREFIX = "bench-export"
VERSION = 1  # of the built data: a change in build() must bump it
FORMATS = ("jsonl", "parquet", "csv", "sft")
ANNOTATORS = 10
GOALS = {  # (figure, at least / at most, value)
    "export_jsonl_rows_per_s": (">=", 50_000),
    "export_parquet_rows_per_s": (">=", 50_000),
    "export_peak_mb": ("<", 300),
    "import_lines_per_s": (">=", 20_000),
    "import_peak_mb": ("<", 300),
}
# Output text is drawn from these: prose, code, quotes, newlines and non-ASCII characters, so
# that JSON and CSV writers have escaping to do.
SENTENCES = [
    "First, restate the problem so that every constraint is explicit before writing code.",
    "The approach below runs in O(n log n) time because it sorts the input once.",
    'Call `sorted(items, key=lambda x: x["score"])` to order the records by score.',
    "Edge cases matter here — an empty list, duplicates and negative numbers each need care.",
    "```python\ndef solve(xs):\n    return sum(x * x for x in xs if x > 0)\n```",
    "Note that the café's résumé example uses UTF-8; naïve byte slicing would break it.",
    "A dictionary keeps the counts, so each lookup is O(1) on average.",
    'He said "it works on my machine", which is not a proof of correctness.',
    "Step 2: check the boundary conditions; off-by-one errors hide at both ends.",
    "| n | time |\n|---|------|\n| 10 | 0.1 s |\n| 1000 | 1.2 s |",
    "Therefore the answer is 42, and the function returns it without mutating the input.",
    "Tabs\tand backslashes \\ also appear in real outputs, as do emoji such as 🙂.",
]
TOPICS = ("code", "math", "writing", "facts", "reasoning")
QUESTION = (
    "Write a function that takes a list of integers and returns the sum of the squares of "
    "its positive elements. Explain the complexity of your solution and mention the edge "
    "cases you considered. Keep the answer short, but show the code. Question "
)
TABLES = (
    "annotate_item",
    "annotate_generation",
    "annotate_task",
    "annotate_annotation",
    "annotate_dataset",
    "annotate_run",
)


@dataclass(frozen=True)
class Bench:
    rows: int
    import_lines: int
    repeat: int
    seed: int
    profile: bool
    tracemalloc: bool
    rebuild: bool

    @property
    def dataset_name(self) -> str:
        return f"{PREFIX} {self.rows} rows seed {self.seed}"


@dataclass
class Built:
    project_id: int
    owner_id: int
    seconds: dict[str, float]  # empty when the data was reused


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k rows and lines, one round")
    parser.add_argument("--rows", type=int, help="labeled outputs exported: 100000, 20000 quick")
    parser.add_argument("--import-lines", type=int, help="JSONL lines imported: as --rows")
    parser.add_argument("--repeat", type=int, help="processes per operation: 2, 1 quick")
    parser.add_argument("--profile", action="store_true", help="cProfile each operation once")
    parser.add_argument("--tracemalloc", action="store_true", help="trace each operation once")
    parser.add_argument("--rebuild", action="store_true", help="drop the database, build anew")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON: one measured operation
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    rows = args.rows or (20_000 if args.quick else 100_000)
    return Bench(
        rows=rows,
        import_lines=args.import_lines or rows,
        repeat=args.repeat or (1 if args.quick else 2),
        seed=args.seed,
        profile=args.profile,
        tracemalloc=args.tracemalloc,
        rebuild=args.rebuild,
    )


def clean_leftovers() -> None:
    """Datasets an interrupted import measurement left, and earlier runs' export rows."""
    from annotate.datasets.models import Dataset
    from annotate.exports.models import Export

    for pk in Dataset.objects.filter(name__startswith=f"{PREFIX} import").values_list(
        "pk", flat=True
    ):
        drop_dataset(pk)
    Export.objects.filter(owner__username__startswith=PREFIX).delete()


def drop_dataset(pk: int) -> None:
    """Delete an imported dataset in SQL (the ORM's cascade would load every item first)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM annotate_item WHERE dataset_id = %s", [pk])
        cursor.execute("DELETE FROM annotate_dataset WHERE id = %s", [pk])


# --- Building the data --------------------------------------------------------------------------


class StaleData(Exception):
    """The bench's data in the database was built by an older version of build()."""


def find_built(bench: Bench) -> Built | None:
    """The project and owner of data built earlier for this size and seed, if its marker says
    the current version (an older version's data is rebuilt in a fresh database)."""
    from annotate.datasets.models import Dataset
    from annotate.labeling.models import Project

    dataset = Dataset.objects.filter(name=bench.dataset_name).first()
    if dataset is None:
        return None
    if dataset.description != f"v{VERSION}":
        raise StaleData(dataset.description)
    project = Project.objects.get(name=bench.dataset_name)
    return Built(project_id=project.pk, owner_id=project.owner_id, seconds={})


def make_users() -> tuple[Any, Any, list[Any]]:
    """(owner, reviewer, annotators), made once per database, without passwords."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    names = [f"{PREFIX}-owner", f"{PREFIX}-reviewer"]
    names += [f"{PREFIX}-annotator-{i}" for i in range(ANNOTATORS)]
    users = [User(username=name, password="!") for name in names]
    User.objects.bulk_create(users, ignore_conflicts=True)
    by_name = {u.username: u for u in User.objects.filter(username__in=names)}
    return by_name[names[0]], by_name[names[1]], [by_name[n] for n in names[2:]]


def make_run(bench: Bench, owner, dataset) -> Any:
    from inference.models import ModelConfig, Run, RunStatus

    config = ModelConfig.objects.create(
        name=bench.dataset_name,
        backend="openai",
        model="gpt-4o-mini",
        system_prompt="You are a careful assistant. Answer precisely.",
        temperature=0.7,
        max_tokens=512,
        owner=owner,
    )
    return Run.objects.create(
        dataset=dataset,
        model_config=config,
        params=config.params(),
        status=RunStatus.COMPLETED,
        total=bench.rows,
        created_by=owner,
    )


def insert_items(dataset_id: int, rows: int) -> None:
    """Items 0..rows-1: a ~300-character prompt, a system turn on a third, a reference on a
    fifth, metadata with a topic and a difficulty."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_item
                (dataset_id, index, external_id, messages, prompt, reference, metadata)
            SELECT %(dataset)s, i, 'q-' || i,
                   CASE WHEN i %% 3 = 0
                        THEN jsonb_build_array(
                            jsonb_build_object('role', 'system', 'content', 'Be concise.'),
                            jsonb_build_object('role', 'user', 'content', p))
                        ELSE jsonb_build_array(jsonb_build_object('role', 'user', 'content', p))
                   END,
                   p,
                   CASE WHEN i %% 5 = 0 THEN 'The sum of squares of positive elements.' ELSE ''
                   END,
                   jsonb_build_object('topic', (%(topics)s::text[])[1 + i %% %(n_topics)s],
                                      'difficulty', 1 + i %% 5, 'source', 'bench')
            FROM generate_series(0, %(rows)s - 1) AS i,
                 LATERAL (SELECT %(question)s || i || ' (' || md5(i::text) || ').' AS p) AS q
            """,
            {
                "dataset": dataset_id,
                "rows": rows,
                "topics": list(TOPICS),
                "n_topics": len(TOPICS),
                "question": QUESTION,
            },
        )


def insert_generations(run_id: int, dataset_id: int) -> None:
    """One DONE generation per item: 8 to 17 sentences (~1 KB) and every measurement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_generation
                (run_id, item_id, sample_index, status, output, finish_reason, prompt_tokens,
                 output_tokens, cache_read_tokens, cache_write_tokens, ttft_s, latency_s,
                 decode_tps, cost_usd, concurrency, error, attempts, retries, backend_version,
                 machine, worker, started_at, finished_at)
            SELECT %(run)s, i.id, 0, 'done', o.text, 'stop', 60 + i.index %% 200,
                   length(o.text) / 4, 0, 0, 0.2 + (i.index %% 97) / 100.0,
                   0.2 + (i.index %% 97) / 100.0 + length(o.text) / 4 / 80.0,
                   60 + (i.index %% 41), (length(o.text) / 4) * 0.0000006, 8, '', 1, 0,
                   'openai 3.57.0', 'bench-host', 'celery@bench-host',
                   now() - make_interval(secs => i.index + 5),
                   now() - make_interval(secs => i.index)
            FROM annotate_item i,
                 LATERAL (
                     SELECT 'Answer to question ' || i.index || E':\n\n' || array_to_string(
                         ARRAY(SELECT (%(sentences)s::text[])[1 + (i.index * 7 + j * 5) %% %(n)s]
                               FROM generate_series(1, 8 + i.index %% 10) AS j),
                         E'\n') AS text
                 ) AS o
            WHERE i.dataset_id = %(dataset)s
            """,
            {"run": run_id, "dataset": dataset_id, "sentences": SENTENCES, "n": len(SENTENCES)},
        )


def make_project(bench: Bench, owner, reviewer, annotators: list[Any], run) -> Any:
    from annotate.labeling.models import Project, ProjectMember, Role
    from annotate.labeling.questions import DEFAULT_QUESTIONS

    project = Project.objects.create(
        name=bench.dataset_name, owner=owner, overlap=2, questions=DEFAULT_QUESTIONS
    )
    project.runs.add(run)
    members = [ProjectMember(project=project, user=u) for u in annotators]
    members.append(ProjectMember(project=project, user=reviewer, role=Role.REVIEWER))
    ProjectMember.objects.bulk_create(members)
    return project


def next_ids(table: str, count: int) -> list[int]:
    """count ids from the table's own sequence, for rows sent by COPY."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",
            [count],
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass
class LabelPlan:
    """Per task: its labels' count, annotators and answers, and the review of some."""

    counts: np.ndarray  # 1 or 2 labels
    first: np.ndarray  # annotator index of the first label
    second: np.ndarray  # a different annotator for the second
    quality: np.ndarray  # (tasks, 2) ratings 1-5 around a latent quality
    passes: np.ndarray  # (tasks, 2) booleans
    extra: np.ndarray  # (tasks, 2): 0 nothing, 1 a comment, 2 a correction
    reviewed: np.ndarray  # booleans
    spent: np.ndarray  # (tasks, 2) seconds
    age: np.ndarray  # (tasks, 2) seconds before now


def plan_labels(tasks: int, seed: int) -> LabelPlan:
    rng = np.random.default_rng(seed)
    latent = rng.integers(1, 6, tasks)
    noise = rng.choice([-1, 0, 1], size=(tasks, 2), p=[0.15, 0.7, 0.15])
    quality = np.clip(latent[:, None] + noise, 1, 5)
    flip = rng.random((tasks, 2)) < 0.1
    first = rng.integers(0, ANNOTATORS, tasks)
    return LabelPlan(
        counts=np.where(rng.random(tasks) < 0.5, 1, 2),
        first=first,
        second=(first + 1 + rng.integers(0, ANNOTATORS - 1, tasks)) % ANNOTATORS,
        quality=quality,
        passes=(quality >= 3) ^ flip,
        extra=rng.choice([0, 1, 2], size=(tasks, 2), p=[0.93, 0.05, 0.02]),
        reviewed=rng.random(tasks) < 0.05,
        spent=rng.gamma(2.0, 20.0, (tasks, 2)).round(1),
        age=rng.uniform(60, 30 * 24 * 3600, (tasks, 2)),
    )


def answers(plan: LabelPlan, t: int, k: int) -> dict:
    given: dict[str, Any] = {
        "quality": int(plan.quality[t, k]),
        "correct": "pass" if plan.passes[t, k] else "fail",
    }
    if plan.extra[t, k] == 1:
        given["comment"] = "Too verbose in the second paragraph; the complexity claim is right."
    elif plan.extra[t, k] == 2:
        given["correction"] = "def solve(xs):\n    return sum(x * x for x in xs if x > 0)\n" * 4
    return given


TASK_COLUMNS = (
    "id",
    "project_id",
    "generation_id",
    "claimed",
    "is_full",
    "submitted",
    "final",
    "reviewed_by_id",
    "reviewed_at",
)
ANNOTATION_COLUMNS = (
    "task_id",
    "annotator_id",
    "state",
    "answers",
    "started_at",
    "submitted_at",
    "time_spent_s",
)


def insert_labels(bench: Bench, project, run, reviewer, annotators: list[Any]) -> None:
    """One task per generation of the run and its 1-2 submitted labels, by COPY."""
    from inference.models import Generation

    gen_ids = list(Generation.objects.filter(run=run).order_by("pk").values_list("pk", flat=True))
    task_ids = next_ids("annotate_task", len(gen_ids))
    plan = plan_labels(len(gen_ids), bench.seed)
    people = [u.pk for u in annotators]
    now = datetime.now(UTC)

    def task_row(t: int) -> tuple:
        n = int(plan.counts[t])
        if not plan.reviewed[t]:
            return (task_ids[t], project.pk, gen_ids[t], n, n >= 2, n, None, None, None)
        final = json.dumps(answers(plan, t, 0))
        return (task_ids[t], project.pk, gen_ids[t], n, n >= 2, n, final, reviewer.pk, now)

    def label_rows():
        for t in range(len(gen_ids)):
            for k in range(int(plan.counts[t])):
                who = people[int(plan.first[t] if k == 0 else plan.second[t])]
                at = now - timedelta(seconds=float(plan.age[t, k]))
                spent = float(plan.spent[t, k])
                given = json.dumps(answers(plan, t, k))
                yield (
                    task_ids[t],
                    who,
                    "submitted",
                    given,
                    at - timedelta(seconds=spent),
                    at,
                    spent,
                )

    copy_rows("annotate_task", TASK_COLUMNS, (task_row(t) for t in range(len(gen_ids))))
    copy_rows("annotate_annotation", ANNOTATION_COLUMNS, label_rows())


def build(bench: Bench) -> Built:
    """The data for one size, in one transaction; the marker (the dataset's description) is
    written with it, so an interrupted build leaves neither."""
    from django.db import transaction

    from annotate.datasets.models import Dataset

    start = time.perf_counter()
    seconds: dict[str, float] = {}
    with transaction.atomic():
        owner, reviewer, annotators = make_users()
        dataset = Dataset.objects.create(
            name=bench.dataset_name, description=f"v{VERSION}", owner=owner
        )
        run = make_run(bench, owner, dataset)
        insert_items(dataset.pk, bench.rows)
        insert_generations(run.pk, dataset.pk)
        seconds["outputs"] = time.perf_counter() - start
        project = make_project(bench, owner, reviewer, annotators, run)
        insert_labels(bench, project, run, reviewer, annotators)
        seconds["labels"] = time.perf_counter() - start - seconds["outputs"]
    vacuum_analyze(TABLES)
    seconds["build"] = time.perf_counter() - start
    return Built(project_id=project.pk, owner_id=owner.pk, seconds=seconds)


def write_import_file(path: Path, lines: int, seed: int) -> int:
    """lines JSONL records of ~500 bytes, in the shapes people bring: a prompt with a system
    turn, chat messages ending with the reference, and Alpaca instruction/input/output;
    each with an id and extra fields (kept as metadata). Returns the file's size."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(lines):
            f.write(json.dumps(import_record(i, rng), ensure_ascii=False) + "\n")
    return path.stat().st_size


def import_record(i: int, rng: random.Random) -> dict:
    question = f"{QUESTION}{i}: {rng.choice(SENTENCES)}"
    answer = " ".join(rng.sample(SENTENCES, 2))[:70]
    extra = {"id": f"imp-{i}", "topic": TOPICS[i % len(TOPICS)], "difficulty": 1 + i % 5}
    if i % 3 == 0:
        return {**extra, "system": "Be concise.", "prompt": question, "reference": answer}
    if i % 3 == 1:
        turns = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return {**extra, "messages": turns}
    return {**extra, "instruction": question, "input": "xs = [3, -1, 4]", "output": answer}


# --- One measured operation, in a process of its own --------------------------------------------


def rss_mb() -> float:
    """The process's resident memory now (Linux), else its peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return peak_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    """The process's peak resident memory: ru_maxrss is KiB on Linux, bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def cpu_s() -> float:
    """The process's CPU time so far (the database server's is not in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def database_cpu_s() -> float | None:
    """CPU time so far of the server process behind Django's connection, when it runs on this
    machine and /proc shows it (None otherwise): the export's other half of the work."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def export_operation(spec: dict):
    """run_export of the project's outputs in spec's format; returns (call, rows of)."""
    from annotate.exports.models import Export
    from annotate.exports.rows import run_export

    export = Export.objects.create(
        owner_id=spec["owner"], format=spec["format"], filters={"project": spec["project"]}
    )
    return lambda: run_export(export), lambda done: done.rows


def import_operation(spec: dict):
    """import_dataset of spec's file; returns (call, rows of)."""
    from django.contrib.auth import get_user_model

    from annotate.datasets.importing import import_dataset

    owner = get_user_model().objects.get(pk=spec["owner"])
    path = Path(spec["path"])

    def call():
        with path.open("rb") as stream:
            return import_dataset(stream, path.name, f"{PREFIX} import", owner)

    return call, lambda dataset: dataset.items.count()


def run_child(spec: dict) -> dict:
    """The child's side: set up, note the memory, run the operation once (plain, traced or
    profiled), and report."""
    setup_django(spec["url"], migrate=False)
    call, count = (export_operation if spec["op"] == "export" else import_operation)(spec)
    gc.collect()
    before, cpu, db_cpu = rss_mb(), cpu_s(), database_cpu_s()
    result, seconds, extra = measured(call, spec["mode"], spec.get("profile_path"))
    out = {"seconds": seconds, "cpu_s": cpu_s() - cpu, "rss_before_mb": before, **extra}
    db_after = database_cpu_s()
    out["db_cpu_s"] = None if db_cpu is None or db_after is None else db_after - db_cpu
    out["peak_mb"] = peak_mb()
    out["rows"] = count(result)
    if spec["op"] == "export":
        out["bytes"] = Path(result.path).stat().st_size
    else:
        out["dataset"] = result.pk
    return out


def measured(call, mode: str, profile_path: str | None) -> tuple[Any, float, dict]:
    extra: dict[str, Any] = {}
    if mode == "trace":
        import tracemalloc

        tracemalloc.start()
    if mode == "profile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    if mode == "trace":
        extra["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if mode == "profile":
        profiler.disable()
        profiler.dump_stats(profile_path)
    return result, seconds, extra


def spawn(spec: dict, env: dict[str, str]) -> dict:
    """Run one operation in a fresh process; its last stdout line is the report."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{spec['op']} {spec.get('format', '')} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- Measurements -------------------------------------------------------------------------------


@dataclass
class Measured:
    """One operation over --repeat processes: the best time, the largest peak."""

    name: str
    rows: int
    seconds: float
    cpu_s: float  # of the Python process, in the best round
    db_cpu_s: float | None  # of its database server process, when visible
    peak_mb: float
    growth_mb: float
    bytes: int = 0
    traced_peak_mb: float | None = None
    hot_spots: list[str] | None = None

    @property
    def per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def per_cpu_s(self) -> float:
        """Rows per CPU second of both processes: what a machine with a core free for each
        would about reach (wall time counts waiting for a core on a loaded one)."""
        return self.rows / (self.cpu_s + (self.db_cpu_s or 0))


def measure(bench: Bench, spec: dict, env: dict[str, str], name: str) -> Measured:
    reports = []
    for _ in range(bench.repeat):
        reports.append(spawn({**spec, "mode": "time"}, env))
        after_each(reports[-1])
    best = min(reports, key=lambda r: r["seconds"])
    result = Measured(
        name=name,
        rows=best["rows"],
        seconds=best["seconds"],
        cpu_s=best["cpu_s"],
        db_cpu_s=best["db_cpu_s"],
        peak_mb=max(r["peak_mb"] for r in reports),
        growth_mb=max(r["peak_mb"] - r["rss_before_mb"] for r in reports),
        bytes=best.get("bytes", 0),
    )
    if bench.tracemalloc:
        traced = spawn({**spec, "mode": "trace"}, env)
        after_each(traced)
        result.traced_peak_mb = traced["traced_peak_mb"]
    if bench.profile:
        result.hot_spots = profile(spec, env)
    return result


def after_each(report: dict) -> None:
    """Drop what the operation made: the imported dataset (exported files go with the
    temporary folder)."""
    if "dataset" in report:
        drop_dataset(report["dataset"])


def profile(spec: dict, env: dict[str, str], top: int = 14) -> list[str]:
    """The operation's hot spots: the functions with the most time of their own."""
    import io
    import pstats

    path = Path(env["ANNOTATE_VAR_DIR"]) / "profile.out"
    after_each(spawn({**spec, "mode": "profile", "profile_path": str(path)}, env))
    text = io.StringIO()
    pstats.Stats(str(path), stream=text).sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return [line.replace(str(ROOT) + "/", "") for line in lines[start : start + top + 1]]


def measure_all(bench: Bench, built: Built, url: str, folder: Path) -> dict[str, Measured]:
    env = {**os.environ, "DATABASE_URL": url, "ANNOTATE_VAR_DIR": str(folder)}
    base = {"url": url, "owner": built.owner_id}
    results = {}
    for fmt in FORMATS:
        print(f"  export {fmt} ...", flush=True)
        spec = {**base, "op": "export", "format": fmt, "project": built.project_id}
        results[f"export_{fmt}"] = measure(bench, spec, env, f"export {fmt}")
        shutil.rmtree(folder / "exports", ignore_errors=True)
    path = folder / "import.jsonl"
    size = write_import_file(path, bench.import_lines, bench.seed)
    print(f"  import of {bench.import_lines} lines ({size / 2**20:.0f} MB) ...", flush=True)
    results["import"] = measure(bench, {**base, "op": "import", "path": str(path)}, env, "import")
    results["import"].bytes = size
    return results


# --- Report -------------------------------------------------------------------------------------


def figures_of(results: dict[str, Measured]) -> dict[str, float]:
    exports = [m for name, m in results.items() if name.startswith("export_")]
    figures = {f"{name}_rows_per_s": m.per_s for name, m in results.items() if name != "import"}
    return {
        **figures,
        "export_peak_mb": max(m.peak_mb for m in exports),
        "export_growth_mb": max(m.growth_mb for m in exports),
        "import_lines_per_s": results["import"].per_s,
        "import_peak_mb": results["import"].peak_mb,
        "import_growth_mb": results["import"].growth_mb,
    }


def goal_met(figures: dict[str, float], name: str) -> bool:
    sense, value = GOALS[name]
    return figures[name] >= value if sense == ">=" else figures[name] < value


def print_report(bench: Bench, built: Built, results: dict[str, Measured]) -> None:
    if built.seconds:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in built.seconds.items() if k != "build")
        how = f"built in {built.seconds['build']:.1f} s ({parts})"
    else:
        how = "reused (marker found)"
    print(f"\n{bench.rows} labeled outputs; data {how}. Best of {bench.repeat} process(es).")
    print(
        f"\n  {'operation':<16}{'rows':>8}{'wall s':>8}{'rows/s':>9}{'py cpu':>8}{'db cpu':>8}"
        f"{'rows/cpu-s':>11}{'MB out':>8}{'peak MB':>9}{'growth':>8}{'traced':>8}"
    )
    for m in results.values():
        traced = "" if m.traced_peak_mb is None else f"{m.traced_peak_mb:.0f}"
        db = "" if m.db_cpu_s is None else f"{m.db_cpu_s:.1f}"
        print(
            f"  {m.name:<16}{m.rows:>8}{m.seconds:>8.2f}{m.per_s:>9.0f}{m.cpu_s:>8.1f}{db:>8}"
            f"{m.per_cpu_s:>11.0f}{m.bytes / 2**20:>8.0f}{m.peak_mb:>9.0f}{m.growth_mb:>8.0f}"
            f"{traced:>8}"
        )
    print(
        "  (rows/cpu-s: rows per CPU second of Python and PostgreSQL together; wall time also "
        "counts waiting for a core, so compare runs at similar loadavg_1m)"
    )
    for m in results.values():
        if m.hot_spots:
            print(f"\n  hot spots of {m.name} (cProfile, by own time):")
            print("\n".join(f"    {line}" for line in m.hot_spots))


def print_goals(figures: dict[str, float]) -> None:
    print()
    for name, (sense, value) in GOALS.items():
        verdict = "met" if goal_met(figures, name) else "MISSED"
        print(f"  goal {name} {sense} {value}: {verdict} ({figures[name]:.0f})")


def summary(bench: Bench, built: Built, results: dict[str, Measured]) -> dict:
    figures = figures_of(results)
    return {
        **{k: round(v, 1) for k, v in figures.items()},
        "rows": bench.rows,
        "import_lines": bench.import_lines,
        "build_s": round(built.seconds["build"], 2) if built.seconds else None,
        "reused": not built.seconds,
        "seconds": {name: round(m.seconds, 3) for name, m in results.items()},
        "python_cpu_s": {name: round(m.cpu_s, 3) for name, m in results.items()},
        "database_cpu_s": {
            name: None if m.db_cpu_s is None else round(m.db_cpu_s, 3)
            for name, m in results.items()
        },
        "rows_per_cpu_s": {name: round(m.per_cpu_s) for name, m in results.items()},
        "goals_met": {name: goal_met(figures, name) for name in GOALS},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def prepare(bench: Bench, url: str) -> Built:
    """Set up, then find or build the data."""
    ensure_database(url, recreate=bench.rebuild)
    setup_django(url)
    try:
        built = find_built(bench)
    except StaleData as exc:
        print(f"Data of an older version ({exc}): recreating the database.", flush=True)
        from django.db import connection

        connection.close()
        ensure_database(url, recreate=True)
        setup_django(url)
        built = None
    clean_leftovers()
    if built is None:
        print(f"Building {bench.rows} labeled outputs ...", flush=True)
        built = build(bench)
    return built


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0
    bench = bench_from_args(args)
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    built = prepare(bench, url)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        results = measure_all(bench, built, url, Path(folder))
    print_report(bench, built, results)
    figures = figures_of(results)
    print_goals(figures)
    print(json.dumps(summary(bench, built, results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
