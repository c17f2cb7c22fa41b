"""Issue 15, item 5: comparison votes export one row per vote (ties and "both bad" too), and
every format takes an "only labeled" filter. Each file is checked against a recount of the
Annotation and Task tables: left is the task's generation, as the annotator saw it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from annotate.accounts.models import ApiToken
from annotate.comparisons.pairs import compare_questions
from annotate.exports.actions import start_export
from annotate.exports.labels import pseudonym
from annotate.exports.rows import rows
from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, Project, ProjectKind, Task
from inference.models import Generation, ModelConfig, Run
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db

PATHS = [False, True] if connection.vendor == "postgresql" else [False]
# Item index -> the answers given on the pair of that item.
VOTES = {
    0: {"verdict": "left", "reason": "shorter", "left_rating": 5, "right_rating": 2},
    1: {"verdict": "right", "reason": "", "left_rating": 1, "right_rating": 4},
    2: {"verdict": "tie", "reason": "both fine"},
    3: {"verdict": "both bad", "reason": "=HYPERLINK(1)", "left_rating": 1, "right_rating": 1},
}


@pytest.fixture
def duel(owner, mlx_config, annotator, annotator2, django_user_model):
    """Six items answered by two configurations. A label project: items 0 and 5 labeled,
    item 2 only held. A comparison project with side ratings: items 0-3 paired (sides swapped
    on odd items), each voted by two annotators. Another manager's comparison project, which
    owner is not in, with a vote on item 4's outputs."""
    labels = make_project(owner, mlx_config, n=6, blind=False)
    earlier = labels.runs.get()
    join(labels, annotator)
    for index in (0, 5, 2):
        task = labels.tasks.get(generation__item__index=index)
        held = Annotation.objects.create(task=task, annotator=annotator, state="held")
        if index != 2:
            annotation_queue.submit(held, {"quality": 4, "correct": "pass"}, 3.0)
    later_config = ModelConfig.objects.create(
        name="later", backend="mlx", model=mlx_config.model, owner=owner
    )
    later = Run.objects.create(
        dataset=earlier.dataset,
        model_config=later_config,
        params=later_config.params(),
        created_by=owner,
    )
    compare = Project.objects.create(
        name="Duel", kind=ProjectKind.COMPARE, owner=owner, blind=False, overlap=2
    )
    compare.side_ratings = True
    compare.questions = compare_questions(compare)
    compare.save()
    pairs = {}
    for item in earlier.dataset.items.order_by("index"):
        mine = Generation.objects.create(
            run=later, item=item, status="done", output=f"later answer {item.index}", latency_s=1.5
        )
        theirs = earlier.generations.get(item=item)
        pairs[item.index] = (theirs, mine) if item.index % 2 else (mine, theirs)
    for index in range(4):
        left, right = pairs[index]
        Task.objects.create(project=compare, generation=left, generation_b=right)
    for person in (annotator, annotator2):
        join(compare, person)
        while held := annotation_queue.next_task(compare, person):
            annotation_queue.submit(held, VOTES[held.task.generation.item.index], 2.5)
    stranger = django_user_model.objects.create_user("stranger", password="pw-stranger-123")
    stranger.groups.add(Group.objects.get(name="Project owners"))
    hidden = Project.objects.create(name="Hidden", kind=ProjectKind.COMPARE, owner=stranger)
    task = Task.objects.create(project=hidden, generation=pairs[4][0], generation_b=pairs[4][1])
    Annotation.objects.create(
        task=task, annotator=stranger, state="submitted", answers={"verdict": "left"}
    )
    return labels, compare


def _visible_votes(user):
    return Annotation.objects.filter(
        state="submitted",
        task__project__kind="compare",
        task__project__in=Project.objects.filter(owner=user),
    ).select_related("task", "annotator")


def _recount_labeled(user) -> set[int]:
    """Outputs with a submitted label or vote in a project `user` owns, from the tables."""
    found = set()
    for note in Annotation.objects.filter(state="submitted", task__project__owner=user):
        found.add(note.task.generation_id)
        if note.task.generation_b_id:
            found.add(note.task.generation_b_id)
    return found


def _jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_each_vote_is_one_row_that_matches_the_tables(owner, duel):
    export = start_export(owner, "comparisons", {"pseudonyms": True})
    exported = {row["vote_id"]: row for row in _jsonl(export.path)}
    truth = {note.pk: note for note in _visible_votes(owner)}
    assert set(exported) == set(truth) and len(truth) == 8  # the hidden vote is not there
    assert {row["verdict"] for row in exported.values()} == {"left", "right", "tie", "both bad"}
    for pk, note in truth.items():
        row, task = exported[pk], note.task
        assert row["verdict"] == note.answers["verdict"]
        assert row["reason"] == note.answers["reason"]
        assert (row["left_rating"], row["right_rating"]) == (
            note.answers.get("left_rating"),
            note.answers.get("right_rating"),
        )
        assert row["left"]["generation_id"] == task.generation_id
        assert row["right"]["generation_id"] == task.generation_b_id
        assert row["left"]["output"] == task.generation.output
        assert row["right"]["model_config"] == task.generation_b.run.model_config.name
        assert row["annotator"] == pseudonym(note.annotator.username)
        assert row["annotator"] != note.annotator.username
        assert row["time_spent_s"] == 2.5 and row["submitted_at"]
        assert row["item"]["messages"] == task.generation.item.messages
    later = next(r for r in exported.values() if r["left"]["model_config"] == "later")
    assert later["left"]["latency_s"] == 1.5


@pytest.mark.parametrize("fmt", ["comparisons_csv", "comparisons_parquet"])
def test_the_flat_files_load_as_tables_with_the_same_votes(owner, duel, fmt):
    export = start_export(owner, fmt, {})
    if fmt == "comparisons_csv":
        assert export.filename.endswith(".csv")
        table = list(csv.DictReader(io.StringIO(Path(export.path).read_text())))
        found = {int(r["vote_id"]): (r["verdict"], int(r["left_generation_id"])) for r in table}
        assert "'=HYPERLINK(1)" in {r["reason"] for r in table}
    else:
        assert export.filename.endswith(".parquet")
        frame = pq.read_table(export.path).to_pandas()
        found = {int(r.vote_id): (r.verdict, int(r.left_generation_id)) for r in frame.itertuples()}
    truth = {n.pk: (n.answers["verdict"], n.task.generation_id) for n in _visible_votes(owner)}
    assert found == truth and export.rows == 8


def test_only_labeled_keeps_the_recounted_outputs_in_every_format(owner, duel):
    expected = _recount_labeled(owner)
    # Items 0, 5 labeled; items 0-3 voted on both sides. Not item 2's hold, not item 4's vote.
    assert len(expected) == 2 * 4 + 1
    for fmt in ("jsonl", "csv", "parquet"):
        export = start_export(owner, fmt, {"labeled": True})
        if fmt == "jsonl":
            ids = {row["id"] for row in _jsonl(export.path)}
        elif fmt == "csv":
            ids = {int(r["id"]) for r in csv.DictReader(io.StringIO(Path(export.path).read_text()))}
        else:
            ids = set(pq.read_table(export.path).column("id").to_pylist())
        assert ids == expected, fmt
        assert export.total == len(expected)
    outputs = set(Generation.objects.filter(pk__in=expected).values_list("output", flat=True))
    for fmt in ("sft", "openai"):
        chats = _jsonl(start_export(owner, fmt, {"labeled": True}).path)
        assert {chat["messages"][-1]["content"] for chat in chats} == outputs
    every = start_export(owner, "jsonl", {})
    assert every.rows == Generation.objects.filter(status="done").count() > len(expected)
    votes = start_export(owner, "comparisons", {"labeled": True})
    assert votes.rows == 8


@pytest.mark.parametrize("sql", PATHS)
def test_only_labeled_on_both_export_paths(owner, duel, sql):
    filters = start_export(owner, "jsonl", {"labeled": True}).filters
    assert {row["id"] for row in rows(filters, sql=sql)} == _recount_labeled(owner)


def test_through_the_page_and_the_api(client, owner, duel):
    client.force_login(owner)
    assert "Only outputs with a label or vote" in client.get("/exports/").content.decode()
    response = client.post("/exports/", {"format": "comparisons", "labeled": "on"})
    body = b"".join(client.get(f"{response['Location']}download/").streaming_content)
    assert len(body.splitlines()) == 8
    _, token = ApiToken.issue(owner, "ci")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    api = Client()
    made = api.post(
        "/api/exports",
        {"format": "comparisons_parquet", "labeled": True},
        content_type="application/json",
        **auth,
    )
    assert made.status_code == 201, made.content
    assert made.json()["rows"] == 8 and made.json()["filters"]["labeled"] is True
    data = b"".join(api.get(made.json()["download"], **auth).streaming_content)
    assert pq.read_table(io.BytesIO(data)).num_rows == 8
    made = api.post(
        "/api/exports",
        {"format": "jsonl", "labeled": True},
        content_type="application/json",
        **auth,
    )
    assert made.json()["rows"] == len(_recount_labeled(owner))
    bad = api.post(
        "/api/exports",
        {"format": "jsonl", "labeled": "maybe"},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 422
