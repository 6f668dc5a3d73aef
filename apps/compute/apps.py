from django.apps import AppConfig

from apps.access.registry import register_resource_type


class ComputeConfig(AppConfig):
    name = "apps.compute"
    label = "compute"
    verbose_name = "Compute"

    def ready(self) -> None:
        # These modules import models, which load only once the app registry is ready (apps.py loads before).
        from apps.accounts.scoped import register_scoped_tokens

        from . import tokens  # deferred: tokens.py imports the models, not loaded yet when apps.py is imported

        register_resource_type("image", "Container image", ("run",))
        register_resource_type("domain", "Compute domain", ("run",))
        register_scoped_tokens(tokens.PREFIX, tokens.resolve)
        register_scoped_tokens(tokens.SESSION_PREFIX, tokens.resolve_session)
