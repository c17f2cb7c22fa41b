"""People's accounts as owners and managers handle them without Django's admin: finding
someone by user name or e-mail, creating an account that its person finishes through a
one-time set-password link, and the link itself.

The link is Django's password-reset token (PasswordResetTokenGenerator): it is signed with
SECRET_KEY over the account's password hash and last sign-in, so it works once (setting a
password changes the hash) and expires after PASSWORD_RESET_TIMEOUT. Nothing here logs it.
"""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from inference.errors import Invalid

SET_PASSWORD_URL = "annotate-set-password"


class NoSuchAccount(LookupError):
    """No account has that user name or e-mail address."""


def find_person(who: str):
    """The active or inactive account named `who`, or whose e-mail address it is (letter case
    ignored); NoSuchAccount when none; Invalid when several share the address."""
    users = get_user_model().objects
    who = who.strip()
    if not who:
        raise Invalid("Give a user name or an e-mail address.")
    if person := users.filter(username=who).first():
        return person
    if "@" in who:
        found = list(users.filter(email__iexact=who)[:2])
        if len(found) > 1:
            raise Invalid(f"Several accounts have the e-mail {who}: give the user name.")
        if found:
            return found[0]
    raise NoSuchAccount(who)


def create_account(username: str, email: str):
    """A new, active account without a usable password: its person sets one by the link.
    The name passes the admin's rules (Django's username validator, 150 characters); the
    address must be valid; neither may be taken (the address by any letter case)."""
    model = get_user_model()
    username = unicodedata.normalize("NFKC", username.strip())  # as the admin's form does
    if not username:
        raise Invalid("Give the new account a user name.")
    try:
        model._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        raise Invalid(f"User name {username!r}: {' '.join(exc.messages)}") from None
    email = model.objects.normalize_email(email.strip())
    try:
        validate_email(email)
    except ValidationError:
        raise Invalid(f"{email!r} is not an e-mail address.") from None
    if model.objects.filter(username__iexact=username).exists():
        raise Invalid(f"The user name {username!r} is taken.")
    if model.objects.filter(email__iexact=email).exists():
        raise Invalid(f"An account with the e-mail {email} exists: add it by that address.")
    person = model(username=username, email=email)
    person.set_unusable_password()
    person.save()
    return person


def set_password_link(person, site_url: str) -> str:
    """The one-time link (absolute: `site_url` is the site's address, scheme and host)."""
    path = reverse(
        SET_PASSWORD_URL,
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(person.pk)),
            "token": default_token_generator.make_token(person),
        },
    )
    return site_url.rstrip("/") + path


def send_link(person, url: str, invited_by, project_name: str) -> bool:
    """E-mail the link to the person when the site sends e-mail (settings.EMAIL_HOST set);
    whether it did. A failure to send is the owner's to see: the link is on their screen."""
    if not settings.EMAIL_HOST or not person.email:
        return False
    hours = round(settings.PASSWORD_RESET_TIMEOUT / 3600)
    body = (
        f"{invited_by.username} made you an Annotate account ({person.username}) to work on "
        f"{project_name}.\n\nSet your password here (the link works once, for {hours} hours):"
        f"\n\n{url}\n"
    )
    return bool(send_mail("Your Annotate account", body, None, [person.email], fail_silently=True))
