"""A permission that says what it allows: managing datasets, model configurations, runs and
prices was gated by `view_run`, Django's *view* permission of Run. Whoever held `view_run`
(the "Project owners" group, and any user granted it directly) gets `manage_generation`."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OLD = "view_run"
NEW = "manage_generation"


def _permission(apps, codename):
    return apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="annotate", codename=codename
    )


def grant(apps, schema_editor):
    app_config = apps.get_app_config("annotate")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    new = _permission(apps, NEW).get()
    Group = apps.get_model("auth", "Group")
    User = apps.get_model("auth", "User")
    for group in Group.objects.filter(permissions__in=_permission(apps, OLD)).distinct():
        group.permissions.add(new)
    for user in User.objects.filter(user_permissions__in=_permission(apps, OLD)).distinct():
        user.user_permissions.add(new)


def revoke(apps, schema_editor):
    # view_run was never taken away: deleting the new permission is the whole way back.
    _permission(apps, NEW).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0010_model_queue"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [
        migrations.AlterModelOptions(
            name="modelconfig",
            options={
                "ordering": ("name",),
                "permissions": [
                    (
                        "manage_generation",
                        "Can manage datasets, model configurations, runs and prices",
                    )
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
