"""Whose name an imported label and final label carry.

By default the person importing: an export's names are only text anyone can write, so they
neither reach existing accounts (an `admin` in the file is not this instance's admin) nor
create new ones. A superuser may keep the authors: each name then goes to the account of
exactly that name, or to a new account without a password, and a new name must pass what
the admin's user form asks of one (django.contrib.auth's UserCreationForm).
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError


def username_problem(name: str) -> str | None:
    """Why `name` cannot be a new account's username, or None: the username field's
    validators (UnicodeUsernameValidator, max length), and no change under the NFKC
    normalization and stripping the admin's user form applies before saving a name."""
    model = get_user_model()
    field = model._meta.get_field(model.USERNAME_FIELD)
    try:
        field.run_validators(name)
    except ValidationError as exc:
        return " ".join(exc.messages)
    if name != unicodedata.normalize("NFKC", name).strip():
        return "not written the way a username is stored (Unicode NFKC, no outer spaces)."
    return None


class Authors:
    """The accounts an import's names go to (`keep`), or the importer alone."""

    def __init__(self, importer, keep: bool) -> None:
        self.importer, self.keep = importer, keep
        self.users: dict[str, object] = {}
        self.checked: dict[str, str | None] = {}
        self.new_names: dict[str, str] = {}  # casefolded → as written
        self.created: list[str] = []

    def problem(self, name: str) -> str | None:
        """Why `name` cannot be kept as an author, or None (always None unless `keep`)."""
        if not self.keep:
            return None
        if name not in self.checked:
            self.checked[name] = self._problem(name)
        return self.checked[name]

    def _problem(self, name: str) -> str | None:
        users = get_user_model().objects
        if users.filter(username=name).exists():
            return None
        if why := username_problem(name):
            return why
        # As the user form: no new name that differs only in case from another one.
        folded = name.casefold()
        other = users.filter(username__iexact=name).values_list("username", flat=True).first()
        other = other or self.new_names.get(folded)
        if other is not None:
            return f"differs only in case from the user {other!r}."
        self.new_names[folded] = name
        return None

    def user(self, name: str):
        """The account for `name` (checked first by `problem`): the importer unless `keep`."""
        if not self.keep:
            return self.importer
        user = self.users.get(name)
        if user is None:
            model = get_user_model()
            user = model.objects.filter(username=name).first()
            if user is None:
                user = model(username=name)
                user.set_unusable_password()
                user.save()
                self.created.append(name)
            self.users[name] = user
        return user
