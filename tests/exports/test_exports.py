"""Exports: each format loads the way a trainer would read it, filters and pseudonyms hold,
and the files come back in."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.utils import timezone

from annotate.accounts.models import ApiToken
from annotate.comparisons.pairs import compare_questions
from annotate.datasets.importing import ImportFailed, import_dataset
from annotate.datasets.models import Dataset
from annotate.exports.labels import pseudonym
from annotate.exports.models import Export
from annotate.exports.rows import rows, run_export, write_export
from annotate.labeling import annotation_queue
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Annotation, Project, ProjectKind, Task
from annotate.labeling.projects import agreement
from inference.models import Generation, ModelConfig, Run
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled(owner, mlx_config, annotator, annotator2):
    """Three outputs, each labeled by two annotators; item 0 corrected, item 2 disputed."""
    # Not blind: the annotation queue hands out the items in order (a blind one shuffles).
    project = make_project(owner, mlx_config, n=3, overlap=2, blind=False)
    join(project, annotator)
    join(project, annotator2)
    answers = {
        annotator: [
            {"quality": 5, "correct": "pass", "correction": "def good(): ..."},
            {"quality": 2, "correct": "fail"},
            {"quality": 4, "correct": "pass"},
        ],
        annotator2: [
            {"quality": 5, "correct": "pass"},
            {"quality": 2, "correct": "fail"},
            {"quality": 1, "correct": "fail"},
        ],
    }
    for person, per_item in answers.items():
        for given in per_item:
            held = annotation_queue.next_task(project, person)
            annotation_queue.submit(held, given, 2.0)
    return project


def export(owner, fmt, **filters) -> tuple[Export, Path]:
    done = run_export(Export.objects.create(owner=owner, format=fmt, filters=filters))
    return done, Path(done.path)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_full_jsonl_has_everything_and_loads_as_a_table(owner, labeled, annotator):
    done, path = export(owner, "jsonl", project=labeled.pk)
    rows = lines(path)
    assert len(rows) == 3 and done.rows == 3
    first = rows[0]
    assert first["item"]["messages"][0]["role"] == "user"
    assert first["measurements"].keys() >= {"ttft_s", "latency_s", "cost_usd", "machine"}
    assert {lb["annotator"] for lb in first["labels"]} == {"annie", "bert"}
    table = pajson.read_json(path)  # what datasets' JSON loader does underneath
    assert table.num_rows == 3 and "labels" in table.column_names
    manifest = json.loads(Path(f"{path}.manifest.json").read_text())
    assert manifest["counts"] == {"outputs_considered": 3, "rows": 3}
    assert manifest["schema_version"] == 2 and manifest["filters"] == {"project": labeled.pk}


def test_filters_and_pseudonyms(owner, labeled):
    _, path = export(owner, "jsonl", project=labeled.pk, min_rating=3, pseudonyms=True)
    rows = lines(path)
    assert [r["item"]["index"] for r in rows] == [0]  # means 5, 2, 2.5
    names = {lb["annotator"] for lb in rows[0]["labels"]}
    assert names == {pseudonym("annie"), pseudonym("bert")} and "annie" not in path.read_text()
    _, agreed = export(owner, "jsonl", project=labeled.pk, agreed=True)
    assert [r["item"]["index"] for r in lines(agreed)] == [0, 1]
    task = Task.objects.get(project=labeled, generation__item__index=2)
    task.final = {"quality": 3, "correct": "pass"}
    task.save()
    _, reviewed = export(owner, "jsonl", project=labeled.pk, reviewed=True)
    assert [r["item"]["index"] for r in lines(reviewed)] == [2]


def test_sft_and_openai_use_the_correction_and_keep_only_passing_outputs(owner, labeled):
    _, path = export(owner, "sft", project=labeled.pk, require_pass=True)
    rows = lines(path)
    assert len(rows) == 1
    messages = rows[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[-1]["content"] == "def good(): ..."
    _, openai_path = export(owner, "openai", project=labeled.pk, min_rating=1)
    for row in lines(openai_path):
        assert set(row) == {"messages"}
        assert all(set(m) == {"role", "content"} for m in row["messages"])


def test_csv_and_parquet_are_flat_tables(owner, labeled):
    _, csv_path = export(owner, "csv", project=labeled.pk)
    assert csv_path.read_text().splitlines()[0].startswith("id,dataset_id,item_index")
    _, parquet_path = export(owner, "parquet", project=labeled.pk)
    table = pq.read_table(parquet_path)
    assert table.num_rows == 3
    assert table.schema.field("latency_s").type == "double"
    assert json.loads(table.column("labels_json")[0].as_py())[0]["answers"]["quality"] == 5


def test_preference_pairs_from_ratings_and_comparisons(owner, labeled, annotator, mlx_config):
    _, path = export(owner, "preference", project=labeled.pk)
    assert lines(path) == []  # one output per item: no pair from ratings
    compare = Project.objects.create(name="cmp", kind=ProjectKind.COMPARE, owner=owner)
    first = labeled.runs.get().generations.order_by("pk").first()
    # Two answers to one prompt: a pair across prompts is left out (test_preference_prompts).
    again = Generation.objects.create(
        run=first.run, item=first.item, sample_index=1, status="done", output="Once more."
    )
    gens = [first, again]
    task = Task.objects.create(project=compare, generation=gens[0], generation_b=gens[1])
    join(compare, annotator)
    annotation_queue.submit(annotation_queue.next_task(compare, annotator), {"verdict": "right"}, 1)
    del task
    _, path = export(owner, "preference")
    [pair] = [p for p in lines(path) if p["source"] == "comparison"]
    assert pair["chosen"] == [{"role": "assistant", "content": gens[1].output}]
    assert pair["rejected"][0]["content"] == gens[0].output
    assert pair["prompt"][-1]["role"] == "user"
    table = pajson.read_json(path)
    assert {"prompt", "chosen", "rejected"} <= set(table.column_names)


def test_a_preference_pair_chooses_the_side_the_annotator_picked(owner, annotator, mlx_config):
    """Pairs shown either way round between two runs, voted left and right: chosen is the
    side voted for, also where the database returns the pair the other way round (it orders
    outputs by run, the latest run first)."""
    earlier = make_project(owner, mlx_config, n=4).runs.get()
    dataset = earlier.dataset
    later_config = ModelConfig.objects.create(
        name="later", backend="mlx", model=mlx_config.model, owner=owner
    )
    later = Run.objects.create(
        dataset=dataset, model_config=later_config, params=later_config.params(), created_by=owner
    )
    compare = Project.objects.create(name="cmp", kind=ProjectKind.COMPARE, owner=owner, blind=False)
    join(compare, annotator)
    verdicts, swapped = {}, 0
    for item in dataset.items.order_by("index"):
        mine = Generation.objects.create(
            run=later, item=item, status="done", output=f"later answer {item.index}"
        )
        theirs = earlier.generations.get(item=item)
        left, right = (mine, theirs) if item.index < 2 else (theirs, mine)
        Task.objects.create(project=compare, generation=left, generation_b=right)
        verdicts[item.pk] = ("left", "right")[item.index % 2]
        swapped += list(Generation.objects.in_bulk([left.pk, right.pk])) != [left.pk, right.pk]
    assert swapped == 2  # the case that inverted pairs: in_bulk's order is not the sides'
    expected = {}
    while held := annotation_queue.next_task(compare, annotator):
        task, verdict = held.task, verdicts[held.task.generation.item_id]
        annotation_queue.submit(held, {"verdict": verdict}, 1)
        shown = (task.generation, task.generation_b)
        expected[task.generation.item.prompt] = shown if verdict == "left" else shown[::-1]
    _, path = export(owner, "preference", project=compare.pk)
    pairs = [p for p in lines(path) if p["source"] == "comparison"]
    assert len(pairs) == len(expected) == 4
    for pair in pairs:
        winner, loser = expected[pair["prompt"][-1]["content"]]
        assert pair["chosen"] == [{"role": "assistant", "content": winner.output}]
        assert pair["rejected"] == [{"role": "assistant", "content": loser.output}]


def _without_ids(row: dict) -> dict:
    """A full export row without this instance's ids (rows, items, datasets, runs, projects)."""
    row = json.loads(json.dumps(row))
    del row["id"]
    for key in ("id", "dataset_id"):
        del row["item"][key]
    del row["generation"]["run_id"]
    for entry in (*row["labels"], *row["final"], *row["projects"]):
        entry.pop("project", None)
        entry.pop("id", None)
    return row


def test_an_export_imports_back_into_an_empty_instance_with_its_labels(
    owner, labeled, reviewer, django_user_model
):

    task = Task.objects.filter(project=labeled).order_by("id")[1]
    task.final, task.reviewed_by, task.reviewed_at = (
        {"quality": 3, "correct": "pass", "correction": "def fixed(): ..."},
        reviewer,
        timezone.now(),
    )
    task.save()
    _, path = export(owner, "jsonl", project=labeled.pk)
    before = lines(path)
    agreement_before = [vars(a) for a in agreement(labeled)]
    # An empty instance: only the importing owner is left.
    Project.objects.all().delete()
    Generation.objects.all().delete()
    Run.objects.all().delete()
    ModelConfig.objects.all().delete()
    Dataset.objects.all().delete()
    django_user_model.objects.exclude(pk=owner.pk).delete()

    with path.open("rb") as stream:  # as a superuser asks for it (annotate/datasets/actions.py)
        dataset = import_dataset(stream, "back.jsonl", "back", owner, keep_authors=True)

    assert vars(dataset.restored) == {
        "items": 3,
        "outputs": 3,
        "runs": 1,
        "projects": 1,
        "labels": 6,
        "reviewed": 1,
        "users_created": ["annie", "bert", "rita"],
        "attributed_to": None,
        "labels_left_out": 0,
        "votes": 0,
        "votes_left_out": 0,
        "pairs_left_out": 0,
    }
    project = Project.objects.get()
    assert project.name == labeled.name and project.questions == labeled.questions
    assert [vars(a) for a in agreement(project)] == agreement_before
    assert all(t.is_full and t.submitted == 2 for t in Task.objects.filter(project=project))
    roles = dict(project.members.values_list("user__username", "role"))
    assert roles == {"annie": "annotator", "bert": "annotator", "rita": "reviewer"}
    assert not django_user_model.objects.get(username="annie").has_usable_password()
    # Exported again, the rows are the same but for the new instance's ids.
    _, again = export(owner, "jsonl", project=project.pk)
    assert [_without_ids(r) for r in lines(again)] == [_without_ids(r) for r in before]
    # A flat Parquet export brings back its items.
    _, parquet = export(owner, "parquet", project=project.pk)
    with parquet.open("rb") as stream:
        assert import_dataset(stream, "back.parquet", "back2", owner).items.count() == 3


def test_a_file_of_the_first_schema_still_imports_and_a_newer_one_is_refused(owner, labeled):
    _, path = export(owner, "jsonl", project=labeled.pk)
    old = []
    for row in lines(path):  # as version 1 wrote it: no votes, no comparison settings
        del row["comparisons"]
        for project in row["projects"]:
            del project["pairs_per_item"], project["side_ratings"]
        old.append({**row, "schema_version": 1})
    body = "\n".join(json.dumps(r) for r in old).encode()
    dataset = import_dataset(io.BytesIO(body), "v1.jsonl", "v1", owner)
    assert (dataset.restored.outputs, dataset.restored.labels) == (3, 3)
    newer = "\n".join(json.dumps({**r, "schema_version": 3}) for r in old).encode()
    with pytest.raises(ImportFailed) as failed:
        import_dataset(io.BytesIO(newer), "v3.jsonl", "v3", owner)
    assert failed.value.errors[0] == (
        "line 1: `schema_version` must be one of 1, 2: a file of a newer Annotate"
    )


def test_a_bad_row_of_an_export_names_its_line_and_imports_nothing(owner, labeled):
    _, path = export(owner, "jsonl", project=labeled.pk)
    rows = lines(path)
    rows[1]["labels"][0]["answers"]["quality"] = 9
    rows[2]["generation"]["params"] = "mlx"
    twin = {**rows[0], "id": 10**9}  # another row id, the same output
    body = "\n".join(json.dumps(r) for r in [*rows, rows[0], twin]).encode()
    counts = Dataset.objects.count(), Annotation.objects.count()
    with pytest.raises(ImportFailed) as failed:
        import_dataset(io.BytesIO(body), "bad.jsonl", "bad", owner)
    assert failed.value.errors == [
        "line 2: `labels[0].answers`: Quality: from 1 to 5.",
        "line 3: `generation.params` must be an object",
        f"line 4: row id {rows[0]['id']} is also on line 1",
        "line 5: the same run, item and sample as line 1",
    ]
    assert (Dataset.objects.count(), Annotation.objects.count()) == counts


def test_exports_through_the_page_and_the_api_with_a_token(client, owner, labeled):
    client.force_login(owner)
    response = client.post("/exports/", {"format": "jsonl", "project": labeled.pk})
    export_url = response["Location"]
    page = client.get(export_url).content.decode()
    assert "Download" in page
    body = b"".join(client.get(f"{export_url}download/").streaming_content)
    assert len(body.splitlines()) == 3
    _, token = ApiToken.issue(owner, "ci")
    api = client.__class__()
    made = api.post(
        "/api/exports",
        {"format": "csv", "project": labeled.pk},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert made.status_code == 201, made.content
    assert made.json()["rows"] == 3
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    listed = api.get("/api/exports", **auth).json()
    assert [e["format"] for e in listed["items"]] == ["csv", "jsonl"]
    csv_file = api.get(made.json()["download"], **auth)
    assert csv_file["Content-Disposition"].startswith("attachment")
    table = list(csv.DictReader(io.StringIO(b"".join(csv_file.streaming_content).decode())))
    assert len(table) == 3 and table[0]["model_config"] == "demo"
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert api.get("/api/datasets", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_a_parquet_file_with_a_bad_row_names_it(owner):
    import pyarrow as pa

    buffer = io.BytesIO()
    pq.write_table(pa.table({"prompt": ["ok", None, "fine"]}), buffer)
    buffer.seek(0)

    with pytest.raises(ImportFailed, match="line 2: no prompt"):
        import_dataset(buffer, "p.parquet", "p", owner)


def test_the_api_and_the_page_say_what_an_export_brought_back(owner_client, labeled):
    _, path = export(labeled.owner, "jsonl", project=labeled.pk)
    with path.open("rb") as f:
        response = owner_client.post("/api/datasets", {"file": f, "name": "again"})
    assert response.status_code == 201, response.content
    # Two annotators' labels on each output, all the importer's now: one kept per output.
    restored = response.json()["restored"]
    assert (restored["labels"], restored["labels_left_out"], restored["projects"]) == (3, 3, 1)
    assert restored["attributed_to"] == "owner"
    with path.open("rb") as f:
        page = owner_client.post("/datasets/import/", {"file": f, "name": "again2"}, follow=True)
    assert (
        "3 outputs of 1 runs, 1 projects with 3 labels (0 reviewed), all attributed to owner; "
        "3 labels by other annotators of outputs already labeled were left out"
    ) in page.content.decode()


@pytest.fixture
def reviewed(labeled, owner, reviewer, annotator, annotator2):
    """`labeled`, plus what tells the two export paths apart if anything does: final labels
    (one without a reviewer), a second label project over the same run whose first rating
    asks something else, outputs with quotes, newlines, control and non-ASCII characters,
    measurements, and times on the second exactly (isoformat drops the microseconds)."""

    run = labeled.runs.get()
    on_the_second = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    tasks = list(Task.objects.filter(project=labeled).order_by("id"))
    tasks[1].final = {"quality": 3, "correct": "pass", "correction": "def fixed():\n\t..."}
    tasks[1].reviewed_by, tasks[1].reviewed_at = reviewer, on_the_second
    tasks[2].final = {"quality": 2, "correct": "fail"}
    for task in tasks:
        task.save()
    gens = list(run.generations.order_by("pk"))
    gens[0].output = 'Voilà: "quoted", a\\backslash,\na tab\t, \x01 and 🙂'
    gens[0].ttft_s, gens[0].latency_s, gens[0].decode_tps = 0.1, 2.0, 1e-7
    gens[0].cost_usd, gens[0].finished_at = Decimal("0.00000060"), on_the_second
    gens[1].finished_at = None
    for g in gens:
        g.save()
    second = Project.objects.create(
        name="Clarity",
        owner=owner,
        blind=False,  # its queue hands out the items in order
        questions=[
            {"key": "clarity", "label": "Clarity", "kind": "rating", "min": 1, "max": 5},
            {"key": "quality", "label": "Quality", "kind": "rating", "min": 1, "max": 5},
            {"key": "ok", "label": "OK?", "kind": "passfail"},
        ],
    )
    second.runs.add(run)
    sync_tasks(second)
    join(second, annotator2)
    for given in ({"clarity": 1, "quality": 4, "ok": "pass"}, {"clarity": 5, "ok": "fail"}):
        annotation_queue.submit(annotation_queue.next_task(second, annotator2), given, 1.5)
    Annotation.objects.filter(task__project=second, task__generation=gens[1]).update(
        submitted_at=on_the_second
    )
    # Comparison votes: output 0 shown on the left of one pair and on the right of another.
    arena = Project.objects.create(
        name="Arena", kind=ProjectKind.COMPARE, owner=owner, blind=False, overlap=2
    )
    arena.questions = compare_questions(arena)
    arena.save()
    Task.objects.create(project=arena, generation=gens[0], generation_b=gens[1])
    Task.objects.create(project=arena, generation=gens[2], generation_b=gens[0])
    for person, verdicts in ((annotator, ("left", "tie")), (annotator2, ("right", "left"))):
        join(arena, person)
        for verdict in verdicts:
            held = annotation_queue.next_task(arena, person)
            annotation_queue.submit(held, {"verdict": verdict, "reason": '"why"\n'}, 2.5)
    return labeled, second


def _written(owner, tmp_path, fmt: str, filters: dict, sql: bool) -> list[dict]:
    """The rows of an export file written by one path, parsed (JSON columns too)."""
    path = tmp_path / f"{fmt}-{'sql' if sql else 'orm'}-{len(list(tmp_path.iterdir()))}"
    n = write_export(fmt, filters, path, sql=sql)
    if fmt == "parquet":
        found = pq.read_table(path).to_pylist()
    elif fmt == "csv":
        found = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    else:
        found = lines(path)
    assert len(found) == n
    for row in found if fmt in ("csv", "parquet") else []:
        for key in ("messages_json", "metadata_json", "labels_json", "final_json"):
            row[key] = json.loads(row[key])
    return found


def test_the_sql_and_python_paths_write_the_same_rows(owner, reviewed, tmp_path):
    labeled, second = reviewed
    run = labeled.runs.get()
    every = [
        {},
        {"project": labeled.pk},
        {"project": labeled.pk, "pseudonyms": True},
        {"min_rating": 3},
        {"agreed": True},
        {"reviewed": True},
        {"require_pass": True},
        {"project": second.pk, "min_rating": 2, "pseudonyms": True},
        {"run": run.pk, "since": "2000-01-01", "until": "2100-01-01", "require_pass": True},
    ]
    # The SQL path needs PostgreSQL: on SQLite, the ORM path alone (CI runs both databases).
    paths = (False, True) if connection.vendor == "postgresql" else (False,)
    for filters in every:
        for fmt in ("jsonl", "csv", "parquet"):
            orm, *sql = [_written(owner, tmp_path, fmt, filters, path) for path in paths]
            assert all(other == orm for other in sql), (fmt, filters)
        orm, *sql = [json.loads(json.dumps(list(rows(filters, sql=path)))) for path in paths]
        assert all(other == orm for other in sql), ("rows", filters)
    # What the rows say, on either path.
    every_row = _written(owner, tmp_path, "jsonl", {}, paths[-1])
    first = every_row[0]
    assert [p["name"] for p in first["projects"]] == ["Quality", "Clarity", "Arena"]
    # The first label's project asks "quality" first: 5, 5 and the second project's 4.
    assert first["mean_rating"] == pytest.approx(14 / 3)
    assert first["generation"]["output"].endswith("\x01 and 🙂")
    assert first["measurements"]["finished_at"] == "2026-03-04T05:06:07+00:00"
    assert every_row[1]["measurements"]["finished_at"] is None
    assert every_row[1]["final"][0]["reviewed_at"] == "2026-03-04T05:06:07+00:00"
    assert every_row[2]["final"] == [
        {"project": labeled.pk, "answers": {"quality": 2, "correct": "fail"}, "reviewer": None}
        | {"reviewed_at": None}
    ]
    masked = _written(owner, tmp_path, "jsonl", {"pseudonyms": True}, paths[-1])
    names = {lb["annotator"] for row in masked for lb in row["labels"]}
    assert names == {pseudonym("annie"), pseudonym("bert")}
    assert masked[1]["final"][0]["reviewer"] == pseudonym("rita")
    # Each vote on both outputs of its pair, on the side it was shown there.
    arena = Project.objects.get(name="Arena")
    assert [
        (v["side"], v["other"], v["annotator"], v["answers"]["verdict"])
        for v in first["comparisons"]
    ] == [
        ("left", every_row[1]["id"], "annie", "left"),
        ("right", every_row[2]["id"], "annie", "tie"),
        ("left", every_row[1]["id"], "bert", "right"),
        ("right", every_row[2]["id"], "bert", "left"),
    ]
    assert [v["side"] for v in every_row[2]["comparisons"]] == ["left", "left"]
    assert arena.pk in {p["id"] for p in first["projects"]}
    assert {v["annotator"] for row in masked for v in row["comparisons"]} == {
        pseudonym("annie"),
        pseudonym("bert"),
    }
