"""The site's profile in the admin console: home text, logo, contact address (one row); the documentation pages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import DocPage, DocPageVersion, NewsItem, SiteProfile


@admin.register(SiteProfile)
class SiteProfileAdmin(admin.ModelAdmin):
    fields = ("home_text", "logo", "contact_email")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SiteProfile.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DocPageVersionInline(admin.TabularInline):
    model = DocPageVersion
    fields = ("number", "title", "saved")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DocPage)
class DocPageAdmin(admin.ModelAdmin):
    """Managers write documentation pages in Markdown; every saved text is kept (the versions below the form)."""

    list_display = ("title", "slug", "published", "order", "updated")
    list_editable = ("published", "order")
    prepopulated_fields = {"slug": ("title",)}
    search_fields = ("title", "body")
    inlines = [DocPageVersionInline]


@admin.register(NewsItem)
class NewsItemAdmin(admin.ModelAdmin):
    """Releases and announcements on the home page."""

    list_display = ("date", "title", "published")
    list_editable = ("published",)
    search_fields = ("title", "body")
