"""Publishers add subjects and short names to the registry records; the rest comes from the table's metadata."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import RegistryRecord, TableCoverage


@admin.register(RegistryRecord)
class RegistryRecordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("identifier", "table", "updated", "deleted")
    list_filter = ("deleted",)
    search_fields = ("identifier",)
    fields = ("identifier", "table", "subjects", "short_name", "created", "updated", "deleted")
    readonly_fields = ("identifier", "table", "created", "updated", "deleted")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # records come from the metadata


@admin.register(TableCoverage)
class TableCoverageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("table", "order", "sky_fraction", "rows", "computed")
    readonly_fields = ("table", "order", "moc", "sky_fraction", "rows", "computed")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # computed at publication (actions.do_compute_coverage)
