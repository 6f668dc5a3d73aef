from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.access.actions import do_create_resource

from .models import ComputeDomain, ComputeImage, ComputeJob, ComputeSession
from .sessions import do_stop_session


@admin.register(ComputeImage)
class ComputeImageAdmin(admin.ModelAdmin):
    list_display = ["name", "docker_image", "notebooks", "jupyterlab", "enabled"]
    exclude = ["resource"]

    def save_model(self, request: HttpRequest, obj: ComputeImage, form: object, change: bool) -> None:
        if not change:  # who may run it is shared afterwards on /access/resources/<id>/share
            obj.resource = do_create_resource("image", obj.name)
        super().save_model(request, obj, form, change)


SPARK_WARNING = (
    "Spark Connect has no per-user authentication, and a DataFrame reader opens any path the Spark server can read. "
    "With this on, every user of this domain can read whatever that Spark server can read, private tables and other "
    "users' MyDB included. Turn it on only for a Spark whose data is all public (as on the Gaia DataMining platform); "
    "never for the Spark engine that holds MyDB or private tables."
)


@admin.register(ComputeDomain)
class ComputeDomainAdmin(admin.ModelAdmin):
    list_display = ["name", "docker_host", "cpus", "memory_mb", "max_runtime_s", "max_jobs", "max_sessions_per_user", "session_idle_s",
                    "network", "trusted", "spark_connect", "enabled"]
    fieldsets = [
        (None, {"fields": ["name", "description", "docker_host", "enabled"]}),
        ("Limits", {"fields": ["cpus", "memory_mb", "max_runtime_s", "max_jobs", "max_sessions_per_user", "session_idle_s"]}),
        ("Network of batch jobs", {"fields": ["network", "trusted"]}),
        ("Spark Connect for notebook sessions", {"fields": ["spark_connect", "spark_remote"], "description": SPARK_WARNING}),
    ]

    def save_model(self, request: HttpRequest, obj: ComputeDomain, form: object, change: bool) -> None:
        if obj.resource_id is None:  # who may run jobs here is shared afterwards on /access/resources/<id>/share
            obj.resource = do_create_resource("domain", obj.name)
        super().save_model(request, obj, form, change)
        if obj.spark_connect and not obj.spark_remote:
            messages.warning(request, f"Sessions in {obj.name} reach the portal's own Spark ({settings.SPARK_REMOTE}). " + SPARK_WARNING)


@admin.register(ComputeJob)
class ComputeJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "image", "domain", "phase", "created", "exit_code"]
    list_filter = ["phase", "domain", "image"]
    readonly_fields = [f.name for f in ComputeJob._meta.fields]


@admin.register(ComputeSession)
class ComputeSessionAdmin(admin.ModelAdmin):
    """Operators see every session and stop the ones they select (recorded in the activity log)."""

    list_display = ["id", "owner", "image", "domain", "state", "created", "last_activity"]
    list_filter = ["state", "domain", "image"]
    readonly_fields = [f.name for f in ComputeSession._meta.fields if f.name != "token_hash"]
    exclude = ["token_hash"]
    actions = ["stop_sessions"]

    @admin.action(description="Stop the selected sessions")
    def stop_sessions(self, request: HttpRequest, queryset: QuerySet[ComputeSession]) -> None:
        for session in queryset.filter(state__in=ComputeSession.LIVE).select_related("owner", "domain"):
            do_stop_session(session, f"stopped by the operator {request.user}")
        self.message_user(request, "The selected sessions are stopped.")
