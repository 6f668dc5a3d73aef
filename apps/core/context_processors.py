from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.accounts.permissions import is_manager

from .models import SiteProfile
from .workers import no_worker_note, workers_alive


def site(request: HttpRequest) -> dict[str, Any]:
    # A callable: templates call it only where they show the notice (one query there, none elsewhere).
    return {"SITE_NAME": settings.SITE_NAME, "is_manager": is_manager(request.user), "workers_notice": workers_notice,
            "site_profile": site_profile}


def site_profile() -> Any:
    """The admin-edited home text, logo and contact address (a callable: one query, only where a page uses it)."""
    return SiteProfile.current()


def workers_notice() -> str:
    """The warning the query pages show when no worker would run a query, or nothing."""
    return "" if workers_alive() else no_worker_note()
