"""System checks: the naming authority must be one an IVOA identifier can carry."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

# IVOA Identifiers 2.0: an authority is at least three characters of letters, digits and -._~ and starts alphanumerically.
AUTHORITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-._~]{2,}$")


@register()
def check_authority(app_configs: Any, **kwargs: Any) -> list[Error]:
    if AUTHORITY.match(settings.REGISTRY_AUTHORITY):
        return []
    return [Error(f"REGISTRY_AUTHORITY {settings.REGISTRY_AUTHORITY!r} is not an IVOA authority (e.g. data.example.org).",
                  id="registry.E001")]
