"""Who is calling the API: a personal token, HTTP Basic (for scripts) or the browser's session."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import HttpBasicAuth, HttpBearer

from annotate.accounts.models import ApiToken
from annotate.accounts.throttling import CooledDown, sign_in

LAST_USED_EVERY = timedelta(minutes=1)


class BasicAuth(HttpBasicAuth):
    """For scripts: `curl -u user:password`. The browser uses its session."""

    def authenticate(self, request, username, password):
        try:
            user = sign_in(request, username, password)
        except CooledDown as error:
            raise HttpError(429, str(error)) from error
        if user is None:
            return None
        request.user = user
        return user


class TokenAuth(HttpBearer):
    """Personal API tokens (created and revoked in the browser, at /account/tokens/)."""

    def __call__(self, request):
        # ninja's own check logs the whole header ("Unexpected auth - 'Basic <user:password>'")
        # when its scheme is not Bearer: other schemes are answered here, before it can.
        scheme, _, token = request.headers.get(self.header, "").partition(" ")
        if scheme.lower() != self.openapi_scheme or not token.strip():
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request, token):
        row = (
            ApiToken.objects.select_related("user")
            .filter(digest=ApiToken.hash(token), revoked_at__isnull=True)
            .first()
        )
        if row is None or not row.user.is_active:
            return None
        now = timezone.now()
        # To the minute: a script's every request need not write the row (on SQLite, one
        # writer at a time). The condition is in the UPDATE too: two requests at once write once.
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
            stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_EVERY)
            ApiToken.objects.filter(stale, pk=row.pk).update(last_used_at=now)
        request.user = row.user
        return row.user
