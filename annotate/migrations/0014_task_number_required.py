"""Every task has its number now (0013): make it required and unique in its project, and
index the blind annotation queue's order. Apart from 0013 so that PostgreSQL alters the
table in a transaction without 0013's pending updates."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotate", "0013_task_number")]
    operations = [
        migrations.AlterField(
            model_name="task", name="number", field=models.PositiveIntegerField()
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.UniqueConstraint(
                fields=("project", "number"), name="task_number_unique"
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["project", "is_full", "number"], name="task_open_blind"),
        ),
    ]
