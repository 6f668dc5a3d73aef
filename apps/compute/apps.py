from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "apps.compute"
    label = "compute"
    verbose_name = "Compute"

    def ready(self) -> None:
        from apps.access.registry import register_resource_type

        register_resource_type("image", "Container image", ("run",))
