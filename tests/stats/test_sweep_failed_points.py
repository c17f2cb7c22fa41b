"""A sweep point whose run fails as a whole (its backend cannot start) is recorded as failed,
its error on the sweep page, and the sweep goes on to the next point, ending "completed with
errors". A failed run announces inference.signals.run_failed, never run_finished, whose
receivers (projects' tasks, judges' labels, rollups) take a run's work as done."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from annotate.stats.models import Sweep
from inference.lifecycle import fail_run
from inference.models import GenerationStatus, ModelConfig, Run, RunStatus
from inference.signals import run_finished
from tests.conftest import make_dataset, wait_for
from tests.support.fake_http import ApiError
from tests.support.fake_openai import FakeOpenAI


class RefusesTheFirstCheck(FakeOpenAI):
    """Refuses the key on its first GET /v1/models (the backend's check before a run): the
    sweep's first point fails at start; later ones run."""

    checks = 0

    def list_models(self, call, match) -> None:
        self.checks += 1
        if self.checks == 1:
            raise ApiError(401, "authentication_error", "Incorrect API key <sk-***> (fake).")
        super().list_models(call, match)


def _start(client, dataset, config, in_flight: list[int]) -> int:
    body = {"dataset_id": dataset.pk, "model_config_id": config.pk}
    body |= {"in_flight": in_flight, "max_tokens": [8], "sample_size": 3}
    response = client.post("/api/sweeps", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.django_db
def test_a_failed_point_is_recorded_and_the_next_one_starts(
    owner_client, owner, mlx_config, django_capture_on_commit_callbacks
):
    heard = []
    run_finished.connect(
        lambda sender, run, **kw: heard.append(run.pk), weak=False, dispatch_uid="t"
    )
    try:
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):  # no worker here
            sweep_id = _start(owner_client, make_dataset(owner, 3), mlx_config, [1, 2])
            first = Run.objects.get(params__sweep__id=sweep_id)
            with django_capture_on_commit_callbacks(execute=True):
                fail_run(first, "Cannot load <the model>: no such file.")
    finally:
        run_finished.disconnect(dispatch_uid="t")
    assert heard == []  # the failed run's work is not done: none of its receivers ran
    second = Run.objects.get(params__sweep__id=sweep_id, params__sweep__point=1)
    assert second.status == RunStatus.QUEUED and second.params["batch_size"] == 2

    got = owner_client.get(f"/api/sweeps/{sweep_id}").json()
    assert got["points"][0]["status"] == "failed"
    assert got["points"][0]["error"] == "Cannot load <the model>: no such file."
    assert got["progress"] | {"status_label": ""} == {
        "finished": 1,
        "points": 2,
        "running": True,
        "status": "running",
        "status_label": "",
    }
    page = owner_client.get(f"/sweeps/{sweep_id}/").content.decode()
    assert "Cannot load &lt;the model&gt;: no such file." in page  # escaped, beside its run
    assert f"run {first.pk}</a> · Failed" in page

    # The last point ends: the sweep has ended, with errors.
    second.generations.update(status=GenerationStatus.DONE)
    Run.objects.filter(pk=second.pk).update(status=RunStatus.COMPLETED)
    got = owner_client.get(f"/api/sweeps/{sweep_id}").json()
    assert got["progress"]["status"] == "completed_with_errors"
    assert got["progress"]["running"] is False and got["progress"]["finished"] == 2
    page = owner_client.get(f"/sweeps/{sweep_id}/").content.decode()
    assert "Completed with errors" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_through_a_worker_a_point_that_fails_at_start_does_not_stop_the_sweep(
    owner_client, owner, start_worker
):
    with RefusesTheFirstCheck(api_key="sk-sweep") as server:
        config = ModelConfig.objects.create(
            name="api",
            backend="openai",
            model="gpt-4o-mini",
            base_url=server.base_url,
            api_key_env="OPENAI_TEST_KEY",
            max_tokens=32,
            owner=owner,
        )
        start_worker(queues="api", env={"OPENAI_TEST_KEY": "sk-sweep"})
        sweep_id = _start(owner_client, make_dataset(owner, 5), config, [1, 2, 4])

        def ended():
            got = owner_client.get(f"/api/sweeps/{sweep_id}").json()
            return got if not got["progress"]["running"] else None

        got = wait_for(ended, timeout=120, interval=0.5, what="the sweep's end")
    runs = {r.params["sweep"]["point"]: r for r in Run.objects.filter(params__sweep__id=sweep_id)}
    assert sorted(runs) == [0, 1, 2]
    assert runs[0].status == RunStatus.FAILED and "refused the key" in runs[0].error
    assert not runs[0].generations.exclude(status=GenerationStatus.PENDING).exists()
    for point in (1, 2):
        assert runs[point].status == RunStatus.COMPLETED
        assert runs[point].generations.filter(status=GenerationStatus.DONE).count() == 3
        assert runs[point].started_at >= runs[point - 1].finished_at  # one after another
    assert got["progress"]["status"] == "completed_with_errors"
    assert got["progress"]["finished"] == 3
    assert [p["status"] for p in got["points"]] == ["failed", "completed", "completed"]
    assert "refused the key" in got["points"][0]["error"]
    assert got["points"][0]["tokens_per_s"] is None and got["points"][1]["tokens_per_s"] > 0
    page = owner_client.get(f"/sweeps/{sweep_id}/").content.decode()
    assert "refused the key" in page and "Completed with errors" in page
    assert Sweep.objects.get(pk=sweep_id).error == ""
