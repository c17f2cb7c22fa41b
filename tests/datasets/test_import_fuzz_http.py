"""Property tests of the import's HTTP paths (hypothesis): whatever file the API or the
browser's form is given, it answers with the numbers of the bad lines, never a server error."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape
from hypothesis import event, given, settings

from annotate.datasets.models import Dataset
from tests.datasets.import_fuzzing import (
    FUZZ,
    assert_names_lines,
    counts,
    records_in,
    undone,
    uploads,
)

pytestmark = pytest.mark.django_db


# --- the HTTP paths ----------------------------------------------------------------------


@settings(max_examples=100, **FUZZ)
@given(upload=uploads)
def test_the_api_refuses_a_bad_file_by_line_and_never_fails(owner_client, upload):
    with undone():
        before = counts()
        file = SimpleUploadedFile(upload.name, upload.data)
        response = owner_client.post("/api/datasets", {"file": file})
        event(f"status {response.status_code}")
        assert response.status_code < 500, response.content[:2000]
        body = response.json()
        if response.status_code == 201:
            assert counts()[0] == before[0] + 1
            assert body["item_count"] == records_in(upload.data, body["source_filename"])
            return
        assert body["detail"]
        assert counts() == before, "a refused file wrote something"
        if response.status_code == 422:
            # Django drops an upload whose name it cleans down to nothing: no file was sent.
            assert isinstance(body["detail"], list), body
            assert body["detail"][0]["loc"] == ["file", "file"], body
            return
        assert response.status_code == 400, body
        assert isinstance(body["detail"], str)
        assert_names_lines(body["errors"])


@settings(max_examples=100, **FUZZ)
@given(upload=uploads)
def test_the_import_form_shows_the_bad_lines_and_never_fails(owner_client, upload):
    with undone():
        before = counts()
        file = SimpleUploadedFile(upload.name, upload.data)
        response = owner_client.post("/datasets/import/", {"file": file, "name": ""})
        event(f"status {response.status_code}")
        assert response.status_code < 500, response.content[:2000]
        if response.status_code == 302:
            dataset = Dataset.objects.latest("pk")
            assert response["Location"] == f"/datasets/{dataset.pk}/"
            assert dataset.items.count() == records_in(upload.data, dataset.source_filename)
            return
        assert response.status_code == 400
        assert counts() == before, "a refused file wrote something"
        errors = response.context["import_errors"]
        if errors is None:  # the form itself refused the upload
            assert response.context["form"].errors
            return
        page = response.content.decode()
        assert "Nothing was imported" in page
        for error in errors.errors:
            assert escape(error) in page
        assert_names_lines(errors.errors)
