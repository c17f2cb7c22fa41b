"""Cancelling a speed sweep (annotate.stats.actions.cancel_sweep; the sweep page's Cancel
button, POST /api/sweeps/N/cancel): the point in progress is cancelled through the run's own
cancel action, no further point starts, and the points already measured stay, chart included.
Figures are hand-computed from the generations written here."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from annotate.stats.models import Sweep
from annotate.stats.sweeps import start_next_point
from inference.models import Generation, GenerationStatus, Run, RunStatus
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


def _sweep(client, dataset, config) -> Sweep:
    """Two points (in flight 1 and 2, max tokens 8) over all 3 items; the first run starts."""
    body = {"dataset_id": dataset.pk, "model_config_id": config.pk}
    body |= {"in_flight": [1, 2], "max_tokens": [8], "sample_size": 3}
    response = client.post("/api/sweeps", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return Sweep.objects.get(pk=response.json()["id"])


def _measure_first_point(sweep: Sweep) -> Run:
    """Point 0 done by hand: 8 tokens each, latencies 1, 2 and 3 s, starting 0, 1 and 1 s
    in (so ending at 1, 3 and 4 s): 24 tokens from 0 s to 4 s, 6.0 tokens/s, p50 2.0 s.
    Then the next point starts, as the run_finished receiver does."""
    run = Run.objects.get(params__sweep__point=0, params__sweep__id=sweep.pk)
    t0 = timezone.now() - timedelta(minutes=1)
    for i, gen in enumerate(run.generations.order_by("pk")):
        gen.status = GenerationStatus.DONE
        gen.output_tokens = 8
        gen.latency_s = 1.0 + i
        gen.started_at = t0 + timedelta(seconds=min(i, 1))
        gen.finished_at = gen.started_at + timedelta(seconds=gen.latency_s)
        gen.save()
    run.status, run.finished_at = RunStatus.COMPLETED, t0 + timedelta(seconds=4)
    run.save()
    start_next_point(sweep.pk)
    return run


def _manager(django_user_model, name: str, staff: bool = False):
    user = django_user_model.objects.create_user(name, password=f"pw-{name}-123", is_staff=staff)
    user.groups.add(Group.objects.get(name="Project owners"))
    return user


def test_the_creator_cancels_through_the_api_and_no_further_point_starts(
    owner_client, owner, mlx_config
):
    sweep = _sweep(owner_client, make_dataset(owner, 3), mlx_config)
    first = _measure_first_point(sweep)
    second = Run.objects.get(params__sweep__point=1, params__sweep__id=sweep.pk)
    assert second.status == RunStatus.QUEUED  # the point in progress

    response = owner_client.post(f"/api/sweeps/{sweep.pk}/cancel")
    assert response.status_code == 200, response.content
    got = response.json()
    assert got["cancelled_at"] is not None
    assert got["progress"]["status"] == "cancelled" and got["progress"]["running"] is False
    assert [p["status"] for p in got["points"]] == ["completed", "cancelled"]
    # The point measured keeps its figures.
    assert got["points"][0]["tokens_per_s"] == pytest.approx(24 / 4)
    assert got["points"][0]["p50_latency_s"] == pytest.approx(2.0)
    # Cancelled as the run's own cancel does it: the run and its waiting items.
    second.refresh_from_db()
    assert second.status == RunStatus.CANCELLED
    statuses = set(Generation.objects.filter(run=second).values_list("status", flat=True))
    assert statuses == {GenerationStatus.CANCELLED}
    first.refresh_from_db()
    assert first.status == RunStatus.COMPLETED
    # A point's end announced late starts nothing.
    assert start_next_point(sweep.pk) is None
    assert Run.objects.filter(params__sweep__id=sweep.pk).count() == 2

    page = owner_client.get(f"/sweeps/{sweep.pk}/").content.decode()
    assert 'data-testid="sweep-status"><span class="status status-cancelled">Cancelled' in page
    assert f"run {first.pk}</a> · Completed" in page and "6.0" in page
    assert "Cancel sweep" not in page
    chart = json.loads(re.search(r'id="sweep-data"[^>]*>(.*?)</script>', page, re.S)[1])
    assert [(p["point"], p["tokens_per_s"]) for p in chart["points"]] == [(0, pytest.approx(6.0))]

    again = owner_client.post(f"/api/sweeps/{sweep.pk}/cancel")
    assert again.status_code == 409 and "cancelled already" in again.json()["detail"]


def test_only_its_creator_or_staff_may_cancel(client, owner, mlx_config, django_user_model):
    client.force_login(owner)
    sweep = _sweep(client, make_dataset(owner, 3), mlx_config)
    run = Run.objects.get(params__sweep__id=sweep.pk)
    client.force_login(_manager(django_user_model, "other"))
    assert client.post(f"/api/sweeps/{sweep.pk}/cancel").status_code == 403
    assert client.post(f"/sweeps/{sweep.pk}/cancel/").status_code == 403
    sweep.refresh_from_db()
    run.refresh_from_db()
    assert sweep.cancelled_at is None and run.status == RunStatus.QUEUED
    client.force_login(_manager(django_user_model, "staffer", staff=True))
    assert client.post(f"/api/sweeps/{sweep.pk}/cancel").status_code == 200
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_an_ended_sweep_cannot_be_cancelled(owner_client, owner, mlx_config):
    sweep = _sweep(owner_client, make_dataset(owner, 3), mlx_config)
    _measure_first_point(sweep)
    Run.objects.filter(params__sweep__point=1).update(status=RunStatus.COMPLETED)
    response = owner_client.post(f"/api/sweeps/{sweep.pk}/cancel")
    assert response.status_code == 409 and "has ended" in response.json()["detail"]
    assert Sweep.objects.get(pk=sweep.pk).cancelled_at is None
    assert owner_client.get(f"/api/sweeps/{sweep.pk}").json()["progress"]["status"] == "completed"


def test_the_page_cancels_with_htmx_and_with_a_plain_form(owner_client, owner, mlx_config):
    dataset = make_dataset(owner, 3)
    sweep = _sweep(owner_client, dataset, mlx_config)
    page = owner_client.get(f"/sweeps/{sweep.pk}/").content.decode()
    url = f"/sweeps/{sweep.pk}/cancel/"
    assert f'<form method="post" action="{url}" hx-post="{url}">' in page
    assert "Cancel sweep" in page

    # htmx: the progress and table come back, polling stops (286).
    response = owner_client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    fragment = response.content.decode()
    assert (
        fragment.lstrip().startswith('<section id="sweep-points"') and "hx-trigger" not in fragment
    )
    assert "status-cancelled" in fragment and "Sweep cancelled" in fragment
    assert Run.objects.get(params__sweep__id=sweep.pk).status == RunStatus.CANCELLED

    # Without JavaScript: back to the page, which says so; a second press explains itself.
    other = _sweep(owner_client, dataset, mlx_config)
    response = owner_client.post(f"/sweeps/{other.pk}/cancel/", follow=True)
    assert response.redirect_chain == [(f"/sweeps/{other.pk}/", 302)]
    assert "Sweep cancelled; the points already measured stay." in response.content.decode()
    response = owner_client.post(f"/sweeps/{other.pk}/cancel/", follow=True)
    assert response.status_code == 200
    assert f"Sweep {other.pk} is cancelled already." in response.content.decode()
