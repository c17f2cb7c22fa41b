"""The REST API (django-ninja): one router per resource, mounted here. OpenAPI docs at
/api/docs. Errors have one shape: {"detail": "...", "errors": [...]?} (annotate.api.errors)."""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.security import django_auth

from annotate.api import datasets, errors, exports, health, model_configs, prices, runs, stats
from annotate.api.accounts import router as accounts_router
from annotate.api.auth import BasicAuth, TokenAuth
from annotate.api.imports import router as imports_router
from annotate.api.judge_agreement import router as judge_agreement_router
from annotate.api.judges import router as judges_router
from annotate.api.projects import router as projects_router
from annotate.api.renderers import ORJSONRenderer
from annotate.api.sweeps import router as sweeps_router
from annotate.api.tokens import router as tokens_router

# Routers whose operations were in this module before it was split: their operation ids
# stay "annotate_api_<function>", so clients generated from the schema keep their names.
FIRST_ROUTERS = (datasets, model_configs, prices, runs, stats, health, exports)


class AnnotateAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        if operation.view_func.__module__ in {m.__name__ for m in FIRST_ROUTERS}:
            return f"annotate_api_{operation.view_func.__name__}"
        return super().get_openapi_operation_id(operation)


api = AnnotateAPI(
    title="Annotate API",
    version="1",
    auth=[TokenAuth(), BasicAuth(), django_auth],
    renderer=ORJSONRenderer(),
)
errors.install(api)
for module in FIRST_ROUTERS:
    api.add_router("/", module.router)
api.add_router("/", imports_router)
api.add_router("/", projects_router)
api.add_router("/", tokens_router)
api.add_router("/", accounts_router)
api.add_router("/", judge_agreement_router)
api.add_router("/", judges_router)
api.add_router("/", sweeps_router)
