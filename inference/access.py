"""Who may see and change what: one helper per object type, first line of every view.

Managing (datasets, model configurations, runs, outputs, prices) takes the manager
permission: superusers, and the "Project owners" group. Seeing is enough to use an object
(run a configuration on a dataset); changing it takes its creator or a staff member.
Labeling projects have their own roles (annotate.labeling.access).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from inference.backends import get_backend_class
from inference.backends.egress import Egress, EgressRefused
from inference.errors import Invalid
from inference.models import Generation, ModelConfig, Run

MANAGE_PERMISSION = "annotate.manage_generation"


def can_manage(user) -> bool:
    return user.is_authenticated and user.has_perm(MANAGE_PERMISSION)


def require_manager(user) -> None:
    if not can_manage(user):
        raise PermissionDenied("This page is for project owners.")


def can_change(user, owner_id: int) -> bool:
    return user.is_staff or user.pk == owner_id


def can_set_prices(user) -> bool:
    """Prices decide every recorded cost: staff set them (the admin's page and the API)."""
    return user.is_active and user.is_staff


def check_rights(user, owner_id: int, write: bool) -> None:
    """Managers see; only the object's creator or staff change it."""
    require_manager(user)
    if write and not can_change(user, owner_id):
        raise PermissionDenied("Only its creator or a staff member can change this.")


def get_config_for_user(user, pk: int, write: bool = False) -> ModelConfig:
    config = get_object_or_404(ModelConfig, pk=pk)
    check_rights(user, config.owner_id, write)
    return config


def get_run_for_user(user, pk: int, write: bool = False, related: bool = True) -> Run:
    """The run, with its dataset and configuration unless `related` is False (a list of its
    outputs needs neither: one table read, not three)."""
    runs = Run.objects.select_related("dataset", "model_config") if related else Run.objects
    run = get_object_or_404(runs, pk=pk)
    check_rights(user, run.created_by_id, write)
    return run


def get_generation_for_user(user, pk: int) -> Generation:
    require_manager(user)
    return get_object_or_404(Generation.objects.select_related("run", "item"), pk=pk)


def operator_egress() -> Egress:
    """Where hosted requests may go and which key may go with them (settings HOSTED_BASE_URLS,
    HOSTED_KEY_VARIABLES). The runner hands the same rules to the worker's backend."""
    return Egress.parse(settings.HOSTED_BASE_URLS, settings.HOSTED_KEY_VARIABLES)


def check_egress(backend: str, base_url: str, api_key_env: str, egress: Egress | None = None):
    """Refuse (422) a hosted configuration whose address or key variable the operator does
    not allow; local backends send nothing anywhere. `egress`: operator_egress(), read once
    by a caller that checks many."""
    cls = get_backend_class(backend)
    if cls.is_local or not cls.generates:  # imported outputs are never sent anywhere
        return
    try:
        (egress or operator_egress()).key_variable(backend, base_url, api_key_env)
    except EgressRefused as exc:
        raise Invalid(str(exc)) from None
