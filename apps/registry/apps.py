from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "apps.registry"
    label = "registry"
    verbose_name = "VO Registry"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (register the system checks and signal handlers)
