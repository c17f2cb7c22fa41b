"""List prices per 1M tokens from the providers' public price pages, as they stood when taken
(2025-11). Check them before relying on them: edit in the admin or the API; a change is a new
row with its own date, so recorded costs never move."""

from datetime import date
from decimal import Decimal

from django.db import migrations

TAKEN = date(2025, 11, 1)
ANTHROPIC = "https://www.anthropic.com/pricing#api (list prices, 5-minute cache writes)"
OPENAI = "https://openai.com/api/pricing/ (list prices; cache writes are free)"

# backend, model (or prefix), input, output, cache read, cache write
PRICES = [
    ("anthropic", "claude-opus-4-5", "5", "25", "0.50", "6.25"),
    ("anthropic", "claude-opus-4-1", "15", "75", "1.50", "18.75"),
    ("anthropic", "claude-opus-4", "15", "75", "1.50", "18.75"),
    ("anthropic", "claude-sonnet-4-5", "3", "15", "0.30", "3.75"),
    ("anthropic", "claude-sonnet-4", "3", "15", "0.30", "3.75"),
    ("anthropic", "claude-3-7-sonnet", "3", "15", "0.30", "3.75"),
    ("anthropic", "claude-haiku-4-5", "1", "5", "0.10", "1.25"),
    ("anthropic", "claude-3-5-haiku", "0.80", "4", "0.08", "1.00"),
    ("openai", "gpt-5", "1.25", "10", "0.125", "1.25"),
    ("openai", "gpt-5-mini", "0.25", "2", "0.025", "0.25"),
    ("openai", "gpt-5-nano", "0.05", "0.40", "0.005", "0.05"),
    ("openai", "gpt-4.1", "2", "8", "0.50", "2"),
    ("openai", "gpt-4.1-mini", "0.40", "1.60", "0.10", "0.40"),
    ("openai", "gpt-4.1-nano", "0.10", "0.40", "0.025", "0.10"),
    ("openai", "gpt-4o", "2.50", "10", "1.25", "2.50"),
    ("openai", "gpt-4o-mini", "0.15", "0.60", "0.075", "0.15"),
]


def seed(apps, schema_editor):
    Price = apps.get_model("annotate", "Price")
    for backend, model, inp, out, read, write in PRICES:
        Price.objects.get_or_create(
            backend=backend, model=model, effective_from=TAKEN,
            defaults=dict(input_per_mtok=Decimal(inp), output_per_mtok=Decimal(out),
                          cache_read_per_mtok=Decimal(read), cache_write_per_mtok=Decimal(write),
                          batch_discount=Decimal("0.5"),
                          source=ANTHROPIC if backend == "anthropic" else OPENAI),
        )


def unseed(apps, schema_editor):
    apps.get_model("annotate", "Price").objects.filter(effective_from=TAKEN).delete()


class Migration(migrations.Migration):
    dependencies = [("annotate", "0002_hosted_backends")]
    operations = [migrations.RunPython(seed, unseed)]
