"""A database made by the code before the restructuring (commit 7a97971) migrates to the code
of this tree with every row intact.

The fixtures are that old code's database, populated by make_fixture.py (its docstring says how
to remake them): before_restructure.sqlite3, and before_restructure.sql for PostgreSQL. This
module imports none of the project's code, whose module paths move: the code under test runs
in subprocesses (`manage.py migrate`, `manage.py shell`), and the rows are read back through
sqlite3 and psycopg directly, so a mistake in the models cannot hide a lost row.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SQLITE_FIXTURE = HERE / "before_restructure.sqlite3"
SQL_FIXTURE = HERE / "before_restructure.sql"

# Tables whose rows people and workers made: same rows, same values after the upgrade.
DATA_TABLES = re.compile(r"^(annotate_.*|auth_user.*|auth_group)$")
# A migration may add models and permissions (and give them to a group): these may only grow.
GROWING_TABLES = {"auth_permission", "auth_group_permissions", "django_content_type"}

# Runs in the new code: every model's rows load through the ORM, and what owners may do.
ORM_REPORT = """
import json
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

counts = {}
for model in apps.get_app_config("annotate").get_models():
    # Load every row: JSON, decimals and dates must decode, not only be counted.
    counts[model._meta.db_table] = len([obj.pk for obj in model.objects.all()])
    for field in model._meta.local_many_to_many:
        through = field.remote_field.through
        counts[through._meta.db_table] = through.objects.count()

Generation = apps.get_model("annotate", "Generation")
gen = Generation.objects.get(run__model_config__name="haiku", item__index=0, status="done")
config = apps.get_model("annotate", "ModelConfig").objects.get(name="haiku")
Annotation = apps.get_model("annotate", "Annotation")
answers = Annotation.objects.get(annotator__username="annie", task__project__name="Quality",
                                 state="submitted").answers
questions = apps.get_model("annotate", "Project").objects.get(name="Quality").questions

group = Group.objects.get(name="Project owners")
perms = sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
users = get_user_model().objects
owner, annie = users.get(username="olivia"), users.get(username="annie")
print(json.dumps({
    "counts": counts,
    "generation": {"output": gen.output, "cost_usd": str(gen.cost_usd),
                   "output_tokens": gen.output_tokens, "latency_s": gen.latency_s},
    "config": {f: getattr(config, f) for f in (
        "backend", "model", "batch_size", "concurrency", "base_url", "api_key_env", "mode",
        "queue", "temperature", "max_tokens")},
    "answers": answers,
    "questions": questions,
    "group_permissions": perms,
    "owner_may": {p: owner.has_perm(p) for p in perms},
    "owner_manages": {p: owner.has_perm(p) for p in MANAGE_PERMISSIONS},
    "annotator_manages": {p: annie.has_perm(p) for p in MANAGE_PERMISSIONS},
}))
"""


class Database:
    """One copy of the fixture, and how to reach it from the code under test and from here."""

    url: str

    def snapshot(self) -> dict[str, dict[int, dict]]:
        """{table: {id: {column: value}}} for every annotate_* and auth_* table, and the
        content types that name the permissions' apps."""
        raise NotImplementedError


class SQLiteDatabase(Database):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    def snapshot(self) -> dict[str, dict[int, dict]]:
        with sqlite3.connect(self.path) as conn:
            tables = [
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return {t: _rows(conn.execute(f'SELECT * FROM "{t}"')) for t in _ours(tables)}


class PostgresDatabase(Database):
    def __init__(self, server_url: str, name: str) -> None:
        import dj_database_url

        self.server = dj_database_url.parse(server_url)
        self.name = name
        s = self.server
        auth = f"{s['USER']}:{s['PASSWORD']}@" if s["PASSWORD"] else f"{s['USER']}@"
        self.url = f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"

    def connect(self, dbname: str):
        import psycopg

        s = self.server
        return psycopg.connect(
            dbname=dbname,
            user=s["USER"] or None,
            password=s["PASSWORD"] or None,
            host=s["HOST"] or "127.0.0.1",
            port=s["PORT"] or 5432,
            autocommit=True,
        )

    def create_from_dump(self, dump: Path) -> None:
        with self.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        psql = shutil.which("psql")
        if psql is None:
            pytest.fail("DATABASE_URL is PostgreSQL but psql is not installed to restore the dump")
        # pg_dump's \restrict lines guard against a hostile server's dump; this one is ours,
        # and psql clients older than 2025-08 reject them.
        sql = "".join(
            line
            for line in dump.read_text().splitlines(keepends=True)
            if not line.startswith(("\\restrict ", "\\unrestrict "))
        )
        done = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url],
            input=sql,
            text=True,
            capture_output=True,
        )
        assert done.returncode == 0, f"psql could not restore {dump.name}:\n{done.stderr}"

    def drop(self) -> None:
        with self.connect("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def snapshot(self) -> dict[str, dict[int, dict]]:
        with self.connect(self.name) as conn:
            tables = [
                name
                for (name,) in conn.execute(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            ]
            return {t: _rows(conn.execute(f'SELECT * FROM "{t}"')) for t in _ours(tables)}


def _ours(tables: list[str]) -> list[str]:
    return sorted(t for t in tables if t.startswith(("annotate_", "auth_", "django_content_type")))


def _rows(cursor) -> dict[int, dict]:
    columns = [c[0] for c in cursor.description]
    return {row[columns.index("id")]: dict(zip(columns, row, strict=True)) for row in cursor}


def _json(value):
    """JSON columns: text in SQLite, already decoded by psycopg."""
    return json.loads(value) if isinstance(value, str) else value


def manage(db: Database, tmp_path: Path, *args: str) -> str:
    """Run manage.py of the code under test against `db`, as an operator would."""
    env = {**os.environ, "DATABASE_URL": db.url, "ANNOTATE_VAR_DIR": str(tmp_path / "var")}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py's own default, not the tests' settings
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def manage_permissions() -> list[str]:
    """The permission the code checks before letting someone manage (its MANAGE_PERMISSION),
    wherever the restructuring puts it."""
    found = set()
    for package in ("annotate", "inference"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(re.findall(r'^MANAGE_PERMISSION\s*=\s*"([^"]+)"', path.read_text(), re.M))
    return sorted(found)


@pytest.fixture(
    scope="module",
    # The PostgreSQL upgrade runs on the tests' server, in CI's PostgreSQL run.
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.requires_database("postgresql")),
    ],
)
def upgrade(request, tmp_path_factory):
    """The fixture before and after `manage.py migrate` of this tree, and what its ORM reads."""
    tmp_path = tmp_path_factory.mktemp(f"upgrade-{request.param}")
    if request.param == "sqlite":
        db = SQLiteDatabase(tmp_path / "annotate.sqlite3")
        shutil.copyfile(SQLITE_FIXTURE, db.path)
    else:
        db = PostgresDatabase(os.environ["DATABASE_URL"], f"upgrade_{uuid.uuid4().hex[:12]}")
        request.addfinalizer(db.drop)
        db.create_from_dump(SQL_FIXTURE)
    before = db.snapshot()
    manage(db, tmp_path, "migrate", "--noinput")
    after = db.snapshot()
    code = ORM_REPORT.replace("MANAGE_PERMISSIONS", repr(manage_permissions()))
    report = json.loads(manage(db, tmp_path, "shell", "-c", code).strip().splitlines()[-1])
    return before, after, report


def find(rows: dict[int, dict], **match) -> dict:
    found = [r for r in rows.values() if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, f"{len(found)} rows match {match}"
    return found[0]


def test_the_fixture_has_every_kind_of_row(upgrade):
    before, _, _ = upgrade
    empty = [t for t in before if not before[t]]
    assert not empty, f"the fixture proves nothing about {empty}"
    assert len(before["annotate_generation"]) == 20
    assert {r["state"] for r in before["annotate_annotation"].values()} == {
        "held",
        "submitted",
        "skipped",
    }


def test_every_table_keeps_its_rows(upgrade):
    before, after, _ = upgrade
    missing = sorted(set(before) - set(after))
    assert not missing, f"tables gone after the upgrade: {missing}"
    changed = {
        table: (len(rows), len(after[table]))
        for table, rows in before.items()
        if len(after[table]) != len(rows)
        and not (table in GROWING_TABLES and len(after[table]) > len(rows))
    }
    assert not changed, f"row counts changed (before, after): {changed}"


def _zero_to_none(old, new) -> bool:
    return old is not None and Decimal(str(old)) == 0 and new is None


def _params_zero_to_none(old, new) -> bool:
    old, new = _json(old), _json(new)
    return _zero_to_none(old.pop("hourly_usd", None), new.pop("hourly_usd", None)) and old == new


# Changes that are a migration's purpose. 0015_hourly_price_unknown: an hourly price of 0 was
# the default, "not set"; it becomes unknown, as do the $0 costs recorded under it.
INTENDED = {
    ("annotate_modelconfig", "hourly_usd"): _zero_to_none,
    ("annotate_run", "params"): _params_zero_to_none,
    ("annotate_generation", "cost_usd"): _zero_to_none,
}


def test_every_row_keeps_its_values(upgrade):
    before, after, _ = upgrade
    for table in filter(DATA_TABLES.match, before):
        for pk, old in before[table].items():
            new = after[table].get(pk)
            assert new is not None, f"{table} row {pk} is gone"
            changed = {
                c: (v, new.get(c, "<column gone>"))
                for c, v in old.items()
                if (c not in new or new[c] != v)
                and not INTENDED.get((table, c), lambda *_: False)(v, new.get(c))
            }
            assert not changed, f"{table} row {pk} changed (before, after): {changed}"


def test_an_hourly_price_left_at_zero_becomes_unknown(upgrade):
    before, after, _ = upgrade
    zeros = [pk for pk, r in before["annotate_modelconfig"].items() if r["hourly_usd"] == 0]
    assert zeros, "the fixture proves nothing about unset hourly prices"
    assert all(after["annotate_modelconfig"][pk]["hourly_usd"] is None for pk in zeros)
    assert find(after["annotate_modelconfig"], name="haiku")["hourly_usd"] is None
    mlx = find(after["annotate_modelconfig"], name="demo-mlx")
    assert Decimal(str(mlx["hourly_usd"])) == Decimal("1.25")  # a price set stays


def test_it_keeps_the_records_people_made(upgrade):
    before, after, _ = upgrade
    for snapshot in (before, after):
        config = find(snapshot["annotate_modelconfig"], name="haiku")
        assert (config["backend"], config["model"]) == ("anthropic", "claude-haiku-4-5")
        assert (config["batch_size"], config["api_key_env"]) == (4, "FIXTURE_ANTHROPIC_KEY")
        assert config["base_url"] == "https://anthropic.example.com/v1"
        assert (config["mode"], config["queue"]) == ("batch", "api.slow")

        run = find(snapshot["annotate_run"], model_config_id=config["id"])
        squares = find(snapshot["annotate_dataset"], name="Squares")
        item = find(snapshot["annotate_item"], dataset_id=squares["id"], index=0)
        assert (item["external_id"], _json(item["metadata"])) == ("sq-0", {"level": 0})
        gen = find(snapshot["annotate_generation"], run_id=run["id"], item_id=item["id"])
        assert gen["status"] == "done"
        assert gen["output"] == "def f():\n    return 0 ** 2\n"
        assert Decimal(str(gen["cost_usd"])) == Decimal("0.00001234")
        assert (gen["output_tokens"], gen["latency_s"]) == (12, 0.75)
        failed = [g for g in snapshot["annotate_generation"].values() if g["status"] == "failed"]
        assert {g["error"][:14] for g in failed} == {"RateLimitError"}

        quality = find(snapshot["annotate_project"], name="Quality")
        keys = [q["key"] for q in _json(quality["questions"])]
        assert keys == ["quality", "correct", "issues", "comment", "correction"]
        arena = find(snapshot["annotate_project"], name="Arena")
        assert [q["key"] for q in _json(arena["questions"])][:2] == ["verdict", "reason"]

        annie = find(snapshot["auth_user"], username="annie")
        label = find(snapshot["annotate_annotation"], annotator_id=annie["id"], time_spent_s=12.5)
        assert _json(label["answers"]) == {
            "quality": 4,
            "correct": "pass",
            "issues": ["format error"],
            "comment": "Fine.",
        }
        reviewed = [t for t in snapshot["annotate_task"].values() if t["final"] is not None]
        assert [_json(t["final"])["comment"] for t in reviewed] == ["Settled by the reviewer."]


def test_the_new_code_reads_every_row(upgrade):
    before, _, report = upgrade
    expected = {t: len(before[t]) for t in before if t.startswith("annotate_")}
    read = {t: report["counts"].get(t) for t in expected}
    assert read == expected, "rows the ORM reads (None: no model has that table)"
    assert report["generation"] == {
        "output": "def f():\n    return 0 ** 2\n",
        "cost_usd": "0.00001234",
        "output_tokens": 12,
        "latency_s": 0.75,
    }
    assert report["config"] == {
        "backend": "anthropic",
        "model": "claude-haiku-4-5",
        "batch_size": 4,
        "base_url": "https://anthropic.example.com/v1",
        "api_key_env": "FIXTURE_ANTHROPIC_KEY",
        "mode": "batch",
        "queue": "api.slow",
        "temperature": 0.2,
        "max_tokens": 256,
        # Migration 0012: a hosted configuration's requests in flight were its batch size.
        "concurrency": 4,
    }
    assert report["answers"]["comment"] == "Fine."
    quality = find(before["annotate_project"], name="Quality")
    assert report["questions"] == _json(quality["questions"])


def test_project_owners_can_still_manage(upgrade):
    before, _, report = upgrade
    group = find(before["auth_group"], name="Project owners")
    apps = {pk: r["app_label"] for pk, r in before["django_content_type"].items()}
    names = {
        pk: f"{apps[r['content_type_id']]}.{r['codename']}"
        for pk, r in before["auth_permission"].items()
    }
    granted = before["auth_group_permissions"].values()
    had = {names[r["permission_id"]] for r in granted if r["group_id"] == group["id"]}
    assert "annotate.view_run" in had  # what the old code checked before letting one manage
    lost = sorted(had - set(report["group_permissions"]))
    assert not lost, f"the Project owners group lost {lost}"
    assert all(report["owner_may"].values()), report["owner_may"]
    manages = report["owner_manages"]
    assert manages, 'no MANAGE_PERMISSION = "..." in annotate/ or inference/ to check'
    assert all(manages.values()), f"owners may no longer manage: {manages}"
    assert not any(report["annotator_manages"].values()), report["annotator_manages"]
