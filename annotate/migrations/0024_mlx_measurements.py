# issue 18 items 4 and 6: what MLX users read (prefill tokens/s, peak memory per generation; per
# worker and model: load time, size, quantization, KV cache) and the models on a worker's disk.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0023_generation_run_id_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="peak_memory_mb",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="generation",
            name="prefill_tps",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="model_facts",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="on_disk",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
