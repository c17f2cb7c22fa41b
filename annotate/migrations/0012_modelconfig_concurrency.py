"""`batch_size` meant sequences per MLX batch for local backends and requests in flight for
hosted APIs. Hosted configurations now say `concurrency`, copied from their batch size.
Runs keep their params: code reading an older run's falls back to `batch_size`."""

from django.db import migrations, models

# The hosted backends when this was written (a migration does not read today's registry).
HOSTED = ("anthropic", "openai")


def copy_batch_size(apps, schema_editor):
    ModelConfig = apps.get_model("annotate", "ModelConfig")
    ModelConfig.objects.filter(backend__in=HOSTED).update(concurrency=models.F("batch_size"))


def copy_concurrency_back(apps, schema_editor):
    ModelConfig = apps.get_model("annotate", "ModelConfig")
    ModelConfig.objects.filter(backend__in=HOSTED).update(batch_size=models.F("concurrency"))


class Migration(migrations.Migration):
    dependencies = [("annotate", "0011_manage_generation_permission")]
    operations = [
        migrations.AddField(
            model_name="modelconfig",
            name="concurrency",
            field=models.PositiveIntegerField(
                default=8, help_text="Requests in flight at once (hosted APIs)."
            ),
        ),
        migrations.AlterField(
            model_name="modelconfig",
            name="batch_size",
            field=models.PositiveIntegerField(
                default=8, help_text="Sequences generated together (local backends)."
            ),
        ),
        migrations.RunPython(copy_batch_size, copy_concurrency_back),
    ]
