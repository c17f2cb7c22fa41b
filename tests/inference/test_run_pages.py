from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest

from annotate.datasets.models import Dataset
from inference.actions import create_run
from inference.models import Generation, GenerationStatus, ModelConfig, RunStatus
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db
HOSTILE = (
    '<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
)


@pytest.fixture
def run(owner, mlx_config, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return create_run(owner, make_dataset(owner, 3).pk, mlx_config.pk)


def test_every_page_requires_login(client, run):
    for url in (
        "/",
        "/datasets/",
        f"/runs/{run.pk}/",
        f"/runs/{run.pk}/generations/",
        "/models/",
        "/runs/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_an_output_holding_script_renders_inert(owner_client, run):
    g = run.generations.first()
    Generation.objects.filter(pk=g.pk).update(status=GenerationStatus.DONE, output=HOSTILE)
    for url in (f"/generations/{g.pk}/", f"/runs/{run.pk}/generations/"):
        html = owner_client.get(url).content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert 'href="javascript:' not in html


def test_the_progress_fragment_polls_while_active_and_stops_when_done(owner_client, run):
    fragment = owner_client.get(f"/runs/{run.pk}/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert 'hx-trigger="every 1s"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    run.generations.update(status=GenerationStatus.DONE, output_tokens=10)
    run.status = RunStatus.COMPLETED
    run.save()
    fragment = owner_client.get(f"/runs/{run.pk}/", headers={"HX-Request": "true"})
    assert fragment.status_code == 286  # htmx: stop polling
    assert "3 / 3 done" in fragment.content.decode()


def test_only_the_runs_creator_can_cancel_it(client, outsider, run):
    client.force_login(outsider)
    assert client.post(f"/runs/{run.pk}/cancel/").status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_a_stalled_run_says_so_and_offers_resume(owner_client, run, settings):
    run.last_activity_at = run.created_at.replace(year=2000)
    run.save()
    html = owner_client.get(f"/runs/{run.pk}/").content.decode()
    assert "No worker has worked on this run" in html
    assert "celery -A annotate worker -Q mlx --pool solo" in html
    assert f'action="/runs/{run.pk}/resume/"' in html


def test_the_import_form_reports_the_bad_line_and_imports_nothing(owner_client):
    bad = io.BytesIO(b'{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": oops}\n')
    bad.name = "bad.jsonl"
    response = owner_client.post("/datasets/import/", {"file": bad, "name": "x"})
    assert response.status_code == 400
    assert "line 3: not valid JSON" in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_user_imports_a_file_and_starts_a_run(
    owner_client, mlx_config, django_capture_on_commit_callbacks
):
    upload = io.BytesIO(b"prompt,topic\nHello,greeting\nBye,farewell\n")
    upload.name = "two.csv"
    response = owner_client.post("/datasets/import/", {"file": upload})
    dataset = Dataset.objects.get()
    assert response["Location"] == f"/datasets/{dataset.pk}/"
    page = owner_client.get(response["Location"]).content.decode()
    assert "Hello" in page and "topic=greeting" in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(
            "/runs/new/",
            {"dataset": dataset.pk, "model_config": mlx_config.pk, "samples_per_prompt": 2},
        )
    run = dataset.runs.get()
    assert response["Location"] == f"/runs/{run.pk}/"
    assert run.total == 4 and len(callbacks) == 1  # the task is enqueued once, after commit


def test_a_model_configuration_is_created_in_the_browser(owner_client, demo_model_path):
    response = owner_client.post(
        "/models/new/",
        {
            "name": "greedy",
            "backend": "mlx",
            "model": str(demo_model_path),
            "max_tokens": 64,
            "batch_size": 4,
            "temperature": "0",
            "stop": "```\n\nEND",
            "hourly_usd": "0.60",
        },
    )
    assert response.status_code == 302
    config = ModelConfig.objects.get(name="greedy")
    assert config.stop == ["```", "END"] and config.temperature == 0
    bad = owner_client.post(
        "/models/new/",
        {
            "name": "hot",
            "backend": "mlx",
            "model": "m",
            "max_tokens": 64,
            "batch_size": 4,
            "temperature": "5",
            "hourly_usd": "0",
        },
    )
    assert bad.status_code == 400 and "Temperature goes from 0 to 2" in bad.content.decode()


def test_a_hosted_configuration_is_made_in_the_browser_and_routes_to_its_queue(
    owner_client, django_capture_on_commit_callbacks, settings
):
    settings.HOSTED_KEY_VARIABLES += " TEAM_KEY=http://127.0.0.1:9"  # the operator allows it
    response = owner_client.post(
        "/models/new/",
        {
            "name": "sonnet-batch",
            "backend": "anthropic",
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "concurrency": 8,
            "mode": "batch",
            "api_key_env": "TEAM_KEY",
            "base_url": "http://127.0.0.1:9/",
            "queue": "api.team",
            "hourly_usd": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    config = ModelConfig.objects.get(name="sonnet-batch")
    assert (config.mode, config.api_key_env, config.queue) == ("batch", "TEAM_KEY", "api.team")
    assert config.params()["queue"] == "api.team"
    leaked = owner_client.post(
        "/models/new/",
        {
            "name": "bad",
            "backend": "anthropic",
            "model": "m",
            "max_tokens": 1,
            "concurrency": 1,
            "mode": "stream",
            "api_key_env": "sk-ant-secret",
            "hourly_usd": "0",
        },
    )
    assert leaked.status_code == 400 and "not a key" in leaked.content.decode()


def _cost(html: str) -> str:
    return re.search(r'data-figure="cost">(.*?)</dd>', html, re.S)[1].strip()


def test_a_runs_cost_is_a_dash_before_any_output_and_a_tiny_one_is_shown_in_full(owner_client, run):
    # Nothing done yet: no cost to show (not "$0.0000", which then turned into "no price").
    assert _cost(owner_client.get(f"/runs/{run.pk}/").content.decode()) == "—"
    # Three outputs at $0.0000017 each (a second of a 40 W Mac at $0.30/kWh is $0.0000033):
    # $0.0000051, which four decimals showed as "$0.0000", as if free.
    run.generations.update(status=GenerationStatus.DONE, cost_usd=Decimal("0.0000017"))
    assert _cost(owner_client.get(f"/runs/{run.pk}/").content.decode()) == "$0.0000051"
    g = run.generations.first()
    assert "$0.0000017" in owner_client.get(f"/generations/{g.pk}/").content.decode()
    matrix = owner_client.get(f"/datasets/{run.dataset_id}/matrix/").content.decode()
    assert matrix.count("· $0.0000017") == 3


def test_the_configuration_forms_labels_read_as_words_not_field_names(owner_client):
    page = owner_client.get("/models/new/").content.decode()
    labels = dict(re.findall(r'<label for="id_(\w+)">(.*?):</label>', page))
    assert labels["hourly_usd"] == "Hourly price (USD)"
    assert labels["kwh_usd"] == "Electricity (USD per kWh)"
    assert labels["api_key_env"] == "API key variable"
    assert labels["cold_start_s"] == "Cold start (seconds)"
    assert labels["min_billed_s"] == "Minimum billed (seconds)"
    assert labels["route_ttft_s"] == "Route when the first token takes over (seconds)"
    for field_name in ("Hourly usd", "Kwh usd", "Api key env", "Route ttft s", "Min billed s"):
        assert field_name not in page
