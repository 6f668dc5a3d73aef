"""JSON API of accounts (token or HTTP Basic for scripts)."""

from __future__ import annotations

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response


@api_view(["GET"])
def me(request: Request) -> Response:
    """Who the credentials belong to: the first call a script makes."""
    user = request.user
    groups = user.memberships.filter(status="active").values_list("group__name", flat=True)  # type: ignore[union-attr]
    return Response({"username": user.username, "email": user.email, "name": user.get_full_name(), "groups": sorted(groups)})  # type: ignore[union-attr]
