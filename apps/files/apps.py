from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "apps.files"
    label = "files"
    verbose_name = "Files"

    def ready(self) -> None:
        from apps.access.registry import register_resource_type

        from . import checks  # noqa: F401  (registers the system checks)

        register_resource_type("volume", "File volume", ("read", "write"))
