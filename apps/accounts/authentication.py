"""Authentication for scripts and VO clients: API tokens and HTTP Basic.

Accepted headers: ``Authorization: Token <key>``, ``Authorization: Bearer <key>``
and ``Authorization: Basic <user:password>``, where the password may also be
an API token (so TOPCAT users need not type their real password).
Failed attempts are counted per client address and refused above a limit.
"""

from __future__ import annotations

import base64
import binascii

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import ApiToken, hash_token

FAILURES_ALLOWED = 10
FAILURE_WINDOW_S = 300
REALM = 'Basic realm="portal", charset="UTF-8"'


class AuthenticationFailed(Exception):
    """Credentials were given but are wrong (or too many wrong ones came)."""


def user_for_token(key: str) -> User | None:
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used is None or (now - token.last_used).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)  # cheap, at most once a minute
    return token.user


def _failure_key(request: HttpRequest) -> str:
    return f"auth-failures:{request.META.get('REMOTE_ADDR', '')}"


def _check_credentials(request: HttpRequest, scheme: str, value: str) -> User | None:
    if scheme in ("token", "bearer"):
        return user_for_token(value)
    try:
        username, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = authenticate(request, username=username, password=password)
    if user is None:
        by_token = user_for_token(password)
        if by_token is not None and username in (by_token.username, by_token.email):
            user = by_token
    return user if user is not None and user.is_active else None


def user_from_header(request: HttpRequest) -> User | None:
    """The user named by the Authorization header; None if there is no header.

    Remembered on the request: the middleware and REST framework both ask, and a
    password check (a deliberately slow hash) must not run twice per request.
    """
    if not hasattr(request, "_header_user"):
        request._header_user = _check_header(request)  # type: ignore[attr-defined]
    user: User | None = request._header_user  # type: ignore[attr-defined]
    return user


def _check_header(request: HttpRequest) -> User | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "token", "bearer") or not value.strip():
        return None
    if cache.get(_failure_key(request), 0) >= FAILURES_ALLOWED:
        raise AuthenticationFailed("Too many failed attempts; try again in a few minutes.")
    user = _check_credentials(request, scheme, value.strip())
    if user is None:
        try:
            cache.incr(_failure_key(request))
        except ValueError:
            cache.set(_failure_key(request), 1, FAILURE_WINDOW_S)
        raise AuthenticationFailed("Invalid credentials.")
    return user


def from_another_site(request: HttpRequest) -> bool:
    """Sent by a browser on behalf of another site's page (Fetch Metadata, or an Origin not ours)."""
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.META.get("HTTP_ORIGIN")
    return origin is not None and origin != f"{request.scheme}://{request.get_host()}"


class HeaderAuthentication(authentication.BaseAuthentication):
    """The same rules for Django REST framework views."""

    def authenticate(self, request: Request) -> tuple[User, None] | None:
        try:
            user = user_from_header(request._request)
        except AuthenticationFailed as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        if user is not None and from_another_site(request._request):
            authentication.SessionAuthentication().enforce_csrf(request)  # see HeaderAuthenticationMiddleware
        return None if user is None else (user, None)

    def authenticate_header(self, request: Request) -> str:
        return REALM
