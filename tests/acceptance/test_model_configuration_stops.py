"""A model configuration's stop sequences, as a person saves them through its form: the page is
fetched, its form posted back as the browser would, and the result read back through the API."""

from __future__ import annotations

import pytest
from django.test import Client

from annotate.accounts.models import ApiToken
from inference.models import ModelConfig
from tests.support.html_forms import form_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(owner) -> Client:
    _, token = ApiToken.issue(owner, "stops")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def saved_unchanged(client: Client, url: str, **typed: str) -> tuple[dict[str, str], int]:
    """Open the form, fill in only `typed`, save: the values shown and the response status."""
    shown = form_values(client.get(url).content.decode(), field="stop")
    response = client.post(url, {**shown, **typed})
    return shown, response.status_code


def test_a_new_configuration_saved_as_offered_has_no_stop_sequence(owner_client, api):
    # A name and a backend are all a new configuration needs: nothing is offered for them.
    shown, status = saved_unchanged(owner_client, "/models/new/", name="as-offered", backend="mlx")

    assert status == 302
    assert shown["stop"] == ""  # an empty box, not "[]"
    config = ModelConfig.objects.get(name="as-offered")
    assert config.stop == []
    assert api.get(f"/api/models/{config.pk}").json()["stop"] == []


def test_stop_sequences_with_newlines_survive_an_unchanged_save(owner_client, api):
    made = api.post(
        "/api/models",
        {"name": "fenced", "backend": "mlx", "model": "m", "stop": ["\n\n", "###", "a\\b"]},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    url = f"/models/{made.json()['id']}/edit/"

    shown, status = saved_unchanged(owner_client, url)

    assert status == 302
    assert shown["stop"] == "\\n\\n\n###\na\\\\b"  # one a line, a newline shown as \n
    assert api.get(f"/api/models/{made.json()['id']}").json()["stop"] == ["\n\n", "###", "a\\b"]
    page = owner_client.get(url).content.decode()
    assert "a newline in a sequence as \\n" in page  # the help text says how


def test_escapes_typed_in_the_form_become_the_characters(owner_client, api):
    # Browsers send a textarea's lines with CRLF.
    typed = "\\n\\nUser:\r\n</code>\r\n\r\n\\d\\\\n\r\n\\tEND \r\n"
    shown, status = saved_unchanged(
        owner_client, "/models/new/", name="typed", backend="mlx", stop=typed
    )

    assert status == 302
    stops = api.get(f"/api/models/{ModelConfig.objects.get(name='typed').pk}").json()["stop"]
    assert stops == ["\n\nUser:", "</code>", "\\d\\n", "\tEND "]
