"""The "annotate" app's models, gathered for Django: each part keeps its own.

- inference.models: model configurations, prices, runs, generations, worker heartbeats
- annotate.datasets.models: datasets, their items, imports run by a worker
- annotate.labeling.models: projects, members, tasks, annotations (labels)
- annotate.exports.models: exports
- annotate.accounts.models: API tokens
- annotate.stats.models: finished runs' rollups of their figures
- annotate.judges.models: model judges, their runs and labels

Code imports a model from its part's module, never from here.
"""

from annotate.accounts.models import ApiToken
from annotate.datasets.models import Dataset, ImportJob, Item
from annotate.exports.models import Export
from annotate.judges.models import Judge, JudgeLabel, JudgeRun
from annotate.labeling.models import Annotation, Project, ProjectMember, Task
from annotate.stats.models import RunRollup, Sweep
from inference.models import Generation, ModelConfig, Price, ProviderBatch, Run, WorkerHeartbeat

__all__ = [
    "Annotation",
    "ApiToken",
    "Dataset",
    "Export",
    "Generation",
    "ImportJob",
    "Item",
    "Judge",
    "JudgeLabel",
    "JudgeRun",
    "ModelConfig",
    "Price",
    "Project",
    "ProjectMember",
    "ProviderBatch",
    "Run",
    "RunRollup",
    "Sweep",
    "Task",
    "WorkerHeartbeat",
]
