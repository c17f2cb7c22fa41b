"""CSV cells a spreadsheet would run as formulas are neutralised with a leading apostrophe
(OWASP); JSONL keeps the model's text byte for byte (issue 13, finding 9)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from annotate.exports.models import Export
from annotate.exports.rows import run_export
from inference.models import ModelConfig
from tests.conftest import make_project

pytestmark = pytest.mark.django_db

OUTPUTS = ['=HYPERLINK("http://evil.example","click")', "+1+2", "-2+3", "@SUM(A1)", "fine"]


def exported(owner, fmt: str, project) -> Path:
    done = run_export(Export.objects.create(owner=owner, format=fmt, filters={"project": project}))
    return Path(done.path)


def test_csv_cells_never_start_a_formula_and_jsonl_keeps_the_text(owner, mlx_config):
    project = make_project(owner, mlx_config, n=len(OUTPUTS), outputs=OUTPUTS)
    table = list(csv.DictReader(io.StringIO(exported(owner, "csv", project.pk).read_text())))
    assert [row["output"] for row in table] == ["'" + o for o in OUTPUTS[:4]] + ["fine"]
    for row in table:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())
    lines = exported(owner, "jsonl", project.pk).read_text().splitlines()
    assert [json.loads(line)["generation"]["output"] for line in lines] == OUTPUTS


def test_the_statistics_csv_neutralises_formulas_too(client, owner, mlx_config):
    ModelConfig.objects.filter(pk=mlx_config.pk).update(name="=cmd|' /C calc'!A0")
    make_project(owner, mlx_config, n=2)
    client.force_login(owner)
    response = client.get("/stats.csv")
    cells = [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert not any(cell.startswith("=") for cell in cells)
