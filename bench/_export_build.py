"""bench/export.py's data: labeled outputs of one size and seed, built once in PostgreSQL and
found again by their marker, and the JSONL file imported (imported after django.setup())."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from environment import ensure_database, setup_django
from pg import copy_rows, vacuum_analyze

from annotate.comparisons.pairs import compare_questions
from annotate.datasets.models import Dataset
from annotate.exports.models import Export
from annotate.labeling.models import Project, ProjectKind, ProjectMember, Role
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.models import Generation, ModelConfig, Run, RunStatus

if TYPE_CHECKING:
    from export import Bench

PREFIX = "bench-export"
VERSION = 1  # of the built data: a change in build() must bump it
ANNOTATORS = 10
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


@dataclass
class Built:
    project_id: int
    owner_id: int
    seconds: dict[str, float]  # empty when the data was reused


def clean_leftovers() -> None:
    """Datasets an interrupted import measurement left, and earlier runs' export rows."""
    for pk in Dataset.objects.filter(name__startswith=f"{PREFIX} import").values_list(
        "pk", flat=True
    ):
        drop_dataset(pk)
    Export.objects.filter(owner__username__startswith=PREFIX).delete()


def drop_dataset(pk: int) -> None:
    """Delete an imported dataset in SQL (the ORM's cascade would load every item first)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM annotate_item WHERE dataset_id = %s", [pk])
        cursor.execute("DELETE FROM annotate_dataset WHERE id = %s", [pk])


# --- Building the data --------------------------------------------------------------------------


class StaleData(Exception):
    """The bench's data in the database was built by an older version of build()."""


def find_built(bench: Bench) -> Built | None:
    """The project and owner of data built earlier for this size and seed, if its marker says
    the current version (an older version's data is rebuilt in a fresh database)."""
    dataset = Dataset.objects.filter(name=dataset_name(bench)).first()
    if dataset is None:
        return None
    if dataset.description != f"v{VERSION}":
        raise StaleData(dataset.description)
    project = Project.objects.get(name=dataset_name(bench))
    return Built(project_id=project.pk, owner_id=project.owner_id, seconds={})


def make_users() -> tuple[Any, Any, list[Any]]:
    """(owner, reviewer, annotators), made once per database, without passwords."""
    User = get_user_model()
    names = [f"{PREFIX}-owner", f"{PREFIX}-reviewer"]
    names += [f"{PREFIX}-annotator-{i}" for i in range(ANNOTATORS)]
    users = [User(username=name, password="!") for name in names]
    User.objects.bulk_create(users, ignore_conflicts=True)
    by_name = {u.username: u for u in User.objects.filter(username__in=names)}
    return by_name[names[0]], by_name[names[1]], [by_name[n] for n in names[2:]]


def make_run(bench: Bench, owner, dataset) -> Any:
    config = ModelConfig.objects.create(
        name=dataset_name(bench),
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
    project = Project.objects.create(
        name=dataset_name(bench), owner=owner, overlap=2, questions=DEFAULT_QUESTIONS
    )
    project.runs.add(run)
    members = [ProjectMember(project=project, user=u) for u in annotators]
    members.append(ProjectMember(project=project, user=reviewer, role=Role.REVIEWER))
    ProjectMember.objects.bulk_create(members)
    return project


def next_ids(table: str, count: int) -> list[int]:
    """count ids from the table's own sequence, for rows sent by COPY."""
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
    "number",
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
    gen_ids = list(Generation.objects.filter(run=run).order_by("pk").values_list("pk", flat=True))
    task_ids = next_ids("annotate_task", len(gen_ids))
    plan = plan_labels(len(gen_ids), bench.seed)
    people = [u.pk for u in annotators]
    now = datetime.now(UTC)

    def task_row(t: int) -> tuple:
        n = int(plan.counts[t])
        # Task numbers are random in the app (blind queues); any distinct ones do here.
        head = (task_ids[t], project.pk, gen_ids[t], t + 1, n, n >= 2, n)
        if not plan.reviewed[t]:
            return (*head, None, None, None)
        return (*head, json.dumps(answers(plan, t, 0)), reviewer.pk, now)

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
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    with transaction.atomic():
        owner, reviewer, annotators = make_users()
        dataset = Dataset.objects.create(
            name=dataset_name(bench), description=f"v{VERSION}", owner=owner
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


# The comparison project of bench/export.py --labeled: pairs of the run's outputs, the first
# DUEL_VOTED outputs voted on (one vote a pair), the next DUEL_UNVOTED paired but not voted.
DUEL_VOTED, DUEL_UNVOTED = 10_000, 2_000
DUEL_VERDICTS = ("left", "right", "left", "right", "tie", "both bad")


def prepare_duel(built: Built) -> int:
    """The comparison project's id, built once (in one transaction) if missing: outputs
    2j and 2j+1 of the run paired (sides as they come), 10k of 12k voted on."""
    owner = get_user_model().objects.get(pk=built.owner_id)
    name = f"{Project.objects.get(pk=built.project_id).name} duel"
    if found := Project.objects.filter(name=name).first():
        return found.pk
    run = Project.objects.get(pk=built.project_id).runs.get()
    gen_ids = list(run.generations.order_by("pk").values_list("pk", flat=True))
    pairs = min(DUEL_VOTED + DUEL_UNVOTED, len(gen_ids)) // 2
    annotators = list(get_user_model().objects.filter(username__startswith=f"{PREFIX}-annot"))
    now = datetime.now(UTC)
    with transaction.atomic():
        duel = Project.objects.create(name=name, owner=owner, kind=ProjectKind.COMPARE)
        duel.side_ratings, duel.questions = True, compare_questions(duel)
        duel.save()
        duel.runs.add(run)
        task_ids = next_ids("annotate_task", pairs)
        voted = [j < DUEL_VOTED // 2 for j in range(pairs)]
        columns = ("id", "project_id", "generation_id", "generation_b_id", "number", "claimed")
        columns += ("submitted", "is_full")
        copy_rows(
            "annotate_task",
            columns,
            (
                (
                    task_ids[j],
                    duel.pk,
                    gen_ids[2 * j],
                    gen_ids[2 * j + 1],
                    j + 1,
                    *_counts(voted[j]),
                )
                for j in range(pairs)
            ),
        )
        copy_rows(
            "annotate_annotation",
            ANNOTATION_COLUMNS,
            (
                (
                    task_ids[j],
                    annotators[j % len(annotators)].pk,
                    "submitted",
                    json.dumps(duel_answers(j)),
                    now - timedelta(seconds=60 + j),
                    now - timedelta(seconds=j),
                    60.0,
                )
                for j in range(pairs)
                if voted[j]
            ),
        )
    vacuum_analyze(("annotate_task", "annotate_annotation"))
    return duel.pk


def _counts(voted: bool) -> tuple[int, int, bool]:
    """A pair's (claimed, submitted, is_full): overlap 1, one vote or none."""
    return int(voted), int(voted), voted


def duel_answers(j: int) -> dict:
    given = {"verdict": DUEL_VERDICTS[j % len(DUEL_VERDICTS)], "left_rating": 1 + j % 5}
    if j % 7 == 0:
        given["reason"] = "The left one handles the empty list; the right one does not."
    return given


def dataset_name(bench: Bench) -> str:
    return f"{PREFIX} {bench.rows} rows seed {bench.seed}"


def prepare(bench: Bench, url: str) -> Built:
    """Find the data, or build it (in a new database if it is of an older version)."""
    try:
        built = find_built(bench)
    except StaleData as exc:
        print(f"Data of an older version ({exc}): recreating the database.", flush=True)
        connection.close()
        ensure_database(url, recreate=True)
        setup_django(url)
        built = None
    clean_leftovers()
    if built is None:
        print(f"Building {bench.rows} labeled outputs ...", flush=True)
        built = build(bench)
    return built
