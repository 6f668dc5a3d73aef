from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .authentication import REALM, AuthenticationFailed, from_another_site, user_from_header


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
                # Scripts and VO clients need no CSRF token. A browser, though, re-sends Basic credentials it
                # once typed with any form another site makes it post: such requests keep the check.
                request._dont_enforce_csrf_checks = not from_another_site(request)  # type: ignore[attr-defined]
        return self.get_response(request)
