"""An hourly price that was never set is unknown, not free (issue 14).

hourly_usd defaulted to 0, so a 0 meant "not set" and made every such model look free. It
becomes nullable (None: unknown), and existing zeros become None: in configurations, in the
settings runs kept, and in the costs those runs recorded for outputs that no price row could
have priced (local backends, or a hosted model with no price row). Set 0 again to mean free.
"""

from decimal import Decimal

from django.db import migrations, models

LOCAL_BACKENDS = ("mlx", "transformers")


def _zero(value) -> bool:
    try:
        return value is not None and Decimal(str(value)) == 0
    except ArithmeticError:
        return False


def unset_zero_hourly_prices(apps, schema_editor):
    ModelConfig = apps.get_model("annotate", "ModelConfig")
    Run = apps.get_model("annotate", "Run")
    Generation = apps.get_model("annotate", "Generation")
    Price = apps.get_model("annotate", "Price")
    ModelConfig.objects.filter(hourly_usd=0).update(hourly_usd=None)
    prices = list(Price.objects.values_list("backend", "model"))
    for run in Run.objects.only("pk", "params").iterator():
        params = run.params or {}
        if not _zero(params.get("hourly_usd")):
            continue
        run.params = {**params, "hourly_usd": None}
        run.save(update_fields=["params"])
        backend, model = params.get("backend"), params.get("model") or ""
        priced = any(b == backend and model.startswith(m) for b, m in prices)
        if backend in LOCAL_BACKENDS or not priced:
            Generation.objects.filter(run_id=run.pk, cost_usd=0).update(cost_usd=None)


def restore_zero_hourly_prices(apps, schema_editor):
    apps.get_model("annotate", "ModelConfig").objects.filter(hourly_usd=None).update(
        hourly_usd=Decimal(0)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0014_task_number_required"),
    ]

    operations = [
        migrations.AlterField(
            model_name="modelconfig",
            name="hourly_usd",
            field=models.DecimalField(
                blank=True,
                decimal_places=4,
                default=None,
                help_text="The hardware's cost per hour (local backends, and hosted models with "
                "no price); empty: unknown, 0: free.",
                max_digits=10,
                null=True,
            ),
        ),
        migrations.RunPython(unset_zero_hourly_prices, restore_zero_hourly_prices),
    ]
