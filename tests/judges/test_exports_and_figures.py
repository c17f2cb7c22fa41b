"""Judge labels stay apart: people's agreement, leaderboard and default exports are what they
were; an export asked for judge labels carries them, each saying which judge gave it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from annotate.comparisons.leaderboard import compute, load_votes
from annotate.exports.models import Export
from annotate.exports.rows import run_export
from annotate.judges.models import JudgeLabel
from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, AnnotationState
from annotate.labeling.projects import agreement
from tests.conftest import join, make_project
from tests.judges.conftest import answer, start

pytestmark = pytest.mark.django_db

JUDGED = {"reasoning": "Judged.", "quality": 1, "correct": "fail"}


@pytest.fixture
def labeled(owner, mlx_config, annotator, annotator2):
    """Three outputs, each labeled by two people."""
    project = make_project(owner, mlx_config, n=3, overlap=2, blind=False)
    for person, given in ((annotator, 5), (annotator2, 4)):
        join(project, person)
        for _ in range(3):
            held = annotation_queue.next_task(project, person)
            annotation_queue.submit(held, {"quality": given, "correct": "pass"}, 1.0)
    return project


def export(owner, fmt, **filters) -> Path:
    return Path(run_export(Export.objects.create(owner=owner, format=fmt, filters=filters)).path)


def judge_it(owner, project, config, capture):
    _, judge_run = start(owner, project, config)
    answer(judge_run, lambda g: json.dumps(JUDGED), capture)
    assert JudgeLabel.objects.filter(judge_run=judge_run).count() == 3
    return judge_run


def test_people_agreement_and_default_exports_are_unchanged_by_judge_labels(
    owner, labeled, mlx_config, django_capture_on_commit_callbacks
):
    before_agreement = agreement(labeled)
    before = {fmt: export(owner, fmt, project=labeled.pk) for fmt in ("jsonl", "csv")}
    before_text = {fmt: path.read_text() for fmt, path in before.items()}
    judge_it(owner, labeled, mlx_config, django_capture_on_commit_callbacks)

    assert agreement(labeled) == before_agreement
    submitted = Annotation.objects.filter(task__project=labeled, state=AnnotationState.SUBMITTED)
    assert submitted.count() == 6  # the judge made no Annotation
    rows = [json.loads(line) for line in export(owner, "jsonl", project=labeled.pk).open()]
    assert sum(len(r["labels"]) for r in rows) == 6 and all("judge_labels" not in r for r in rows)
    for r in rows:  # recount: each row's labels are its output's submitted annotations
        assert len(r["labels"]) == submitted.filter(task__generation_id=r["id"]).count()
    csv_text = export(owner, "csv", project=labeled.pk).read_text()
    assert csv_text.splitlines()[0] == before_text["csv"].splitlines()[0]
    assert "Judged." not in csv_text and "Judged." not in json.dumps(rows)


def test_an_export_with_judge_labels_says_who_gave_each_label(
    owner, labeled, mlx_config, django_capture_on_commit_callbacks
):
    judge_run = judge_it(owner, labeled, mlx_config, django_capture_on_commit_callbacks)
    rows = [
        json.loads(line)
        for line in export(owner, "jsonl", project=labeled.pk, judge_labels=True).open()
    ]
    assert len(rows) == 3
    for r in rows:
        people = Annotation.objects.filter(task__generation_id=r["id"], state="submitted")
        judged = JudgeLabel.objects.filter(task__generation_id=r["id"])
        assert len(r["labels"]) == people.count() == 2
        assert {lb["labeled_by"] for lb in r["labels"]} == {"person"}
        assert len(r["judge_labels"]) == judged.count() == 1
        entry = r["judge_labels"][0]
        assert entry["labeled_by"] == "judge" and entry["judge"] == "demo"
        assert (entry["model_config"], entry["rubric_version"]) == ("demo", judge_run.version)
        assert entry["answers"] == {"quality": 1, "correct": "fail"}
        assert entry["reasoning"] == "Judged."
        assert entry["accepted"] is (judge_run.accepted_at is not None) is False
        assert r["mean_rating"] == 4.5  # people's only

    table = list(
        csv.DictReader(
            io.StringIO(export(owner, "csv", project=labeled.pk, judge_labels=True).read_text())
        )
    )
    assert len(table) == 3
    for row in table:
        assert row["labeled_by"] == "person:annie; person:bert; judge:demo (demo, rubric v1)"
        assert json.loads(row["judge_labels_json"])[0]["answers"]["quality"] == 1
    parquet = pq.read_table(export(owner, "parquet", project=labeled.pk, judge_labels=True))
    assert parquet.num_rows == 3 and "labeled_by" in parquet.column_names


def test_the_export_form_and_the_api_offer_judge_labels(owner_client, labeled, mlx_config):
    assert "Include judge labels" in owner_client.get("/exports/").content.decode()
    response = owner_client.post(
        "/api/exports",
        json.dumps({"format": "jsonl", "project": labeled.pk, "judge_labels": True}),
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["filters"]["judge_labels"] is True


def test_the_peoples_leaderboard_is_unchanged_by_a_judges_verdicts(
    owner, compare_project, annotator, django_capture_on_commit_callbacks
):
    join(compare_project, annotator)
    for _ in range(6):
        held = annotation_queue.next_task(compare_project, annotator)
        annotation_queue.submit(held, {"verdict": "left"}, 1.0)
    before = compute(load_votes(compare_project), 50, 0)
    config = compare_project.runs.first().model_config
    _, judge_run = start(owner, compare_project, config)
    answer(
        judge_run,
        lambda g: json.dumps({"reasoning": "B.", "verdict": "b"}),
        django_capture_on_commit_callbacks,
    )
    assert JudgeLabel.objects.filter(judge_run=judge_run).count() == 6
    after = compute(load_votes(compare_project), 50, 0)
    assert load_votes(compare_project).total == 6
    assert [(r.config_id, r.rating) for r in after.rows] == [
        (r.config_id, r.rating) for r in before.rows
    ]
