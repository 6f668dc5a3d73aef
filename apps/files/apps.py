from django.apps import AppConfig

from apps.access.registry import register_resource_type


class FilesConfig(AppConfig):
    name = "apps.files"
    label = "files"
    verbose_name = "Files"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

        register_resource_type("volume", "File volume", ("read", "write"))
