"""What people do with their own account: issue and revoke personal API tokens."""

from __future__ import annotations

from django.utils import timezone

from annotate.accounts.models import ApiToken


def issue_token(user, name: str) -> tuple[ApiToken, str]:
    """A new token for the caller: the row, and the secret, shown once."""
    return ApiToken.issue(user, name)


def revoke_token(user, token_id: int) -> bool:
    """Revoke one of the caller's own tokens; False if they have no such live token."""
    live = ApiToken.objects.filter(user=user, pk=token_id, revoked_at__isnull=True)
    return bool(live.update(revoked_at=timezone.now()))
