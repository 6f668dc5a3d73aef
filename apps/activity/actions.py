"""Recording events. Called inside the action that does the thing, so the
record commits (or rolls back) together with it."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest

from .models import Event


def truncate_ip(address: str | None) -> str | None:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return truncate_ip(request.META.get("REMOTE_ADDR"))


def do_record_event(
    kind: str,
    *,
    user: User | AnonymousUser | None = None,
    request: HttpRequest | None = None,
    summary: str = "",
    **details: Any,
) -> Event:
    event = new_event(kind, user=user, request=request, summary=summary, **details)
    event.save(force_insert=True)
    return event


def new_event(
    kind: str,
    *,
    user: User | AnonymousUser | None = None,
    request: HttpRequest | None = None,
    summary: str = "",
    **details: Any,
) -> Event:
    """The record ``do_record_event`` writes, not saved yet (for a caller writing many in one statement)."""
    if user is None and request is not None:
        user = request.user
    real_user = user if user is not None and user.is_authenticated else None
    return Event(kind=kind, user=real_user, ip=client_ip(request), summary=summary[:500], details=details)
