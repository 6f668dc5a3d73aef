"""The site is the data centre's: its name and address, set once (SITE_NAME, SITE_URL), used everywhere.

Pages get ``SITE_NAME`` from the context processor; VO documents and registry
records read the settings. Two places Django keeps a copy of their own follow
them here: the ``django.contrib.sites`` entry (allauth's e-mails take the
site's name and domain from it, which said 'example.com' until edited by
hand) is brought in line after every migrate, and the admin console's
header and title carry the site name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from .models import SiteProfile


def sync_site_entry(**kwargs: Any) -> None:
    """post_migrate: the Sites entry says SITE_NAME and the host of SITE_URL."""
    from django.contrib.sites.models import Site

    domain = urlsplit(settings.SITE_URL).netloc or "localhost"
    Site.objects.update_or_create(pk=settings.SITE_ID, defaults={"domain": domain[:100], "name": settings.SITE_NAME[:50]})
    from django.contrib.sites.models import SITE_CACHE

    SITE_CACHE.clear()


def brand_admin() -> None:
    from django.contrib import admin

    admin.site.site_header = f"{settings.SITE_NAME}: administration"
    admin.site.site_title = settings.SITE_NAME
    admin.site.index_title = "Publish data, manage users and the portal"


def contact_email() -> str:
    """Where users and registries write to: the site profile's address (edited in the admin), else
    REGISTRY_CONTACT_EMAIL, else empty."""
    return SiteProfile.current().contact_email or settings.REGISTRY_CONTACT_EMAIL
