"""Outputs imported from a file (annotate/datasets/outputs.py): a run made by another tool.
Nothing is generated: such a run is completed when it is made, the actions refuse to start,
resume or retry one, and a worker handed one anyway fails it at start."""

from __future__ import annotations

from typing import ClassVar

from inference.backends.base import Backend, BackendError

NAME = "imported"


class ImportedBackend(Backend):
    name: ClassVar[str] = NAME
    queue: ClassVar[str] = "api"
    is_local: ClassVar[bool] = False
    generates: ClassVar[bool] = False

    @classmethod
    def in_flight(cls, params: dict) -> int:
        return 1

    def check(self) -> None:
        raise BackendError("Imported outputs are never generated.")

    def version(self) -> str:
        return NAME
