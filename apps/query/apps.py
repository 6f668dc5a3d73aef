from django.apps import AppConfig


class QueryConfig(AppConfig):
    name = "apps.query"
    label = "query"
    verbose_name = "Queries"

    def ready(self) -> None:
        from apps.access.registry import register_resource_type

        register_resource_type("queue", "Query queue", ("submit",))
