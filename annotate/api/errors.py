"""The API's one error shape, `{"detail": "...", "errors": [...]?}`, and the domain errors
turned into it: an action's refusal carries its own status (inference.errors)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DataError
from ninja import NinjaAPI, Schema

from inference.errors import ActionError


class ErrorOut(Schema):
    detail: str
    errors: list[str] = []


def install(api: NinjaAPI) -> None:
    """Answer the domain's errors with their status and `{"detail": ...}`."""

    def action_refused(request, exc: ActionError):
        return api.create_response(request, {"detail": str(exc)}, status=exc.status)

    def permission_denied(request, exc: PermissionDenied):
        return api.create_response(request, {"detail": str(exc) or "Forbidden"}, status=403)

    def database_refused(request, exc: DataError):
        # A value the database cannot hold (a NUL character, a number out of range) is the
        # caller's mistake: say so instead of failing.
        return api.create_response(request, {"detail": f"Invalid value: {exc}"}, status=422)

    def body_too_big(request, exc: RequestDataTooBig):
        # Without a handler ninja answers it with a 500 (and a traceback when DEBUG is on).
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        detail = f"The request body is over DATA_UPLOAD_MAX_MEMORY_SIZE ({limit:,} bytes)."
        return api.create_response(request, {"detail": detail}, status=413)

    api.add_exception_handler(ActionError, action_refused)
    api.add_exception_handler(RequestDataTooBig, body_too_big)
    api.add_exception_handler(PermissionDenied, permission_denied)
    api.add_exception_handler(DataError, database_refused)
