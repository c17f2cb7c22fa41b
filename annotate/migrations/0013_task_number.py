"""Tasks get a number, random and unique in their project, to name them by in pages and the
API: the database id follows the order tasks were made in (item, then run), which in a
blind project tells which run wrote an output. Existing tasks are numbered here; the next
migration makes the number required."""

import random

from django.db import migrations, models

LOW, HIGH = 1_000_000, 9_999_999  # as annotate.labeling.models.NUMBER_LOW, NUMBER_HIGH


def number_tasks(apps, schema_editor):
    Task = apps.get_model("annotate", "Task")
    rng = random.SystemRandom()
    project_ids = Task.objects.values_list("project_id", flat=True).distinct()
    for project_id in project_ids.order_by("project_id"):
        tasks = list(Task.objects.filter(project_id=project_id).only("pk"))
        high = max(HIGH, LOW + 10 * len(tasks))
        for task, number in zip(tasks, rng.sample(range(LOW, high + 1), len(tasks)), strict=True):
            task.number = number
        Task.objects.bulk_update(tasks, ["number"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [("annotate", "0012_modelconfig_concurrency")]
    operations = [
        migrations.AddField(
            model_name="task", name="number", field=models.PositiveIntegerField(null=True)
        ),
        migrations.RunPython(number_tasks, migrations.RunPython.noop),
    ]
