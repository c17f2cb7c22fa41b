"""Models on disk (issue 18, item 6): a local configuration names a Hugging Face repository,
which the worker takes from its Hugging Face cache (here a folder laid out as the hub lays its
cache out, holding a copy of the demo model: no network), and fails clearly, naming the
repository and the cache folder, when the model is neither there nor downloadable. The worker's
heartbeat lists the cache's models, which a managers' page shows."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from inference.actions import create_run
from inference.backends import hub
from inference.models import GenerationStatus, ModelConfig, Run, RunStatus, WorkerHeartbeat
from inference.runner import process_run
from inference.watchdog import heartbeat
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db
REVISION = "0123456789abcdef0123456789abcdef01234567"


def add_to_cache(cache: Path, repo: str, source: Path, config_changes: dict | None = None):
    """The hub's cache layout: models--org--name/{blobs/<sha256>, snapshots/<rev>/<file> (a
    link to its blob), refs/main (the revision)}."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "blobs").mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(REVISION)
    snapshot = root / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    for f in sorted(source.iterdir()):
        data = f.read_bytes()
        if f.name == "config.json" and config_changes:
            data = json.dumps(json.loads(data) | config_changes).encode()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    return root


@pytest.fixture
def hub_cache(tmp_path, demo_model_path, monkeypatch) -> Path:
    cache = tmp_path / "hf" / "hub"
    add_to_cache(cache, "annotate-test/demo", Path(demo_model_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_scan", {"at": -1e9, "models": []})
    return cache


def run_of(owner, model: str, capture, name: str):
    config = ModelConfig.objects.create(
        name=name, backend="mlx", model=model, max_tokens=8, batch_size=4, seed=0, owner=owner
    )
    with capture(execute=False):  # no broker: the task's body runs here
        run = create_run(owner, make_dataset(owner, 3).pk, config.pk)
    assert process_run(run.pk, worker="test") is None
    run.refresh_from_db()
    return run


def test_a_repository_in_the_cache_runs_without_the_hub(
    owner, hub_cache, django_capture_on_commit_callbacks
):
    run = run_of(owner, "annotate-test/demo", django_capture_on_commit_callbacks, "from hub")
    assert run.status == RunStatus.COMPLETED, run.error
    gens = list(run.generations.all())
    assert [g.status for g in gens] == [GenerationStatus.DONE] * 3
    assert all(g.output_tokens for g in gens)
    path, downloaded = hub.resolve("annotate-test/demo")
    assert path == hub_cache / "models--annotate-test--demo" / "snapshots" / REVISION
    assert downloaded is False


def test_a_repository_in_no_cache_fails_naming_it_and_the_folder(
    owner, owner_client, hub_cache, django_capture_on_commit_callbacks
):
    run = run_of(owner, "annotate-test/missing", django_capture_on_commit_callbacks, "missing")
    assert run.status == RunStatus.FAILED
    assert "annotate-test/missing" in run.error and str(hub_cache) in run.error
    assert "HF_HUB_OFFLINE" in run.error
    # Nothing lost: the outputs wait to be retried once the model is there.
    assert run.generations.filter(status=GenerationStatus.PENDING).count() == 3
    page = owner_client.get(f"/runs/{run.pk}/").content.decode()
    assert "annotate-test/missing" in page and str(hub_cache) in page


def test_an_unreachable_hub_fails_naming_the_repository_and_the_folder(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # Nothing listens there (this helper's own port range): refused at once.
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:8949")
    with pytest.raises(hub.BackendError) as failure:
        hub.resolve("annotate-test/elsewhere")
    message = str(failure.value)
    assert "annotate-test/elsewhere" in message and str(hub_cache) in message
    assert "could not be downloaded" in message


def test_the_heartbeat_lists_the_cache_and_the_page_shows_it(owner_client, hub_cache, monkeypatch):
    add_to_cache(
        hub_cache,
        "annotate-test/demo-4bit",
        hub_cache / "models--annotate-test--demo" / "snapshots" / REVISION,
        {"quantization": {"group_size": 64, "bits": 4}},
    )
    heartbeat("w-disk", ["mlx"])
    # A worker of hosted APIs only (no local model loaded in its process) scans nothing.
    monkeypatch.setattr("inference.watchdog.model_facts", list)
    heartbeat("w-api", ["api"])
    listed = {m["repo"]: m for m in WorkerHeartbeat.objects.get(hostname="w-disk").on_disk}
    assert set(listed) == {"annotate-test/demo", "annotate-test/demo-4bit"}
    assert WorkerHeartbeat.objects.get(hostname="w-api").on_disk == []
    for repo, m in listed.items():
        blobs = hub_cache / f"models--{repo.replace('/', '--')}" / "blobs"
        assert m["size_bytes"] == sum(f.stat().st_size for f in blobs.iterdir())
    assert (listed["annotate-test/demo-4bit"]["bits"], listed["annotate-test/demo"]["bits"]) == (
        4,
        None,
    )
    page = owner_client.get("/health/models/").content.decode()
    section = re.search(r"<h2>w-disk.*?</section>", page, re.S)[0]
    assert "annotate-test/demo-4bit" in section and "4-bit, group 64" in section
    assert f'data-bytes="{listed["annotate-test/demo"]["size_bytes"]}"' in section
    assert "w-api" not in page
    # Used just now (the files were written just now): in seconds, not "0 minutes ago".
    assert "0\xa0minutes" not in section and re.search(r"(seconds ago|now)</time>", section)


def test_a_download_shows_its_progress_on_the_run_page_then_clears(
    owner, owner_client, hub_cache, demo_model_path, monkeypatch, django_capture_on_commit_callbacks
):
    """The worker downloads a repository (here a fake snapshot_download that reports bytes as
    huggingface_hub does, then lays the model in the cache): while it does, the run page and
    the API say how far it is; once the model is loaded the text is gone."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE")
    seen = {}

    def fake_snapshot_download(repo_id, cache_dir, allow_patterns, local_files_only=False, **kw):
        if local_files_only:
            raise LocalEntryNotFoundError("not in the cache")
        files = kw["tqdm_class"](iter(["config.json", "model.safetensors"]), total=2)
        bytes_bar = kw["tqdm_class"](total=0, initial=0, unit="B", unit_scale=True, desc="Bytes")
        bytes_bar.total = 4_300_000_000  # grows as each file's size becomes known
        bytes_bar.update(1_200_000_000)
        run = Run.objects.get(params__model=repo_id)
        seen["text"] = run.status_text
        seen["page"] = owner_client.get(f"/runs/{run.pk}/").content.decode()
        seen["api"] = owner_client.get(f"/api/runs/{run.pk}").json()["status_text"]
        bytes_bar.update(100_000_000)  # within the second: not written again
        seen["throttled"] = Run.objects.get(pk=run.pk).status_text
        list(files)
        add_to_cache(Path(cache_dir), repo_id, Path(demo_model_path))
        return Path(cache_dir) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / REVISION

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    run = run_of(owner, "annotate-test/fetched", django_capture_on_commit_callbacks, "fetched")
    expected = "Downloading annotate-test/fetched: 1.2 of 4.3 GB"
    assert seen["text"] == expected and seen["throttled"] == expected
    assert expected in seen["page"] and seen["api"] == expected
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.status_text == ""
    assert expected not in owner_client.get(f"/runs/{run.pk}/").content.decode()
    assert owner_client.get(f"/api/runs/{run.pk}").json()["status_text"] == ""


def test_a_failed_download_clears_the_text_and_names_repository_and_folder(
    owner, hub_cache, monkeypatch, django_capture_on_commit_callbacks
):
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE")

    def failing_snapshot_download(repo_id, cache_dir, allow_patterns, local_files_only=False, **kw):
        if local_files_only:
            raise LocalEntryNotFoundError("not in the cache")
        kw["tqdm_class"](total=10**9, unit="B").update(10**8)
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr("huggingface_hub.snapshot_download", failing_snapshot_download)
    run = run_of(owner, "annotate-test/broken", django_capture_on_commit_callbacks, "broken")
    assert run.status == RunStatus.FAILED and run.status_text == ""
    assert "annotate-test/broken" in run.error and str(hub_cache) in run.error
    assert "connection reset by peer" in run.error
    assert run.generations.filter(status=GenerationStatus.PENDING).count() == 3
