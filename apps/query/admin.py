from django.contrib import admin

from .models import QueryJob, QueryQuota


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
