# The keyset pages of a run's outputs (inference/outputs.py) read filter(run=..., id > after)
# in id order: on the foreign key's own index PostgreSQL sorted the whole run for a page
# (issue 15). (run, id) replaces it; every filter on run alone still leads an index with it.
# The old one is dropped by name, not by AlterField, which on SQLite would copy the table.

import django.db.models.deletion
from django.db import migrations, models

OLD = "annotate_generation_run_id_922f44e6"


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0022_human_sample"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(fields=["run", "id"], name="generation_run_id"),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{OLD}"',
                    reverse_sql=f'CREATE INDEX "{OLD}" ON "annotate_generation" ("run_id")',
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="generation",
                    name="run",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="generations",
                        to="annotate.run",
                    ),
                ),
            ],
        ),
    ]
