from django.apps import AppConfig


class DatalinkConfig(AppConfig):
    name = "apps.datalink"
    label = "datalink"
    verbose_name = "DataLink"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # The catalog and the models load only once the app registry is ready.
        from apps.metadata.catalog import bump_metadata_version

        from .models import LinkTemplate  # deferred: as above

        # Results describe their columns' links from cached templates (results.py): a change shows at once.
        post_save.connect(bump_metadata_version, sender=LinkTemplate, dispatch_uid="datalink-version-save")
        post_delete.connect(bump_metadata_version, sender=LinkTemplate, dispatch_uid="datalink-version-delete")
