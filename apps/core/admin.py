"""The site's profile in the admin console: home text, logo, contact address (one row)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import SiteProfile


@admin.register(SiteProfile)
class SiteProfileAdmin(admin.ModelAdmin):
    fields = ("home_text", "logo", "contact_email")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SiteProfile.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
