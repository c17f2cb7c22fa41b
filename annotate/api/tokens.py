"""Personal API tokens: a script signs in once with its password and keeps a token."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema, Status
from ninja.security import django_auth
from pydantic import Field

from annotate.accounts import actions
from annotate.api.auth import BasicAuth
from annotate.api.types import In

router = Router(tags=["tokens"])


class TokenIn(In):
    name: str = Field(min_length=1, max_length=100)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    token: str


# A password (Basic) or the browser's session, never a token: a leaked token must not be
# able to mint more that outlive its revocation.
@router.post("/tokens", response={201: TokenOut}, auth=[BasicAuth(), django_auth])
def create_token(request, payload: TokenIn):
    """A new token for the caller (`curl -u user:password`), shown once in this response:
    only its digest is kept. Send it afterwards as `Authorization: Bearer <token>`."""
    row, secret = actions.issue_token(request.user, payload.name.strip() or "API")
    out = {"id": row.pk, "name": row.name, "prefix": row.prefix, "created_at": row.created_at}
    return Status(201, out | {"token": secret})
