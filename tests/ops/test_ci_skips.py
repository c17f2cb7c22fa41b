"""CI runs every test it is meant to: with ANNOTATE_CI=1 a skipped test or module fails, unless
it runs on the other database only (requires_database). Checked on a pytest session of its own
over a few tests that skip the ways ours can (a fixture finding no Chromium, RabbitMQ down, an
optional backend's library missing), with the plugin the suite loads (tests/support/skips.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.processes import ROOT

SKIPPING = """
import pytest


@pytest.fixture
def browser():
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def test_in_a_browser(browser):
    pass


@pytest.mark.skipif(True, reason="RabbitMQ is not running on 127.0.0.1:5672")
def test_on_rabbitmq():
    pass


@pytest.mark.requires_database("postgresql")
def test_on_postgresql():
    pass


@pytest.mark.requires_database("sqlite")
def test_on_sqlite():
    pass
"""
OPTIONAL = """
import pytest

pytest.importorskip("no_such_backend_library")


def test_it():
    pass
"""


def outcomes(folder: Path, ci: bool) -> tuple[int, dict[str, str]]:
    """Run pytest on the folder's tests (SQLite); the exit code, and each test's outcome."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ANNOTATE_CI")}
    env.update(PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="annotate.settings_test")
    if ci:
        env["ANNOTATE_CI"] = "1"
    report = folder / f"report-{ci}.xml"
    command = [sys.executable, "-m", "pytest", "-p", "tests.support.skips", "-p"]
    command += ["no:cacheprovider", "--continue-on-collection-errors", f"--junitxml={report}"]
    command.append(str(folder))
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    found = {}
    for case in ET.parse(report).iter("testcase"):
        name = case.get("name") or case.get("classname")
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[name] = kinds[0] if kinds else "passed"
        if kinds:
            found[name + ":message"] = case.find(kinds[0]).get("message", "")
    return done.returncode, found


@pytest.fixture
def suite(tmp_path) -> Path:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    (tmp_path / "test_optional_backend.py").write_text(OPTIONAL)
    return tmp_path


def test_in_ci_a_skip_fails_unless_the_test_is_for_the_other_database(suite):
    status, found = outcomes(suite, ci=True)
    assert status == 1, found
    # Failed in the set-up (the fixture's skip, the skipif mark): an error to JUnit.
    assert found["test_in_a_browser"] == "error"
    assert "Chromium is not installed" in found["test_in_a_browser:message"]
    assert found["test_on_rabbitmq"] == "error"
    assert "RabbitMQ is not running" in found["test_on_rabbitmq:message"]
    assert found["test_optional_backend"] == "error"  # the whole module
    assert found["test_on_postgresql"] == "skipped"
    assert found["test_on_sqlite"] == "passed"


def test_on_a_laptop_skips_stay_skips(suite):
    status, found = outcomes(suite, ci=False)
    assert status == 0, found
    assert found["test_in_a_browser"] == "skipped"
    assert found["test_on_rabbitmq"] == "skipped"
    assert found["test_optional_backend"] == "skipped"
    assert found["test_on_postgresql"] == "skipped"
    assert found["test_on_sqlite"] == "passed"
