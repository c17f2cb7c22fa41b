# issue 18 items 2-3 (priced by the hour, electricity): how a configuration is priced (per token,
# dedicated 24/7, serverless), the serverless billing terms, and the machine's power draw.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0024_mlx_measurements"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelconfig",
            name="cold_start_s",
            field=models.FloatField(
                blank=True,
                help_text="Serverless: seconds billed each time a worker starts.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="kwh_usd",
            field=models.DecimalField(
                blank=True,
                decimal_places=4,
                help_text="The price of electricity per kWh (with the power draw).",
                max_digits=8,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="min_billed_s",
            field=models.FloatField(
                blank=True,
                help_text="Serverless: the least billed for one request, seconds.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="power_watts",
            field=models.FloatField(
                blank=True, help_text="The machine's power draw while it works, watts.", null=True
            ),
        ),
        migrations.AddField(
            model_name="modelconfig",
            name="pricing",
            field=models.CharField(
                choices=[
                    ("token", "Per token (price table)"),
                    ("dedicated", "By the hour, dedicated 24/7"),
                    ("serverless", "Serverless: per second of use"),
                ],
                default="token",
                help_text="Per token: the price table (by the hour where it lists no price, and "
                "for local machines). Dedicated: the hourly price, 24/7. Serverless: the hourly "
                "price per second of use.",
                max_length=12,
            ),
        ),
    ]
