from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .authentication import REALM, AuthenticationFailed, user_from_header


class HeaderAuthenticationMiddleware:
    """Sets request.user from an Authorization header (VO clients, scripts).

    No session is created: each request carries its own credentials. Wrong
    credentials get 401 with a challenge, as HTTP Basic clients expect.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_AUTHORIZATION" in request.META and not request.user.is_authenticated:
            try:
                user = user_from_header(request)
            except AuthenticationFailed as exc:
                response = HttpResponse(str(exc), status=401, content_type="text/plain")
                response["WWW-Authenticate"] = REALM
                return response
            if user is not None:
                request.user = user
                request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]  # no cookie, no CSRF risk
        return self.get_response(request)
