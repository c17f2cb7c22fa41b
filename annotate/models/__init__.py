"""The app's models, by resource: runs.py (datasets, model configurations, runs, generations,
prices) and projects.py (labeling projects, their queues, labels and reviews)."""

from annotate.models.exports import ApiToken, Export, ExportFormat, ExportStatus
from annotate.models.projects import (
    Annotation,
    AnnotationState,
    Project,
    ProjectKind,
    ProjectMember,
    Role,
    Task,
)
from annotate.models.runs import (
    ACTIVE_RUN_STATUSES,
    Dataset,
    Generation,
    GenerationMode,
    GenerationStatus,
    Item,
    ModelConfig,
    Price,
    ProviderBatch,
    Run,
    RunProgress,
    RunStatus,
)

__all__ = [
    "ApiToken",
    "Export",
    "ExportFormat",
    "ExportStatus",
    "ACTIVE_RUN_STATUSES",
    "Annotation",
    "AnnotationState",
    "Dataset",
    "Generation",
    "GenerationMode",
    "GenerationStatus",
    "Item",
    "ModelConfig",
    "Price",
    "Project",
    "ProjectKind",
    "ProjectMember",
    "ProviderBatch",
    "Role",
    "Run",
    "RunProgress",
    "RunStatus",
    "Task",
]
