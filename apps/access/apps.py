from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "apps.access"
    label = "access"
    verbose_name = "Groups and privileges"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .signals import create_builtin_groups  # deferred: signals.py imports the models, not loaded yet when apps.py is imported

        post_migrate.connect(create_builtin_groups, sender=self)
