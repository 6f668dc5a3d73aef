"""Authentication for scripts and VO clients: API tokens and HTTP Basic.

Accepted headers: ``Authorization: Token <key>``, ``Authorization: Bearer <key>``
and ``Authorization: Basic <user:password>``, where the password may also be
an API token (so TOPCAT users need not type their real password).

Failed attempts (here and on the login page, see adapter.py) are limited by three counters, each a fixed window of
AUTH_FAILURE_WINDOW_S seconds in the cache (atomic on Redis):

- per (account, client address): AUTH_FAILURES_ALLOWED. This is the one an
  attacker at one address meets; the account's owner elsewhere is not affected.
- per account, from everywhere: ten times that, so guessing one password from
  many addresses stays bounded, while one address alone can never reach it.
- per client address, over all accounts: five times that, against trying one
  password on many accounts; with TRUSTED_PROXIES set, the address is the real
  client's, not the proxy's, so users behind one proxy do not lock each other out.

A slot is taken *before* the password is checked and given back if the check
succeeds or is refused, so parallel requests cannot all pass a check-then-count
gap: at most the limit of real password checks run per window, however many
arrive at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .addresses import client_address
from .models import ApiToken, hash_token
from .scoped import user_for_scoped_key

ACCOUNT_FACTOR = 10  # the per-account cap, in multiples of AUTH_FAILURES_ALLOWED
ADDRESS_FACTOR = 5  # the per-address cap over all accounts, likewise
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


def account_key(login: str) -> str:
    """One key per account however it is named: user name in any case, or one of its e-mail addresses."""
    login = login.strip().lower()
    if "@" in login and "\x00" not in login:
        owner = EmailAddress.objects.filter(email__iexact=login).values_list("user__username", flat=True).first()
        login = (owner or login).lower()
    return hashlib.sha256(login.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _account_of(scheme: str, value: str) -> str:
    """The key of the account a Basic header names ("" for tokens, which name no account)."""
    if scheme != "basic":
        return ""
    try:
        username = base64.b64decode(value).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return account_key(username)


def _counters(request: HttpRequest, account: str) -> list[tuple[str, int]]:
    """(cache key, limit) of each counter this attempt counts against, narrowest first."""
    allowed: int = settings.AUTH_FAILURES_ALLOWED
    address = client_address(request)
    counters = [(f"auth-fail:addr:{address}", allowed * ADDRESS_FACTOR)]
    if account:
        counters[:0] = [(f"auth-fail:pair:{account}:{address}", allowed), (f"auth-fail:acct:{account}", allowed * ACCOUNT_FACTOR)]
    return counters


def _take(key: str) -> int:
    window: int = settings.AUTH_FAILURE_WINDOW_S
    cache.add(key, 0, window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 0, window)
        count = cache.incr(key)
    if count <= 1:  # a key re-created by a racing incr/decr after expiry would otherwise never expire
        cache.touch(key, window)
    return int(count)


def give_back(keys: list[str]) -> None:
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:  # the window ended meanwhile
            pass


def take_attempt(request: HttpRequest, account: str) -> list[str] | None:
    """A slot for one password check on ``account`` (see account_key) from this client, or None if one of
    the three counters is full. Give the slots back (give_back) if the check succeeds."""
    return _reserve(_counters(request, account))


def _reserve(counters: list[tuple[str, int]]) -> list[str] | None:
    """Take one slot on every counter, or none (and None) if any is full."""
    taken: list[str] = []
    for key, limit in counters:
        taken.append(key)
        if _take(key) > limit:
            give_back(taken)
            return None
    return taken


def _check_credentials(request: HttpRequest, scheme: str, value: str) -> User | None:
    if scheme in ("token", "bearer"):
        return user_for_token(value) or user_for_scoped_key(value, request.path_info)
    try:
        username, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if "\x00" in username or "\x00" in password:  # no account has one; PostgreSQL refuses to even compare it
        return None
    user = authenticate(request, username=username, password=password)
    if user is None:
        by_token = user_for_token(password) or user_for_scoped_key(password, request.path_info)
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
    value = value.strip()
    slots = take_attempt(request, _account_of(scheme, value))
    if slots is None:
        raise AuthenticationFailed("Too many failed attempts; try again in a few minutes.")
    user = _check_credentials(request, scheme, value)
    if user is None:
        raise AuthenticationFailed("Invalid credentials.")  # the slots stay taken: this failure counts
    give_back(slots)
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
