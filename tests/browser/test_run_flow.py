"""From a file of prompts to measured outputs, watched in a browser, with a real worker."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from inference.actions import create_run
from inference.models import GenerationStatus, Run, RunStatus
from tests.browser.conftest import log_in
from tests.conftest import make_dataset

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


def _progress(page) -> tuple[float, float]:
    return page.locator("#run-progress progress").evaluate("p => [p.value, p.max]")


def _watch_progress(page, timeout: float = 45) -> list[float]:
    """The values the progress bar shows, sampled until it is full."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value, maximum = _progress(page)
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == maximum:
            return seen
        page.wait_for_timeout(100)
    raise AssertionError(f"the progress bar stopped at {seen} of {maximum}")


def _mark_document(page) -> None:
    # Gone if the page reloads: what changes must change in this document.
    page.evaluate("window.__sameDocument = true")


def _assert_same_document(page) -> None:
    assert page.evaluate("window.__sameDocument") is True


def test_a_user_imports_prompts_generates_and_watches_the_run_live(
    page, owner, mlx_config, start_worker, shoot
):
    # One long output at a time: the run lasts several polls, so the bar is seen moving.
    mlx_config.max_tokens = 400
    mlx_config.batch_size = 1
    mlx_config.save()
    start_worker()

    page.goto("/datasets/")
    log_in(page, "owner", "pw-owner-123")
    expect(page).to_have_url(re.compile(r"/datasets/$"))
    page.wait_for_function("window.htmx !== undefined")

    prompts = "".join(json.dumps({"prompt": f"Write function {i}."}) + "\n" for i in range(12))
    page.get_by_label("File").set_input_files(
        files=[{"name": "prompts.jsonl", "mimeType": "text/plain", "buffer": prompts.encode()}]
    )
    page.get_by_label("Name:", exact=True).fill("Twelve prompts")
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Twelve prompts")
    expect(page.get_by_text("Imported 12 items from prompts.jsonl.")).to_be_visible()
    expect(page.locator("table.items tbody tr")).to_have_count(12)

    page.get_by_label("Model").select_option(label="demo")
    page.get_by_role("button", name="Generate").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    run = Run.objects.get()
    page.wait_for_function("window.htmx !== undefined")
    _mark_document(page)

    seen = _watch_progress(page)
    assert seen == sorted(seen), f"the bar went back: {seen}"
    assert seen[-1] == 12
    assert any(0 < value < 12 for value in seen), f"no progress between start and end: {seen}"
    card = page.locator("#run-progress")
    expect(card.locator(".status")).to_have_text("Completed")
    expect(card.locator("[data-figure=done]")).to_have_text("12")
    expect(card.locator("[data-figure=failed]")).to_have_text("0")
    expect(card.locator("[data-figure=tps]")).to_have_text(re.compile(r"^\d+(\.\d)?$"))
    _assert_same_document(page)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED

    # A finished run stops polling.
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))
    page.wait_for_timeout(2500)
    assert polls == []

    card.get_by_role("link", name="Outputs").click()
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/generations/$"))
    rows = page.locator("table.outputs tbody tr")
    expect(rows).to_have_count(12)
    rows.first.get_by_role("link").first.click()

    expect(page).to_have_url(re.compile(r"/generations/\d+/$"))
    expect(page.locator("pre[data-testid=output]")).not_to_be_empty()
    for measure in ("Time to first token", "Latency"):
        figure = page.locator("dl.figures > div").filter(has_text=measure).locator("dd")
        expect(figure).to_have_text(re.compile(r"^\d+\.\d{3} s$"))
    shoot(page, "output-page")


def test_a_run_is_cancelled_and_resumed_from_its_page(
    owner_page, owner, mlx_config, start_worker, shoot
):
    # Long enough that items are still waiting when Cancel is pressed, however fast the
    # worker decodes.
    mlx_config.max_tokens = 400
    mlx_config.batch_size = 2
    mlx_config.save()
    start_worker()
    run = create_run(owner, make_dataset(owner, 40).pk, mlx_config.pk)
    page = owner_page
    page.goto(f"/runs/{run.pk}/")
    page.wait_for_function("window.htmx !== undefined")
    _mark_document(page)
    card = page.locator("#run-progress")

    expect(card.locator(".status")).to_have_text("Running", timeout=20_000)
    expect(card.locator("[data-figure=done]")).not_to_have_text("0", timeout=20_000)
    shoot(page, "run-page-mid-run")
    card.get_by_role("button", name="Cancel").click()

    expect(card.locator(".status")).to_have_text("Cancelled")
    expect(card.get_by_role("button", name="Cancel")).to_have_count(0)
    resume = card.get_by_role("button", name="Resume")
    expect(resume).to_be_visible()
    _assert_same_document(page)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.generations.filter(status=GenerationStatus.CANCELLED).exists()

    resume.click()
    expect(card.locator(".status")).to_have_text(re.compile("Queued|Running"))
    expect(card.locator(".status")).to_have_text("Completed", timeout=45_000)
    expect(card.locator("[data-figure=done]")).to_have_text("40")
    _assert_same_document(page)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
