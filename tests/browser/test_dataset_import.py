"""Importing a file through the datasets page."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from annotate.datasets.models import Dataset, Item
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_file_with_a_bad_line_names_it_and_imports_nothing(page, owner):
    lines = [
        json.dumps({"prompt": "One."}),
        json.dumps({"prompt": "Two."}),
        '{"prompt": "Three.",',
        json.dumps({"prompt": "Four."}),
    ]
    page.goto("/datasets/")
    log_in(page, "owner", "pw-owner-123")

    upload = {"name": "broken.jsonl", "mimeType": "text/plain", "buffer": "\n".join(lines).encode()}
    page.get_by_label("File").set_input_files(files=[upload])
    page.get_by_label("Name:", exact=True).fill("Broken")
    page.get_by_role("button", name="Import").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Nothing was imported: 1 bad line.")
    expect(alert).to_contain_text("line 3: not valid JSON")
    expect(page.get_by_label("Name:", exact=True)).to_have_value("Broken")
    expect(page.locator("table").first).to_contain_text("No datasets yet.")
    assert not Dataset.objects.exists()
    assert not Item.objects.exists()
