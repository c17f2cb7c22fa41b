"""What a training export includes, by label: counted before it starts (page, API) and in
its manifest, recounted here from the database; failed and unlabeled outputs are warned of."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.accounts.models import ApiToken
from annotate.exports.actions import preview_export, start_export
from annotate.exports.models import Export
from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, AnnotationState
from inference.models import Generation, GenerationStatus
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db

# By hand, from the answers below: item 0 passes (pass, pass); item 1 fails (fail, fail);
# item 2 is disputed (pass, fail: no majority for pass, so it fails); item 3 nobody labels.
EXPECTED = {"outputs": 4, "labeled": 3, "passing": 1, "failing": 2, "unlabeled": 1}


@pytest.fixture
def project(owner, mlx_config, annotator, annotator2):
    return labeled_four(owner, mlx_config, annotator, annotator2)


def labeled_four(owner, mlx_config, annotator, annotator2):
    """A project of 4 outputs labeled as EXPECTED says."""
    project = make_project(owner, mlx_config, n=4, overlap=2, blind=False)
    join(project, annotator)
    join(project, annotator2)
    answers = {
        annotator: [(5, "pass"), (2, "fail"), (4, "pass")],
        annotator2: [(5, "pass"), (2, "fail"), (1, "fail")],
    }
    for person, given in answers.items():
        for quality, correct in given:
            held = annotation_queue.next_task(project, person)
            annotation_queue.submit(held, {"quality": quality, "correct": correct}, 2.0)
    return project


def recount(project, limit: int | None = None) -> dict:
    """The counts from the database's rows: each output's submitted pass/fail answers, a
    majority of "pass" passing; of the first `limit` outputs (by id) if given."""
    outputs = (
        Generation.objects.filter(run__in=project.runs.all(), status=GenerationStatus.DONE)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    out = dict.fromkeys(EXPECTED, 0)
    for pk in outputs:
        said = list(
            Annotation.objects.filter(
                task__generation_id=pk, task__project=project, state=AnnotationState.SUBMITTED
            ).values_list("answers__correct", flat=True)
        )
        out["outputs"] += 1
        out["labeled"] += bool(said)
        out["unlabeled"] += not said
        out["passing"] += bool(said) and said.count("pass") > len(said) / 2
        out["failing"] += bool(said) and said.count("pass") <= len(said) / 2
    return out


def test_the_count_before_an_export_is_the_databases(owner, project):
    assert recount(project) == EXPECTED
    preview = preview_export(owner, "sft", {"project": project.pk})
    assert preview["counts"] == {**EXPECTED, "partial": False}
    fails, unlabeled = preview["warnings"]
    assert fails.startswith("2 outputs labeled “fail”") and "“Only outputs that pass”" in fails
    assert unlabeled.startswith("1 output nobody labeled")
    assert "“Only outputs with a label or vote”" in unlabeled


def test_filters_change_the_count_and_the_full_formats_are_not_warned(owner, project):
    passing = preview_export(owner, "openai", {"project": project.pk, "require_pass": "on"})
    assert passing == {
        "counts": {
            "outputs": 1,
            "labeled": 1,
            "passing": 1,
            "failing": 0,
            "unlabeled": 0,
            "partial": False,
        },
        "warnings": [],
    }
    labeled = preview_export(owner, "sft", {"project": project.pk, "labeled": "on"})
    assert labeled["counts"] == {**EXPECTED, "outputs": 3, "unlabeled": 0, "partial": False}
    assert len(labeled["warnings"]) == 1  # the failed ones are still in
    full = preview_export(owner, "jsonl", {"project": project.pk})
    assert full == {"counts": {**EXPECTED, "partial": False}, "warnings": []}
    assert preview_export(owner, "preference", {})["counts"] is None


def test_the_page_counts_a_large_export_only_so_far_and_says_so(owner, project, monkeypatch):
    """The page asks on every visit: past PREVIEW_MAX_OUTPUTS it stops and says "more than"."""
    from annotate.exports import actions

    monkeypatch.setattr(actions, "PREVIEW_MAX_OUTPUTS", 3)
    preview = preview_export(owner, "sft", {"project": project.pk})
    assert preview["counts"]["partial"] is True and preview["counts"]["outputs"] == 3
    # The first three of the recount's four, in generation order (the export's order).
    first = recount(project, limit=3)
    assert {k: preview["counts"][k] for k in first} == first


def test_the_manifest_counts_what_was_written(owner, project):
    for filters, expected in (
        ({"project": project.pk}, EXPECTED),
        (
            {"project": project.pk, "require_pass": True},
            {"outputs": 1, "labeled": 1, "passing": 1, "failing": 0, "unlabeled": 0},
        ),
    ):
        export = start_export(owner, "sft", filters)
        written = Path(export.path).read_text().splitlines()
        assert len(written) == export.rows == expected["outputs"]
        assert export.manifest["counts"]["included"] == expected
        on_disk = json.loads(Path(f"{export.path}.manifest.json").read_text())
        assert on_disk["counts"]["included"] == expected


def test_the_page_counts_and_warns_with_htmx_and_without(client, owner, project):
    client.force_login(owner)
    fragment = client.get(
        "/exports/preview/", {"format": "sft", "project": project.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<strong>4</strong> outputs would be written: 3 labeled (1 pass, 2 fail)" in fragment
    assert "1 unlabeled" in fragment and "2 outputs labeled “fail”" in fragment
    # The plain form: the Count button shows the same on the page and starts nothing.
    page = client.post("/exports/", {"format": "sft", "project": project.pk, "preview": "1"})
    assert page.status_code == 200 and not Export.objects.exists()
    html = page.content.decode()
    assert "<strong>4</strong> outputs would be written" in html and "2 outputs labeled" in html
    bad = client.get("/exports/preview/", {"format": "sft", "min_rating": "lots"})
    assert bad.status_code == 200 and "Fix the form" in bad.content.decode()
    done = client.post(
        "/exports/", {"format": "sft", "project": project.pk, "require_pass": "on"}, follow=True
    )
    assert "1 labeled (1 pass, 0 fail) and 0 unlabeled" in done.content.decode()


def test_the_api_counts_the_same_and_keeps_its_defaults(client, owner, project):
    _, token = ApiToken.issue(owner, "ci")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    body = {"format": "sft", "project": project.pk}
    preview = client.post(
        "/api/exports/preview", body, content_type="application/json", **auth
    ).json()
    assert preview["counts"] == {**EXPECTED, "partial": False} and len(preview["warnings"]) == 2
    created = client.post("/api/exports", body, content_type="application/json", **auth).json()
    # No filter was added: the failed and unlabeled outputs are written, and counted.
    assert created["filters"] == {"project": project.pk} and created["rows"] == 4
    assert created["manifest"]["counts"]["included"] == EXPECTED
    refused = client.post(
        "/api/exports/preview",
        {"format": "sft", "min_rating": "x"},
        content_type="application/json",
        **auth,
    )
    assert refused.status_code == 422
