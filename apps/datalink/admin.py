"""Publishers declare a table's link templates here (DataLink); each is checked by LinkTemplate.clean()."""

from __future__ import annotations

from django.contrib import admin

from .models import LinkTemplate


@admin.register(LinkTemplate)
class LinkTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("table", "description", "kind", "semantics", "id_column", "order")
    list_filter = ("kind", "semantics")
    search_fields = ("table__name", "table__schema__name", "description", "template")
    autocomplete_fields = ("table",)
    raw_id_fields = ("volume",)
