"""What project owners do with judges: attach one to a project, change its rubric (a new
version), and start judging. Pages, the API and any command call these alike.

Each checks who may: an owner of the judge's project (annotate.labeling.access) who sees the
judge's model configuration (inference.access: managers). Judging is an ordinary generation
run (inference.actions.create_run) over a hidden dataset of rendered judge prompts
(Dataset.purpose "judge"), with the answer's JSON schema as its response schema; when it
finishes, annotate/judges/receivers.py turns its outputs into labels.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from annotate.datasets.models import Dataset, DatasetPurpose, Item
from annotate.judges.access import get_judge_for_user, get_judge_run_for_user
from annotate.judges.answers import answer_schema
from annotate.judges.models import Inconsistent, Judge, JudgeRun
from annotate.judges.rubrics import check_rubric, default_rubric, is_pairwise, judge_prompts
from annotate.labeling.access import get_project_for_user
from annotate.labeling.models import Role, Task
from inference.access import get_config_for_user
from inference.actions import create_run
from inference.errors import Conflict, Invalid
from inference.models import ACTIVE_RUN_STATUSES

# What a person sets on a judge.
JUDGE_FIELDS = frozenset({"name", "model_config", "rubric", "few_shot", "inconsistent"})
MAX_FEW_SHOT = 20
BULK = 2000


def _clean(judge: Judge, user, fields: Mapping) -> None:
    """Set the given fields on the judge, checked; Invalid says what is wrong."""
    unknown = set(fields) - JUDGE_FIELDS
    if unknown:
        raise Invalid(f"Unknown field {sorted(unknown)[0]!r}.")
    if "model_config" in fields:
        judge.model_config = get_config_for_user(user, int(fields["model_config"]))
    if "name" in fields:
        judge.name = str(fields["name"]).strip()[:200]
    if "rubric" in fields:
        judge.rubric = check_rubric(str(fields["rubric"]), is_pairwise(judge.project))
    if "few_shot" in fields:
        few_shot = fields["few_shot"]
        if isinstance(few_shot, bool) or not isinstance(few_shot, int):
            raise Invalid("Few-shot examples: a whole number.")
        if not 0 <= few_shot <= MAX_FEW_SHOT:
            raise Invalid(f"Few-shot examples: from 0 to {MAX_FEW_SHOT}.")
        judge.few_shot = few_shot
    if "inconsistent" in fields:
        if fields["inconsistent"] not in Inconsistent.values:
            raise Invalid(f"Inconsistent verdicts: one of {', '.join(Inconsistent.values)}.")
        judge.inconsistent = fields["inconsistent"]


@transaction.atomic
def attach_judge(user, project_id: int, fields: Mapping) -> Judge:
    """A new judge of the project (its owners) with a model configuration they see; the
    rubric left out is the default one of the project's kind, the name the configuration's."""
    project = get_project_for_user(user, project_id, Role.OWNER)
    if "model_config" not in fields:
        raise Invalid("Choose the judge's model configuration.")
    judge = Judge(project=project, created_by=user, rubric=default_rubric(project))
    _clean(judge, user, fields)
    judge.name = judge.name or judge.model_config.name
    judge.save()
    return judge


@transaction.atomic
def update_rubric(user, judge_id: int, fields: Mapping) -> Judge:
    """Change a judge (its project's owners): a changed rubric is a new version, so labels
    and agreement say which rubric made them."""
    judge = get_judge_for_user(user, judge_id)
    get_config_for_user(user, judge.model_config_id)
    old = judge.rubric
    _clean(judge, user, fields)
    if not judge.name:
        raise Invalid("A judge needs a name.")
    if judge.rubric != old:
        judge.version += 1
    judge.save()
    return judge


def tasks_to_judge(judge: Judge, sample_only: bool):
    tasks = Task.objects.filter(project=judge.project).select_related(
        "generation__item", "generation_b"
    )
    return tasks.filter(in_sample=True) if sample_only else tasks


def _judge_dataset(user, judge: Judge, tasks) -> Dataset:
    """The hidden dataset of the rendered prompts: one item per task, or two per pair."""
    project = judge.project
    dataset = Dataset.objects.create(
        name=f"Judge {judge.name} v{judge.version} on {project.name}"[:200],
        description=f"Prompts of judge {judge.pk} (project {project.pk}).",
        owner=user,
        purpose=DatasetPurpose.JUDGE,
    )
    batch = []
    prompts = judge_prompts(project, judge.rubric, judge.few_shot, tasks.iterator())
    for index, (text, metadata) in enumerate(prompts):
        message = {"role": "user", "content": text}
        batch.append(
            Item(dataset=dataset, index=index, messages=[message], prompt=text, metadata=metadata)
        )
        if len(batch) >= BULK:
            Item.objects.bulk_create(batch)
            batch = []
    Item.objects.bulk_create(batch)
    return dataset


@transaction.atomic
def start_judging(user, judge_id: int, sample_only: bool = False) -> JudgeRun:
    """Judge the project's tasks (only its human sample with `sample_only`) with the judge's
    current rubric: a run of its configuration over the rendered prompts, asking for answers
    of the project's schema. One judge run at a time per judge."""
    judge = get_judge_for_user(user, judge_id)
    config = get_config_for_user(user, judge.model_config_id)
    if JudgeRun.objects.filter(judge=judge, run__status__in=ACTIVE_RUN_STATUSES).exists():
        raise Conflict("This judge is already judging: wait for its run, or cancel it.")
    tasks = tasks_to_judge(judge, sample_only)
    if not tasks.exists():
        what = "no item in its human sample" if sample_only else "no outputs to judge yet"
        raise Conflict(f"The project has {what}.")
    dataset = _judge_dataset(user, judge, tasks)
    schema = answer_schema(judge.project.questions, is_pairwise(judge.project))
    run = create_run(user, dataset.pk, config.pk, response_schema=schema)
    return JudgeRun.objects.create(
        judge=judge, version=judge.version, rubric=judge.rubric, run=run, sample_only=sample_only
    )


@transaction.atomic
def accept_judge_run(user, judge_run_id: int) -> JudgeRun:
    """Use the judge run's labels: its project's owner says so once they have seen its
    agreement with the human sample (annotate/judges/agreement.py). Only a run that is no
    longer judging and has labels; accepting twice keeps the first time."""
    judge_run = get_judge_run_for_user(user, judge_run_id)
    if judge_run.run is not None and judge_run.run.status in ACTIVE_RUN_STATUSES:
        raise Conflict("This judge run is still judging: wait for it to finish.")
    if not judge_run.labels.exists():
        raise Conflict("This judge run has no labels to use.")
    if judge_run.accepted_at is None:
        judge_run.accepted_at, judge_run.accepted_by = timezone.now(), user
        judge_run.save(update_fields=("accepted_at", "accepted_by"))
    return judge_run
