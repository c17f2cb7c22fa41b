"""The REST API (django-ninja): datasets, model configurations, runs and generations.
OpenAPI docs at /api/docs. Errors have one shape: {"detail": "...", "errors": [...]?}."""

from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.db import DataError
from django.http import FileResponse
from ninja import File, Form, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile
from ninja.pagination import paginate
from ninja.security import HttpBasicAuth, HttpBearer, django_auth
from pydantic import ConfigDict, Field

from annotate.accounts.throttling import client_address, is_locked, record_failure
from annotate.api.projects import router as projects_router
from annotate.api.types import Id, In, has_nul
from annotate.datasets.access import get_dataset_for_user
from annotate.datasets.importing import ImportFailed, import_dataset, upload_too_big
from annotate.datasets.models import Dataset
from annotate.exports.actions import finished_file, get_export_for_user, start_export
from annotate.exports.models import ExportFormat
from inference import actions as run_actions
from inference.access import (
    get_config_for_user,
    get_generation_for_user,
    get_run_for_user,
    require_manager,
)
from inference.backends import BACKENDS
from inference.models import GenerationMode, GenerationStatus, ModelConfig, Price, Run


class BasicAuth(HttpBasicAuth):
    """For scripts: `curl -u user:password`. The browser uses its session."""

    def authenticate(self, request, username, password):
        address = client_address(request)
        if is_locked(username, address):
            raise HttpError(429, "Too many failed sign-ins: try again in 15 minutes.")
        user = authenticate(request, username=username, password=password)
        if user is None:
            record_failure(username, address)
            return None
        request.user = user
        return user


class TokenAuth(HttpBearer):
    """Personal API tokens (created and revoked in the browser, at /account/tokens/)."""

    def authenticate(self, request, token):
        from django.utils import timezone

        from annotate.accounts.models import ApiToken

        row = (
            ApiToken.objects.select_related("user")
            .filter(digest=ApiToken.hash(token), revoked_at__isnull=True)
            .first()
        )
        if row is None or not row.user.is_active:
            return None
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
        request.user = row.user
        return row.user


api = NinjaAPI(title="Annotate API", version="1", auth=[TokenAuth(), BasicAuth(), django_auth])
router = Router()


@api.exception_handler(DataError)
def database_refused(request, exc):
    # A value the database cannot hold (a NUL character, a number out of range) is the
    # caller's mistake: say so instead of failing.
    return api.create_response(request, {"detail": f"Invalid value: {exc}"}, status=422)


@api.exception_handler(PermissionDenied)
def permission_denied(request, exc):
    return api.create_response(request, {"detail": str(exc) or "Forbidden"}, status=403)


class ErrorOut(Schema):
    detail: str
    errors: list[str] = []


class RestoredOut(Schema):
    """What the import of an Annotate export rebuilt besides its items."""

    items: int
    outputs: int
    runs: int
    projects: int
    labels: int
    reviewed: int
    users_created: list[str]


class DatasetOut(Schema):
    id: int
    name: str
    description: str
    source_filename: str
    created_at: datetime
    item_count: int
    restored: RestoredOut | None = None


class ItemOut(Schema):
    id: int
    index: int
    external_id: str
    messages: list[dict]
    prompt: str
    reference: str
    metadata: dict


class ModelConfigIn(In):
    name: str = Field(max_length=200)
    backend: str
    model: str = Field(max_length=500)
    system_prompt: str = ""
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int = Field(256, ge=1, le=32768)
    seed: int | None = None
    stop: list[str] = []
    batch_size: int = Field(8, ge=1, le=256)
    mode: GenerationMode = GenerationMode.STREAM
    base_url: str = Field("", max_length=200)
    api_key_env: str = Field("", max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$|^$")
    hourly_usd: Decimal = Field(Decimal(0), ge=0, max_digits=10, decimal_places=4)


class PriceIn(In):
    backend: str
    model: str = Field(max_length=200)
    input_per_mtok: Decimal = Field(ge=0, max_digits=12, decimal_places=4)
    output_per_mtok: Decimal = Field(ge=0, max_digits=12, decimal_places=4)
    cache_read_per_mtok: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=4)
    cache_write_per_mtok: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=4)
    batch_discount: Decimal = Field(Decimal("0.5"), ge=0, le=1, max_digits=4, decimal_places=3)
    effective_from: date
    source: str = Field("", max_length=300)


class PriceOut(PriceIn):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())
    id: int


class ModelConfigOut(ModelConfigIn):
    model_config = ConfigDict(extra="ignore")
    id: int


class RunIn(In):
    dataset_id: Id
    model_config_id: Id
    samples_per_prompt: int = Field(1, ge=1, le=100)


class ProgressOut(Schema):
    total: int
    done: int
    failed: int
    running: int
    pending: int
    cancelled: int
    output_tokens: int
    tokens_per_s: float | None
    eta_s: float | None
    stalled: bool


class RunOut(Schema):
    model_config = ConfigDict(protected_namespaces=())
    id: int
    dataset_id: Id
    model_config_id: Id
    samples_per_prompt: int
    status: str
    error: str
    params: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ProgressOut

    @staticmethod
    def resolve_progress(run: Run) -> dict:
        return vars(run.progress())


class GenerationOut(Schema):
    id: int
    run_id: Id
    item_id: Id
    sample_index: int
    status: str
    output: str
    finish_reason: str
    prompt_tokens: int | None
    output_tokens: int | None
    ttft_s: float | None
    latency_s: float | None
    decode_tps: float | None
    cost_usd: float | None
    concurrency: int | None
    error: str
    attempts: int
    backend_version: str
    machine: str
    finished_at: datetime | None


def _dataset_out(dataset: Dataset) -> dict:
    restored = getattr(dataset, "restored", None)
    return {
        **vars(dataset),
        "item_count": dataset.items.count(),
        "restored": vars(restored) if restored else None,
    }


@router.get("/datasets", response=list[DatasetOut], tags=["datasets"])
def list_datasets(request):
    require_manager(request.user)
    return [_dataset_out(d) for d in Dataset.objects.all()]


@router.post(
    "/datasets", response={201: DatasetOut, 400: ErrorOut, 413: ErrorOut}, tags=["datasets"]
)
def create_dataset(
    request, file: File[UploadedFile], name: Form[str] = "", description: Form[str] = ""
):
    """Import a JSONL, CSV or Parquet file as a new dataset; all or nothing."""
    require_manager(request.user)
    if has_nul([name, description, file.name]):
        raise HttpError(422, "Text cannot contain NUL characters.")
    if refused := upload_too_big(file.size):
        return Status(413, {"detail": refused})
    try:
        dataset = import_dataset(file.file, file.name, name, request.user, description)
    except ImportFailed as exc:
        return Status(400, {"detail": "Nothing was imported.", "errors": exc.errors})
    return Status(201, _dataset_out(dataset))


@router.get("/datasets/{dataset_id}", response=DatasetOut, tags=["datasets"])
def get_dataset(request, dataset_id: Id):
    return _dataset_out(get_dataset_for_user(request.user, dataset_id))


@router.get("/datasets/{dataset_id}/items", response=list[ItemOut], tags=["datasets"])
@paginate
def list_items(request, dataset_id: Id):
    return get_dataset_for_user(request.user, dataset_id).items.order_by("index")


@router.get("/models", response=list[ModelConfigOut], tags=["models"])
def list_model_configs(request):
    require_manager(request.user)
    return ModelConfig.objects.all()


@router.post("/models", response={201: ModelConfigOut}, tags=["models"])
def create_model_config(request, payload: ModelConfigIn):
    require_manager(request.user)
    _check_backend(payload.backend)
    if ModelConfig.objects.filter(name=payload.name).exists():
        raise HttpError(409, f"A model configuration named {payload.name!r} exists already.")
    return Status(201, ModelConfig.objects.create(owner=request.user, **payload.dict()))


def _model_config(request, config_id: int) -> ModelConfig:
    require_manager(request.user)
    config = ModelConfig.objects.filter(pk=config_id).first()
    if config is None:
        raise HttpError(404, "No such model configuration.")
    return config


@router.get("/models/{config_id}", response=ModelConfigOut, tags=["models"])
def get_model_config(request, config_id: Id):
    return _model_config(request, config_id)


@router.put("/models/{config_id}", response=ModelConfigOut, tags=["models"])
def update_model_config(request, config_id: Id, payload: ModelConfigIn):
    """Replace a configuration's settings; runs keep the settings they started with."""
    config = _model_config(request, config_id)
    _check_backend(payload.backend)
    if ModelConfig.objects.filter(name=payload.name).exclude(pk=config.pk).exists():
        raise HttpError(409, f"A model configuration named {payload.name!r} exists already.")
    for key, value in payload.dict().items():
        setattr(config, key, value)
    config.save()
    return config


def _check_backend(name: str) -> None:
    if name not in BACKENDS:
        raise HttpError(422, f"Unknown backend {name!r}; known: {', '.join(BACKENDS)}")


@router.get("/prices", response=list[PriceOut], tags=["prices"])
def list_prices(request, backend: str | None = None):
    require_manager(request.user)
    prices = Price.objects.all()
    return prices.filter(backend=backend) if backend else prices


@router.post("/prices", response={201: PriceOut}, tags=["prices"])
def create_price(request, payload: PriceIn):
    """A new price from a date on. Costs already recorded keep the price they were made at."""
    if not request.user.is_staff:
        raise HttpError(403, "Only staff members can change prices.")
    _check_backend(payload.backend)
    key = dict(backend=payload.backend, model=payload.model, effective_from=payload.effective_from)
    if Price.objects.filter(**key).exists():
        raise HttpError(409, "A price for this model from this date exists already.")
    return Status(201, Price.objects.create(**payload.dict()))


@router.get("/runs", response=list[RunOut], tags=["runs"])
@paginate
def list_runs(request):
    require_manager(request.user)
    return Run.objects.all()


@router.post("/runs", response={201: RunOut}, tags=["runs"])
def create_run(request, payload: RunIn):
    dataset = get_dataset_for_user(request.user, payload.dataset_id)
    config = get_config_for_user(request.user, payload.model_config_id)
    return Status(
        201, run_actions.create_run(dataset, config, request.user, payload.samples_per_prompt)
    )


@router.get("/runs/{run_id}", response=RunOut, tags=["runs"])
def get_run(request, run_id: Id):
    return get_run_for_user(request.user, run_id)


def _act(request, run_id: Id, action) -> Run:
    run = get_run_for_user(request.user, run_id, write=True)
    try:
        action(run)
    except run_actions.RunStateError as exc:
        raise HttpError(409, str(exc)) from None
    run.refresh_from_db()
    return run


@router.post("/runs/{run_id}/cancel", response=RunOut, tags=["runs"])
def cancel_run(request, run_id: Id):
    return _act(request, run_id, run_actions.cancel_run)


@router.post("/runs/{run_id}/resume", response=RunOut, tags=["runs"])
def resume_run(request, run_id: Id):
    return _act(request, run_id, run_actions.resume_run)


@router.post("/runs/{run_id}/retry", response=RunOut, tags=["runs"])
def retry_failed(request, run_id: Id):
    return _act(request, run_id, run_actions.retry_failed)


@router.get("/runs/{run_id}/generations", response=list[GenerationOut], tags=["runs"])
@paginate
def list_generations(request, run_id: Id, status: GenerationStatus | None = None):
    gens = get_run_for_user(request.user, run_id).generations.order_by(
        "item__index", "sample_index"
    )
    return gens.filter(status=status) if status else gens


@router.get("/generations/{generation_id}", response=GenerationOut, tags=["runs"])
def get_generation(request, generation_id: Id):
    return get_generation_for_user(request.user, generation_id)


@router.get("/stats", response=list[dict], tags=["statistics"])
def get_stats(request, config: Query[list[Id]] = None, run: Query[list[Id]] = None):
    """Speed, cost and quality per (model configuration, machine); the CSV at /stats.csv."""
    from annotate.stats.figures import cached_model_stats, stats_rows

    require_manager(request.user)
    return stats_rows(cached_model_stats(config or None, run or None))


@router.get("/health", response=dict, tags=["health"])
def get_health(request):
    """Web, database, broker, workers online with their queues and models, queue depth."""
    from annotate.health import report

    require_manager(request.user)
    return report()


class ExportIn(In):
    format: ExportFormat
    project: Id | None = None
    dataset: Id | None = None
    model: Id | None = None
    run: Id | None = None
    min_rating: float | None = None
    require_pass: bool = False
    agreed: bool = False
    reviewed: bool = False
    since: date | None = None
    until: date | None = None
    pseudonyms: bool = False


class ExportOut(Schema):
    id: int
    format: str
    status: str
    filters: dict
    total: int
    done: int
    rows: int
    manifest: dict
    error: str
    download: str | None

    @staticmethod
    def resolve_download(export) -> str | None:
        return f"/api/exports/{export.pk}/file" if export.status == "done" else None


@router.post("/exports", response={201: ExportOut}, tags=["exports"])
def create_export(request, payload: ExportIn):
    """Small exports are ready at once; large ones run in the background: poll GET."""
    return Status(201, start_export(request.user, payload.format, payload.dict(exclude={"format"})))


@router.get("/exports", response=list[ExportOut], tags=["exports"])
@paginate
def list_exports(request):
    """The caller's exports, newest first."""
    from annotate.exports.models import Export

    require_manager(request.user)
    return Export.objects.filter(owner=request.user).order_by("-created_at", "-pk")


@router.get("/exports/{export_id}", response=ExportOut, tags=["exports"])
def get_export(request, export_id: Id):
    return get_export_for_user(request.user, export_id)


@router.get(
    "/exports/{export_id}/file",
    response={404: ErrorOut},
    tags=["exports"],
    openapi_extra={
        "responses": {
            200: {
                "description": "The export's file (JSONL, CSV or Parquet), as an attachment.",
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_file(request, export_id: Id):
    """Download a finished export (404 while it runs: poll GET /exports/{id})."""
    path, filename = finished_file(get_export_for_user(request.user, export_id))
    return FileResponse(open(path, "rb"), as_attachment=True, filename=filename)


api.add_router("/", router)
api.add_router("/", projects_router)
