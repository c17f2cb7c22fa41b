"""The question builder shows the settings of each question's kind only: options for single
and multi choice, the range for a rating, neither for pass/fail or text."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOWN = {
    "rating": {"Min", "Max"},
    "single": {"Options"},
    "multi": {"Options"},
    "passfail": set(),
    "text": set(),
}


def _settings_shown(row) -> set[str]:
    return {
        name
        for name in ("Options", "Min", "Max")
        if row.get_by_label(name, exact=False).first.is_visible()
    }


def test_each_kind_shows_its_own_settings(owner_page, shoot):
    page = owner_page
    page.goto("/projects/new/")
    row = page.locator(".question-row").first
    for kind, shown in SHOWN.items():
        row.get_by_label("Kind").select_option(kind)
        assert _settings_shown(row) == shown, kind
    row.get_by_label("Kind").select_option("rating")
    shoot(page, "project-form-rating", 1280)
