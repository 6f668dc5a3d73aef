from typing import Any

from django.apps import AppConfig

from apps.access.registry import register_resource_type


def _delete_resource(sender: Any, instance: Any, **kwargs: Any) -> None:
    """However a schema or table goes (admin, cascade, action), its privileges go with it."""
    from apps.access.models import Resource  # models load only once the app registry is ready (this module loads before)

    Resource.objects.filter(pk=instance.resource_id).delete()


class MetadataConfig(AppConfig):
    name = "apps.metadata"
    label = "metadata"
    verbose_name = "Data publication (schemas, tables, columns)"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # Models (and the catalog, which imports them) load only once the app registry is ready.
        from apps.access.models import Membership, Privilege, Resource

        from . import models  # deferred: as above
        from .catalog import bump_metadata_version  # deferred: as above

        post_delete.connect(_delete_resource, sender=models.Schema, dispatch_uid="metadata-schema-resource")
        post_delete.connect(_delete_resource, sender=models.Table, dispatch_uid="metadata-table-resource")
        # Whoever may query a schema or table may read its description: one privilege, not two.
        register_resource_type("schema", "Schema", ("read", "query"), implies={"query": ("read",)})
        register_resource_type("table", "Table", ("read", "query"), implies={"query": ("read",)})
        # Any change to metadata or to who may see it invalidates every cached catalogue.
        # (A Resource: its owner holds every action on it.)
        for model in (models.Schema, models.Table, models.Column, models.Function, Privilege, Membership, Resource):
            post_save.connect(bump_metadata_version, sender=model, dispatch_uid=f"metadata-version-save-{model.__name__}")
            post_delete.connect(bump_metadata_version, sender=model, dispatch_uid=f"metadata-version-delete-{model.__name__}")
