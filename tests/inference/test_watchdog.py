"""The watchdog's sweep, run in this process; the broker is patched at its boundary."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import kombu.exceptions
import pytest
from django.utils import timezone

from inference.actions import create_run
from inference.models import Run
from inference.watchdog import sweep
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def stalled_run(owner, mlx_config, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # its first doorbell never rang
        run = create_run(owner, make_dataset(owner, 3).pk, mlx_config.pk)
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_STALL_S + 1)
    Run.objects.filter(pk=run.pk).update(last_activity_at=long_ago, resumed_at=long_ago)
    return run


def test_it_rings_a_stalled_run_once_per_stall_period(stalled_run):
    rung: dict[int, float] = {}
    with mock.patch("inference.doorbell.enqueue_run", autospec=True) as enqueue:
        assert sweep(rung) == [stalled_run.pk]
        assert sweep(rung) == []
    enqueue.assert_called_once_with(stalled_run.pk)


def test_a_ring_the_broker_refused_is_tried_again_at_the_next_sweep(stalled_run):
    rung: dict[int, float] = {}
    refused = kombu.exceptions.OperationalError("Error 111 connecting. Connection refused.")
    with mock.patch("inference.doorbell.enqueue_run", autospec=True, side_effect=[refused, None]):
        with pytest.raises(kombu.exceptions.OperationalError):
            sweep(rung)
        assert sweep(rung) == [stalled_run.pk]
