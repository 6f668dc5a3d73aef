"""Scoped tokens: short-lived keys that another app issues for one narrow purpose.

A compute job's token is the example: it acts for its owner on the TAP and
file APIs only, and only while the job runs. The issuing app keeps the key's
hash and its lifetime; in ``ready()`` it registers a resolver for its key
prefix, which answers with the user and the URL paths the key is good for
(``ScopedGrant``), or None when the key is unknown or has expired. Accounts
never imports the issuing app.

Authentication asks here for keys that are not API tokens: a scoped key
outside its paths authenticates nobody, so it cannot manage tokens, change
the account, or reach any page its grant does not name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import User


@dataclass(frozen=True)
class ScopedGrant:
    user: User
    paths: tuple[str, ...]  # URL path prefixes, each ending in "/" or naming one exact path


Resolver = Callable[[str], ScopedGrant | None]
_RESOLVERS: dict[str, Resolver] = {}


def register_scoped_tokens(prefix: str, resolver: Resolver) -> None:
    """Keys starting with ``prefix`` are resolved by ``resolver`` (call from an AppConfig.ready)."""
    _RESOLVERS[prefix] = resolver


def path_allowed(path: str, allowed: tuple[str, ...]) -> bool:
    return any(path == prefix.rstrip("/") or (prefix.endswith("/") and path.startswith(prefix)) for prefix in allowed)


def user_for_scoped_key(key: str, path: str) -> User | None:
    """The user a scoped key acts for at ``path``; None for unknown, expired or out-of-scope keys."""
    for prefix, resolver in _RESOLVERS.items():
        if key.startswith(prefix):
            grant = resolver(key)
            if grant is not None and grant.user.is_active and path_allowed(path, grant.paths):
                return grant.user
            return None
    return None
