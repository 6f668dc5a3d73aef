from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("time", "kind", "user", "ip", "summary")
    list_filter = ("kind", "time")
    search_fields = ("summary", "user__username", "kind")
    date_hierarchy = "time"
    readonly_fields = ("time", "kind", "user", "ip", "summary", "details")

    def has_add_permission(self, request: object) -> bool:
        return False
