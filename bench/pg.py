"""What the PostgreSQL benchmarks share: their own database, Django set up on it, COPY."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def ensure_database(url: str, recreate: bool = False) -> None:
    """Create the database named in url if it does not exist (connecting to "postgres"), or
    drop and create it (recreate). Benchmarks empty their tables, so the name must say
    "bench"."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"The bench empties tables: its database's name must say bench: {name}")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if recreate:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str, migrate: bool = True) -> None:
    """Django on the bench's database, as in production (DEBUG off, no query log)."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotate.settings"
    # The test client's host: with DEBUG off, ALLOWED_HOSTS is checked.
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    sys.path.insert(0, str(ROOT))
    # WhiteNoise warns that collectstatic never ran; the bench serves no static file.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)
    settings.DEBUG = False


def copy_rows(table: str, columns: tuple[str, ...], rows) -> None:
    """COPY rows (tuples in the order of columns) into table."""
    from django.db import connection

    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


# The app's tables the benchmarks fill, children first.
TABLES = (
    "annotate_annotation",
    "annotate_task",
    "annotate_projectmember",
    "annotate_project_runs",
    "annotate_project",
    "annotate_generation",
    "annotate_run",
    "annotate_item",
    "annotate_dataset",
    "annotate_modelconfig",
)


def reset(user_prefix: str) -> None:
    """Empty the bench's tables (ids restart, so runs are alike) and delete its users."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    get_user_model().objects.filter(username__startswith=user_prefix).delete()


def vacuum_analyze(tables=TABLES) -> None:
    """Fresh planner statistics after a build, as autovacuum would give them in time."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
