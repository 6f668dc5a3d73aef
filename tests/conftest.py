"""Shared fixtures: fast settings and the four users of every permission test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache

from apps.access.actions import do_create_group, do_invite, do_respond_to_invitation
from apps.access.models import Group


@pytest.fixture(autouse=True)
def _fast_settings(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.FILES_QUOTA_FILESYSTEMS = False  # loop-mounted areas: only where a fixture releases them (tests/files, tests/compute)
    settings.QUERY_NATIVE_SQL_FOR = "anyone"  # most tests exercise native SQL; tests/query/test_languages.py the gate
    cache.clear()


@dataclass
class FourUsers:
    """owner creates things; member is in owner's group; outsider is not; anonymous is nobody."""

    owner: User
    member: User
    outsider: User
    anonymous: AnonymousUser
    group: Group


def make_user(username: str, **extra: Any) -> User:
    user = User.objects.create_user(username, f"{username}@example.org", f"{username}-password", **extra)
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def users(db: None) -> FourUsers:
    owner, member, outsider = make_user("owner"), make_user("member"), make_user("outsider")
    group = do_create_group(owner, "Team", "owner's collaborators")
    do_respond_to_invitation(member, do_invite(owner, group, member), accept=True)
    return FourUsers(owner, member, outsider, AnonymousUser(), group)
