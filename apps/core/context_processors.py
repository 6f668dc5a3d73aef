from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    from apps.accounts.permissions import is_manager

    return {"SITE_NAME": settings.SITE_NAME, "is_manager": is_manager(request.user)}
