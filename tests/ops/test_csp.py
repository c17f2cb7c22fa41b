"""Issue 13, finding 12: a Content-Security-Policy on every page, and pages that need nothing
it forbids (no inline script, event handler, style or javascript: link; htmx without eval)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from unittest import mock

import pytest
from django.utils import timezone

from annotate.comparisons.pairs import compare_questions
from annotate.exports.actions import start_export
from annotate.labeling import annotation_queue
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project, ProjectKind, Task
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import make_dataset, make_project

pytestmark = pytest.mark.django_db

# Script types a browser does not run: data for scripts (`json_script`, ninja's docs settings).
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data"}


class InlineCode(HTMLParser):
    """Everything in a page that a policy without 'unsafe-inline' or 'unsafe-eval' blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.htmx_config: dict | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            value = (value or "").strip()
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...> (an inline event handler)")
            elif name == "style":
                self.found.append(f"<{tag} style=...> (an inline style)")
            elif name in URL_ATTRIBUTES and value.lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}> (a javascript: URL)")
            elif name.startswith(("hx-on", "data-hx-on")) or name in ("hx-vars", "data-hx-vars"):
                self.found.append(f"<{tag} {name}=...> (htmx evaluates it)")
            elif name.endswith("hx-vals") and value.startswith(("js:", "javascript:")):
                self.found.append(f"<{tag} {name}={value!r}> (htmx evaluates it)")
        if tag == "script" and not attributes.get("src"):
            if (attributes.get("type") or "").lower() not in DATA_SCRIPT_TYPES:
                self.found.append("<script> without src (an inline script)")
        elif tag == "style":
            self.found.append("<style> (an inline style sheet)")
        elif tag == "meta" and attributes.get("name") == "htmx-config":
            self.htmx_config = json.loads(attributes["content"] or "")


def inline_code(html: str) -> InlineCode:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser


def policy(response) -> dict[str, list[str]]:
    """The enforced policy's directives: {"script-src": ["'self'"], ...}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']} has no Content-Security-Policy header"
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {name: values for name, *values in directives}


@pytest.fixture
def manager(owner):
    """The owner group's manager, staff too so that the admin opens."""
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=("is_staff", "is_superuser"))
    return owner


def _measured_run(owner, config, dataset):
    """A finished run with timings and costs, so the statistics page draws its charts."""
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, dataset.pk, config.pk)
    start = timezone.now()
    for i, g in enumerate(run.generations.order_by("item__index")):
        g.status, g.output = GenerationStatus.DONE, "ok"
        g.output_tokens, g.prompt_tokens = 20 + i, 9
        g.latency_s, g.ttft_s, g.decode_tps = 1.0 + i, 0.1, 20.0 + i
        g.machine, g.cost_usd, g.concurrency = "box-1", Decimal("0.001"), 1
        g.started_at, g.finished_at = start, start + timedelta(seconds=2)
        g.save()
    return run


def voted_comparison(owner) -> Project:
    """Two measured models compared on every item, api-large winning most votes: the
    leaderboard's interval chart, the breakdown's select, the statistics page's charts."""
    dataset = make_dataset(owner, 6)
    runs = [
        _measured_run(
            owner,
            ModelConfig.objects.create(name=n, backend="mlx", model="/m", owner=owner),
            dataset,
        )
        for n in ("local-small", "api-large")
    ]
    project = Project.objects.create(name="Arena", kind=ProjectKind.COMPARE, owner=owner, overlap=1)
    project.questions = compare_questions(project)
    project.save()
    project.runs.add(*runs)
    sync_tasks(project)
    votes = 0
    while (held := annotation_queue.next_task(project, owner)) is not None:
        task = Task.objects.select_related("generation__run__model_config").get(pk=held.task_id)
        big_left = task.generation.run.model_config.name == "api-large"
        big_wins = votes % 3 != 0  # two votes in three: an interval of some width
        annotation_queue.submit(held, {"verdict": "left" if big_left == big_wins else "right"}, 1.0)
        votes += 1
    return project


@pytest.fixture
def pages(client, manager, mlx_config) -> list[str]:
    """The main pages, as the signed-in manager sees them, each with something to show."""
    project = make_project(manager, mlx_config, n=3)
    run = project.runs.get()
    dataset, generation = run.dataset, run.generations.first()
    comparison = voted_comparison(manager)
    client.force_login(manager)
    export = start_export(manager, "jsonl", {"project": project.pk})
    label = client.get(f"/projects/{project.pk}/next/")
    assert label.status_code == 302, "the manager gets an item to label"
    return [
        "/",
        "/datasets/",
        f"/datasets/{dataset.pk}/",
        f"/datasets/{dataset.pk}/matrix/",
        "/models/",
        "/models/new/",
        f"/models/{mlx_config.pk}/edit/",
        "/runs/",
        f"/runs/{run.pk}/",
        f"/runs/{run.pk}/generations/",
        f"/generations/{generation.pk}/",
        f"/datasets/items/{generation.item_id}/",
        "/projects/",
        "/projects/new/",
        f"/projects/{project.pk}/",
        label["Location"],
        f"/projects/{comparison.pk}/next/",  # every pair voted: the queue is done
        f"/projects/{project.pk}/review/",
        f"/projects/{comparison.pk}/results/",
        f"/projects/{comparison.pk}/results/?by=n",
        "/stats/",
        "/exports/",
        f"/exports/{export.pk}/",
        "/account/tokens/",
        "/api/docs",
        "/admin/",
        "/admin/annotate/run/",
        f"/admin/annotate/run/{run.pk}/change/",
        "/admin/annotate/modelconfig/add/",
    ]


def test_every_page_is_served_with_a_strict_policy(client, pages):
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        directives = policy(response)
        assert "Content-Security-Policy-Report-Only" not in response.headers, url
        assert directives["script-src"] == ["'self'"], url
        assert directives["style-src"] == ["'self'"], url
        for name in ("default-src", "connect-src", "base-uri", "form-action"):
            assert directives[name] == ["'self'"], (url, name)
        assert directives["frame-ancestors"] == ["'none'"], url
        assert directives["object-src"] == ["'none'"], url
        assert directives["img-src"] == ["'self'", "data:"], url


def test_no_page_needs_inline_code_or_eval(client, pages):
    for url in pages:
        html = client.get(url).content.decode()
        assert inline_code(html).found == [], url


def test_the_charts_are_drawn(client, pages):
    """What the policy's test walks over has the charts it would block, were they inline."""
    results = client.get([u for u in pages if u.endswith("/results/")][0]).content.decode()
    assert 'class="interval-bar"' in results and 'class="interval-dot"' in results
    assert "data-submit-on-change" in results  # the breakdown's select, sent by static/app.js
    stats = client.get("/stats/").content.decode()
    assert 'class="legend"' in stats and "<circle" in stats


def test_htmx_may_not_evaluate_code_nor_inject_styles(client, manager):
    client.force_login(manager)
    config = inline_code(client.get("/").content.decode()).htmx_config
    assert config == {"allowEval": False, "includeIndicatorStyles": False}


def test_the_login_page_and_the_api_carry_the_policy(client, manager):
    response = client.get("/accounts/login/")
    assert policy(response)["script-src"] == ["'self'"]
    assert inline_code(response.content.decode()).found == []
    client.force_login(manager)
    assert policy(client.get("/api/runs"))["default-src"] == ["'self'"]
