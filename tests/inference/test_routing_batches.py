"""A provider-batch configuration (Message Batches: answers within hours) cannot be a leg of
a routed configuration: neither a time-to-first-token rule nor a fallback on errors could act
in time. Refused by the one check the page, the API and the admin share
(inference.routing.check_route), with the configuration named; never a 500."""

from __future__ import annotations

import pytest

from inference.actions import save_model_config
from inference.errors import Invalid
from inference.models import ModelConfig

pytestmark = pytest.mark.django_db

WHY = "answer within hours"


@pytest.fixture
def batched(owner):
    return ModelConfig.objects.create(
        name="claude-batches",
        backend="anthropic",
        model="claude-haiku-4-5",
        mode="batch",
        owner=owner,
    )


@pytest.fixture
def streamed(owner):
    return ModelConfig.objects.create(name="local", backend="mlx", model="m", owner=owner)


def test_the_action_refuses_a_batch_leg_and_names_it(owner, batched, streamed):
    for primary, fallback in ((batched, streamed), (streamed, batched)):
        fields = {"name": "hybrid", "backend": "mlx", "model": "-"}
        fields |= {"route_primary": primary, "route_fallback": fallback}
        with pytest.raises(Invalid) as refused:
            save_model_config(owner, None, fields)
        assert "'claude-batches' cannot be a leg" in str(refused.value)
        assert WHY in str(refused.value)
    assert not ModelConfig.objects.filter(name="hybrid").exists()


def test_the_api_refuses_a_batch_leg_with_422(owner_client, batched, streamed):
    body = {"name": "hybrid", "backend": "mlx", "model": "-"}
    body |= {"route_primary_id": streamed.pk, "route_fallback_id": batched.pk}
    response = owner_client.post("/api/models", body, content_type="application/json")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'claude-batches'" in detail and "'hybrid'" in detail and WHY in detail
    assert not ModelConfig.objects.filter(name="hybrid").exists()


def test_a_leg_cannot_be_switched_to_batches_afterwards(owner, owner_client, streamed):
    leg = ModelConfig.objects.create(
        name="claude", backend="anthropic", model="claude-haiku-4-5", owner=owner
    )
    fields = {"name": "hybrid", "backend": "mlx", "model": "-"}
    save_model_config(owner, None, fields | {"route_primary": streamed, "route_fallback": leg})
    with pytest.raises(Invalid, match=f"'claude' cannot be a leg of .*'hybrid'.*{WHY}"):
        save_model_config(owner, leg.pk, {"mode": "batch"})
    put = {"name": "claude", "backend": "anthropic", "model": "claude-haiku-4-5", "mode": "batch"}
    response = owner_client.put(f"/api/models/{leg.pk}", put, content_type="application/json")
    assert response.status_code == 422 and WHY in response.json()["detail"]
    assert ModelConfig.objects.get(pk=leg.pk).mode == "stream"
    # Streamed, it stays a leg and may change otherwise.
    save_model_config(owner, leg.pk, {"max_tokens": 64})
    assert ModelConfig.objects.get(pk=leg.pk).max_tokens == 64


def test_the_admin_refuses_it_with_the_same_message(client, django_user_model, batched, streamed):
    root = django_user_model.objects.create_superuser("root", password="pw-root-123")
    client.force_login(root)
    data = {
        "name": "hybrid-admin",
        "backend": "mlx",
        "model": "m",
        "max_tokens": 16,
        "batch_size": 8,
        "concurrency": 8,
        "mode": "stream",
        "pricing": "token",
        "stop": "[]",
        "route_primary": streamed.pk,
        "route_fallback": batched.pk,
        "route_on_errors": "on",
        "owner": root.pk,
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
    }
    response = client.post("/admin/annotate/modelconfig/add/", data)
    assert response.status_code == 200  # the form again, with the error
    page = response.content.decode()
    assert "cannot be a leg of the routed configuration" in page and WHY in page
    assert not ModelConfig.objects.filter(name="hybrid-admin").exists()
    # The same form with a streamed fallback is saved: the refusal was the batch leg's.
    other = ModelConfig.objects.create(name="other", backend="mlx", model="m", owner=root)
    response = client.post("/admin/annotate/modelconfig/add/", data | {"route_fallback": other.pk})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert ModelConfig.objects.get(name="hybrid-admin").route_fallback_id == other.pk
