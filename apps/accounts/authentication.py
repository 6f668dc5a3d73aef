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

Correct credentials must not be refused because many arrive at once (a script's
burst of parallel requests): a request that finds the counters full while other
checks from its address are still running waits for them (up to AUTH_WAIT_S),
and a Basic user name and password that passed are remembered for REMEMBER_S
seconds under a keyed hash, so the rest of a burst (and every later request)
skips the deliberately slow hash and the counters. The memory is tied to the
stored password hash and the account being active: a changed password or a
disabled account is never let in by it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

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
REMEMBER_S = 300  # how long a Basic user name and password that passed are remembered
AUTH_WAIT_S = 5.0  # how long a request waits for other checks from its address before counting as refused


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


def _check_credentials(request: HttpRequest, scheme: str, value: str) -> tuple[User | None, bool]:
    """The user, and whether a password (not a token, which can be revoked or scoped) proved it."""
    if scheme in ("token", "bearer"):
        return user_for_token(value) or user_for_scoped_key(value, request.path_info), False
    try:
        username, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, False
    if "\x00" in username or "\x00" in password:  # no account has one; PostgreSQL refuses to even compare it
        return None, False
    user = authenticate(request, username=username, password=password)
    if user is not None:
        return (user, True) if user.is_active else (None, False)
    by_token = user_for_token(password) or user_for_scoped_key(password, request.path_info)
    if by_token is not None and username in (by_token.username, by_token.email) and by_token.is_active:
        return by_token, False
    return None, False


def _remember_key(value: str) -> str:
    return "auth-ok:" + hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password.encode()).hexdigest()[:32]


def _remembered(scheme: str, value: str) -> User | None:
    if scheme != "basic":
        return None
    user_id, _, fingerprint = str(cache.get(_remember_key(value)) or "").partition(":")
    if not user_id.isdigit():
        return None
    user = User.objects.filter(pk=int(user_id), is_active=True).first()
    return user if user is not None and hmac.compare_digest(_fingerprint(user), fingerprint) else None


def _remember(value: str, user: User) -> None:
    cache.set(_remember_key(value), f"{user.pk}:{_fingerprint(user)}", REMEMBER_S)


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
    busy = f"auth-busy:{client_address(request)}"
    slots, user = _wait_for_slot(request, scheme, value, busy)
    if user is not None:
        return user
    if slots is None:
        raise AuthenticationFailed("Too many failed attempts; try again in a few minutes.")
    try:
        user, by_password = _check_credentials(request, scheme, value)
    finally:
        give_back([busy])  # marked by _wait_for_slot before it took the slots
    if user is None:
        raise AuthenticationFailed("Invalid credentials.")  # the slots stay taken: this failure counts
    give_back(slots)
    if by_password:
        _remember(value, user)
    return user


def _wait_for_slot(request: HttpRequest, scheme: str, value: str, busy: str) -> tuple[list[str] | None, User | None]:
    """Slots for one check (with ``busy`` marked, so waiters know a check is under way), or the remembered
    user. While the counters are full but checks from this address are running (a burst of correct
    requests holds slots only until it passes), wait for them."""
    deadline = time.monotonic() + AUTH_WAIT_S
    account = _account_of(scheme, value)
    while True:
        user = _remembered(scheme, value)
        if user is not None:
            return None, user
        _take(busy)  # before the slots: a holder is always seen running
        slots = take_attempt(request, account)
        if slots is not None:
            return slots, None
        give_back([busy])
        if time.monotonic() > deadline or int(cache.get(busy) or 0) <= 0:
            return None, None  # nothing running from this address: the counters hold failures only
        time.sleep(0.05)


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
