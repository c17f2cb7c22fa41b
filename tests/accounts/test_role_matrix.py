"""Who may open every page and call every API operation: one row per route, one cell per role
(issue 13). The rows are the intended rules (README's roles, inference.access,
annotate.labeling.access, annotate.exports.actions), not what the code happens to do; a route
without a row fails test_every_route_has_a_row, so the matrix stays complete.

Roles: anonymous; outsider (signed in, no role); annotator, reviewer and project_owner
(members of both projects with that role, no manager permission); manager (the "Project
owners" group, in no project, creator of nothing); creator (in that group too: made every
dataset, model configuration, run, project and the export); superuser.

A cell is one of:
  ok            2xx, or a redirect that is not to a login page; an allowed write may also be
                refused on its merits (400, 409, 422): the caller got past the access check
                (and where a row says how to see the write's effect, the effect is there)
  login         redirected to a login page with ?next= (anonymous on a page; the admin)
  unauthorized  401 (anonymous on the API)
  denied        403 or 404; or, for a row that says how to see its effect, a form that
                answered 2xx and did nothing
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from annotate.accounts.models import ApiToken
from annotate.api import api
from annotate.datasets.models import ImportJob
from annotate.exports.actions import start_export
from annotate.exports.models import Export
from annotate.judges.models import Judge, JudgeLabel, JudgeRun
from annotate.labeling import actions as labeling
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectMember
from annotate.stats.models import Sweep
from inference.access import MANAGE_PERMISSION
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db

ROLES = (
    "anonymous",
    "outsider",
    "annotator",
    "reviewer",
    "project_owner",
    "manager",
    "creator",
    "superuser",
)

# Who is allowed, by rule. Anyone else is denied; anonymous is sent to log in (pages) or
# answered 401 (API), unless the rule names "anonymous".
EVERYONE = ROLES
SIGNED_IN = ROLES[1:]
MANAGERS = ("manager", "creator", "superuser")  # README: manage datasets, models, runs
CREATOR_OR_STAFF = ("creator", "superuser")  # changing an object: its creator or staff
STAFF = ("superuser",)  # prices, the admin
EXPORT_OWNER = ("creator",)  # "one of the caller's own exports (404 for anyone else's)"
IMPORT_OWNER = ("creator", "superuser")  # an import job: its owner or staff (datasets.access)
MEMBERS = ("annotator", "reviewer", "project_owner", "creator", "superuser")
REVIEWERS = ("reviewer", "project_owner", "creator", "superuser")
OWNERS = ("project_owner", "creator", "superuser")
SKIPPER = ("annotator",)  # members of the project who skipped the item: undo their own skip
# An export of a project's labels: managers who may review the project (exports.actions).
MANAGING_REVIEWERS = ("creator", "superuser")
# Attaching, changing and starting a judge: owners of its project who see its model
# configuration (managers); its page and figures: the project's owners.
MANAGING_OWNERS = ("creator", "superuser")
NOBODY = ()

ANSWERS = {"quality": 4, "correct": "pass"}
WORKLOAD = "queries=1000&input_tokens=100&output_tokens=100"  # a projection's inputs


@dataclass(frozen=True)
class Case:
    """One request. The URL's {names} are the world's ids; body is a dict or a function of
    the world; effect(world, user), if given, says whether a write took effect. refused is
    what a signed-in person outside `allowed` gets; anonymous, what an anonymous one gets
    where not the door's usual (sent to log in by a page, 401 from the API)."""

    method: str
    url: str
    allowed: tuple[str, ...]
    body: dict | Callable | None = None
    multipart: bool = False
    effect: Callable | None = None
    refused: str = "denied"
    anonymous: str | None = None


def upload(w, **fields) -> dict:
    lines = b'{"prompt": "Say hello."}\n{"prompt": "Say goodbye."}\n'
    return {"file": SimpleUploadedFile("prompts.jsonl", lines), "name": "uploaded", **fields}


def revoked_creators_token(w, user) -> bool:
    return ApiToken.objects.filter(pk=w.token_ids["creator"], revoked_at__isnull=False).exists()


def unskipped(w, user) -> bool:
    mine = Annotation.objects.filter(annotator=user, task__number=w.skipped_task)
    return mine.filter(task__project=w.project, state=AnnotationState.HELD).exists()


def labels_the_run(w, user) -> bool:
    return Project.objects.filter(owner=user, runs=w.run, name__startswith="Label run").exists()


def invited_newbie(w, user) -> bool:
    return ProjectMember.objects.filter(project=w.project, user__username="newbie").exists()


def deactivated_annotator(w, user) -> bool:
    return not get_user_model().objects.get(username="annotator").is_active


def exported_project(w, user) -> bool:
    mine = Export.objects.filter(owner=user, filters__project=w.project)
    return mine.exclude(pk=w.export).exists()


# Pages by URL name (the admin as one row: Django's own site, for staff only).
PAGES: dict[str, Case] = {
    "annotate-home": Case("GET", "/", SIGNED_IN),  # what needs them now, whatever their role
    "annotate-dataset-list": Case("GET", "/datasets/", MANAGERS),
    "annotate-dataset-import": Case("POST", "/datasets/import/", MANAGERS, upload),
    "annotate-import-detail": Case("GET", "/datasets/imports/{import_job}/", IMPORT_OWNER),
    "annotate-dataset-detail": Case("GET", "/datasets/{dataset}/", MANAGERS),
    "annotate-dataset-matrix": Case("GET", "/datasets/{dataset}/matrix/", MANAGERS),
    "annotate-item-detail": Case("GET", "/datasets/items/{item}/", MANAGERS),
    "annotate-config-list": Case("GET", "/models/", MANAGERS),
    "annotate-config-new": Case("GET", "/models/new/", MANAGERS),
    "annotate-config-edit": Case("GET", "/models/{config}/edit/", CREATOR_OR_STAFF),
    "annotate-export-list": Case("GET", "/exports/", MANAGERS),
    # The form offers only the projects the manager may review; another one is refused.
    "annotate-export-list [of a project]": Case(
        "POST",
        "/exports/",
        MANAGING_REVIEWERS,
        lambda w: {"format": "jsonl", "project": w.project},
        effect=exported_project,
    ),
    "annotate-export-preview": Case("GET", "/exports/preview/?format=sft", MANAGERS),
    "annotate-export-detail": Case("GET", "/exports/{export}/", EXPORT_OWNER),
    "annotate-export-download": Case("GET", "/exports/{export}/download/", EXPORT_OWNER),
    "annotate-export-manifest": Case("GET", "/exports/{export}/manifest/", EXPORT_OWNER),
    "annotate-tokens": Case("GET", "/account/tokens/", SIGNED_IN),
    "annotate-token-revoke": Case("POST", "/account/tokens/{own_token}/revoke/", SIGNED_IN),
    "annotate-token-revoke [another's token]": Case(
        "POST",
        "/account/tokens/{creator_token}/revoke/",
        ("creator",),
        effect=revoked_creators_token,
    ),
    "annotate-stats": Case("GET", "/stats/", MANAGERS),
    "annotate-sweep-new": Case(
        "POST",
        "/sweeps/new/",
        MANAGERS,
        lambda w: {
            "dataset": w.dataset,
            "model_config": w.config,
            "in_flight": "1, 2",
            "max_tokens": "8",
            "sample_size": 2,
            "seed": 0,
        },
    ),
    "annotate-sweep-detail": Case("GET", "/sweeps/{sweep}/", MANAGERS),
    "annotate-sweep-cancel": Case("POST", "/sweeps/{sweep}/cancel/", CREATOR_OR_STAFF),
    "annotate-health": Case("GET", "/health/", MANAGERS),
    "annotate-models-on-disk": Case("GET", "/health/models/", MANAGERS),
    "annotate-healthz": Case("GET", "/healthz", EVERYONE),  # load balancers
    "favicon": Case("GET", "/favicon.ico", EVERYONE),
    "annotate-stats-csv": Case("GET", "/stats.csv", MANAGERS),
    "annotate-stats-projection-csv": Case("GET", f"/stats/projection.csv?{WORKLOAD}", MANAGERS),
    "annotate-run-list": Case("GET", "/runs/", MANAGERS),
    "annotate-run-create": Case(
        "POST",
        "/runs/new/",
        MANAGERS,
        lambda w: {"dataset": w.dataset, "model_config": w.config, "samples_per_prompt": 1},
    ),
    "annotate-run-detail": Case("GET", "/runs/{run}/", MANAGERS),
    "annotate-run-label": Case("POST", "/runs/{run}/label/", MANAGERS, effect=labels_the_run),
    "annotate-run-cancel": Case("POST", "/runs/{run}/cancel/", CREATOR_OR_STAFF),
    "annotate-run-resume": Case("POST", "/runs/{run}/resume/", CREATOR_OR_STAFF),
    "annotate-run-retry": Case("POST", "/runs/{run}/retry/", CREATOR_OR_STAFF),
    "annotate-generation-list": Case("GET", "/runs/{run}/generations/", MANAGERS),
    "annotate-generation-detail": Case("GET", "/generations/{generation}/", MANAGERS),
    "annotate-project-list": Case("GET", "/projects/", SIGNED_IN),
    "annotate-project-new": Case("GET", "/projects/new/", MANAGERS),
    "annotate-project-detail": Case("GET", "/projects/{project}/", MEMBERS),
    "annotate-project-edit": Case("GET", "/projects/{project}/edit/", OWNERS),
    "annotate-project-sync": Case("POST", "/projects/{project}/sync/", OWNERS),
    "annotate-member-add": Case(
        "POST",
        "/projects/{project}/members/",
        OWNERS,
        {"username": "outsider", "role": "annotator"},
    ),
    "annotate-member-remove": Case("POST", "/projects/{project}/members/{member}/remove/", OWNERS),
    # Issue 16's people: a role in place (owners); a new account (owners who are managers);
    # deactivating one (managers, from a project they own: a message, nothing done, else).
    "annotate-member-role": Case(
        "POST",
        "/projects/{project}/members/{member}/role/",
        OWNERS,
        {"role": "reviewer"},
        effect=lambda w, user: ProjectMember.objects.filter(pk=w.member, role="reviewer").exists(),
    ),
    "annotate-member-invite": Case(
        "POST",
        "/projects/{project}/people/new/",
        ("creator", "superuser"),
        {"username": "newbie", "email": "newbie@example.com", "role": "annotator"},
        effect=invited_newbie,
    ),
    "annotate-member-deactivate": Case(
        "POST",
        "/projects/{project}/members/{member}/deactivate/",
        ("creator", "superuser"),
        effect=deactivated_annotator,
    ),
    "annotate-next": Case("GET", "/projects/{project}/next/", MEMBERS),
    "annotate-task": Case("GET", "/projects/{project}/tasks/{task}/", MEMBERS),
    # README: annotators see their own annotation queue and labels only.
    "annotate-task [not the annotator's]": Case(
        "GET", "/projects/{project}/tasks/{other_task}/", REVIEWERS
    ),
    "annotate-task-skip": Case("POST", "/projects/{project}/tasks/{task}/skip/", MEMBERS),
    "annotate-task-unskip": Case(
        "POST", "/projects/{project}/tasks/{skipped_task}/unskip/", SKIPPER, effect=unskipped
    ),
    "annotate-review": Case("GET", "/projects/{project}/review/", REVIEWERS),
    "annotate-results": Case("GET", "/projects/{compare}/results/", REVIEWERS),
    "annotate-review-task": Case("GET", "/projects/{project}/review/{task}/", REVIEWERS),
    "annotate-judge-new": Case("GET", "/projects/{project}/judges/new/", MANAGING_OWNERS),
    "annotate-judge-detail": Case("GET", "/judges/{judge}/", OWNERS),
    "annotate-judge-edit": Case(
        "POST",
        "/judges/{judge}/edit/",
        MANAGING_OWNERS,
        lambda w: {
            "model_config": w.config,
            "name": "renamed",
            "rubric": "{output}",
            "few_shot": 0,
            "inconsistent": "tie",
        },
        effect=lambda w, user: Judge.objects.filter(pk=w.judge, name="renamed").exists(),
    ),
    "annotate-judge-start": Case(
        "POST",
        "/judges/{judge}/runs/",
        MANAGING_OWNERS,
        effect=lambda w, user: JudgeRun.objects.filter(judge=w.judge, run__isnull=False).exists(),
    ),
    "annotate-judge-run-accept": Case(
        "POST",
        "/judge-runs/{judge_run}/accept/",
        OWNERS,
        effect=lambda w, user: JudgeRun.objects.filter(
            pk=w.judge_run, accepted_at__isnull=False
        ).exists(),
    ),
    "login": Case("GET", "/accounts/login/", EVERYONE),
    "logout": Case("POST", "/accounts/logout/", EVERYONE),  # then to the login page
    # A set-password link: anyone may open one (a bad or used one says so).
    "annotate-set-password": Case("GET", "/accounts/welcome/MQ/not-a-token/", EVERYONE),
    "admin:*": Case("GET", "/admin/", STAFF, refused="login"),
    "api-1:openapi-json": Case("GET", "/api/openapi.json", EVERYONE),
    "api-1:openapi-view": Case("GET", "/api/docs", EVERYONE),
    "api-1:api-root": Case("GET", "/api/", NOBODY, anonymous="denied"),  # a name, no page
}

# API operations by "METHOD /path" as the OpenAPI schema names them; a " [variant]" suffix
# is a second request to the same operation.
API: dict[str, Case] = {
    "GET /api/datasets": Case("GET", "/api/datasets", MANAGERS),
    "POST /api/datasets": Case("POST", "/api/datasets", MANAGERS, upload, multipart=True),
    # Giving a re-imported export's labels to the accounts it names: superusers only.
    "POST /api/datasets [keeping authors]": Case(
        "POST",
        "/api/datasets",
        STAFF,
        lambda w: upload(w, keep_authors="true"),
        multipart=True,
    ),
    "GET /api/datasets/{dataset_id}": Case("GET", "/api/datasets/{dataset}", MANAGERS),
    "GET /api/imports": Case("GET", "/api/imports", SIGNED_IN),  # their own
    "GET /api/imports/{import_id}": Case("GET", "/api/imports/{import_job}", IMPORT_OWNER),
    "GET /api/datasets/{dataset_id}/items": Case("GET", "/api/datasets/{dataset}/items", MANAGERS),
    # Every run used it: refused with 409 (an allowed write), its labels kept.
    "DELETE /api/datasets/{dataset_id}": Case(
        "DELETE", "/api/datasets/{dataset}", CREATOR_OR_STAFF
    ),
    # An item of a task they may open: managers, the project's reviewers and owners, and
    # the annotator who labeled it.
    "GET /api/items/{item_id}": Case(
        "GET", "/api/items/{item}", ("annotator", "reviewer", "project_owner", *MANAGERS)
    ),
    "GET /api/items/{item_id} [not the annotator's]": Case(
        "GET", "/api/items/{other_item}", ("reviewer", "project_owner", *MANAGERS)
    ),
    "GET /api/models": Case("GET", "/api/models", MANAGERS),
    "POST /api/models": Case(
        "POST", "/api/models", MANAGERS, {"name": "new", "backend": "mlx", "model": "m"}
    ),
    "GET /api/models/{config_id}": Case("GET", "/api/models/{config}", MANAGERS),
    "PUT /api/models/{config_id}": Case(
        "PUT",
        "/api/models/{config}",
        CREATOR_OR_STAFF,
        {"name": "local", "backend": "mlx", "model": "m"},
    ),
    "GET /api/prices": Case("GET", "/api/prices", MANAGERS),
    "POST /api/prices": Case(
        "POST",
        "/api/prices",
        STAFF,
        {
            "backend": "anthropic",
            "model": "claude-new",
            "input_per_mtok": "1",
            "output_per_mtok": "5",
            "effective_from": "2026-01-01",
        },
    ),
    "GET /api/runs": Case("GET", "/api/runs", MANAGERS),
    "POST /api/runs": Case(
        "POST",
        "/api/runs",
        MANAGERS,
        lambda w: {"dataset_id": w.dataset, "model_config_id": w.config},
    ),
    "GET /api/runs/{run_id}": Case("GET", "/api/runs/{run}", MANAGERS),
    "POST /api/runs/{run_id}/cancel": Case("POST", "/api/runs/{run}/cancel", CREATOR_OR_STAFF),
    "POST /api/runs/{run_id}/resume": Case("POST", "/api/runs/{run}/resume", CREATOR_OR_STAFF),
    "POST /api/runs/{run_id}/retry": Case("POST", "/api/runs/{run}/retry", CREATOR_OR_STAFF),
    "GET /api/runs/{run_id}/generations": Case("GET", "/api/runs/{run}/generations", MANAGERS),
    "POST /api/runs/{run_id}/label": Case(
        "POST", "/api/runs/{run}/label", MANAGERS, effect=labels_the_run
    ),
    "GET /api/generations/{generation_id}": Case("GET", "/api/generations/{generation}", MANAGERS),
    "GET /api/stats": Case("GET", "/api/stats", MANAGERS),
    "POST /api/sweeps": Case(
        "POST",
        "/api/sweeps",
        MANAGERS,
        lambda w: {
            "dataset_id": w.dataset,
            "model_config_id": w.config,
            "in_flight": [1, 2],
            "max_tokens": [8],
            "sample_size": 2,
        },
    ),
    "GET /api/sweeps/{sweep_id}": Case("GET", "/api/sweeps/{sweep}", MANAGERS),
    "POST /api/sweeps/{sweep_id}/cancel": Case(
        "POST", "/api/sweeps/{sweep}/cancel", CREATOR_OR_STAFF
    ),
    "GET /api/stats/projection": Case("GET", f"/api/stats/projection?{WORKLOAD}", MANAGERS),
    "GET /api/health": Case("GET", "/api/health", MANAGERS),
    "POST /api/exports": Case("POST", "/api/exports", MANAGERS, {"format": "jsonl"}),
    # An export of a project's labels: the manager, in no project, may not.
    "POST /api/exports [of a project]": Case(
        "POST",
        "/api/exports",
        MANAGING_REVIEWERS,
        lambda w: {"format": "jsonl", "project": w.project},
        effect=exported_project,
    ),
    "POST /api/exports/preview": Case("POST", "/api/exports/preview", MANAGERS, {"format": "sft"}),
    "POST /api/exports/preview [of a project]": Case(
        "POST",
        "/api/exports/preview",
        MANAGING_REVIEWERS,
        lambda w: {"format": "sft", "project": w.project},
    ),
    "GET /api/exports": Case("GET", "/api/exports", MANAGERS),  # their own
    "GET /api/exports/{export_id}": Case("GET", "/api/exports/{export}", EXPORT_OWNER),
    "GET /api/exports/{export_id}/file": Case("GET", "/api/exports/{export}/file", EXPORT_OWNER),
    "GET /api/projects": Case("GET", "/api/projects", SIGNED_IN),  # those they are in
    "POST /api/projects": Case(
        "POST", "/api/projects", MANAGERS, lambda w: {"name": "New", "runs": [w.run]}
    ),
    "PUT /api/projects/{project_id}": Case(
        "PUT",
        "/api/projects/{project}",
        OWNERS,
        lambda w: {"name": "Quality", "runs": [w.run]},
    ),
    # Adding a run takes the manager permission and seeing the run (in none of their projects).
    "PUT /api/projects/{project_id} [adding a run]": Case(
        "PUT",
        "/api/projects/{project}",
        CREATOR_OR_STAFF,
        lambda w: {"name": "Quality", "runs": [w.run, w.other_run]},
    ),
    "GET /api/projects/{project_id}": Case("GET", "/api/projects/{project}", MEMBERS),
    # It has labels: refused with 409 (an allowed write), nothing deleted.
    "DELETE /api/projects/{project_id}": Case("DELETE", "/api/projects/{project}", OWNERS),
    "GET /api/projects/{project_id}/tasks/{task_id}": Case(
        "GET", "/api/projects/{project}/tasks/{task}", MEMBERS
    ),
    "GET /api/projects/{project_id}/tasks/{task_id} [not the annotator's]": Case(
        "GET", "/api/projects/{project}/tasks/{other_task}", REVIEWERS
    ),
    # A password (Basic) or a session makes a token, never a token (the matrix sends one).
    "POST /api/tokens": Case("POST", "/api/tokens", NOBODY, {"name": "x"}, refused="unauthorized"),
    "POST /api/projects/{project_id}/sync": Case("POST", "/api/projects/{project}/sync", OWNERS),
    "GET /api/projects/{project_id}/disagreements": Case(
        "GET", "/api/projects/{project}/disagreements", REVIEWERS
    ),
    "GET /api/projects/{project_id}/progress": Case(
        "GET", "/api/projects/{project}/progress", REVIEWERS
    ),
    "POST /api/projects/{project_id}/members": Case(
        "POST",
        "/api/projects/{project}/members",
        OWNERS,
        {"username": "outsider", "role": "annotator"},
    ),
    "DELETE /api/projects/{project_id}/members/{username}": Case(
        "DELETE", "/api/projects/{project}/members/annotator", OWNERS
    ),
    "PATCH /api/projects/{project_id}/members/{username}": Case(
        "PATCH", "/api/projects/{project}/members/annotator", OWNERS, {"role": "reviewer"}
    ),
    "POST /api/projects/{project_id}/people": Case(
        "POST",
        "/api/projects/{project}/people",
        ("creator", "superuser"),
        {"username": "newbie", "email": "newbie@example.com", "role": "annotator"},
        effect=invited_newbie,
    ),
    "POST /api/accounts/{username}/deactivate": Case(
        "POST", "/api/accounts/annotator/deactivate", MANAGERS, effect=deactivated_annotator
    ),
    "POST /api/projects/{project_id}/next": Case("POST", "/api/projects/{project}/next", MEMBERS),
    "POST /api/projects/{project_id}/tasks/{task_id}/label": Case(
        "POST", "/api/projects/{project}/tasks/{task}/label", MEMBERS, {"answers": ANSWERS}
    ),
    "POST /api/projects/{project_id}/tasks/{task_id}/label [not the annotator's]": Case(
        "POST",
        "/api/projects/{project}/tasks/{other_task}/label",
        REVIEWERS,  # who then hold no such item: 409
        {"answers": ANSWERS},
    ),
    "POST /api/projects/{project_id}/tasks/{task_id}/skip": Case(
        "POST", "/api/projects/{project}/tasks/{task}/skip", MEMBERS
    ),
    "POST /api/projects/{project_id}/tasks/{task_id}/unskip": Case(
        "POST", "/api/projects/{project}/tasks/{skipped_task}/unskip", SKIPPER, effect=unskipped
    ),
    "GET /api/projects/{project_id}/labels": Case("GET", "/api/projects/{project}/labels", MEMBERS),
    "POST /api/projects/{project_id}/tasks/{task_id}/final": Case(
        "POST", "/api/projects/{project}/tasks/{task}/final", REVIEWERS, {"answers": ANSWERS}
    ),
    "GET /api/projects/{project_id}/agreement": Case(
        "GET", "/api/projects/{project}/agreement", REVIEWERS
    ),
    "GET /api/projects/{project_id}/leaderboard": Case(
        "GET", "/api/projects/{compare}/leaderboard", REVIEWERS
    ),
    # A judge run's agreement with people, and using its labels: the project's owners.
    "GET /api/judge-runs/{judge_run_id}/agreement": Case(
        "GET", "/api/judge-runs/{judge_run}/agreement", OWNERS
    ),
    "GET /api/projects/{project_id}/judges": Case("GET", "/api/projects/{project}/judges", OWNERS),
    "POST /api/projects/{project_id}/judges": Case(
        "POST",
        "/api/projects/{project}/judges",
        MANAGING_OWNERS,
        lambda w: {"model_config_id": w.config},
        effect=lambda w, user: Judge.objects.filter(project=w.project).count() == 2,
    ),
    "GET /api/judges/{judge_id}": Case("GET", "/api/judges/{judge}", OWNERS),
    "PATCH /api/judges/{judge_id}": Case(
        "PATCH",
        "/api/judges/{judge}",
        MANAGING_OWNERS,
        {"name": "renamed"},
        effect=lambda w, user: Judge.objects.filter(pk=w.judge, name="renamed").exists(),
    ),
    "POST /api/judges/{judge_id}/runs": Case(
        "POST",
        "/api/judges/{judge}/runs",
        MANAGING_OWNERS,
        {},
        effect=lambda w, user: JudgeRun.objects.filter(judge=w.judge, run__isnull=False).exists(),
    ),
    "GET /api/judges/{judge_id}/runs": Case("GET", "/api/judges/{judge}/runs", OWNERS),
    "GET /api/judge-runs/{judge_run_id}": Case("GET", "/api/judge-runs/{judge_run}", OWNERS),
    "GET /api/judge-runs/{judge_run_id}/labels": Case(
        "GET", "/api/judge-runs/{judge_run}/labels", OWNERS
    ),
    "POST /api/judge-runs/{judge_run_id}/accept": Case(
        "POST",
        "/api/judge-runs/{judge_run}/accept",
        OWNERS,
        effect=lambda w, user: JudgeRun.objects.filter(
            pk=w.judge_run, accepted_at__isnull=False
        ).exists(),
    ),
}

MATRIX = {**PAGES, **API}


def expected(key: str, role: str) -> str:
    case = MATRIX[key]
    if role in case.allowed:
        return "ok"
    if role == "anonymous":
        if case.anonymous:
            return case.anonymous
        return "unauthorized" if key in API else "login"
    return case.refused


def outcome(response, write: bool) -> str:
    code = response.status_code
    if 300 <= code < 400:
        where = urlsplit(response["Location"])
        to_login = where.path.endswith("/login/") and "next" in parse_qs(where.query)
        return "login" if to_login else "ok"
    if code < 300 or (write and code in (400, 409, 422)):
        return "ok"
    if code == 401:
        return "unauthorized"
    if code in (403, 404):
        return "denied"
    return f"status {code}"


# --- the world ------------------------------------------------------------------------------


def _finished_run(creator, dataset, config):
    run = create_run(creator, dataset.pk, config.pk)  # its doorbell waits for a commit: none
    for i, generation in enumerate(run.generations.all()):
        generation.status, generation.output = GenerationStatus.DONE, f"answer {i}"
        generation.save()
    return run


def build_world() -> SimpleNamespace:
    """Everything made by `creator` through the actions; the others given their roles."""
    user_model = get_user_model()
    people = {
        role: user_model.objects.create_user(role, password=f"pw-{role}-123")
        for role in ROLES[1:-1]
    }
    people["superuser"] = user_model.objects.create_superuser("superuser", password="pw-su-123")
    # get_or_create: a transactional test before this module may have flushed the group.
    owners, _ = Group.objects.get_or_create(name="Project owners")
    app_label, codename = MANAGE_PERMISSION.split(".")
    owners.permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    for role in ("manager", "creator"):
        people[role].groups.add(owners)
    creator = people["creator"]

    dataset = make_dataset(creator, n=3)
    local = ModelConfig.objects.create(name="local", backend="mlx", model="m", owner=creator)
    hosted = ModelConfig.objects.create(
        name="hosted", backend="anthropic", model="claude-haiku-4-5", owner=creator
    )
    run = _finished_run(creator, dataset, local)
    hosted_run = _finished_run(creator, dataset, hosted)
    other_run = _finished_run(creator, dataset, local)  # in no project

    project, _ = labeling.create_project(creator, {"name": "Quality"}, [run.pk])
    compare, _ = labeling.create_project(
        creator, {"name": "Arena", "kind": "compare"}, [run.pk, hosted_run.pk]
    )
    for each in (project, compare):
        for role in ("project_owner", "reviewer", "annotator"):
            labeling.add_member(creator, each.pk, role, role.replace("project_", ""))
    held = labeling.next_item(people["annotator"], project.pk)
    task = held.task
    labeling.submit_label(people["annotator"], project.pk, task.number, ANSWERS)
    skipped = labeling.next_item(people["annotator"], project.pk).task
    labeling.skip_item(people["annotator"], project.pk, skipped.number)
    export = start_export(creator, "jsonl", {"project": project.pk})
    judge = Judge.objects.create(
        project=project, model_config=local, name="judge", rubric="{output}", created_by=creator
    )
    judge_run = JudgeRun.objects.create(judge=judge, version=1, rubric=judge.rubric)
    JudgeLabel.objects.create(judge_run=judge_run, task=task, answers=ANSWERS)
    tokens = {role: ApiToken.issue(user, "matrix") for role, user in people.items()}
    return SimpleNamespace(
        people=people,
        tokens={role: secret for role, (_, secret) in tokens.items()},
        token_ids={role: row.pk for role, (row, _) in tokens.items()},
        dataset=dataset.pk,
        config=local.pk,
        run=run.pk,
        other_run=other_run.pk,
        generation=run.generations.first().pk,
        project=project.pk,
        compare=compare.pk,
        task=task.number,
        skipped_task=skipped.number,
        other_task=project.tasks.exclude(pk__in=(task.pk, skipped.pk)).first().number,
        item=task.generation.item_id,
        other_item=project.tasks.exclude(pk__in=(task.pk, skipped.pk)).first().generation.item_id,
        member=ProjectMember.objects.get(project=project, user=people["annotator"]).pk,
        export=export.pk,
        judge=judge.pk,
        judge_run=judge_run.pk,
        import_job=ImportJob.objects.create(owner=creator, filename="big.jsonl").pk,
        sweep=Sweep.objects.create(
            dataset=dataset,
            model_config=local,
            created_by=creator,
            item_ids=[task.generation.item_id],
            points=[{"in_flight": 1, "max_tokens": 8}],
        ).pk,
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module and rolled back after it; each test runs in a savepoint
    (pytest-django's), so what one request changes the next does not see."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


def request(client, world, key: str, role: str):
    case = MATRIX[key]
    own_token = world.token_ids.get(role, world.token_ids["creator"])
    ids = {**vars(world), "own_token": own_token, "creator_token": world.token_ids["creator"]}
    url = case.url.format(**ids)
    body = case.body(world) if callable(case.body) else (case.body or {})
    headers = {}
    if role != "anonymous":
        if key in API:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[role]}"
        else:
            client.force_login(world.people[role])
    send = getattr(client, case.method.lower())
    if case.method == "GET":
        return send(url, **headers)
    if key in API and not case.multipart:
        return send(url, json.dumps(body), content_type="application/json", **headers)
    return send(url, body, **headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", list(MATRIX))
def test_role_matrix(client, world, key, role):
    case = MATRIX[key]
    response = request(client, world, key, role)
    got = outcome(response, write=case.method != "GET")
    if got == "ok" and case.effect and not case.effect(world, world.people.get(role)):
        got = "denied"
    # A download is read to the end, which closes its file.
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert got == expected(key, role), f"{key} as {role}: {response.status_code} {body[:300]!r}"


# --- the matrix is complete -----------------------------------------------------------------


def _django_routes(patterns, prefix: str = "", namespace: str | None = None):
    """(view name, route) of every URL pattern; the admin's as one "admin:*"."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace or namespace
            if ns == "admin":
                yield "admin:*", route
            else:
                yield from _django_routes(pattern.url_patterns, route, ns)
        elif isinstance(pattern, URLPattern):
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), route


def _schema_regex(path: str) -> re.Pattern:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)))


def _api_operations() -> set[str]:
    paths = api.get_openapi_schema()["paths"]
    return {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}


def test_every_route_has_a_row():
    """A new page or API operation needs its row (and so a decision about who may use it)."""
    operations = _api_operations()
    api_paths = [_schema_regex(op.split(" ", 1)[1]) for op in operations]
    pages = set()
    for name, route in _django_routes(get_resolver().url_patterns):
        # Ninja's operations are Django patterns too ("api/runs/<run_id>"): rows of API.
        concrete = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"x", route)
        if name.startswith("api-1:") and any(p.fullmatch(concrete) for p in api_paths):
            continue
        pages.add(name)
    rows = {key.split(" [")[0] for key in MATRIX}
    assert pages | operations == rows


@pytest.mark.parametrize("key", list(MATRIX))
def test_each_row_requests_its_own_route(key):
    """The row's literal URL is the route the row is named for."""
    # The query string is the request's inputs, not its route.
    url, route = MATRIX[key].url.format_map(_AnyId()).split("?")[0], key.split(" [")[0]
    if key in API:
        method, path = route.split(" ", 1)
        assert MATRIX[key].method == method and _schema_regex(path).fullmatch(url)
    elif key == "admin:*":
        assert resolve(url).namespace == "admin"
    else:
        assert resolve(url).view_name == route


class _AnyId(dict):
    def __missing__(self, key: str) -> str:
        return "7"
