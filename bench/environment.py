"""Where every benchmark runs: its database (ensure_database), Django set up on it
(setup_django) and Celery workers started as the README starts them (start_worker, from
tests/support/processes.py). Settings go through the environment, so that the workers a bench
starts after setup_django inherit them."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
from django.conf import settings
from django.core.management import call_command
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.processes import Service, celery_worker, worker_command  # noqa: E402

__all__ = [
    "ROOT",
    "Service",
    "ensure_database",
    "is_postgres",
    "setup_django",
    "start_worker",
    "worker_command",
]

start_worker = celery_worker


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def ensure_database(url: str, recreate: bool = False) -> None:
    """Create the PostgreSQL database named in url if it does not exist (connecting to
    "postgres"), or drop and create it (recreate). Benchmarks empty its tables or add triggers
    to it, so its name must say "bench"."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"The bench writes over its database: its name must say bench: {name}")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if recreate:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(
    database_url: str | None = None,
    *,
    broker_url: str | None = None,
    var_dir: Path | None = None,
    env: dict[str, str] | None = None,
    migrate: bool = True,
) -> None:
    """Django set up for a bench, then migrated; DEBUG off in this process, as in production
    (no query log). Call it before importing the app's models.

    database_url: DATABASE_URL (default: the environment's, else SQLite in var_dir).
    broker_url: CELERY_BROKER_URL (default: the environment's, else the filesystem broker).
    var_dir: ANNOTATE_VAR_DIR, for SQLite, the filesystem broker and files (default: var/).
    env: more settings for this process and the workers (an API key, short leases, MLX_MODEL).
    """
    given = {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "ANNOTATE_VAR_DIR": var_dir,
    }
    os.environ.update({name: str(value) for name, value in given.items() if value} | (env or {}))
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotate.settings"
    # The test client's host: with DEBUG off, ALLOWED_HOSTS is checked.
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # The benches' fake providers listen on loopback: the operator's allow-lists say so.
    os.environ.setdefault("HOSTED_BASE_URLS", "http://127.0.0.1:*")
    os.environ.setdefault("HOSTED_KEY_VARIABLES", "ANTHROPIC_API_KEY=http://127.0.0.1:*")
    # WhiteNoise warns that collectstatic never ran; the benches serve no static file.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)
    settings.DEBUG = False
    # The filesystem broker's URL has no host; kombu says so on every connection.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
