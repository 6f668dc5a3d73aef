from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    from apps.accounts.permissions import is_manager

    # A callable: templates call it only where they show the notice (one query there, none elsewhere).
    return {"SITE_NAME": settings.SITE_NAME, "is_manager": is_manager(request.user), "workers_notice": workers_notice}


def workers_notice() -> str:
    """The warning the query pages show when no worker would run a query, or nothing."""
    from .workers import no_worker_note, workers_alive

    return "" if workers_alive() else no_worker_note()
