# issue 18: a speed sweep can be cancelled; no further point starts.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0031_modelconfig_idle_watts"),
    ]

    operations = [
        migrations.AddField(
            model_name="sweep",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
