"""The page and the API refuse and allow the same people, action by action: one
parametrised test per action over both doors. Personas: an outsider (no manager
permission), a manager who did not create the object, its creator, and a staff member
(superuser). The page is signed in with a session; the API with the person's token."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from annotate.accounts.models import ApiToken
from annotate.datasets.models import Dataset
from annotate.exports.models import Export
from inference.actions import cancel_run, create_run
from inference.models import GenerationStatus, ModelConfig, Price, Run, RunStatus
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db

DOORS = ("page", "api")
# (persona, allowed) for each rule.
MANAGERS = [("outsider", False), ("manager", True), ("creator", True), ("staff", True)]
CREATOR_OR_STAFF = [("outsider", False), ("manager", False), ("creator", True), ("staff", True)]
STAFF = [("outsider", False), ("manager", False), ("creator", False), ("staff", True)]
OWNER_ONLY = [("outsider", False), ("manager", False), ("creator", True), ("staff", False)]


@pytest.fixture
def people(owner, outsider, django_user_model) -> dict:
    """The creator is `owner`, who makes every object these tests act on."""
    manager = django_user_model.objects.create_user("manager", password="pw-manager-123")
    group, _ = Group.objects.get_or_create(name="Project owners")
    group.permissions.set(Permission.objects.filter(content_type__app_label="annotate"))
    manager.groups.add(group)
    staff = django_user_model.objects.create_superuser("staff", password="pw-staff-123")
    # Staff without any model permission: prices follow one rule (staff), not the admin's own.
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    people = {"outsider": outsider, "manager": manager, "creator": owner, "staff": staff}
    return {**people, "clerk": clerk}


@pytest.fixture
def call(people):
    """call(door, persona, method, url, data): the page through a signed-in session, the API
    with the persona's own token (JSON bodies unless `multipart`)."""

    def call(door: str, persona: str, method: str, url: str, data=None, multipart=False):
        user = people[persona]
        client = Client()
        if door == "page":
            client.force_login(user)
            return getattr(client, method)(url, data or {})
        _, token = ApiToken.issue(user, "parity")
        kwargs = {} if multipart else {"content_type": "application/json"}
        return getattr(client, method)(
            url, data or {}, HTTP_AUTHORIZATION=f"Bearer {token}", **kwargs
        )

    return call


def answered(response, allowed: bool, ok: int) -> None:
    assert response.status_code == (ok if allowed else 403), response.content[:500]


@pytest.fixture
def config(owner) -> ModelConfig:
    return ModelConfig.objects.create(name="demo", backend="mlx", model="m", owner=owner)


@pytest.fixture
def run(owner, config) -> Run:
    return create_run(owner, make_dataset(owner, 3).pk, config.pk)


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", MANAGERS)
def test_starting_a_run(door, persona, allowed, call, owner, config):
    dataset = make_dataset(owner, 3)
    if door == "page":
        data = {"dataset": dataset.pk, "model_config": config.pk, "samples_per_prompt": 1}
        response = call(door, persona, "post", "/runs/new/", data)
    else:
        data = {"dataset_id": dataset.pk, "model_config_id": config.pk}
        response = call(door, persona, "post", "/api/runs", data)
    answered(response, allowed, {"page": 302, "api": 201}[door])
    assert Run.objects.filter(dataset=dataset).exists() is allowed


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", CREATOR_OR_STAFF)
def test_cancelling_a_run(door, persona, allowed, call, run):
    url = {"page": f"/runs/{run.pk}/cancel/", "api": f"/api/runs/{run.pk}/cancel"}[door]
    answered(call(door, persona, "post", url), allowed, {"page": 302, "api": 200}[door])
    run.refresh_from_db()
    assert (run.status == RunStatus.CANCELLED) is allowed


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", CREATOR_OR_STAFF)
def test_resuming_a_run(door, persona, allowed, call, owner, run):
    cancel_run(owner, run.pk)
    url = {"page": f"/runs/{run.pk}/resume/", "api": f"/api/runs/{run.pk}/resume"}[door]
    answered(call(door, persona, "post", url), allowed, {"page": 302, "api": 200}[door])
    pending = run.generations.filter(status=GenerationStatus.PENDING).count()
    assert pending == (3 if allowed else 0)


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", CREATOR_OR_STAFF)
def test_retrying_failed_items(door, persona, allowed, call, run):
    run.generations.filter(item__index=0).update(status=GenerationStatus.FAILED, error="boom")
    url = {"page": f"/runs/{run.pk}/retry/", "api": f"/api/runs/{run.pk}/retry"}[door]
    answered(call(door, persona, "post", url), allowed, {"page": 302, "api": 200}[door])
    assert run.generations.filter(status=GenerationStatus.FAILED).exists() is not allowed


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", MANAGERS)
def test_creating_a_model_configuration(door, persona, allowed, call):
    fields = {"name": "new", "backend": "mlx", "model": "m", "max_tokens": 99}
    if door == "page":
        data = {**fields, "batch_size": 8, "hourly_usd": "0"}
        response = call(door, persona, "post", "/models/new/", data)
    else:
        response = call(door, persona, "post", "/api/models", fields)
    answered(response, allowed, {"page": 302, "api": 201}[door])
    assert ModelConfig.objects.filter(name="new").exists() is allowed


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", CREATOR_OR_STAFF)
def test_editing_a_model_configuration(door, persona, allowed, call, config):
    """The drift this fixes: `PUT /api/models/{id}` let any manager edit anyone's
    configuration while the page refused."""
    fields = {"name": "demo", "backend": "mlx", "model": "m", "max_tokens": 99}
    if door == "page":
        data = {**fields, "batch_size": 8, "hourly_usd": "0"}
        response = call(door, persona, "post", f"/models/{config.pk}/edit/", data)
    else:
        response = call(door, persona, "put", f"/api/models/{config.pk}", fields)
    answered(response, allowed, {"page": 302, "api": 200}[door])
    config.refresh_from_db()
    assert (config.max_tokens == 99) is allowed


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", [*STAFF, ("clerk", True)])
def test_adding_a_price(door, persona, allowed, call):
    """The page for prices is the admin's, which sends whoever is not staff to its sign-in."""
    price = {
        "backend": "anthropic",
        "model": "claude-new",
        "input_per_mtok": "1",
        "output_per_mtok": "5",
        "batch_discount": "0.5",
        "effective_from": "2026-01-01",
    }
    if door == "page":
        response = call(door, persona, "post", "/admin/annotate/price/add/", price)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/") is not allowed
    else:
        answered(call(door, persona, "post", "/api/prices", price), allowed, 201)
    assert Price.objects.filter(model="claude-new").exists() is allowed


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", MANAGERS)
def test_importing_a_dataset(door, persona, allowed, call):
    upload = io.BytesIO(b'{"prompt": "a"}\n{"prompt": "b"}\n')
    upload.name = "two.jsonl"
    data = {"file": upload, "name": "two"}
    if door == "page":
        response = call(door, persona, "post", "/datasets/import/", data)
    else:
        response = call(door, persona, "post", "/api/datasets", data, multipart=True)
    answered(response, allowed, {"page": 302, "api": 201}[door])
    assert Dataset.objects.filter(name="two").exists() is allowed


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona, allowed", MANAGERS)
def test_starting_an_export(door, persona, allowed, call, people):
    url = {"page": "/exports/", "api": "/api/exports"}[door]
    response = call(door, persona, "post", url, {"format": "csv"})
    answered(response, allowed, {"page": 302, "api": 201}[door])
    assert Export.objects.filter(owner=people[persona]).exists() is allowed


# Tokens have no API endpoint (they are made in the browser); the API is where a token is
# used, so it is the API that shows whether issuing or revoking took.


@pytest.mark.parametrize("persona", ["outsider", "manager", "creator", "staff"])
def test_everyone_issues_their_own_token_which_the_api_accepts(persona, people):
    page = Client()
    page.force_login(people[persona])
    response = page.post("/account/tokens/", {"name": "ci"})
    assert response.status_code == 200
    token = response.context["token"]
    assert ApiToken.objects.get(name="ci").user == people[persona]
    api = Client().get("/api/datasets", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.status_code == (403 if persona == "outsider" else 200)  # known, not 401


@pytest.mark.parametrize("persona, allowed", OWNER_ONLY)
def test_only_its_owner_revokes_a_token(persona, allowed, people, owner):
    row, token = ApiToken.issue(owner, "ci")
    page = Client()
    page.force_login(people[persona])
    assert page.post(f"/account/tokens/{row.pk}/revoke/").status_code == 302
    api = Client().get("/api/datasets", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.status_code == (401 if allowed else 200)
