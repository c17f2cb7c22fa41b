"""The "Project owners" group: may manage datasets, model configurations, runs and prices,
and create labeling projects. Annotators and reviewers need no group: their role is per
project."""

from django.db import migrations

OWNERS = "Project owners"


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("annotate")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=OWNERS)
    group.permissions.set(Permission.objects.filter(content_type__app_label="annotate"))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=OWNERS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0004_projects"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
