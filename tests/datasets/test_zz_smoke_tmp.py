import io, json, pytest
from annotate.datasets.actions import import_dataset
from annotate.exports.actions import *  # noqa
pytestmark = pytest.mark.django_db
from tests.datasets.test_import_outputs import ROWS, jsonl

def test_pages(client, owner):
    d = import_dataset(owner, io.BytesIO(jsonl(ROWS)), "e.jsonl", project_kind="compare")
    client.force_login(owner)
    run = d.runs.first()
    for url in [f"/datasets/{d.pk}/", f"/runs/{run.pk}/", "/runs/", "/stats/", f"/projects/{d.imported.project_id}/results/", f"/api/runs/{run.pk}", "/models/", f"/models/{run.model_config_id}/", f"/datasets/{d.pk}/matrix/"]:
        r = client.get(url)
        print(url, r.status_code)
        assert r.status_code in (200, 404), url
