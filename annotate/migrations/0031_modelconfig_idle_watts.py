# issue 18: a machine's idle draw, counted by the projection for a machine paid 24 h a day.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0030_run_status_text'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelconfig',
            name='idle_watts',
            field=models.FloatField(blank=True, help_text="The machine's power draw while it waits, watts (counted for a machine paid 24 h a day); empty: not counted.", null=True),
        ),
    ]
