from __future__ import annotations

from unittest import mock

import pytest

from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import join, make_dataset, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_runs(owner, demo_model_path):
    dataset = make_dataset(owner, 4)
    runs = []
    for name, base in (("fast", 0.1), ("slow", 2.0)):
        config = ModelConfig.objects.create(
            name=name, backend="mlx", model=str(demo_model_path), owner=owner
        )
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            run = create_run(owner, dataset.pk, config.pk)
        for g in run.generations.select_related("item"):
            g.status, g.output = GenerationStatus.DONE, f"{name} says <b>{g.item.index}</b>"
            g.latency_s, g.output_tokens = base + (3 - g.item.index) * 0.01, 10
            g.save()
        runs.append(run)
    return dataset, runs


def test_the_matrix_shows_each_models_output_per_item(owner_client, two_runs):
    dataset, runs = two_runs
    html = owner_client.get(f"/datasets/{dataset.pk}/matrix/").content.decode()
    assert html.count("fast says &lt;b&gt;") == 4 and html.count("slow says &lt;b&gt;") == 4
    assert "<b>0</b>" not in html  # outputs are escaped
    fast = runs[0].model_config
    sorted_html = owner_client.get(
        f"/datasets/{dataset.pk}/matrix/?sort={fast.pk}:latency"
    ).content.decode()
    order = [sorted_html.index(f"fast says &lt;b&gt;{i}") for i in (3, 2, 1, 0)]
    assert order == sorted(order)  # item 3 is the fastest
    filtered = owner_client.get(f"/datasets/{dataset.pk}/matrix/?q=n=2").content.decode()
    assert "fast says &lt;b&gt;2" in filtered and "fast says &lt;b&gt;1" not in filtered


def test_cells_show_the_mean_rating(owner, owner_client, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=1)
    join(project, annotator)
    held = annotation_queue.next_task(project, annotator)
    annotation_queue.submit(held, {"quality": 4, "correct": "pass"}, 1)
    dataset = project.runs.get().dataset
    html = owner_client.get(f"/datasets/{dataset.pk}/matrix/").content.decode()
    assert "★ 4.0" in html


def test_the_matrix_sorts_by_a_models_mean_rating(owner, owner_client, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=4)
    join(project, annotator)
    quality = {0: 2, 1: 5, 2: 3}  # item index: rating; item 3 stays unrated
    while (held := annotation_queue.next_task(project, annotator)) is not None:
        index = held.task.generation.item.index
        if index in quality:
            annotation_queue.submit(held, {"quality": quality[index], "correct": "pass"}, 1)
        else:
            annotation_queue.skip(held, 1)
    dataset = project.runs.get().dataset
    # The ratings as stored, recounted from the labels themselves.
    rated = {
        a.task.generation.item.index: a.answers["quality"]
        for a in Annotation.objects.filter(task__project=project, state="submitted")
    }
    best_first = sorted(rated, key=lambda i: -rated[i]) + [3]
    url = f"/datasets/{dataset.pk}/matrix/?sort=-{mlx_config.pk}:rating"
    html = owner_client.get(url).content.decode()
    positions = [html.index(f"return {i}\n") for i in best_first]
    assert positions == sorted(positions)
    worst_first = sorted(rated, key=lambda i: rated[i]) + [3]  # unrated last either way
    html = owner_client.get(url.replace("=-", "=")).content.decode()
    positions = [html.index(f"return {i}\n") for i in worst_first]
    assert positions == sorted(positions)
    assert f"sort=-{mlx_config.pk}:rating" in html  # the column's header offers the sort
