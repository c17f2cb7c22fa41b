"""Model configurations: a model and how to call it. Runs keep the settings they started with."""

from __future__ import annotations

from decimal import Decimal

from ninja import Router, Status
from pydantic import ConfigDict, Field

from annotate.api.types import Id, In
from inference import actions
from inference.access import get_config_for_user, require_manager
from inference.models import GenerationMode, ModelConfig, PricingMode

router = Router(tags=["models"])


class ModelConfigIn(In):
    name: str = Field(max_length=200)
    backend: str
    model: str = Field(max_length=500)
    system_prompt: str = ""
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int = Field(256, ge=1, le=32768)
    seed: int | None = Field(None, ge=-(2**31), le=2**31 - 1)  # the column's range
    stop: list[str] = []
    batch_size: int = Field(8, ge=1, le=256)
    concurrency: int = Field(8, ge=1, le=256)
    mode: GenerationMode = GenerationMode.STREAM
    base_url: str = Field("", max_length=200)
    api_key_env: str = Field("", max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$|^$")
    # None: unknown (costs stay unknown); 0: free hardware.
    hourly_usd: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=4)
    # How runs are priced (inference/pricing.py); serverless and dedicated need hourly_usd.
    pricing: PricingMode = PricingMode.TOKEN
    cold_start_s: float | None = Field(None, ge=0)
    min_billed_s: float | None = Field(None, ge=0)
    power_watts: float | None = Field(None, ge=0)
    idle_watts: float | None = Field(None, ge=0)  # counted for a machine paid 24 h a day
    kwh_usd: Decimal | None = Field(None, ge=0, max_digits=8, decimal_places=4)
    # Routed (hybrid, inference/routing.py): both ids, or neither. Its backend and model are
    # the primary's.
    route_primary_id: int | None = None
    route_fallback_id: int | None = None
    route_on_errors: bool = True
    route_share: float | None = Field(None, ge=0, le=1)
    route_queue_depth: int | None = Field(None, ge=0, le=2**31 - 1)
    route_ttft_s: float | None = Field(None, gt=0)


class ModelConfigOut(ModelConfigIn):
    model_config = ConfigDict(extra="ignore")
    id: int


@router.get("/models", response=list[ModelConfigOut])
def list_model_configs(request):
    require_manager(request.user)
    return ModelConfig.objects.all()


@router.post("/models", response={201: ModelConfigOut})
def create_model_config(request, payload: ModelConfigIn):
    return Status(201, actions.save_model_config(request.user, None, payload.dict()))


@router.get("/models/{config_id}", response=ModelConfigOut)
def get_model_config(request, config_id: Id):
    return get_config_for_user(request.user, config_id)


@router.put("/models/{config_id}", response=ModelConfigOut)
def update_model_config(request, config_id: Id, payload: ModelConfigIn):
    """Replace a configuration's settings (its creator or staff); runs keep the settings
    they started with."""
    return actions.save_model_config(request.user, config_id, payload.dict())
