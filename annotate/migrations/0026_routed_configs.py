# issue 18 item 1 (hybrid routing): routed model configurations (a primary, a fallback and a
# rule) and, per generation, the configuration that served it and why (inference/routing.py).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0025_hourly_pricing"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="route_reason",
            field=models.CharField(blank=True, db_default="", default="", max_length=300),
        ),
        migrations.AddField(
            model_name="generation",
            name="served_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="annotate.modelconfig",
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="route_fallback",
            field=models.ForeignKey(
                blank=True,
                help_text="Routed: the configuration that serves what the rule sends away.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="annotate.modelconfig",
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="route_on_errors",
            field=models.BooleanField(
                default=True,
                help_text="Routed: a primary item that fails after its retries goes to the "
                "fallback.",
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="route_primary",
            field=models.ForeignKey(
                blank=True,
                help_text="Routed: the configuration that serves items first (empty: not routed).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="annotate.modelconfig",
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="route_queue_depth",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Routed: items go to the fallback while the primary has this many "
                "unfinished.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="route_ttft_s",
            field=models.FloatField(
                blank=True,
                help_text="Routed: once a primary answer's first token took longer (seconds), "
                "the primary's waiting items go to the fallback.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="route_share",
            field=models.FloatField(
                blank=True,
                help_text="Routed: the share of items (0-1) sent to the fallback.",
                null=True,
            ),
        ),
    ]
