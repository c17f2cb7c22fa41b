"""Shared personas, the demo model, and a real Celery worker process."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection

from annotate.celery import app
from annotate.datasets.importing import import_dataset
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project, ProjectMember
from annotate.labeling.questions import DEFAULT_QUESTIONS
from annotate.settings_test import TEST_ENV
from inference.actions import create_run
from inference.demo_model import build_demo_model
from inference.models import GenerationStatus, ModelConfig, Price
from tests.support.processes import Service, celery_worker

ROOT = Path(__file__).resolve().parent.parent
# requires_database(...), and CI (ANNOTATE_CI=1) failing any other skip.
pytest_plugins = ["tests.support.skips"]


@pytest.fixture(scope="session", autouse=True)
def _session_folder():
    """The session's own var folder (database file, broker) goes when the session ends."""
    yield
    shutil.rmtree(settings.VAR_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_model_path() -> Path:
    """The demo MLX model, built once into the tests' var folder."""
    path = Path(settings.MLX_MODEL)
    if not (path / "config.json").exists():
        build_demo_model(path)
    return path


@pytest.fixture
def owner(django_user_model):
    """May manage datasets, models and runs, and create projects."""
    # get_or_create: a transactional test's flush empties the group a migration made.
    group, _ = Group.objects.get_or_create(name="Project owners")
    group.permissions.set(Permission.objects.filter(content_type__app_label="annotate"))
    user = django_user_model.objects.create_user("owner", password="pw-owner-123")
    user.groups.add(group)
    return user


@pytest.fixture
def annotator(django_user_model):
    return django_user_model.objects.create_user("annie", password="pw-annie-123")


@pytest.fixture
def annotator2(django_user_model):
    return django_user_model.objects.create_user("bert", password="pw-bert-123")


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_user("rita", password="pw-rita-123")


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("outsider", password="pw-outsider-123")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def mlx_config(owner, demo_model_path):
    return ModelConfig.objects.create(
        name="demo",
        backend="mlx",
        model=str(demo_model_path),
        temperature=0.8,
        top_p=0.95,
        max_tokens=24,
        seed=0,
        batch_size=8,
        owner=owner,
    )


@pytest.fixture
def seeded_prices(db):
    """The price rows the migration seeds (a transactional test's flush removes them)."""
    rows = {
        ("anthropic", "claude-haiku-4-5"): ("1", "5", "0.10", "1.25"),
        ("openai", "gpt-4o-mini"): ("0.15", "0.60", "0.075", "0.15"),
    }
    for (backend, model), (inp, out, read, write) in rows.items():
        Price.objects.get_or_create(
            backend=backend,
            model=model,
            effective_from=date(2025, 11, 1),
            defaults=dict(
                input_per_mtok=Decimal(inp),
                output_per_mtok=Decimal(out),
                cache_read_per_mtok=Decimal(read),
                cache_write_per_mtok=Decimal(write),
            ),
        )


def make_dataset(owner, n: int = 20, prompt: str = "Write a function number {i}."):
    lines = "".join(json.dumps({"prompt": prompt.format(i=i), "n": i}) + "\n" for i in range(n))
    return import_dataset(io.BytesIO(lines.encode()), "prompts.jsonl", f"{n} prompts", owner)


def worker_env() -> dict[str, str]:
    """The environment of a worker process: the test database, the tests' broker."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        url = f"postgres://{db['USER'] or ''}:{db['PASSWORD'] or ''}@{host}/{db['NAME']}"

    return {**os.environ, **TEST_ENV, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}


def purge_broker() -> None:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for message in (settings.BROKER_DIR / "queue").iterdir():
            message.unlink()
        return
    with app.connection_for_write() as conn:
        for queue in ("mlx", "api"):
            conn.default_channel.queue_purge(queue)


@pytest.fixture(scope="session")
def _worker_setup(django_db_setup, django_db_blocker, demo_model_path):
    with django_db_blocker.unblock():
        purge_broker()


@pytest.fixture
def start_worker(_worker_setup, tmp_path):
    """A factory of worker processes (`celery worker`, solo pool, as in production) on the
    tests' database and broker, returned once ready; `env` overrides their environment. Those
    a test started stop when it ends."""
    started: list[Service] = []

    def start(name: str = "w1", queues: str = "mlx,api", env: dict | None = None) -> Service:
        environment = {**worker_env(), **(env or {})}
        worker = celery_worker(name, tmp_path / f"{name}.log", queues, env=environment, timeout=60)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def run_status(run) -> str:
    """The run's status as the database has it now."""
    run.refresh_from_db()
    return run.status


def finished_outputs(run) -> dict[int, tuple]:
    """The run's done generations by id: what must not change once written."""
    rows = run.generations.filter(status="done")
    return {pk: rest for pk, *rest in rows.values_list("pk", "output", "finished_at", "worker")}


def wait_for(predicate, timeout: float = 90, interval: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_project(owner, mlx_config, n: int = 5, overlap: int = 1, outputs=None, **fields):
    """A labeling project over a finished run of n items (outputs written directly)."""
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):  # no broker needed here
        run = create_run(owner, make_dataset(owner, n).pk, mlx_config.pk)
    for i, g in enumerate(run.generations.order_by("item__index")):
        g.status = GenerationStatus.DONE
        g.output = outputs[i] if outputs else f"def answer_{i}():\n    return {i}\n"
        g.save()
    project = Project.objects.create(
        name="Quality",
        owner=owner,
        overlap=overlap,
        questions=fields.pop("questions", DEFAULT_QUESTIONS),
        **fields,
    )
    project.runs.add(run)
    sync_tasks(project)
    return project


def join(project, user, role="annotator"):
    ProjectMember.objects.create(project=project, user=user, role=role)
