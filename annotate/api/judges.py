"""The REST API of judges: attach one to a project, change its rubric, start judging, follow
a judge run and read its labels. Parse, call annotate.judges.actions (the same rules as the
pages: the project's owners), answer."""

# No `from __future__ import annotations`: ninja reads the endpoints' annotations.

from datetime import datetime

from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from annotate.api.types import Id, In, Pages
from annotate.judges import actions
from annotate.judges.access import get_judge_for_user, get_judge_run_for_user
from annotate.judges.models import Inconsistent, Judge, JudgeLabel
from annotate.judges.summary import judge_consistency, summarize
from annotate.labeling.access import get_project_for_user
from annotate.labeling.models import Role

router = Router(tags=["judges"])


class JudgeIn(In):
    model_config_id: Id
    name: str = Field("", max_length=200)
    rubric: str | None = Field(None, description="Default: the project's default rubric.")
    few_shot: int = Field(0, ge=0, le=20)
    inconsistent: Inconsistent = Inconsistent.TIE


class JudgePatch(In):
    model_config_id: Id | None = None
    name: str | None = Field(None, max_length=200)
    rubric: str | None = None
    few_shot: int | None = Field(None, ge=0, le=20)
    inconsistent: Inconsistent | None = None


class JudgeOut(Schema):
    id: int
    project: int
    name: str
    model_config_id: int
    model_config_name: str
    rubric: str
    version: int
    few_shot: int
    inconsistent: str
    consistency: float | None  # pairs whose verdict held in both orders, over all runs
    created_at: datetime


class JudgeRunIn(In):
    sample_only: bool = False


class JudgeRunOut(Schema):
    id: int
    judge: int
    version: int
    rubric: str
    sample_only: bool
    run: int | None
    status: str | None
    total: int
    done: int
    failed: int
    percent: int
    cost_usd: float | None
    labels: int
    consistent: int
    pairs: int
    consistency: float | None
    created_at: datetime


class JudgeLabelOut(Schema):
    task: int  # the task's number, as people and scripts name it
    answers: dict
    reasoning: str
    consistent: bool | None
    created_at: datetime

    @staticmethod
    def resolve_task(label) -> int:
        return label.task.number


def _fields(payload: In) -> dict:
    fields = payload.dict(exclude_unset=True)
    if "model_config_id" in fields:
        fields["model_config"] = fields.pop("model_config_id")
    return {k: v for k, v in fields.items() if v is not None}


def _judge_out(judge: Judge) -> dict:
    return {
        "id": judge.pk,
        "project": judge.project_id,
        "name": judge.name,
        "model_config_id": judge.model_config_id,
        "model_config_name": judge.model_config.name,
        "rubric": judge.rubric,
        "version": judge.version,
        "few_shot": judge.few_shot,
        "inconsistent": judge.inconsistent,
        "consistency": judge_consistency(judge).rate,
        "created_at": judge.created_at,
    }


def _run_out(judge_run) -> dict:
    s = summarize(judge_run)
    p, run = s.progress, judge_run.run
    return {
        "id": judge_run.pk,
        "judge": judge_run.judge_id,
        "version": judge_run.version,
        "rubric": judge_run.rubric,
        "sample_only": judge_run.sample_only,
        "run": judge_run.run_id,
        "status": run.status if run else None,
        "total": p.total if p else 0,
        "done": p.done if p else 0,
        "failed": p.failed if p else 0,
        "percent": p.percent if p else 0,
        "cost_usd": float(p.cost_usd) if p and p.cost_usd is not None else None,
        "labels": s.labels,
        "consistent": s.consistency.consistent,
        "pairs": s.consistency.pairs,
        "consistency": s.consistency.rate,
        "created_at": judge_run.created_at,
    }


@router.get("/projects/{project_id}/judges", response=list[JudgeOut])
def list_judges(request, project_id: Id):
    project = get_project_for_user(request.user, project_id, Role.OWNER)
    return [_judge_out(j) for j in project.judges.select_related("model_config")]


@router.post("/projects/{project_id}/judges", response={201: JudgeOut})
def attach_judge(request, project_id: Id, payload: JudgeIn):
    """A judge of the project (its owners, who see the model configuration); the rubric
    left out is the default one built from the project's questions and guidelines."""
    judge = actions.attach_judge(request.user, project_id, _fields(payload))
    return Status(201, _judge_out(judge))


@router.get("/judges/{judge_id}", response=JudgeOut)
def get_judge(request, judge_id: Id):
    return _judge_out(get_judge_for_user(request.user, judge_id))


@router.patch("/judges/{judge_id}", response=JudgeOut)
def update_judge(request, judge_id: Id, payload: JudgePatch):
    """Change the judge; a changed rubric is a new version."""
    return _judge_out(actions.update_rubric(request.user, judge_id, _fields(payload)))


@router.post("/judges/{judge_id}/runs", response={201: JudgeRunOut})
def start_judging(request, judge_id: Id, payload: JudgeRunIn | None = None):
    """Judge the project's items (only its human sample with `sample_only`): a generation
    run, followed at GET /api/judge-runs/{id} or on the run's page."""
    sample_only = payload.sample_only if payload else False
    judge_run = actions.start_judging(request.user, judge_id, sample_only=sample_only)
    return Status(201, _run_out(judge_run))


@router.get("/judges/{judge_id}/runs", response=list[JudgeRunOut])
def list_judge_runs(request, judge_id: Id):
    judge = get_judge_for_user(request.user, judge_id)
    return [_run_out(jr) for jr in judge.runs.select_related("run")]


@router.get("/judge-runs/{judge_run_id}", response=JudgeRunOut)
def get_judge_run(request, judge_run_id: Id):
    """Status and progress from the generation run; labels and position consistency."""
    return _run_out(get_judge_run_for_user(request.user, judge_run_id))


@router.get("/judge-runs/{judge_run_id}/labels", response=list[JudgeLabelOut])
@paginate(Pages)
def list_judge_labels(request, judge_run_id: Id):
    judge_run = get_judge_run_for_user(request.user, judge_run_id)
    labels = JudgeLabel.objects.filter(judge_run=judge_run).select_related("task")
    return labels.order_by("task__number", "pk")
