from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Portal core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401  (registers the system checks)
        from .branding import brand_admin, sync_site_entry  # deferred: branding.py imports the models, not loaded yet when apps.py is imported

        post_migrate.connect(sync_site_entry, sender=self, dispatch_uid="core-sync-site-entry")
        brand_admin()
