"""The "annotate" app's models, gathered for Django: each part keeps its own.

- inference.models: model configurations, prices, runs, generations, worker heartbeats
- annotate.datasets.models: datasets and their items
- annotate.labeling.models: projects, members, tasks, annotations (labels)
- annotate.exports.models: exports
- annotate.accounts.models: API tokens

Code imports a model from its part's module, never from here.
"""

from annotate.accounts.models import ApiToken
from annotate.datasets.models import Dataset, Item
from annotate.exports.models import Export
from annotate.labeling.models import Annotation, Project, ProjectMember, Task
from inference.models import Generation, ModelConfig, Price, ProviderBatch, Run, WorkerHeartbeat

__all__ = [
    "Annotation",
    "ApiToken",
    "Dataset",
    "Export",
    "Generation",
    "Item",
    "ModelConfig",
    "Price",
    "Project",
    "ProjectMember",
    "ProviderBatch",
    "Run",
    "Task",
    "WorkerHeartbeat",
]
