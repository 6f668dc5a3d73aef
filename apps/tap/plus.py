"""ESA's TAP+ login, for astroquery's ``TapPlus.login()`` and ``Gaia.login()``.

The client POSTs ``username`` and ``password`` to ``<server>/login`` (here /tap/login) and keeps the cookie
named ``SESSION`` from the answer, sending it with every later request; ``logout`` POSTs to /tap/logout.

The cookie is a server-side session of its own (not the browser's login session), so logout revokes it and a
password change ends it. It is honoured only by the TAP endpoints, for reads and for state-changing POSTs alike
(a script has no CSRF token to send), which is safe against cross-site requests because:

- it is ``SameSite=Strict``: a browser never sends it with a request another site's page makes;
- /tap/login refuses a request a browser sends on behalf of another site (Fetch Metadata / Origin), so no page
  can log a visitor's browser in as someone else;
- a browser's own login session still needs its CSRF token for POSTs (see views.tap_user).

Password checks count against the same failure limits as HTTP Basic (apps.accounts.authentication).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse

from apps.accounts.authentication import account_key, from_another_site, give_back, take_attempt, user_for_token

COOKIE = "SESSION"  # the name astroquery looks for (or JSESSIONID)
COOKIE_PATH = "/tap"
MAX_AGE_S = 7 * 86400
_USER, _HASH = "tap_plus_user", "tap_plus_hash"


class LoginRefused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _store(key: str | None = None) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    return store


def check_login(request: HttpRequest, username: str, password: str) -> User:
    """The user these credentials name (a password, or an API token as the password), within the failure limits."""
    if from_another_site(request):
        raise LoginRefused("A TAP+ login cannot come from another site's page.", 403)
    if not username or not password or "\x00" in username + password:
        raise LoginRefused("Send username and password.", 400)
    slots = take_attempt(request, account_key(username))
    if slots is None:
        raise LoginRefused("Too many failed attempts; try again in a few minutes.", 429)
    user = authenticate(request, username=username, password=password)
    if user is None:
        by_token = user_for_token(password)
        user = by_token if by_token is not None and username in (by_token.username, by_token.email) else None
    if user is None or not user.is_active:
        raise LoginRefused("Invalid user name or password.", 401)  # the slots stay taken: this failure counts
    give_back(slots)
    return user


def start_session(response: HttpResponse, request: HttpRequest, user: User) -> None:
    store = _store()
    store[_USER], store[_HASH] = user.pk, user.get_session_auth_hash()
    store.set_expiry(MAX_AGE_S)
    store.create()
    response.set_cookie(COOKIE, str(store.session_key), max_age=MAX_AGE_S, path=COOKIE_PATH, secure=request.is_secure(),
                        httponly=True, samesite="Strict")


def end_session(response: HttpResponse, request: HttpRequest) -> None:
    key = request.COOKIES.get(COOKIE)
    if key:
        _store(key).delete()
    response.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Strict")


def session_user(request: HttpRequest) -> User | None:
    """The user of a valid TAP+ session cookie, if any (not after logout, expiry or a password change)."""
    key = request.COOKIES.get(COOKIE)
    if not key or len(key) > 64:
        return None
    store = _store(key)
    data: dict[str, Any] = store.load() if store.exists(key) else {}
    user_id = data.get(_USER)
    user = User.objects.filter(pk=user_id, is_active=True).first() if isinstance(user_id, int) else None
    if user is None or user.get_session_auth_hash() != data.get(_HASH):
        return None
    return user
