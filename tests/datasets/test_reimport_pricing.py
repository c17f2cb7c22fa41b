"""A full export carries the configuration a run was made with; its re-import into an empty
instance restores the hourly price and every pricing field (inference.pricing.PRICING_FIELDS),
and refuses, by line, a value the configuration's own save would refuse."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from annotate.datasets.importing import ImportFailed, import_dataset
from annotate.datasets.models import Dataset
from annotate.exports.models import Export
from annotate.exports.rows import run_export
from annotate.labeling.models import Project
from inference.models import Generation, ModelConfig, Run
from inference.pricing import PRICING_FIELDS
from tests.conftest import make_project

pytestmark = pytest.mark.django_db

# A value for each pricing field, none of them its default. A field added to PRICING_FIELDS
# without a value here fails the test: the round trip must be checked for it too.
PRICED = {
    "pricing": "serverless",
    "hourly_usd": Decimal("1.2500"),
    "cold_start_s": 12.5,
    "min_billed_s": 3.0,
    "power_watts": 350.0,
    "idle_watts": 40.0,
    "kwh_usd": Decimal("0.3100"),
}


def _export_of_a_priced_run(owner, mlx_config) -> Path:
    assert set(PRICED) == set(PRICING_FIELDS)
    ModelConfig.objects.filter(pk=mlx_config.pk).update(**PRICED)
    mlx_config.refresh_from_db()
    project = make_project(owner, mlx_config, n=2)
    export = Export.objects.create(owner=owner, format="jsonl", filters={"project": project.pk})
    return Path(run_export(export).path)


def _empty_instance() -> None:
    Project.objects.all().delete()
    Generation.objects.all().delete()
    Run.objects.all().delete()
    ModelConfig.objects.all().delete()
    Dataset.objects.all().delete()


def test_a_reimported_export_keeps_the_hourly_price_and_every_pricing_field(owner, mlx_config):
    path = _export_of_a_priced_run(owner, mlx_config)
    _empty_instance()
    with path.open("rb") as stream:
        dataset = import_dataset(stream, "back.jsonl", "back", owner)
    assert dataset.restored.runs == 1
    config = ModelConfig.objects.get()
    assert config.name == "demo"
    assert {name: getattr(config, name) for name in PRICING_FIELDS} == PRICED
    # The run made from the file keeps them too, as a run made here would.
    run = Run.objects.get()
    assert run.params["hourly_usd"] == "1.2500" and run.params["pricing"] == "serverless"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hourly_usd": "-1"}, "The hourly price cannot be negative."),
        ({"hourly_usd": "a lot"}, "`generation.params.hourly_usd`"),
        ({"pricing": "barter"}, "`generation.params.pricing`"),
        ({"kwh_usd": None}, "Electricity needs both"),
    ],
)
def test_bad_pricing_in_the_file_names_its_line_and_imports_nothing(
    owner, mlx_config, change, message
):
    path = _export_of_a_priced_run(owner, mlx_config)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["generation"]["params"].update(change)
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    _empty_instance()
    with pytest.raises(ImportFailed) as failed:
        import_dataset(io.BytesIO(body), "bad.jsonl", "bad", owner)
    assert any(e.startswith("line 2:") and message in e for e in failed.value.errors)
    assert not Dataset.objects.exists() and not ModelConfig.objects.exists()


def test_the_api_says_what_is_wrong_with_a_400_class_answer(owner_client, owner, mlx_config):
    path = _export_of_a_priced_run(owner, mlx_config)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["generation"]["params"]["min_billed_s"] = -2
    _empty_instance()
    body = io.BytesIO("".join(json.dumps(row) + "\n" for row in rows).encode())
    body.name = "bad.jsonl"
    response = owner_client.post("/api/datasets", {"file": body})
    assert response.status_code in (400, 422)
    assert "line 1" in response.content.decode()
    assert "The minimum billed duration cannot be negative." in response.content.decode()
    assert not Dataset.objects.exists()
