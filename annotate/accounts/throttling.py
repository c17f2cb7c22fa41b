"""Sign-in throttling, shared by the login page and the API's HTTP Basic auth.

django-axes counts failed sign-ins per user name *and* client address together (settings
`AXES_*`): past `LOGIN_MAX_FAILURES`, that name is cooled down from that address only, so a
stranger's failures never keep a user out from their own address. The client address is the
hop our TLS proxy appended to X-Forwarded-For when `BEHIND_TLS_PROXY` is on, else REMOTE_ADDR.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest, HttpResponse


class CooledDown(Exception):
    """Too many failed sign-ins for this user name from this address."""

    def __init__(self) -> None:
        minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
        super().__init__(
            "Too many failed sign-ins for this user name from your address: "
            f"try again in {minutes} minutes."
        )


def sign_in(request: HttpRequest, username: str, password: str):
    """The user these credentials name, or None; raises CooledDown while this address is
    cooled down for this name, whether or not the password is right."""
    name_field = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD)
    if "\x00" in username or len(username) > name_field.max_length:
        return None  # no account has such a name, and the failure table could not hold it
    user = authenticate(request, username=username, password=password)
    # axes' backend refuses a cooled-down source and flags the request; a failure that
    # reaches the limit flags it too.
    if getattr(request, "axes_locked_out", False):
        raise CooledDown
    return user


def client_address(request: HttpRequest) -> str | None:
    """The address failures are counted against (axes' `AXES_CLIENT_IP_CALLABLE`)."""
    if settings.BEHIND_TLS_PROXY:
        # Our proxy appends the address it saw to X-Forwarded-For, so the right-most entry
        # is the client's; anything left of it came from the client and may be forged.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1]
        if address := _valid_address(forwarded):
            return address
    return _valid_address(request.META.get("REMOTE_ADDR", ""))


def _valid_address(text: str) -> str | None:
    # axes keeps it in a GenericIPAddressField (PostgreSQL's inet): only a real address fits.
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def cooled_down_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """axes' answer to a cooled-down request (`AXES_LOCKOUT_CALLABLE`): the door's own 429
    (the login page, the API's `{"detail": ...}`), or plain text where a door has none."""
    if original_response is not None and original_response.status_code == 429:
        return original_response
    return HttpResponse(str(CooledDown()), status=429, content_type="text/plain; charset=utf-8")
