"""The client's address, believing X-Forwarded-For only from the proxies in TRUSTED_PROXIES.

Each proxy appends the address it received the request from, so the chain is read
from the right: REMOTE_ADDR first, then each forwarded hop while the hop that
reported it is one of ours. The first address not ours is the client. Anything
further left was written by the client and is ignored.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def client_address(request: HttpRequest) -> str:
    remote = _parse(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return request.META.get("REMOTE_ADDR", "") or "unknown"
    hop = remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for text in reversed(forwarded):
        if not _trusted(hop):
            break
        previous = _parse(text)
        if previous is None:  # not an address: the trusted hop that passed it on is as far as we know
            break
        hop = previous
    return str(hop)
