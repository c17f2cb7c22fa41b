from __future__ import annotations

import base64
import io

import pytest
from django.core.management import CommandError, call_command

from annotate.datasets.models import Dataset
from inference.actions import create_run
from inference.models import GenerationStatus
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


def upload(content: bytes, name: str = "p.jsonl") -> io.BytesIO:
    f = io.BytesIO(content)
    f.name = name
    return f


def test_the_api_requires_authentication(client):
    assert client.get("/api/datasets").status_code == 401


def test_scripts_authenticate_with_basic_auth(client, owner, demo_model_path):
    token = base64.b64encode(b"owner:pw-owner-123").decode()
    auth = {"HTTP_AUTHORIZATION": f"Basic {token}"}
    assert client.get("/api/datasets", **auth).status_code == 200
    # A script posts without a CSRF token: Basic auth needs none (enforce_csrf_checks is on).
    strict = type(client)(enforce_csrf_checks=True)
    created = strict.post(
        "/api/models",
        {"name": "m", "backend": "mlx", "model": str(demo_model_path)},
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201, created.content
    wrong = base64.b64encode(b"owner:nope").decode()
    assert client.get("/api/datasets", HTTP_AUTHORIZATION=f"Basic {wrong}").status_code == 401


def test_import_create_a_run_and_read_it_back(
    owner_client, demo_model_path, django_capture_on_commit_callbacks
):
    response = owner_client.post(
        "/api/datasets",
        {
            "file": upload(b'{"prompt": "a"}\n{"instruction": "b", "input": "c", "output": "d"}\n'),
            "name": "two",
        },
    )
    assert response.status_code == 201, response.content
    dataset = response.json()
    assert dataset["item_count"] == 2
    items = owner_client.get(f"/api/datasets/{dataset['id']}/items").json()
    assert items["count"] == 2 and items["items"][1]["reference"] == "d"

    config = owner_client.post(
        "/api/models",
        {
            "name": "demo",
            "backend": "mlx",
            "model": str(demo_model_path),
            "max_tokens": 16,
        },
        content_type="application/json",
    )
    assert config.status_code == 201, config.content
    with django_capture_on_commit_callbacks(execute=False):
        run = owner_client.post(
            "/api/runs",
            {
                "dataset_id": dataset["id"],
                "model_config_id": config.json()["id"],
                "samples_per_prompt": 3,
            },
            content_type="application/json",
        )
    assert run.status_code == 201, run.content
    body = run.json()
    assert body["status"] == "queued" and body["progress"]["total"] == 6
    assert body["progress"]["pending"] == 6

    gens = owner_client.get(f"/api/runs/{body['id']}/generations?status=pending&limit=4").json()
    assert gens["count"] == 6 and len(gens["items"]) == 4

    cancelled = owner_client.post(f"/api/runs/{body['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["progress"]["cancelled"] == 6
    again = owner_client.post(f"/api/runs/{body['id']}/cancel")
    assert again.status_code == 409 and "not running" in again.json()["detail"]
    assert owner_client.get(f"/api/runs/{body['id']}/generations?status=bogus").status_code == 422
    assert GenerationStatus.CANCELLED == "cancelled"


def test_a_bad_file_is_refused_with_its_line_numbers(owner_client):
    response = owner_client.post("/api/datasets", {"file": upload(b'{"prompt": "a"}\n[1]\n')})
    assert response.status_code == 400
    assert response.json()["errors"] == ["line 2: expected a JSON object, not list"]
    assert not Dataset.objects.exists()


def test_payloads_refuse_unknown_fields_and_unknown_backends(owner_client):
    extra = owner_client.post(
        "/api/models",
        {"name": "x", "backend": "mlx", "model": "m", "colour": "red"},
        content_type="application/json",
    )
    assert extra.status_code == 422
    unknown = owner_client.post(
        "/api/models",
        {"name": "x", "backend": "gpt9", "model": "m"},
        content_type="application/json",
    )
    assert unknown.status_code == 422 and "Unknown backend 'gpt9'" in unknown.json()["detail"]


def test_model_configurations_are_read_and_replaced_runs_keep_their_settings(
    owner_client, owner, mlx_config
):

    run = create_run(owner, make_dataset(owner, 1).pk, mlx_config.pk)
    url = f"/api/models/{mlx_config.pk}"
    body = {**owner_client.get(url).json(), "max_tokens": 99, "temperature": 0.1}
    body.pop("id")
    replaced = owner_client.put(url, body, content_type="application/json")
    assert replaced.status_code == 200, replaced.content
    assert (replaced.json()["max_tokens"], replaced.json()["temperature"]) == (99, 0.1)
    run.refresh_from_db()
    assert run.params["max_tokens"] == 24  # the run keeps what it started with
    owner_client.post("/api/models", {**body, "name": "other"}, content_type="application/json")
    clash = owner_client.put(url, {**body, "name": "other"}, content_type="application/json")
    assert clash.status_code == 409
    assert owner_client.get("/api/models/999999").status_code == 404


def test_the_import_command_imports_or_names_the_bad_line(owner, tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    call_command("import_dataset", str(good), "--owner", "owner", "--name", "cli")
    assert "Imported 2 items" in capsys.readouterr().out
    assert Dataset.objects.get(name="cli").items.count() == 2
    bad = tmp_path / "bad.csv"
    bad.write_text('prompt\nok\n"unterminated\n')
    with pytest.raises(CommandError, match="line"):
        call_command("import_dataset", str(bad), "--owner", "owner")
    assert Dataset.objects.count() == 1


def test_pages_are_bounded(owner_client):
    assert owner_client.get("/api/runs?offset=87796072248932311108397857505280").status_code == 422
    assert owner_client.get("/api/runs?limit=5000").status_code == 422
    assert owner_client.get("/api/runs?limit=10&offset=5").status_code == 200
