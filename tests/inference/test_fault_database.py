"""PostgreSQL out of reach for a few seconds in the middle of a run: the worker's task fails on
the lost connection and tries again, the run completes, and no generation is half written or
written twice. The worker reaches the database through a proxy the test cuts; the shared
server itself never stops."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from inference.actions import create_run
from inference.models import Generation, GenerationStatus, RunStatus
from tests.conftest import finished_outputs, make_dataset, run_status, wait_for
from tests.support.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    # SQLite has no connection to lose (DATABASE_URL=postgres://... runs it).
    pytest.mark.requires_database("postgresql"),
]
DONE = GenerationStatus.DONE


@pytest.fixture
def db_proxy():
    """A proxy to the test database, for the workers the test starts (`proxy.database_url`)."""
    db = connection.settings_dict
    with TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))) as proxy:
        user = f"{db['USER'] or ''}:{db['PASSWORD'] or ''}"
        proxy.database_url = f"postgres://{user}@127.0.0.1:{proxy.port}/{db['NAME']}"
        yield proxy


def test_a_run_completes_after_the_database_comes_back_none_half_written(
    owner, mlx_config, db_proxy, start_worker
):
    mlx_config.max_tokens = 200
    mlx_config.batch_size = 4
    mlx_config.save()
    worker = start_worker("steady", queues="mlx", env={"DATABASE_URL": db_proxy.database_url})
    run = create_run(owner, make_dataset(owner, 30).pk, mlx_config.pk)
    wait_for(
        lambda: run.generations.filter(status=DONE).count() >= 4,
        interval=0.05,
        what="the first items",
    )

    db_proxy.cut()
    done_before = finished_outputs(run)
    assert len(done_before) < 30
    # The task meets the lost connection within a second (it renews its lease every second);
    # the database then stays away a few seconds more, while the task tries again.
    wait_for(
        lambda: "retry: Retry in" in worker.log.read_text(),
        timeout=10,
        what="the task to meet the lost database",
    )
    time.sleep(4)
    assert db_proxy.refused > 0, "nothing tried to reconnect during the outage"
    assert worker.proc.poll() is None, "the worker exited while the database was away"
    db_proxy.restore()

    wait_for(lambda: run_status(run) == RunStatus.COMPLETED, timeout=60, what="the run to complete")
    assert worker.proc.poll() is None, "the worker exited after the database came back"
    assert Generation.objects.filter(run=run).count() == 30  # one row per item
    assert run.generations.filter(status=DONE).count() == 30
    assert not run.generations.filter(status=GenerationStatus.RUNNING).exists()
    assert not run.generations.exclude(lease_token=None).exists()
    for g in run.generations.all():  # a result's fields are written together, or not at all
        assert None not in (g.prompt_tokens, g.output_tokens, g.ttft_s, g.latency_s), g.pk
        assert g.output or g.output_tokens == 0, g.pk  # empty only if the model wrote nothing
        assert g.finish_reason and g.backend_version and g.machine and g.finished_at, g.pk
    assert {
        pk: finished_outputs(run)[pk] for pk in done_before
    } == done_before  # none written twice
    # Only what was in flight when the database went away was taken on a second time.
    assert max(run.generations.values_list("attempts", flat=True)) <= 2
    assert "raised unexpected" not in worker.log.read_text()  # retried, never given up
