import copy

from django import forms
from django.contrib import admin

from annotate.datasets.models import Dataset, Item
from inference.access import can_change, can_set_prices, check_egress
from inference.actions import create_price
from inference.backends import BACKENDS
from inference.errors import ActionError
from inference.models import Generation, ModelConfig, Price, ProviderBatch, Run
from inference.pricing import pricing_problems
from inference.routing import check_route


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "source_filename", "created_at")
    search_fields = ("name",)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("dataset", "index", "external_id")
    list_filter = ("dataset",)
    search_fields = ("prompt", "external_id")
    raw_id_fields = ("dataset",)


class ModelConfigAdminForm(forms.ModelForm):
    class Meta:
        model = ModelConfig
        fields = "__all__"  # noqa: DJ007 (the admin shows every field)

    def clean(self):
        data = super().clean()
        if data.get("backend") in BACKENDS:  # the same check as the page and the API
            where = (data.get("base_url") or "", data.get("api_key_env") or "")
            try:
                check_egress(data["backend"], *where)
            except ActionError as exc:
                raise forms.ValidationError(str(exc)) from None
        for name, problem in pricing_problems(data).items():  # as the page and the API
            if name not in self.errors:
                self.add_error(name, problem)
        candidate = copy.copy(self.instance)  # as it would be saved, for the route's check
        for name, value in data.items():
            setattr(candidate, name, value)
        try:
            check_route(candidate)
        except ActionError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin):
    form = ModelConfigAdminForm

    # The same rule as the page and PUT /api/models/{id}: its creator or staff change it.
    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or can_change(request.user, obj.owner_id))

    list_display = (
        "name",
        "backend",
        "model",
        "temperature",
        "max_tokens",
        "batch_size",
        "concurrency",
    )
    list_filter = ("backend",)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("pk", "dataset", "model_config", "status", "total", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("dataset", "model_config")


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("pk", "run", "item", "sample_index", "status", "output_tokens", "latency_s")
    list_filter = ("status",)
    raw_id_fields = ("run", "item")


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = (
        "backend",
        "model",
        "input_per_mtok",
        "output_per_mtok",
        "cache_read_per_mtok",
        "cache_write_per_mtok",
        "batch_discount",
        "effective_from",
    )
    list_filter = ("backend",)
    search_fields = ("model",)

    # The same rule as POST /api/prices, and a new price goes through the same action.
    def has_view_permission(self, request, obj=None) -> bool:
        return can_set_prices(request.user)

    def has_add_permission(self, request) -> bool:
        return can_set_prices(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return can_set_prices(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return can_set_prices(request.user)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        fields = {
            f.name: getattr(obj, f.name) for f in Price._meta.concrete_fields if f.name != "id"
        }
        obj.pk = create_price(request.user, fields).pk


@admin.register(ProviderBatch)
class ProviderBatchAdmin(admin.ModelAdmin):
    list_display = ("batch_id", "run", "status", "size", "submitted_at", "collected_at")
    raw_id_fields = ("run",)
