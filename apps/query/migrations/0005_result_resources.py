"""Give results stored before sharing existed their access.Resource (see apps/query/sharing.py)."""

from typing import Any

from django.db import migrations


def create_resources(apps: Any, schema_editor: Any) -> None:
    QueryJob = apps.get_model("query", "QueryJob")
    Resource = apps.get_model("access", "Resource")
    stored = QueryJob.objects.filter(resource__isnull=True, owner__isnull=False).exclude(result_table="").select_related("owner")
    for job in stored.iterator():
        resource = Resource.objects.create(type="result", name=f"mydb_{job.owner.username}.{job.table_name}", owner=job.owner)
        QueryJob.objects.filter(pk=job.pk).update(resource=resource)


def delete_resources(apps: Any, schema_editor: Any) -> None:
    apps.get_model("access", "Resource").objects.filter(type="result").delete()


class Migration(migrations.Migration):
    dependencies = [("query", "0004_job_resource")]
    operations = [migrations.RunPython(create_resources, delete_resources)]
