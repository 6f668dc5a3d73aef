from django.apps import AppConfig


class QueryConfig(AppConfig):
    name = "apps.query"
    label = "query"
    verbose_name = "Queries"

    def ready(self) -> None:
        from django.core.checks import register

        from apps.access.registry import register_resource_type

        from .checks import check_queues

        register_resource_type("queue", "Query queue", ("submit",))
        register(check_queues)
