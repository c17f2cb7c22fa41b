"""An import in a fresh process, for memory tests: its peak memory growth, and what it said.
The tests' own database holds its rows in a transaction no other process sees, so the child
gets a migrated SQLite file of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from django.conf import settings

CHILD = textwrap.dedent(
    """
    import importlib, resource, sys
    import django
    django.setup()
    for name in sys.argv[3:]:
        importlib.import_module(name)  # loaded before the baseline
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from annotate.datasets.importing import ImportFailed, import_dataset

    settings.DEBUG = False  # as in production and under pytest: no log of queries
    owner = get_user_model().objects.create_user("importer", is_superuser=True)
    def peak():
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024
    before = peak()
    try:
        with open(sys.argv[1], "rb") as stream:
            import_dataset(stream, sys.argv[2], "import", owner)
        said = "imported"
    except ImportFailed as exc:
        said = str(exc)
    print(peak() - before, said)
    """
)


def child_env(database: Path, **env: str) -> dict[str, str]:
    return {
        **os.environ,
        **env,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "annotate.settings_test",
    }


def migrate(database: Path, **env: str) -> Path:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=settings.BASE_DIR,
        env=child_env(database, **env),
        check=True,
        timeout=300,
    )
    return database


def import_in_child(path: Path, database: Path, preload=(), **env: str) -> tuple[int, str]:
    """Imports `path` into the migrated `database` in a fresh process, after importing the
    `preload` modules: (peak memory growth in bytes, "imported" or the refusal)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), path.name, *preload],
        cwd=settings.BASE_DIR,
        env=child_env(database, **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    growth, said = done.stdout.strip().split(" ", 1)
    return int(growth), said
