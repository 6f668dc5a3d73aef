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
        # A stored result (a MyDB table): "read" shows the job page and downloads, "query" reads it in ADQL.
        register_resource_type("result", "Query result", ("read", "query"))
        register_resource_type("language", "Native query language", ("use",))
        from . import sharing

        sharing.connect_signals()
