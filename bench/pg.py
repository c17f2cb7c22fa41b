"""What the PostgreSQL benchmarks share once Django is set up (bench/environment.py): COPY,
emptying their tables, fresh planner statistics."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection


def copy_rows(table: str, columns: tuple[str, ...], rows) -> None:
    """COPY rows (tuples in the order of columns) into table."""
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
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    get_user_model().objects.filter(username__startswith=user_prefix).delete()


def vacuum_analyze(tables=TABLES) -> None:
    """Fresh planner statistics after a build, as autovacuum would give them in time."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
