"""The generation task's doorbell logic, run eagerly in this process: the work itself is
patched out (its own tests are in test_runner.py)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError

from inference.tasks import generate_run_task

# The task starts with close_old_connections(), which asks a connection an earlier test left
# open for its autocommit: database access. Alone, with no connection yet, the tests passed by
# luck. Autocommit on (transaction=True), as in a worker, so the check closes nothing mid-test.
pytestmark = pytest.mark.django_db(transaction=True)

LOST = OperationalError("server closed the connection unexpectedly")


def _work(side_effect):
    return mock.patch("inference.runner.process_run", autospec=True, side_effect=side_effect)


def test_a_lost_database_connection_is_tried_again():
    with _work([LOST, None]) as work:
        result = generate_run_task.apply((7,))
    assert result.successful()
    assert work.call_count == 2


def test_it_gives_up_after_its_retries():
    with _work(LOST) as work:
        result = generate_run_task.apply((7,))
    assert result.failed() and isinstance(result.result, OperationalError)
    assert work.call_count == generate_run_task.max_retries + 1
