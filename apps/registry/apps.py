from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "apps.registry"
    label = "registry"
    verbose_name = "VO Registry"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
