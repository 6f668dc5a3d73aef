"""Group names unique whatever their letter case; older look-alikes get a number first."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


def number_look_alikes(apps, schema_editor):  # type: ignore[no-untyped-def]
    Group = apps.get_model("access", "Group")
    seen: set[str] = set()
    for group in Group.objects.order_by("pk"):
        key, n = group.name.lower(), 1
        while key in seen:
            n += 1
            key = f"{group.name} ({n})".lower()
        if n > 1:
            group.name = f"{group.name} ({n})"[:150]
            group.save(update_fields=["name"])
        seen.add(key)


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(number_look_alikes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='group',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('name'), name='group_name_unique_in_any_case', violation_error_message='A group with this name exists already.'),
        ),
    ]
