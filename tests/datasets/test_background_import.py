"""Issue 15: an upload above IMPORT_INLINE_MAX_BYTES is imported by a real worker, not in the
request: through the API (202, then poll) and the page (a progress page), all or nothing, its
stored file gone when it ends; who may start and see one."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotate.accounts.models import ApiToken
from annotate.datasets import actions, importing, jobs
from annotate.datasets.models import Dataset, ImportJob, Item
from inference.models import Generation, Run

LINES = 3000
INLINE_MAX = 10_000  # bytes: the large files below are over 20 times that


def prompts_file(n: int = LINES, bad: dict[int, str] | None = None) -> bytes:
    """JSON lines of prompts; `bad` replaces lines (numbered from 1) by the text given."""
    lines = [
        json.dumps({"id": f"q{i}", "prompt": f"Question {i}: what is {i} + {i}?", "sum": i * 2})
        for i in range(n)
    ]
    for number, text in (bad or {}).items():
        lines[number - 1] = text
    return ("\n".join(lines) + "\n").encode()


def outputs_file(n: int = LINES, bad: dict[int, str] | None = None) -> bytes:
    """Outputs made elsewhere: two models' answers a record (each model becomes a run)."""
    lines = [
        json.dumps(
            {
                "id": f"q{i}",
                "prompt": f"Capital number {i}?",
                "outputs": [
                    {"model": "alpha", "output": f"A{i}"},
                    {"model": "beta", "output": "B"},
                ],
            }
        )
        for i in range(n)
    ]
    for number, text in (bad or {}).items():
        lines[number - 1] = text
    return ("\n".join(lines) + "\n").encode()


def stored_uploads() -> list[Path]:
    return sorted((Path(settings.VAR_DIR) / "imports").glob("*"))


def stored_files(job_id: int) -> list[Path]:
    """The job's upload and progress file that are still on disk."""
    upload = Path(ImportJob.objects.get(pk=job_id).path)
    return [p for p in (upload, Path(f"{upload}.progress")) if p.exists()]


def poll(get, url: str, seen: list | None = None, **headers) -> dict:
    """GET the job's API URL until it ends; every answer must be a 200. `seen` collects the
    percents polled."""
    deadline, body = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        response = get(url, **headers)
        assert response.status_code == 200, response.content
        body = response.json()
        if seen is not None:
            seen.append(body["percent"])
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"the import did not end: {body}")


@pytest.fixture
def api_auth(owner) -> dict:
    _, token = ApiToken.issue(owner, "importer")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def low_threshold(settings):
    settings.IMPORT_INLINE_MAX_BYTES = INLINE_MAX


# --- with a real worker -------------------------------------------------------------------


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_large_file_imports_in_the_background_through_the_api(owner, api_auth, start_worker):
    data = prompts_file()
    assert len(data) > 20 * INLINE_MAX
    start_worker()
    api = Client()
    made = api.post(
        "/api/datasets",
        {"file": SimpleUploadedFile("big.jsonl", data), "name": "Big one"},
        **api_auth,
    )
    assert made.status_code == 202, made.content
    job = made.json()
    assert (job["status"], job["bytes_total"], job["dataset_id"]) == ("queued", len(data), None)
    assert job["url"] == f"/api/imports/{job['id']}"

    seen: list[int] = []
    body = poll(api.get, job["url"], seen, **api_auth)
    assert (body["status"], body["errors"]) == ("done", []), body
    assert seen == sorted(seen) and seen[-1] == 100  # progress only goes forward
    assert (body["percent"], body["bytes_read"], body["bytes_total"]) == (100, len(data), len(data))
    assert body["summary"] == f"Imported {LINES} items from big.jsonl."
    assert body["finished_at"] is not None

    # The dataset holds the file's records, as json reads them line by line.
    expected = [json.loads(line) for line in data.decode().splitlines()]
    dataset = Dataset.objects.get(pk=body["dataset_id"])
    assert (dataset.name, dataset.owner, dataset.source_filename) == ("Big one", owner, "big.jsonl")
    items = list(Item.objects.filter(dataset=dataset).order_by("index"))
    assert len(items) == len(expected) == LINES
    for index in (0, 1234, LINES - 1):
        record, item = expected[index], items[index]
        assert (item.external_id, item.prompt) == (record["id"], record["prompt"])
        assert item.messages == [{"role": "user", "content": record["prompt"]}]
        assert item.metadata == {"sum": record["sum"]}

    listed = api.get("/api/imports", **api_auth).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    assert stored_files(job["id"]) == []  # the upload and its progress file went with the job


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_large_file_imports_in_the_background_through_the_page(owner, start_worker):
    data = prompts_file()
    start_worker()
    browser = Client()
    browser.force_login(owner)
    sent = browser.post(
        "/datasets/import/", {"file": SimpleUploadedFile("page.jsonl", data), "name": "Paged"}
    )
    assert sent.status_code == 302
    url = sent.url
    assert re.fullmatch(r"/datasets/imports/\d+/", url)
    page = browser.get(url).content.decode()
    assert "<progress" in page and "page.jsonl" in page and 'hx-trigger="every 1s"' in page

    deadline = time.monotonic() + 120
    while (polled := browser.get(url, HTTP_HX_REQUEST="true")).status_code == 200:
        assert time.monotonic() < deadline, "the import did not end"
        time.sleep(0.1)
    assert polled.status_code == 286  # htmx stops polling
    dataset = Dataset.objects.get(name="Paged")
    fragment = polled.content.decode()
    assert 'value="100"' in fragment and "hx-get" not in fragment
    assert f'href="/datasets/{dataset.pk}/"' in fragment
    assert f"Imported {LINES} items from page.jsonl." in fragment
    assert dataset.items.count() == len(data.decode().splitlines())

    listing = browser.get("/datasets/").content.decode()
    assert f'href="{url}"' in listing  # the datasets page lists one's imports
    assert stored_files(int(url.split("/")[-2])) == []


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_bad_file_fails_with_its_lines_and_leaves_nothing(owner, api_auth, start_worker):
    # Outputs made elsewhere: the bad lines come after runs and outputs were written.
    data = outputs_file(bad={1500: "{not json", 2900: json.dumps({"prompt": "x", "outputs": []})})
    start_worker()
    api = Client()
    made = api.post(
        "/api/datasets",
        {"file": SimpleUploadedFile("outputs.jsonl", data), "project_kind": "compare"},
        **api_auth,
    )
    assert made.status_code == 202, made.content

    body = poll(api.get, made.json()["url"], **api_auth)
    assert (body["status"], body["total_errors"], body["unit"]) == ("failed", 2, "line")
    assert [e.split(":")[0] for e in body["errors"]] == ["line 1500", "line 2900"]
    assert body["dataset_id"] is None and body["percent"] < 100
    counts = (Dataset.objects.count(), Item.objects.count(), Run.objects.count())
    assert counts == (0, 0, 0)
    assert Generation.objects.count() == 0
    assert stored_files(body["id"]) == []

    browser = Client()
    browser.force_login(owner)
    page = browser.get(f"/datasets/imports/{body['id']}/").content.decode()
    assert "Nothing was imported: 2 bad lines." in page and "line 1500: " in page


# --- who may start and see one (no worker: nothing is run) ------------------------------


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db
def test_another_user_gets_404_on_the_job(owner, django_user_model):
    job = actions.start_import(owner, io.BytesIO(prompts_file()), "big.jsonl", 10**6)
    someone = django_user_model.objects.create_user("someone", password="pw-someone-1")
    _, token = ApiToken.issue(someone, "t")
    api = Client()
    assert (
        api.get(f"/api/imports/{job.pk}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404
    )
    assert api.get("/api/imports", HTTP_AUTHORIZATION=f"Bearer {token}").json()["items"] == []
    api.force_login(someone)
    assert api.get(f"/datasets/imports/{job.pk}/").status_code == 404
    api.force_login(owner)
    assert api.get(f"/datasets/imports/{job.pk}/").status_code == 200
    Path(job.path).unlink()


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db
def test_a_non_manager_gets_403_and_no_job(annotator, owner):
    before = stored_uploads()  # another test's job may have left its upload queued
    _, token = ApiToken.issue(annotator, "t")
    big = SimpleUploadedFile("big.jsonl", prompts_file())
    api = Client()
    answer = api.post("/api/datasets", {"file": big}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 403
    api.force_login(annotator)
    big.seek(0)
    assert api.post("/datasets/import/", {"file": big}).status_code == 403
    # A manager who is no superuser may not keep an export's authors: refused before storing.
    _, token = ApiToken.issue(owner, "t")
    big.seek(0)
    kept = {"file": big, "keep_authors": "true"}
    assert api.post("/api/datasets", kept, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    assert ImportJob.objects.count() == 0
    assert stored_uploads() == before


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db
def test_a_small_file_still_imports_in_the_request(owner, api_auth):
    small = prompts_file(n=20)
    assert len(small) < INLINE_MAX
    made = Client().post(
        "/api/datasets", {"file": SimpleUploadedFile("s.jsonl", small)}, **api_auth
    )
    assert made.status_code == 201, made.content
    assert made.json()["item_count"] == 20
    assert ImportJob.objects.count() == 0


# --- the task's body, called directly -----------------------------------------------------


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db
def test_the_task_body_skips_ended_jobs_and_restarts_a_running_one(owner):
    job = actions.start_import(owner, io.BytesIO(prompts_file(n=500)), "r.jsonl", 10**6)
    assert job.status == "queued" and Path(job.path).is_file()
    ImportJob.objects.filter(pk=job.pk).update(status="running")  # its worker died
    done = jobs.run_import_job(job.pk)
    assert done.status == "done" and done.dataset.items.count() == 500
    assert not Path(job.path).exists() and not done.progress_path.exists()
    assert jobs.run_import_job(job.pk) is None  # delivered again: left alone
    assert Dataset.objects.count() == 1


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db
def test_an_unexpected_error_fails_the_job_with_a_generic_message(owner, caplog):
    job = actions.start_import(owner, io.BytesIO(prompts_file(n=50)), "e.jsonl", 10**6)
    boom = RuntimeError("password=hunter2 in a traceback")
    with mock.patch.object(importing, "import_dataset", autospec=True, side_effect=boom):
        failed = jobs.run_import_job(job.pk)
    assert failed.status == "failed" and failed.errors == [jobs.UNEXPECTED]
    assert "hunter2" not in json.dumps(failed.errors)
    assert "import job" in caplog.text  # logged for the admin
    assert not Path(job.path).exists()
    assert Dataset.objects.count() == 0


@pytest.mark.usefixtures("low_threshold")
@pytest.mark.django_db(transaction=True)
def test_a_broker_that_cannot_be_reached_fails_the_job_with_a_reason_not_a_500(owner, api_auth):
    from kombu.exceptions import OperationalError

    from annotate.datasets.tasks import import_task

    refused = OperationalError("[Errno 111] Connection refused")
    before = stored_uploads()  # another test's job may have left its upload queued
    with mock.patch.object(import_task, "apply_async", side_effect=refused):
        answer = Client().post(
            "/api/datasets", {"file": SimpleUploadedFile("big.jsonl", prompts_file())}, **api_auth
        )
    assert answer.status_code == 202, answer.content
    job = ImportJob.objects.get()
    assert job.status == "failed" and "task queue could not be reached" in job.errors[0]
    shown = Client().get(f"/api/imports/{job.pk}", **api_auth).json()
    assert shown["status"] == "failed" and shown["errors"] == job.errors
    assert stored_uploads() == before  # the upload no worker will read is gone
    assert Dataset.objects.count() == 0
