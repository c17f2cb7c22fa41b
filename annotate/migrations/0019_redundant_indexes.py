# Indexes that cost every insert and paid nothing back (issue 15): the foreign-key index of
# item.dataset, which the unique (dataset, index) leads with (given both, SQLite took the
# former and sorted by index); and the ones of generation.provider_batch and of leases, now
# only over the rows that have a batch or a lease (done and imported outputs have neither).
# Dropped by name, not by AlterField, which on SQLite would copy both tables.

import django.db.models.deletion
from django.db import migrations, models

DROPPED = {
    "annotate_generation_provider_batch_id_83f15b2e": ("annotate_generation", "provider_batch_id"),
    "annotate_item_dataset_id_f314b9be": ("annotate_item", "dataset_id"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0018_project_shown_system_prompt"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for name, (table, column) in DROPPED.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="generation",
                    name="provider_batch",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="generations",
                        to="annotate.providerbatch",
                    ),
                ),
                migrations.AlterField(
                    model_name="item",
                    name="dataset",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="items",
                        to="annotate.dataset",
                    ),
                ),
            ],
        ),
        migrations.RemoveIndex(model_name="generation", name="generation_lease"),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(
                condition=models.Q(("lease_expires_at__isnull", False)),
                fields=["status", "lease_expires_at"],
                name="generation_lease",
            ),
        ),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(
                condition=models.Q(("provider_batch__isnull", False)),
                fields=["provider_batch"],
                name="generation_provider_batch",
            ),
        ),
    ]
