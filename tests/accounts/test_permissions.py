"""Managing datasets, model configurations, runs and prices takes `manage_generation`, a
permission named for what it allows (it was Django's *view* permission of Run)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

OWNERS = "Project owners"
BEFORE = [("annotate", "0010_model_queue")]
MANAGER_PAGES = ["/models/", "/datasets/", "/runs/", "/stats/", "/api/models", "/api/prices"]


def permission(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="annotate", codename=codename)


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes("annotate")


def status_codes(client, user) -> set[int]:
    client.force_login(user)
    return {client.get(url).status_code for url in MANAGER_PAGES}


@pytest.mark.django_db
def test_a_member_of_project_owners_can_manage(client, django_user_model):
    user = django_user_model.objects.create_user("olga", password="pw-olga-123")
    user.groups.add(Group.objects.get(name=OWNERS))  # the group as the migrations made it
    assert status_codes(client, user) == {200}
    response = client.post(
        "/models/new/",
        {"name": "local", "backend": "mlx", "model": "m", "max_tokens": 8, "hourly_usd": "0"},
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_view_run_alone_no_longer_lets_anyone_manage(client, django_user_model):
    user = django_user_model.objects.create_user("vera", password="pw-vera-123")
    user.user_permissions.add(permission("view_run"))
    assert status_codes(client, user) == {403}
    response = client.post(
        "/api/models",
        {"name": "x", "backend": "mlx", "model": "m"},
        content_type="application/json",
    )
    assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_whoever_held_view_run_keeps_managing_across_the_migration(client, django_user_model):
    migrate(BEFORE)
    try:
        # A database from before the change: owners (a group holding view_run, as 0005 made
        # it) and a user granted view_run directly.
        group, _ = Group.objects.get_or_create(name=OWNERS)
        group.permissions.set([permission("view_run")])
        member = django_user_model.objects.create_user("olga", password="pw-olga-123")
        member.groups.add(group)
        direct = django_user_model.objects.create_user("dora", password="pw-dora-123")
        direct.user_permissions.add(permission("view_run"))
        other = django_user_model.objects.create_user("otto", password="pw-otto-123")
        assert not Permission.objects.filter(codename="manage_generation").exists()
    finally:
        migrate(latest())
    granted = permission("manage_generation")
    assert granted in group.permissions.all() and granted in direct.user_permissions.all()
    for user in (member, direct):
        assert status_codes(client, user) == {200}
    assert status_codes(client, other) == {403}

    migrate(BEFORE)  # backwards: the permission goes, view_run stays
    try:
        assert not Permission.objects.filter(codename="manage_generation").exists()
        assert permission("view_run") in group.permissions.all()
    finally:
        migrate(latest())
    for user in (member, direct):
        assert status_codes(client, user) == {200}
