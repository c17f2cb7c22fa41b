"""Judge labels in exports, only when asked (the filter `judge_labels`): exports are people's
labels by default.

Asked for, each full row gets `judge_labels` beside `labels`: one entry per judge label of the
output (a comparison's on the side it was shown), each saying which judge gave it (its name,
model configuration and rubric version, and whether the project's owner accepted that judge
run's labels after seeing its agreement with people); every entry of `labels` then says
"labeled_by": "person" and every judge label "labeled_by": "judge". The flat files (CSV,
Parquet) get two more columns: `labeled_by` (who gave the output's labels: "person:NAME" or
"judge:NAME (CONFIGURATION, rubric vN)", separated by "; ") and `judge_labels_json`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice

import pyarrow as pa

from annotate.exports.filters import label_projects
from annotate.exports.formats import CHUNK, PARQUET_SCHEMA, flat_row
from annotate.judges.models import JudgeLabel

FLAT_COLUMNS = [("labeled_by", pa.string()), ("judge_labels_json", pa.string())]
SCHEMA = pa.schema([*PARQUET_SCHEMA, *FLAT_COLUMNS])
COLUMNS = SCHEMA.names


def wanted(filters: dict) -> bool:
    return bool(filters.get("judge_labels"))


def _entries(gen_ids: set[int], filters: dict) -> dict[int, list[dict]]:
    """The judge labels of these outputs, by output id, in label order."""
    labels = JudgeLabel.objects.filter(task__generation_id__in=gen_ids) | JudgeLabel.objects.filter(
        task__generation_b_id__in=gen_ids
    )
    if (projects := label_projects(filters)) is not None:
        labels = labels.filter(task__project_id__in=projects)
    rows = labels.order_by("pk").values_list(
        "task__generation_id",
        "task__generation_b_id",
        "task__project_id",
        "judge_run__judge_id",
        "judge_run__judge__name",
        "judge_run__judge__model_config__name",
        "judge_run_id",
        "judge_run__version",
        "answers",
        "reasoning",
        "consistent",
        "created_at",
        "judge_run__accepted_at",
    )
    out: dict[int, list[dict]] = defaultdict(list)
    for left, right, project, judge, name, config, run, version, answers, why, same, at, ok in rows:
        entry = {
            "labeled_by": "judge",
            "project": project,
            "judge": name,
            "judge_id": judge,
            "model_config": config,
            "rubric_version": version,
            "judge_run": run,
            "answers": answers,
            "reasoning": why,
            "consistent": same,
            "created_at": at.isoformat(),
            # The owner checked the judge's agreement with people and chose to use its labels.
            "accepted": ok is not None,
        }
        for gen_id, side in ((left, "left"), (right, "right")):
            if gen_id in gen_ids:
                out[gen_id].append({**entry, "side": side} if right else entry)
    return out


def with_judge_labels(rows: Iterator[dict], filters: dict) -> Iterator[dict]:
    """The full rows, each with its judge labels, read a chunk of rows at a time."""
    while chunk := list(islice(rows, CHUNK)):
        by_output = _entries({row["id"] for row in chunk}, filters)
        for row in chunk:
            for label in row["labels"]:
                label["labeled_by"] = "person"
            row["judge_labels"] = by_output.get(row["id"], [])
            yield row


def who(row: dict) -> str:
    people = [f"person:{label.get('annotator', '')}" for label in row["labels"]]
    judges = [
        f"judge:{j['judge']} ({j['model_config']}, rubric v{j['rubric_version']})"
        for j in row["judge_labels"]
    ]
    return "; ".join(people + judges)


def flat_row_with_judges(row: dict) -> dict:
    return {
        **flat_row(row),
        "labeled_by": who(row),
        "judge_labels_json": json.dumps(row["judge_labels"]),
    }
