"""Importing a file through the datasets page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotate.datasets.models import Dataset, ImportJob, Item
from tests.browser.conftest import log_in
from tests.support.screens import WIDTHS, wider_than_card

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


def test_a_large_file_with_no_worker_to_take_it_says_so(page, owner, settings, shoot):
    """Above IMPORT_INLINE_MAX_BYTES a worker imports the file: with none on the api queue,
    the import's page says so and how to start one, at every width."""
    settings.IMPORT_INLINE_MAX_BYTES = 100
    lines = [json.dumps({"prompt": f"Question {i}: what is {i} squared?"}) for i in range(20)]
    page.goto("/datasets/")
    log_in(page, "owner", "pw-owner-123")
    upload = {
        "name": "squares.jsonl",
        "mimeType": "text/plain",
        "buffer": "\n".join(lines).encode(),
    }
    page.get_by_label("File").set_input_files(files=[upload])
    page.get_by_label("Name:", exact=True).fill("Squares")
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_text("waiting for a worker")).to_be_visible()
    warning = page.get_by_test_id("no-import-worker")
    expect(warning).to_contain_text("No worker consumes the api queue")
    expect(warning).to_contain_text("celery -A annotate worker -Q api")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        assert wider_than_card(page) == []
        shoot(page, "import-no-worker", width)
    assert not Dataset.objects.exists()
    for job in ImportJob.objects.all():  # its upload stays queued: leave none behind
        Path(job.path).unlink(missing_ok=True)
