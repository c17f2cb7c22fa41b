"""Import of outputs made elsewhere: a completed run per model, through the action, the
page, the API and the command, optionally with its project."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.datasets.actions import import_dataset
from annotate.datasets.models import Dataset
from annotate.datasets.records import ImportFailed
from annotate.exports.models import Export
from annotate.exports.rows import run_export
from annotate.labeling.models import Project, Task
from inference.actions import create_run, resume_run, retry_failed
from inference.errors import Conflict
from inference.models import Generation, GenerationStatus, Run, RunStatus
from tests.conftest import join

pytestmark = pytest.mark.django_db

ROWS = [
    {
        "id": "q1",
        "prompt": "Capital of France?",
        "outputs": [
            {
                "model": "gpt-x",
                "output": "Paris.",
                "latency_s": 1.25,
                "ttft_s": 0.5,
                "prompt_tokens": 7,
                "output_tokens": 2,
                "cost_usd": 0.00012,
            },
            {"model": "claude-y", "output": "It is Paris.", "latency_s": 0.75},
        ],
    },
    {
        "messages": [
            {"role": "system", "content": "Be terse"},
            {"role": "user", "content": "2+2? é"},
        ],
        "outputs": [
            {"model": "claude-y", "output": "4"},
            {"model": "gpt-x", "output": "Four \u2014 4", "output_tokens": 3},
        ],
    },
    {
        "prompt": "Say hi",
        "outputs": [{"model": "gpt-x", "output": "hi"}, {"model": "claude-y", "output": "Hello!"}],
    },
]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def stored(dataset: Dataset) -> dict:
    """{(item index, model): (output, latency, ttft, prompt tokens, output tokens, cost)}"""
    gens = Generation.objects.filter(run__dataset=dataset).select_related("item", "run")
    return {
        (g.item.index, g.run.params["model"]): (
            g.output,
            g.latency_s,
            g.ttft_s,
            g.prompt_tokens,
            g.output_tokens,
            g.cost_usd,
        )
        for g in gens
    }


def expected(rows) -> dict:
    """The same, parsed with the json module alone."""
    out = {}
    for index, row in enumerate(json.loads(json.dumps(rows))):
        for a in row["outputs"]:
            cost = a.get("cost_usd")
            out[(index, a["model"])] = (
                a["output"],
                a.get("latency_s"),
                a.get("ttft_s"),
                a.get("prompt_tokens"),
                a.get("output_tokens"),
                None if cost is None else Decimal(str(cost)),
            )
    return out


def test_it_makes_a_completed_run_per_model_with_every_output_and_measure(owner):
    dataset = import_dataset(owner, io.BytesIO(jsonl(ROWS)), "evals.jsonl")
    assert stored(dataset) == expected(ROWS)
    assert [i.prompt for i in dataset.items.order_by("index")] == [
        "Capital of France?",
        "2+2? é",
        "Say hi",
    ]
    assert dataset.items.get(index=0).external_id == "q1"
    assert dataset.items.get(index=1).messages[0] == {"role": "system", "content": "Be terse"}
    runs = Run.objects.filter(dataset=dataset)
    assert sorted(r.params["model"] for r in runs) == ["claude-y", "gpt-x"]
    for run in runs:
        assert run.status == RunStatus.COMPLETED and run.total == 3
        assert run.params["backend"] == "imported"
        assert run.params["imported_from"] == "evals.jsonl"
        assert run.params["imported_by"] == "owner" and run.params["imported_at"]
        assert run.progress().done == 3


def test_an_imported_run_is_never_sent_to_a_worker(owner):
    dataset = import_dataset(owner, io.BytesIO(jsonl(ROWS)), "evals.jsonl")
    run = dataset.runs.first()
    run.generations.filter(item__index=0).update(status=GenerationStatus.FAILED)
    with pytest.raises(Conflict, match="never generated"):
        retry_failed(owner, run.pk)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
    run.generations.filter(item__index=0).update(status=GenerationStatus.CANCELLED)
    with pytest.raises(Conflict, match="never generated"):
        resume_run(owner, run.pk)
    with pytest.raises(Conflict, match="never generated"):
        create_run(owner, dataset.pk, run.model_config_id)
    assert not run.generations.filter(status=GenerationStatus.PENDING).exists()
    assert Run.objects.count() == 2


def test_the_flat_and_pair_shapes_give_the_same_runs(owner):
    flat = [
        {"prompt": "A?", "model": "m1", "output": "a1", "latency_s": 2.0},
        {"prompt": "B?", "model": "m1", "output": "b1"},
        {"prompt": "A?", "model": "m2", "output": "a2"},
    ]
    dataset = import_dataset(owner, io.BytesIO(jsonl(flat)), "flat.jsonl")
    assert stored(dataset) == {
        (0, "m1"): ("a1", 2.0, None, None, None, None),
        (1, "m1"): ("b1", None, None, None, None, None),
        (0, "m2"): ("a2", None, None, None, None, None),
    }
    assert dataset.items.count() == 2 and dataset.items.get(index=0).reference == ""
    pair = [
        {
            "prompt": "A?",
            "response_a": "x",
            "response_b": "y",
            "model_a": "m1",
            "model_b": "m2",
            "lang": "en",
        }
    ]
    dataset = import_dataset(owner, io.BytesIO(jsonl(pair)), "pair.jsonl")
    assert stored(dataset) == {
        (0, "m1"): ("x", None, None, None, None, None),
        (0, "m2"): ("y", None, None, None, None, None),
    }
    assert dataset.items.get().metadata == {"lang": "en"}


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"prompt": "Q", "outputs": [{"model": "m", "output": 3}]}, "outputs[0].output"),
        (
            {"prompt": "Q", "outputs": [{"model": "m", "output": "x", "latency_s": -1}]},
            "outputs[0].latency_s",
        ),
        (
            {"prompt": "Q", "outputs": [{"model": "m", "output": "x", "latency": 1}]},
            "unknown fields: latency",
        ),
        (
            {
                "prompt": "Q",
                "outputs": [{"model": "m", "output": "x"}, {"model": "m", "output": "y"}],
            },
            "two answers of the same model",
        ),
        ({"prompt": "Q", "outputs": [{"output": "x"}]}, "outputs[0].model"),
        ({"prompt": "Q"}, "expected the outputs layout"),
        ({"prompt": "Q", "outputs": [{"model": "m", "output": "a\u0000b"}]}, "NUL"),
        # lines orjson refuses, read again by json to say why
        ({"prompt": "Q", "outputs": [{"model": "m", "output": "\ud800"}]}, "lone surrogate"),
        (
            {"prompt": "Q", "outputs": [{"model": "m", "output": "x", "ttft_s": float("nan")}]},
            "`outputs[0].ttft_s` must be a finite number",
        ),
    ],
)
def test_a_bad_answer_names_its_line_and_nothing_is_imported(owner, bad, why):
    with pytest.raises(ImportFailed) as failed:
        import_dataset(owner, io.BytesIO(jsonl([*ROWS, bad])), "evals.jsonl")
    assert failed.value.errors[0].startswith("line 4: ") and why in failed.value.errors[0]
    assert not Dataset.objects.exists() and not Run.objects.exists()
    assert not Generation.objects.exists()


def test_numbers_come_back_as_the_file_wrote_them(owner):
    # orjson would read an integer beyond 64 bits as a float: such a line goes to json
    big, row = 12345678901234567890123, ROWS[2]
    rows = [{**row, "big": big, "small": -(2**63), "x": 0.1}]
    dataset = import_dataset(owner, io.BytesIO(jsonl(rows)), "evals.jsonl")
    metadata = dataset.items.get().metadata
    assert metadata == {"big": big, "small": -(2**63), "x": 0.1}
    assert type(metadata["big"]) is int


def test_a_compare_project_made_in_the_same_request_can_be_voted_on(client, owner, annotator):
    dataset = import_dataset(
        owner,
        io.BytesIO(jsonl(ROWS)),
        "evals.jsonl",
        project_kind="compare",
        project_name="Arena",
    )
    project = Project.objects.get(pk=dataset.imported.project_id)
    assert project.name == "Arena" and project.kind == "compare"
    pairs = Task.objects.filter(project=project).values_list(
        "generation__item__index",
        "generation__run__params__model",
        "generation_b__item__index",
        "generation_b__run__params__model",
    )
    assert sorted((a, sorted((m, n))) for a, m, b, n in pairs if a == b) == [
        (i, ["claude-y", "gpt-x"]) for i in range(3)
    ]
    assert len(pairs) == 3
    join(project, annotator)
    client.force_login(annotator)
    task_page = client.get(f"/projects/{project.pk}/next/")["Location"]
    assert "Which answer is better?" in client.get(task_page).content.decode()
    assert client.post(task_page, {"verdict": "left"}).status_code == 302
    assert project.tasks.filter(submitted=1).count() == 1


def test_a_project_needs_a_file_of_outputs(owner):
    with pytest.raises(ImportFailed, match="only from a file of outputs"):
        import_dataset(owner, io.BytesIO(jsonl([{"prompt": "Q"}])), "p.jsonl", project_kind="label")
    assert not Dataset.objects.exists()


def test_the_api_imports_outputs_and_makes_a_label_project(client, owner):
    client.force_login(owner)
    upload = io.BytesIO(jsonl(ROWS))
    upload.name = "evals.jsonl"
    response = client.post(
        "/api/datasets", {"file": upload, "project_kind": "label", "project_name": "Grade"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["item_count"] == 3 and body["imported"]["outputs"] == 6
    assert set(body["imported"]["runs"]) == {"gpt-x", "claude-y"}
    project = Project.objects.get(pk=body["imported"]["project_id"])
    assert project.name == "Grade" and project.tasks.count() == 6
    assert stored(Dataset.objects.get(pk=body["id"])) == expected(ROWS)


def test_the_api_names_the_bad_line(client, owner):
    client.force_login(owner)
    bad = {"prompt": "Q", "outputs": [{"model": "m", "output": "x", "cost_usd": "1"}]}
    upload = io.BytesIO(jsonl([ROWS[0], bad]))
    upload.name = "evals.jsonl"
    response = client.post("/api/datasets", {"file": upload})
    assert response.status_code == 400
    assert response.json()["errors"][0].startswith("line 2: `outputs[0].cost_usd`")
    assert not Dataset.objects.exists()


def test_the_page_imports_outputs_with_a_compare_project(client, owner):
    client.force_login(owner)
    upload = io.BytesIO(jsonl(ROWS))
    upload.name = "evals.jsonl"
    response = client.post(
        "/datasets/import/", {"file": upload, "project_kind": "compare"}, follow=True
    )
    html = response.content.decode()
    assert "with 6 outputs of 2 models" in html and "made their project" in html
    dataset = Dataset.objects.get()
    assert stored(dataset) == expected(ROWS)
    assert Project.objects.get(kind="compare").tasks.count() == 3


def test_the_command_imports_outputs(owner, tmp_path):
    path = tmp_path / "evals.jsonl"
    path.write_bytes(jsonl(ROWS))
    out = io.StringIO()
    call_command(
        "import_dataset", str(path), "--owner", "owner", "--project-kind", "compare", stdout=out
    )
    assert "with 6 outputs of 2 models" in out.getvalue()
    assert stored(Dataset.objects.get()) == expected(ROWS)
    path.write_bytes(jsonl([ROWS[0], {"prompt": "Q", "outputs": []}]))
    with pytest.raises(CommandError, match="line 2: `outputs` must be a non-empty list"):
        call_command("import_dataset", str(path), "--owner", "owner")


def test_the_pages_show_an_imported_run_and_its_project(client, owner):
    dataset = import_dataset(owner, io.BytesIO(jsonl(ROWS)), "evals.jsonl", project_kind="compare")
    run = dataset.runs.get(params__model="gpt-x")
    client.force_login(owner)
    for url in (
        f"/datasets/{dataset.pk}/",
        "/runs/",
        "/stats/",
        f"/datasets/{dataset.pk}/matrix/",
        f"/projects/{dataset.imported.project_id}/results/",
    ):
        assert client.get(url).status_code == 200, url
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "<dd>gpt-x</dd>" in page and "<dd>imported</dd>" in page
    assert "from evals.jsonl by owner at " in page
    assert client.get(f"/api/runs/{run.pk}").json()["status"] == "completed"


def test_no_configuration_is_made_with_the_imported_backend(client, owner):
    client.force_login(owner)
    fields = {"name": "fake", "backend": "imported", "model": "m"}
    response = client.post("/api/models", fields, content_type="application/json")
    assert response.status_code == 422 and "Unknown backend 'imported'" in response.json()["detail"]
    assert "imported" not in client.get("/models/new/").content.decode()


def test_an_export_of_imported_outputs_imports_again(owner):
    dataset = import_dataset(owner, io.BytesIO(jsonl(ROWS)), "evals.jsonl", project_kind="label")
    export = Export.objects.create(
        owner=owner, format="jsonl", filters={"project": dataset.imported.project_id}
    )
    data = Path(run_export(export).path).read_bytes()
    again = import_dataset(owner, io.BytesIO(data), "export.jsonl")
    assert again.restored.outputs == 6 and again.restored.runs == 2
    assert stored(again) == stored(dataset)
    assert {r.params["backend"] for r in again.runs.all()} == {"imported"}
