"""The people a benchmark's data belongs to. Imported after Django is set up."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model


def make_users(prefix: str, annotators: int) -> tuple[Any, Any, list[Any]]:
    """(owner, superuser, annotators) named after `prefix`, without passwords (hashing is
    slow)."""
    User = get_user_model()
    names = [f"{prefix}-a{i:02d}" for i in range(annotators)] + [f"{prefix}-owner"]
    users = [User(username=name) for name in names]
    users.append(User(username=f"{prefix}-root", is_superuser=True, is_staff=True))
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    by_name = {u.username: u for u in User.objects.filter(username__startswith=prefix)}
    return (
        by_name[f"{prefix}-owner"],
        by_name[f"{prefix}-root"],
        [by_name[n] for n in names[:annotators]],
    )
