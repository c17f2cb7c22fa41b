"""Accounts in the REST API: managers deactivate one (annotate.accounts.actions)."""

from __future__ import annotations

from ninja import Router, Schema

from annotate.accounts import actions

router = Router(tags=["accounts"])


class AccountOut(Schema):
    username: str
    active: bool


@router.post("/accounts/{username}/deactivate", response=AccountOut)
def deactivate_account(request, username: str):
    """Switch off an account, by user name or e-mail (managers; staff and managers only by a
    superuser; never one's own): no more sign-ins, sessions, tokens or Basic auth. Labels stay."""
    person = actions.deactivate_account(request.user, username)
    return {"username": person.username, "active": person.is_active}
