"""Which tests may be skipped, and where (a pytest plugin, loaded by tests/conftest.py).

`@pytest.mark.requires_database("postgresql")` runs a test only on that database (Django's
`connection.vendor`: "postgresql" or "sqlite") and skips it elsewhere. Those are the only
skips CI allows: with ANNOTATE_CI=1 (set by .ci/run) any other skip, of a test or of a whole
module, is reported as a failure, so that a missing service or tool (RabbitMQ, Chromium, an
optional backend's library) cannot pass CI silently. On a laptop, skips stay skips.
"""

from __future__ import annotations

import pytest

from inference.env import envbool

ALLOWED = pytest.StashKey[bool]()


def in_ci() -> bool:
    return envbool("ANNOTATE_CI", "false")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_database(vendor): runs only on that database (postgresql, sqlite); the one "
        "skip CI allows",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from django.db import connection

    for item in items:
        marker = item.get_closest_marker("requires_database")
        if marker is not None and marker.args[0] != connection.vendor:
            item.stash[ALLOWED] = True
            reason = f"runs on {marker.args[0]} only; the tests' database is {connection.vendor}"
            item.add_marker(pytest.mark.skip(reason=reason))


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def _fail(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.longrepr = f"skipped, but CI (ANNOTATE_CI) runs every test: {_reason(report)}"
    report.outcome = "failed"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and not item.stash.get(ALLOWED, False)
        and in_ci()
    ):
        _fail(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    # A module that skips itself (pytest.importorskip) is skipped before it has tests.
    report = yield
    if report.skipped and in_ci():
        _fail(report)
    return report
