"""One item on a page of its own: its prompt and reference, and every output of every run
over it, each with its measurements and the labels the caller may read."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q
from django.shortcuts import get_object_or_404

from annotate.datasets.access import get_dataset_for_user
from annotate.datasets.models import Item
from annotate.labeling.access import reviewable_projects
from annotate.labeling.models import Annotation, AnnotationState
from inference.models import Generation


@dataclass
class LabelShown:
    project: str
    annotator: str
    answers: dict
    side: str | None  # in a comparison, the side this output had: "left" or "right"


@dataclass
class OutputShown:
    generation: Generation
    labels: list[LabelShown] = field(default_factory=list)


@dataclass
class ItemPage:
    item: Item
    outputs: list[OutputShown]


def item_page(user, pk: int) -> ItemPage:
    """The item `pk` for whoever may see its dataset (managers; PermissionDenied otherwise,
    404 for no such item). Labels come only from projects the caller owns or reviews, as in
    exports: an annotator's labels in someone else's project stay there."""
    item = get_object_or_404(Item.objects.select_related("dataset"), pk=pk)
    get_dataset_for_user(user, item.dataset_id)
    generations = (
        Generation.objects.filter(item=item)
        .select_related("run__model_config")
        .order_by("run__created_at", "run_id", "sample_index")
    )
    outputs = {g.pk: OutputShown(g) for g in generations}
    labels = (
        Annotation.objects.filter(
            Q(task__generation__item=item) | Q(task__generation_b__item=item),
            state=AnnotationState.SUBMITTED,
            task__project__in=reviewable_projects(user),
        )
        .select_related("task__project", "annotator")
        .order_by("started_at", "pk")
    )
    for label in labels:
        task = label.task
        paired = task.generation_b_id is not None
        for gen_id, side in ((task.generation_id, "left"), (task.generation_b_id, "right")):
            if gen_id in outputs:
                outputs[gen_id].labels.append(
                    LabelShown(
                        task.project.name,
                        label.annotator.username,
                        label.answers,
                        side if paired else None,
                    )
                )
    return ItemPage(item, list(outputs.values()))
