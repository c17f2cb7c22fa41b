"""Acceptance: what people take away from an export is what they did.

Annotators label and vote as they do (the API and the label page) in projects over several
runs made in mixed order, where which side an output was shown on is random; each vote is
recorded by what the annotator saw. Then every export format, downloaded through the API, is
read by the libraries trainers use (pandas, pyarrow, Hugging Face `datasets`) and checked
against a recount from the database, and a full export is re-imported and compared by content.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path
from unittest import mock

import datasets as hf
import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.test import Client

from annotate.accounts.models import ApiToken
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind, Task
from inference.actions import create_run
from inference.models import Generation, GenerationStatus, ModelConfig
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db

ITEMS = 4
# Runs are made in this order, so ids follow neither the names nor the scores.
SCORES = {"gamma": 3, "alpha": 4, "beta": 2}
SCORE = re.compile(r"quality (\d)")


def _api(user) -> Client:
    _, token = ApiToken.issue(user, "acceptance")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _ok(response, status: int = 200):
    assert response.status_code == status, response.content
    return response.json() if response.content else None


def _next(api: Client, project: Project) -> dict | None:
    """The caller's next item, None when there is none left (204)."""
    response = api.post(f"/api/projects/{project.pk}/next")
    return None if response.status_code == 204 else _ok(response)


def _score(output: str) -> int:
    return int(SCORE.search(output).group(1))


class Instance:
    """One instance's work: a label project and a blind comparison over three runs, labeled,
    reviewed and voted on; `shown` is every vote as its annotator saw it (annotator, left
    output, right output, verdict)."""

    def __init__(self, owner, people: dict, demo_model_path) -> None:
        self.owner, self.people = owner, people
        self.api = _api(owner)
        dataset = make_dataset(owner, ITEMS)
        runs = []
        for name, score in SCORES.items():
            config = ModelConfig.objects.create(
                name=name, backend="mlx", model=str(demo_model_path), owner=owner
            )
            with mock.patch("inference.doorbell.enqueue_run", autospec=True):
                run = create_run(owner, dataset.pk, config.pk)
            for g in run.generations.order_by("-item__index"):  # finished in reverse
                g.status = GenerationStatus.DONE
                g.output = (
                    f"{name} on item {g.item.index}: quality {(score + g.item.index) % 5 + 1}"
                )
                g.save()
            runs.append(run.pk)
        self.label = self._project({"name": "Quality", "overlap": 2, "runs": runs})
        self.compare = self._project(
            {"name": "Arena", "kind": "compare", "overlap": 2, "runs": runs, "side_ratings": True}
        )
        self.shown: list[tuple[str, str, str, str]] = []

    def _project(self, fields: dict) -> Project:
        made = _ok(self.api.post("/api/projects", fields, content_type="application/json"), 201)
        for username, role in (("annie", "annotator"), ("bert", "annotator"), ("rita", "reviewer")):
            member = {"username": username, "role": role}
            url = f"/api/projects/{made['id']}/members"
            _ok(self.api.post(url, member, content_type="application/json"), 201)
        return Project.objects.get(pk=made["id"])

    def label_through_the_api(self) -> None:
        for name, shift in (("annie", 0), ("bert", 1)):
            api = _api(self.people[name])
            base = f"/api/projects/{self.label.pk}"
            while task := _next(api, self.label):
                quality = max(1, _score(task["outputs"][0]) - shift)
                answers = {"quality": quality, "correct": "pass" if quality >= 3 else "fail"}
                url = f"{base}/tasks/{task['task_id']}/label"
                body = {"answers": answers, "time_spent_s": 3.5}
                _ok(api.post(url, body, content_type="application/json"))
        api = _api(self.people["rita"])
        numbers = sorted(
            {lb["task_id"] for lb in _ok(api.get(f"/api/projects/{self.label.pk}/labels"))}
        )
        for n, number in enumerate(numbers[:3]):
            final = {"quality": 5, "correct": "pass", "correction": f"reviewed answer {n}"}
            url = f"/api/projects/{self.label.pk}/tasks/{number}/final"
            _ok(api.post(url, {"answers": final}, content_type="application/json"))
        # A disputed output: the reviewer fails what the annotators passed.
        final = {"quality": 1, "correct": "fail"}
        url = f"/api/projects/{self.label.pk}/tasks/{numbers[3]}/final"
        _ok(api.post(url, {"answers": final}, content_type="application/json"))

    def vote_through_the_api(self, name: str) -> None:
        """Picks the better answer by what it says, or "tie" when neither is above 2."""
        api = _api(self.people[name])
        base = f"/api/projects/{self.compare.pk}"
        while task := _next(api, self.compare):
            left, right = task["outputs"]
            verdict = self._verdict(left, right)
            url = f"{base}/tasks/{task['task_id']}/label"
            body = {"answers": {"verdict": verdict, "left_rating": _score(left)}}
            _ok(api.post(url, body, content_type="application/json"))
            self.shown.append((name, left, right, verdict))

    def vote_on_the_page(self, client: Client, name: str) -> None:
        """Picks the left answer whatever it says (a position bias: chosen is not simply the
        better one), from the page."""
        client.force_login(self.people[name])
        while (
            to := client.get(f"/projects/{self.compare.pk}/next/").get("Location", "")
        ).startswith(f"/projects/{self.compare.pk}/tasks/"):
            page = client.get(to).content.decode()
            sides = dict(
                re.findall(
                    r'data-side="(left|right)">.*?<pre class="plain" data-raw hidden>(.*?)</pre>',
                    page,
                    re.S,
                )
            )
            left, right = html.unescape(sides["left"]), html.unescape(sides["right"])
            verdict = "both bad" if self._verdict(left, right) == "tie" else "left"
            assert client.post(to, {"verdict": verdict, "reason": "seen"}).status_code == 302
            self.shown.append((name, left, right, verdict))

    @staticmethod
    def _verdict(left: str, right: str) -> str:
        a, b = _score(left), _score(right)
        if max(a, b) <= 2:
            return "tie"
        return "left" if a > b else "right"


@pytest.fixture
def instance(owner, annotator, annotator2, reviewer, demo_model_path, client):
    people = {"annie": annotator, "bert": annotator2, "rita": reviewer}
    work = Instance(owner, people, demo_model_path)
    work.label_through_the_api()
    work.vote_through_the_api("annie")
    work.vote_on_the_page(client, "bert")
    return work


def download(api: Client, tmp_path: Path, fmt: str, **filters) -> Path:
    made = _ok(
        api.post("/api/exports", {"format": fmt, **filters}, content_type="application/json"), 201
    )
    body = b"".join(api.get(made["download"]).streaming_content)
    ext = fmt if fmt in ("csv", "parquet") else "jsonl"
    path = tmp_path / f"{made['id']}-{fmt}.{ext}"
    path.write_bytes(body)
    assert made["rows"] == len(_table(path))
    return path


def _table(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True)


def _hf(path: Path, tmp_path: Path) -> hf.Dataset:
    cache = str(tmp_path / "hf-cache")
    if path.suffix == ".parquet":
        return hf.Dataset.from_parquet(str(path), cache_dir=cache)
    if path.suffix == ".csv":
        return hf.Dataset.from_csv(str(path), cache_dir=cache)
    return hf.Dataset.from_json(str(path), cache_dir=cache)


# The truth, counted from the database by the test's own queries.


def labels_of(gen: Generation) -> list[tuple]:
    notes = Annotation.objects.filter(
        task__generation=gen, task__generation_b=None, state=AnnotationState.SUBMITTED
    )
    return sorted(
        (a.task.project_id, a.annotator.username, json.dumps(a.answers, sort_keys=True))
        for a in notes
    )


def finals_of(gen: Generation) -> list[tuple]:
    tasks = Task.objects.filter(generation=gen, generation_b=None, final__isnull=False)
    return sorted(
        (t.project_id, json.dumps(t.final, sort_keys=True), t.reviewed_by.username) for t in tasks
    )


def votes_of(gen: Generation) -> list[tuple]:
    out = []
    for side, field, other in (
        ("left", "generation", "generation_b_id"),
        ("right", "generation_b", "generation_id"),
    ):
        notes = Annotation.objects.filter(
            **{f"task__{field}": gen},
            task__generation_b__isnull=False,
            state=AnnotationState.SUBMITTED,
        )
        out += [
            (
                a.task.project_id,
                side,
                getattr(a.task, other),
                a.annotator.username,
                json.dumps(a.answers, sort_keys=True),
            )
            for a in notes
        ]
    return sorted(out)


def mean_quality(gen: Generation) -> float | None:
    given = [
        a["quality"]
        for a in Annotation.objects.filter(
            task__generation=gen, task__generation_b=None, state=AnnotationState.SUBMITTED
        ).values_list("answers", flat=True)
    ]
    return sum(given) / len(given) if given else None


def gold(gen: Generation) -> str:
    """The reviewer's correction, else the output (nobody else corrected)."""
    task = Task.objects.get(generation=gen, generation_b=None)
    return (task.final or {}).get("correction") or gen.output


def passes(gen: Generation) -> bool:
    task = Task.objects.get(generation=gen, generation_b=None)
    if task.final and "correct" in task.final:
        return task.final["correct"] == "pass"
    said = [a.answers["correct"] for a in task.annotations.filter(state=AnnotationState.SUBMITTED)]
    return said.count("pass") > len(said) / 2


def done_outputs():
    return Generation.objects.filter(status=GenerationStatus.DONE).order_by("pk")


def test_votes_are_recorded_on_the_sides_people_saw(instance):
    """The page and the API show task.generation on the left: the database's votes are
    the ones people cast, and pairs were shown both ways round, with ids either way."""
    votes = Annotation.objects.filter(
        task__project=instance.compare, state=AnnotationState.SUBMITTED
    )
    truth = Counter(
        (
            a.annotator.username,
            a.task.generation.output,
            a.task.generation_b.output,
            a.answers["verdict"],
        )
        for a in votes
    )
    assert truth == Counter(instance.shown) and len(instance.shown) == 2 * 3 * ITEMS
    tasks = Task.objects.filter(project=instance.compare)
    assert {t.generation_id > t.generation_b_id for t in tasks} == {True, False}
    # Where the database lists a pair's outputs in the other order than shown (by run).
    ids = [[t.generation_id, t.generation_b_id] for t in tasks]
    assert any(list(Generation.objects.in_bulk(pair)) != pair for pair in ids)
    names = [t.generation.run.model_config.name for t in tasks]
    assert len(set(names)) == 3


def test_each_preference_pair_chooses_what_its_annotator_picked(instance, tmp_path):
    path = download(instance.api, tmp_path, "preference")
    pairs = [json.loads(line) for line in path.read_text().splitlines()]
    for pair in pairs:  # TRL's conversational layout, the prompt of the item answered
        index = re.search(r"on item (\d)", pair["chosen"][0]["content"])
        assert pair["prompt"][-1]["role"] == "user"
        assert not index or pair["prompt"][-1]["content"] == f"Write a function number {index[1]}."
        for key in ("chosen", "rejected"):
            [turn] = pair[key]
            assert set(turn) == {"role", "content"} and turn["role"] == "assistant"
    picked = Counter(
        (left, right) if verdict == "left" else (right, left)
        for _, left, right, verdict in instance.shown
        if verdict in ("left", "right")
    )
    found = Counter(
        (p["chosen"][0]["content"], p["rejected"][0]["content"])
        for p in pairs
        if p["source"] == "comparison"
    )
    assert found == picked and sum(picked.values()) > 0
    # From ratings: per item, the best against the worst mean rating (recounted).
    expected = Counter()
    for index in range(ITEMS):
        rated = sorted((mean_quality(g), g.pk, g) for g in done_outputs().filter(item__index=index))
        (low, _, worst), (high, _, best) = rated[0], rated[-1]
        if high > low:
            expected[(gold(best), worst.output, high, low)] += 1
    found = Counter(
        (
            p["chosen"][0]["content"],
            p["rejected"][0]["content"],
            p["chosen_rating"],
            p["rejected_rating"],
        )
        for p in pairs
        if p["source"] == "rating"
    )
    assert found == expected
    table = _hf(path, tmp_path)
    assert {"prompt", "chosen", "rejected"} <= set(table.column_names)
    assert table[0]["chosen"][0].keys() == {"role", "content"}
    assert len(_table(path)) == len(pairs)


def _check_full_row(row: dict, gen: Generation) -> None:
    assert row["generation"]["output"] == gen.output
    labels = sorted(
        (lb["project"], lb["annotator"], json.dumps(lb["answers"], sort_keys=True))
        for lb in row["labels"]
    )
    assert labels == labels_of(gen)
    finals = sorted(
        (f["project"], json.dumps(f["answers"], sort_keys=True), f["reviewer"])
        for f in row["final"]
    )
    assert finals == finals_of(gen)
    votes = sorted(
        (
            v["project"],
            v["side"],
            v["other"],
            v["annotator"],
            json.dumps(v["answers"], sort_keys=True),
        )
        for v in row["comparisons"]
    )
    assert votes == votes_of(gen)
    assert row["mean_rating"] == pytest.approx(mean_quality(gen))
    carried = {p["id"] for p in row["projects"]}
    assert carried == {entry[0] for entry in labels + finals + votes}


def test_full_exports_carry_every_label_vote_and_final_label(instance, tmp_path):
    gens = {g.pk: g for g in done_outputs()}
    for fmt in ("jsonl", "csv", "parquet"):
        path = download(instance.api, tmp_path, fmt)
        table = _table(path)
        assert sorted(table["id"]) == sorted(gens), fmt
        if fmt == "jsonl":
            for row in (json.loads(line) for line in path.read_text().splitlines()):
                _check_full_row(row, gens[row["id"]])
            assert {"labels", "comparisons"} <= set(_hf(path, tmp_path).column_names)
            continue
        for row in table.to_dict("records"):
            gen = gens[row["id"]]
            assert row["labels_n"] == len(labels_of(gen))
            rating = mean_quality(gen)  # every output has labels
            assert row["mean_rating"] == pytest.approx(rating)
            entries = [
                json.loads(row[k]) for k in ("labels_json", "final_json", "comparisons_json")
            ]
            full = {
                "generation": {"output": row["output"]},
                "labels": json.loads(row["labels_json"]),
                "final": json.loads(row["final_json"]),
                "comparisons": json.loads(row["comparisons_json"]),
                "mean_rating": rating,
                "projects": [{"id": e["project"]} for part in entries for e in part],
            }
            _check_full_row(full, gen)
        assert _hf(path, tmp_path).num_rows == len(gens)
        if fmt == "parquet":
            assert pq.read_table(path).num_rows == len(gens)


def test_filtered_exports_keep_exactly_the_outputs_the_recount_keeps(instance, tmp_path):
    path = download(instance.api, tmp_path, "jsonl", min_rating=3.5)
    kept = {json.loads(line)["id"] for line in path.read_text().splitlines()}
    assert kept == {g.pk for g in done_outputs() if (mean_quality(g) or 0) >= 3.5} != set()
    path = download(instance.api, tmp_path, "csv", project=instance.compare.pk)
    table = _table(path)
    assert set(table["labels_n"]) == {0}  # a comparison project's rows: its votes, no label
    assert sum(len(json.loads(v)) for v in table["comparisons_json"]) == 2 * len(instance.shown)
    for fmt in ("sft", "openai"):
        path = download(instance.api, tmp_path, fmt, require_pass=True)
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        expected = Counter(gold(g) for g in done_outputs() if passes(g))
        assert Counter(r["messages"][-1]["content"] for r in rows) == expected != Counter()
        for r in rows:  # TRL's SFT layout: messages, ending with the answer
            assert [set(m) for m in r["messages"]] == [{"role", "content"}] * len(r["messages"])
            assert r["messages"][-1]["role"] == "assistant" and r["messages"][-2]["role"] == "user"
        assert _hf(path, tmp_path).column_names == ["messages"]


def _output(gen: Generation | None) -> str | None:
    return gen.output if gen else None


def _content(projects) -> dict:
    """Projects, their tasks, labels, final labels and votes, by what they say (no ids)."""
    out = {}
    for p in projects:
        tasks = Task.objects.filter(project=p)
        notes = Annotation.objects.filter(task__project=p, state=AnnotationState.SUBMITTED)
        out[p.name] = {
            "project": (p.kind, p.questions, p.blind, p.overlap, p.pairs_per_item, p.side_ratings),
            "tasks": sorted((t.generation.output, _output(t.generation_b)) for t in tasks),
            "notes": sorted(
                (
                    a.task.generation.output,
                    _output(a.task.generation_b),
                    a.annotator.username,
                    json.dumps(a.answers, sort_keys=True),
                    a.time_spent_s,
                )
                for a in notes
            ),
            "finals": sorted(
                (t.generation.output, json.dumps(t.final, sort_keys=True), t.reviewed_by.username)
                for t in tasks
                if t.final
            ),
        }
    return out


def test_a_full_export_rebuilds_its_projects_labels_and_votes(
    instance, tmp_path, django_user_model
):
    path = download(instance.api, tmp_path, "jsonl")
    before = _content([instance.label, instance.compare])
    originals = set(Project.objects.values_list("pk", flat=True))
    admin = django_user_model.objects.create_superuser("admin", password="pw-admin-123")
    with path.open("rb") as f:
        made = _api(admin).post(
            "/api/datasets", {"file": f, "name": "again", "keep_authors": "true"}
        )
    restored = _ok(made, 201)["restored"]
    assert (restored["projects"], restored["votes"], restored["pairs_left_out"]) == (
        2,
        len(instance.shown),
        0,
    )
    rebuilt = Project.objects.exclude(pk__in=originals)
    assert _content(rebuilt) == before
    assert before["Arena"]["notes"] and before["Quality"]["finals"]


def test_an_import_by_a_manager_keeps_one_vote_per_pair_as_theirs(instance, tmp_path):
    path = download(instance.api, tmp_path, "jsonl")
    originals = set(Project.objects.values_list("pk", flat=True))
    with path.open("rb") as f:
        restored = _ok(instance.api.post("/api/datasets", {"file": f, "name": "mine"}), 201)[
            "restored"
        ]
    pairs = 3 * ITEMS
    assert (restored["votes"], restored["votes_left_out"]) == (pairs, len(instance.shown) - pairs)
    arena = Project.objects.exclude(pk__in=originals).get(kind=ProjectKind.COMPARE)
    votes = Annotation.objects.filter(task__project=arena)
    assert set(votes.values_list("annotator__username", flat=True)) == {"owner"}
    first_votes = {}
    for _, left, right, verdict in instance.shown:  # each pair's earliest vote is kept
        first_votes.setdefault((left, right), verdict)
    kept = {
        (a.task.generation.output, a.task.generation_b.output): a.answers["verdict"] for a in votes
    }
    assert kept == first_votes


def test_a_run_filtered_export_says_which_pairs_it_could_not_bring_back(instance, tmp_path):
    run = instance.compare.runs.order_by("pk").first()
    path = download(instance.api, tmp_path, "jsonl", run=run.pk)
    with path.open("rb") as f:
        restored = _ok(instance.api.post("/api/datasets", {"file": f, "name": "one run"}), 201)[
            "restored"
        ]
    assert (restored["votes"], restored["pairs_left_out"]) == (0, 2 * ITEMS)
