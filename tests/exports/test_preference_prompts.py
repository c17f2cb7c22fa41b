"""Preference pairs are made only of two answers to the same prompt: a pair across runs of
different system prompts is left out and counted, on the ORM's path and PostgreSQL's."""

from __future__ import annotations

import json

import pytest

from annotate.exports.models import Export
from annotate.exports.rows import manifest, write_export
from annotate.labeling import annotation_queue
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind, Task
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.models import Generation, Run
from tests.conftest import join, make_dataset

pytestmark = pytest.mark.django_db

PROMPTS = {"brief": "Answer in one line.", "brief2": "Answer in one line.", "chatty": "Chat."}


@pytest.fixture
def votes_and_ratings(owner, mlx_config, annotator):
    """Three runs over two items: "brief" and "brief2" share a system prompt, "chatty" has
    another. Votes between each pair of runs (either way round), and ratings."""
    dataset = make_dataset(owner, n=2)
    runs = {
        name: Run.objects.create(
            dataset=dataset,
            model_config=mlx_config,
            params={**mlx_config.params(), "system_prompt": system},
            created_by=owner,
        )
        for name, system in PROMPTS.items()
    }
    out = {
        (name, item.index): Generation.objects.create(
            run=run, item=item, status="done", output=f"{name} answer {item.index}"
        )
        for name, run in runs.items()
        for item in dataset.items.all()
    }
    compare = Project.objects.create(
        name="cmp",
        kind=ProjectKind.COMPARE,
        owner=owner,
        blind=False,
    )
    for index in (0, 1):
        for left, right in (("brief", "brief2"), ("chatty", "brief"), ("brief2", "chatty")):
            Task.objects.create(
                project=compare, generation=out[left, index], generation_b=out[right, index]
            )
    join(compare, annotator)
    while held := annotation_queue.next_task(compare, annotator):
        verdict = ("left", "right")[held.task.pk % 2]
        annotation_queue.submit(held, {"verdict": verdict}, 1)
    # Ratings: item 0's best (brief, 5) and worst (chatty, 1) answered different prompts;
    # item 1's best (brief2, 4) and worst (brief, 2) the same one.
    rating = {("brief", 0): 5, ("brief2", 0): 3, ("chatty", 0): 1}
    rating |= {("brief", 1): 2, ("brief2", 1): 4}
    label = Project.objects.create(
        name="rate", owner=owner, blind=False, questions=DEFAULT_QUESTIONS
    )
    label.runs.add(*runs.values())
    sync_tasks(label)
    Task.objects.filter(project=label, generation=out["chatty", 1]).delete()
    join(label, annotator)
    by_pk = {g.pk: key for key, g in out.items()}
    while held := annotation_queue.next_task(label, annotator):
        quality = rating[by_pk[held.task.generation_id]]
        annotation_queue.submit(held, {"quality": quality, "correct": "pass"}, 1)
    return compare, label


def _prompt(g: Generation) -> list[dict]:
    """Written out here, not by the export's code: the run's system prompt, then the item."""
    return [{"role": "system", "content": g.run.params["system_prompt"]}, *g.item.messages]


def expected_votes(compare) -> tuple[list[tuple], int]:
    """(winner's output, loser's output) of each vote whose two answers answered the same
    prompt, in vote order, and how many votes were across prompts."""
    kept, across = [], 0
    for note in Annotation.objects.filter(
        task__project=compare, state=AnnotationState.SUBMITTED
    ).order_by("pk"):
        left, right = note.task.generation, note.task.generation_b
        winner, loser = (left, right) if note.answers["verdict"] == "left" else (right, left)
        if _prompt(winner) == _prompt(loser):
            kept.append((_prompt(winner), winner.output, loser.output))
        else:
            across += 1
    return kept, across


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(False, id="orm"),
        pytest.param(True, id="sql", marks=pytest.mark.requires_database("postgresql")),
    ],
)
def test_pairs_across_system_prompts_are_left_out_and_counted(
    owner, votes_and_ratings, tmp_path, sql
):
    compare, label = votes_and_ratings
    kept, across = expected_votes(compare)
    # 6 votes: the brief/brief2 ones (2) kept, those with chatty (4) across prompts.
    assert (len(kept), across) == (2, 4)
    path, counts = tmp_path / "pairs.jsonl", {}
    written = write_export("preference", {}, path, sql=sql, counts=counts)
    pairs = [json.loads(line) for line in path.read_text().splitlines()]
    assert written == len(pairs) == 3
    votes = [p for p in pairs if p["source"] == "comparison"]
    assert [
        (p["prompt"], p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in votes
    ] == kept
    # By hand: item 1's ratings pair brief2 (4) over brief (2), under the shared prompt;
    # item 0's (brief 5, chatty 1) is across prompts.
    [rated] = [p for p in pairs if p["source"] == "rating"]
    brief2 = Generation.objects.get(output="brief2 answer 1")
    assert rated["prompt"] == _prompt(brief2)
    assert rated["chosen"] == [{"role": "assistant", "content": "brief2 answer 1"}]
    assert rated["rejected"] == [{"role": "assistant", "content": "brief answer 1"}]
    assert (rated["chosen_rating"], rated["rejected_rating"]) == (4, 2)
    assert counts == {"skipped_different_prompts": across + 1}
    export = Export.objects.create(owner=owner, format="preference")
    assert manifest(export, written, counts)["counts"]["skipped_different_prompts"] == 5


def test_the_export_page_says_how_many_pairs_were_left_out(client, owner, votes_and_ratings):
    client.force_login(owner)
    page = client.post("/exports/", {"format": "preference"}, follow=True).content.decode()
    assert "5 pairs left out: their two answers answered different prompts" in page
    export = Export.objects.get()
    assert export.rows == 3 and export.manifest["counts"]["skipped_different_prompts"] == 5
