from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from .actions import do_decide_publication
from .models import PublicationRequest, QueryJob, QueryQuota
from .planning import QueryError


@admin.register(QueryJob)
class QueryJobAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "phase", "source", "queue", "engine", "table_name", "row_count", "created")
    list_filter = ("phase", "source", "queue", "engine")
    search_fields = ("id", "owner__username", "table_name", "query")
    raw_id_fields = ("owner",)
    readonly_fields = ("created", "start_time", "end_time", "heartbeat", "queued", "worker")


@admin.register(QueryQuota)
class QueryQuotaAdmin(admin.ModelAdmin):
    list_display = ("user", "group", "bytes")
    raw_id_fields = ("user",)


@admin.register(PublicationRequest)
class PublicationRequestAdmin(admin.ModelAdmin):
    """Data managers approve or reject users' requests to publish MyDB tables (actions.do_decide_publication)."""

    list_display = ("title", "table_name", "requested_by", "status", "created", "decided_by", "published_table")
    list_filter = ("status",)
    search_fields = ("title", "table_name", "requested_by__username", "description")
    readonly_fields = ("job", "requested_by", "status", "decided_by", "decided", "published_table", "created")
    fields = ("title", "table_name", "description", "citation", "note", *readonly_fields)
    actions = ["approve", "reject"]

    @admin.action(description="Approve and publish the selected tables (in the community schema, public)")
    def approve(self, request: HttpRequest, queryset: QuerySet[PublicationRequest]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject the selected requests (write the reason in each one's note first)")
    def reject(self, request: HttpRequest, queryset: QuerySet[PublicationRequest]) -> None:
        self._decide(request, queryset, approve=False)

    def _decide(self, request: HttpRequest, queryset: QuerySet[PublicationRequest], *, approve: bool) -> None:
        for publication in queryset.select_related("job"):
            try:
                done = do_decide_publication(request.user, publication, approve=approve, note=publication.note)  # type: ignore[arg-type]
            except (QueryError, ValidationError, PermissionDenied, ValueError) as exc:
                self.message_user(request, f"{publication.title}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR)
            else:
                where = f" as {done.published_table.qualified_name}" if done.published_table else ""
                self.message_user(request, f"{publication.title}: {done.get_status_display()}{where}.", messages.SUCCESS)
