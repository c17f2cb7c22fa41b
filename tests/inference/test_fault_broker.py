"""Redis restarted in the middle of a run: the worker reconnects, the watchdog rings the run
again (a Redis without persistence comes back with an empty queue), and every item is done
exactly once. The test runs its own `redis-server`, so it never touches a shared one."""

from __future__ import annotations

import pytest

from annotate.celery import app
from inference.actions import create_run
from inference.models import Generation, GenerationStatus, Run, RunStatus
from tests.conftest import finished_outputs, make_dataset, run_status, wait_for
from tests.support.redis_server import INSTALLED, RedisServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.skipif(not INSTALLED, reason="needs redis-server"),
]
DONE = GenerationStatus.DONE


@pytest.fixture
def private_redis(tmp_path, monkeypatch):
    """A Redis of the test's own: the broker of the workers it starts, and of this process
    (Celery reads CELERY_BROKER_URL from the environment before its configuration)."""

    server = RedisServer(tmp_path / "redis.log")
    server.start()
    monkeypatch.setenv("CELERY_BROKER_URL", server.url)
    saved = app.conf.broker_transport_options, app._pool, app.amqp._producer_pool
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    # The app keeps the pools of the broker it first used: new ones, for this broker, are made
    # at the next message; the old ones come back untouched at the end.
    app._pool = app.amqp._producer_pool = None
    yield server
    for pool in (app.amqp._producer_pool, app._pool):
        if pool is not None:
            pool.force_close_all()
    app.conf.broker_transport_options, app._pool, app.amqp._producer_pool = saved
    server.kill()


def test_a_run_continues_when_redis_comes_back_after_a_restart(
    owner, mlx_config, private_redis, start_worker
):
    mlx_config.max_tokens = 200
    mlx_config.batch_size = 4
    mlx_config.save()
    # Tasks hand the rest of the run to a fresh task every 2 s, through the broker: the
    # outage then falls on a handover, as it does on a long run.
    worker = start_worker("survivor", queues="mlx", env={"TASK_TIME_BUDGET_S": "2"})
    # Enough items that the run outlives its first task however fast the machine is (30 once
    # finished inside one 2 s task on an idle machine, and the outage fell on no handover).
    items = 120
    run = create_run(owner, make_dataset(owner, items).pk, mlx_config.pk)
    wait_for(
        lambda: run.generations.filter(status=DONE).count() >= 4,
        interval=0.05,
        what="the first items",
    )

    private_redis.kill()
    done_before = finished_outputs(run)
    assert len(done_before) < items
    # Redis stays down until the run has stalled and the watchdog has tried to ring it. Each
    # step waits for its event, not a time: the task ends when it next meets the dead broker
    # (at its handover, however long a loaded machine takes), and the run stalls RUN_STALL_S
    # after its last activity; the watchdog's next sweep then rings, and fails.
    wait_for(lambda: Run.objects.get(pk=run.pk).is_stalled(), what="the run to stall")
    failed = worker.log.read_text().count("watchdog sweep failed")  # a locked database's, say
    wait_for(
        lambda: worker.log.read_text().count("watchdog sweep failed") > failed,
        what="the watchdog to meet the dead broker",
    )
    assert worker.proc.poll() is None, "the worker exited while Redis was down"
    private_redis.start()

    wait_for(lambda: run_status(run) == RunStatus.COMPLETED, timeout=60, what="the run to complete")
    assert worker.proc.poll() is None, "the worker exited after Redis came back"
    assert Generation.objects.filter(run=run).count() == items  # one row per item
    assert run.generations.filter(status=DONE).count() == items
    assert set(run.generations.values_list("attempts", flat=True)) == {1}  # none generated twice
    assert {
        pk: finished_outputs(run)[pk] for pk in done_before
    } == done_before  # none written twice
    # The restarted Redis had lost the run's task: the watchdog rang the run again.
    log = worker.log.read_text()
    assert f"watchdog: rang stalled runs [{run.pk}]" in log.split("watchdog sweep failed")[-1]
