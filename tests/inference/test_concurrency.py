"""`batch_size` is sequences generated together by a local backend; `concurrency` is requests
in flight to a hosted API. Older runs and exports kept the latter in `batch_size`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from annotate.datasets.importing import import_dataset
from annotate.datasets.models import Dataset
from annotate.exports.models import Export
from annotate.exports.rows import run_export
from annotate.labeling.models import Project
from inference.actions import create_run
from inference.models import Generation, ModelConfig, Run
from tests.conftest import make_dataset, make_project

BEFORE = [("annotate", "0011_manage_generation_permission")]


def hosted(owner, **fields) -> ModelConfig:
    defaults = dict(name="haiku", backend="anthropic", model="claude-haiku-4-5", owner=owner)
    return ModelConfig.objects.create(**{**defaults, **fields})


@pytest.mark.django_db
def test_pages_say_batch_for_local_and_concurrency_for_hosted(
    owner_client, owner, mlx_config, django_capture_on_commit_callbacks
):
    mlx_config.batch_size = 4
    mlx_config.save()
    config = hosted(owner, batch_size=2, concurrency=16)
    page = owner_client.get("/models/").content.decode()
    assert "batch 4" in page and "concurrency 16" in page
    with django_capture_on_commit_callbacks(execute=False):
        run = create_run(owner, make_dataset(owner, 2).pk, config.pk)
        local = create_run(owner, make_dataset(owner, 2).pk, mlx_config.pk)
    assert "concurrency 16" in owner_client.get(f"/runs/{run.pk}/").content.decode()
    assert "batch 4" in owner_client.get(f"/runs/{local.pk}/").content.decode()
    older = {key: value for key, value in run.params.items() if key != "concurrency"}
    Run.objects.filter(pk=run.pk).update(params={**older, "batch_size": 3})
    assert "concurrency 3" in owner_client.get(f"/runs/{run.pk}/").content.decode()


@pytest.mark.django_db
def test_the_form_shows_both_and_each_may_be_left_empty(owner_client):
    page = owner_client.get("/models/new/").content.decode()
    assert "Sequences generated together (local backends)." in page
    assert "Requests in flight at once (hosted APIs)." in page
    response = owner_client.post(
        "/models/new/",
        {
            "name": "api",
            "backend": "openai",
            "model": "m",
            "max_tokens": 8,
            "concurrency": 32,
            "hourly_usd": "0",
        },
    )
    assert response.status_code == 302
    config = ModelConfig.objects.get(name="api")
    assert (config.concurrency, config.batch_size) == (32, 8)
    assert config.params()["concurrency"] == 32


@pytest.mark.django_db
def test_an_older_export_of_a_hosted_run_brings_back_its_concurrency(owner, mlx_config):
    project = make_project(owner, mlx_config, n=2)
    exported = Path(run_export(_export(owner, project)).path).read_text()
    rows = [json.loads(line) for line in exported.splitlines()]
    for row in rows:  # as exported before concurrency had its name
        params = row["generation"]["params"]
        params.pop("concurrency")
        params.update(backend="anthropic", model="claude-haiku-4-5", batch_size=12)
    Project.objects.all().delete()
    Generation.objects.all().delete()
    Run.objects.all().delete()
    ModelConfig.objects.all().delete()
    Dataset.objects.all().delete()
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    import_dataset(io.BytesIO(body), "old.jsonl", "old", owner)
    config = ModelConfig.objects.get()
    assert (config.backend, config.concurrency, config.batch_size) == ("anthropic", 12, 12)
    assert Run.objects.get().in_flight() == "concurrency 12"


def _export(owner, project) -> Export:
    return Export.objects.create(owner=owner, format="jsonl", filters={"project": project.pk})


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_a_hosted_batch_size_into_concurrency_and_back(django_user_model):
    MigrationExecutor(connection).migrate(BEFORE)
    try:
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        OldConfig = old.get_model("annotate", "ModelConfig")
        owner_id = django_user_model.objects.create_user("olga").pk
        for name, backend, size in (("api", "anthropic", 16), ("compat", "openai", 3)):
            OldConfig.objects.create(
                name=name, backend=backend, model="m", batch_size=size, owner_id=owner_id
            )
        OldConfig.objects.create(
            name="local", backend="mlx", model="m", batch_size=4, owner_id=owner_id
        )
    finally:
        latest = MigrationExecutor(connection).loader.graph.leaf_nodes("annotate")
        MigrationExecutor(connection).migrate(latest)
    sizes = {c.name: (c.batch_size, c.concurrency) for c in ModelConfig.objects.all()}
    assert sizes == {"api": (16, 16), "compat": (3, 3), "local": (4, 8)}

    ModelConfig.objects.filter(name="api").update(concurrency=24)
    MigrationExecutor(connection).migrate(BEFORE)
    try:
        assert dict(OldConfig.objects.values_list("name", "batch_size")) == {
            "api": 24,
            "compat": 3,
            "local": 4,
        }
    finally:
        MigrationExecutor(connection).migrate(latest)
    assert ModelConfig.objects.count() == 3


@pytest.mark.django_db
def test_the_api_takes_concurrency_beside_batch_size(owner_client):
    body = {"name": "api", "backend": "anthropic", "model": "m", "concurrency": 24}
    response = owner_client.post("/api/models", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert (response.json()["concurrency"], response.json()["batch_size"]) == (24, 8)
