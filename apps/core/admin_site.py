"""The admin console's index, arranged the way a data manager thinks of the portal.

Django lists models by the app that defines them, so a stock index shows two "Accounts" (allauth's
e-mail addresses and ours), and two "Groups" (Django's permission groups under "Authentication and
Authorization", and the portal's research groups). Here every account model sits under one
"Accounts" section, Django's permission groups are named for what they are (staff roles), and the
publishing section starts with the pages a publisher comes for: ingest and discover.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

ACCOUNT_APPS = ("auth", "account", "accounts")  # Django's users, allauth's e-mail addresses, our tokens and profiles
STAFF_ROLES = "Staff roles (admin permissions)"  # Django's own Group model: e.g. the managers' permissions
PUBLISHING_PAGES = (("Ingest a file as a table", "admin:metadata_ingest"),
                    ("Discover tables an engine holds", "admin:metadata_discover"))


class PortalAdminSite(admin.AdminSite):
    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        return _with_publishing_pages(_one_accounts_section(apps))


def _one_accounts_section(apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    accounts = [app for app in apps if app["app_label"] in ACCOUNT_APPS]
    if not accounts:
        return apps
    models = [model for app in accounts for model in app["models"]]
    for model in models:
        if model["object_name"] == "Group":  # only auth's is in these apps; the research groups are access's
            model["name"] = STAFF_ROLES
    merged = {**next((a for a in accounts if a["app_label"] == "accounts"), accounts[0]), "name": "Accounts",
              "models": sorted(models, key=lambda m: str(m["name"]))}
    others = [app for app in apps if app["app_label"] not in ACCOUNT_APPS]
    return sorted([merged, *others], key=lambda a: str(a["name"]).lower())


def _with_publishing_pages(apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for app in apps:
        if app["app_label"] == "metadata":
            pages = []
            for name, url_name in PUBLISHING_PAGES:
                try:
                    pages.append({"name": name, "object_name": url_name, "admin_url": reverse(url_name), "add_url": None,
                                  "perms": {"view": True}, "view_only": True})
                except NoReverseMatch:
                    continue
            app["models"] = pages + app["models"]
    return apps


class PortalAdminConfig(AdminConfig):
    default_site = "apps.core.admin_site.PortalAdminSite"
