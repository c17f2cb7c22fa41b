"""The errors actions raise, for every part (generation is the bottom layer, so they live
here). Each door turns them into what its callers read: the page into a message, the API
into `{"detail": ...}` with the status below. Permission errors are Django's
`PermissionDenied` (403) and missing objects `Http404` (404), which both doors know."""

from __future__ import annotations


class ActionError(Exception):
    """An action refused: the message says why, in words for the person who asked."""

    status = 400


class Conflict(ActionError):
    """The action does not fit the object's state (resume a finished run, change the kind
    of a project that has items, a name already taken)."""

    status = 409


class Invalid(ActionError):
    """The input is refused (an unknown backend, a bad question schema, bad answers)."""

    status = 422
