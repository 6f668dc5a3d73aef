from django.apps import AppConfig

from apps.access.registry import register_resource_type


class QueryConfig(AppConfig):
    name = "apps.query"
    label = "query"
    verbose_name = "Queries"

    def ready(self) -> None:
        from django.core.checks import register
        from django.db.models.signals import post_migrate

        # deferred: checks.py, queues.py and sharing.py import the models, not loaded yet when apps.py is imported
        from .checks import check_queues
        from .queues import do_create_queue_resources  # deferred: as above

        register_resource_type("queue", "Query queue", ("submit",))
        register(check_queues)
        post_migrate.connect(do_create_queue_resources, sender=self, dispatch_uid="query-create-queue-resources")
        # A stored result (a MyDB table): "read" shows the job page and downloads, "query" reads it in ADQL.
        register_resource_type("result", "Query result", ("read", "query"))
        register_resource_type("language", "Native query language", ("use",))
        from . import sharing  # deferred: as above

        sharing.connect_signals()
