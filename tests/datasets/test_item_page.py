"""An item's own page (datasets.items.item_page): the prompt, the reference, every output of
every run over it with its measurements and the labels the caller may read; managers only."""

from __future__ import annotations

import json
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from annotate.datasets.items import item_page
from annotate.labeling import annotation_queue
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import join, make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def item_with_runs(owner, demo_model_path):
    """One dataset of two items, answered by two models; the item of index 1."""
    dataset = make_dataset(owner, 2)
    dataset.items.filter(index=1).update(
        reference="The answer is <i>forty-two</i>.", metadata={"topic": "maths"}
    )
    for name, latency in (("small", 0.25), ("large", 1.5)):
        config = ModelConfig.objects.create(
            name=name, backend="mlx", model=str(demo_model_path), owner=owner
        )
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            run = create_run(owner, dataset.pk, config.pk)
        run.generations.update(
            status=GenerationStatus.DONE,
            output=f"{name} answers <script>x()</script>",
            latency_s=latency,
            output_tokens=17,
            cost_usd=Decimal("0.000123"),
        )
    return dataset.items.get(index=1)


def _label(project_owner, item, annotator, quality: int) -> Project:
    generation = item.generations.get(run__model_config__name="small")
    project = Project.objects.create(
        name=f"Rated by {project_owner}", owner=project_owner, questions=DEFAULT_QUESTIONS
    )
    project.runs.add(generation.run)
    sync_tasks(project)
    join(project, annotator)
    while (held := annotation_queue.next_task(project, annotator)) is not None:
        annotation_queue.submit(held, {"quality": quality, "correct": "pass"}, 1)
    return project


def test_it_shows_every_output_with_its_figures_and_labels(
    owner, owner_client, item_with_runs, annotator, django_user_model
):
    item = item_with_runs
    _label(owner, item, annotator, 4)
    # Another manager's project: its labels are not the owner's to read.
    other = django_user_model.objects.create_user("other-manager", password="pw-other-123")
    other.groups.add(Group.objects.get(name="Project owners"))
    _label(other, item, annotator, 1)

    page = item_page(owner, item.pk)
    assert [o.generation.run.model_config.name for o in page.outputs] == ["small", "large"]
    assert {o.generation.item_id for o in page.outputs} == {item.pk}
    small, large = page.outputs
    assert [(lb.project, lb.annotator, lb.answers["quality"]) for lb in small.labels] == [
        ("Rated by owner", "annie", 4)
    ]
    assert large.labels == []

    html = owner_client.get(f"/datasets/items/{item.pk}/").content.decode()
    for message in item.messages:
        assert json.dumps(message["content"])[1:-1] in html
    assert "The answer is &lt;i&gt;forty-two&lt;/i&gt;." in html
    assert "topic" in html and "maths" in html
    assert html.count("answers &lt;script&gt;") == 2 and "<script>x()" not in html
    assert "0.25 s" in html and "1.50 s" in html and "17 output tokens" in html
    assert "$0.000123" in html
    assert "Rated by owner" in html and "Rated by other-manager" not in html


def test_the_dataset_page_links_each_item_to_its_page(owner_client, item_with_runs):
    item = item_with_runs
    html = owner_client.get(f"/datasets/{item.dataset_id}/").content.decode()
    assert f'href="/datasets/items/{item.pk}/"' in html


def test_only_managers_may_open_it(client, annotator, item_with_runs):
    with pytest.raises(PermissionDenied):
        item_page(annotator, item_with_runs.pk)
    client.force_login(annotator)
    assert client.get(f"/datasets/items/{item_with_runs.pk}/").status_code == 403


def test_an_item_that_does_not_exist_is_a_404(owner_client, item_with_runs):
    assert owner_client.get(f"/datasets/items/{item_with_runs.pk + 100}/").status_code == 404
