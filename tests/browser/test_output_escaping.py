"""Model output is untrusted: a browser shows it as text and runs none of it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from inference.models import Generation, GenerationStatus, Run, RunStatus
from tests.conftest import make_dataset

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = (
    "<script>window.__pwned=1</script>"
    '<img src=x onerror="window.__pwned=2">'
    '<a href="javascript:window.__pwned=3">click</a>'
)


@pytest.fixture
def hostile_output(owner, mlx_config):
    dataset = make_dataset(owner, 1)
    run = Run.objects.create(
        dataset=dataset,
        model_config=mlx_config,
        params=mlx_config.params(),
        created_by=owner,
        status=RunStatus.COMPLETED,
        total=1,
    )
    return Generation.objects.create(
        run=run, item=dataset.items.get(), status=GenerationStatus.DONE, output=HOSTILE
    )


def _watch(page) -> tuple[list[str], list[str]]:
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    return dialogs, requests


def _assert_inert(page, dialogs: list[str], requests: list[str]) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert [u for u in requests if urlsplit(u).path.rsplit("/", 1)[-1] == "x"] == []
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert page.locator("img[src='x']").count() == 0


def test_an_output_page_shows_markup_as_text(owner_page, hostile_output):
    page = owner_page
    dialogs, requests = _watch(page)
    url = f"/generations/{hostile_output.pk}/"
    page.goto(url, wait_until="networkidle")

    output = page.locator("pre[data-testid=output]")
    expect(output).to_have_text(HOSTILE)
    expect(output).to_contain_text("<script>")
    assert output.locator("a, img, script").count() == 0
    output.get_by_text("click").click()
    page.wait_for_timeout(300)
    assert page.url.endswith(url)
    _assert_inert(page, dialogs, requests)


def test_the_outputs_list_shows_markup_as_text(owner_page, hostile_output):
    page = owner_page
    dialogs, requests = _watch(page)
    page.goto(f"/runs/{hostile_output.run_id}/generations/", wait_until="networkidle")

    preview = page.locator("a.preview")
    expect(preview).to_have_text(HOSTILE)
    expect(preview).to_have_attribute("href", f"/generations/{hostile_output.pk}/")
    assert preview.locator("a, img, script").count() == 0
    _assert_inert(page, dialogs, requests)
