"""What people do with accounts: issue and revoke their own personal API tokens; managers
deactivate an account."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from annotate.accounts.models import ApiToken
from annotate.accounts.people import NoSuchAccount, find_person
from inference.access import MANAGE_PERMISSION, require_manager


def issue_token(user, name: str) -> tuple[ApiToken, str]:
    """A new token for the caller: the row, and the secret, shown once."""
    return ApiToken.issue(user, name)


def revoke_token(user, token_id: int) -> bool:
    """Revoke one of the caller's own tokens; False if they have no such live token."""
    live = ApiToken.objects.filter(user=user, pk=token_id, revoked_at__isnull=True)
    return bool(live.update(revoked_at=timezone.now()))


def deactivate_account(user, who: str):
    """Switch off an account (managers), found by user name or e-mail: it can no longer sign
    in, and its sessions, API tokens and Basic auth stop working; its labels stay. Nobody
    deactivates themselves, and only a superuser deactivates a staff member, a superuser or
    another manager (a manager cannot lock out those who hold more than they do)."""
    require_manager(user)
    try:
        person = find_person(who)
    except NoSuchAccount:
        raise Http404(f"No account named {who!r}.") from None
    if person.pk == user.pk:
        raise PermissionDenied("You cannot deactivate your own account.")
    powerful = person.is_staff or person.is_superuser or person.has_perm(MANAGE_PERMISSION)
    if powerful and not user.is_superuser:
        raise PermissionDenied("Only a superuser deactivates a staff member or a manager.")
    if person.is_active:
        person.is_active = False
        person.save(update_fields=("is_active",))
    return person
