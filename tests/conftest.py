"""Shared fixtures: fast settings and the four users of every permission test."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.db import connection

from apps.access.actions import do_create_group, do_invite, do_respond_to_invitation
from apps.access.models import Group
from apps.activity.models import Event
from apps.query.models import QueryJob
from apps.query.sync import heartbeats


@pytest.fixture(autouse=True)
def _fast_settings(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.FILES_QUOTA_FILESYSTEMS = False  # loop-mounted areas: only where a fixture releases them (tests/files, tests/compute)
    settings.QUERY_NATIVE_SQL_FOR = "anyone"  # most tests exercise native SQL; tests/query/test_languages.py the gate
    settings.QUERY_SYNC_WRITE_MS = 0  # a sync query's records in the test's transaction (its users are there)
    cache.clear()


@pytest.fixture(autouse=True)
def _sync_queries_end_with_their_test() -> Iterator[None]:
    """A sync query a test left unread is forgotten with it: the heartbeat thread would write its job (as an
    orphan) outside the test's transaction, into a later test, and its Redis slot would outlive the test."""
    yield
    leaked = heartbeats.forget_all()
    if leaked:  # committed by the heartbeat thread on a connection of its own: removed the same way
        worker = threading.Thread(target=_delete_sync_jobs, args=(leaked,))
        worker.start()
        worker.join()


def _delete_sync_jobs(job_ids: list[str]) -> None:
    # Best effort: a test database already gone (or closed to this test) holds nothing to clean.
    with contextlib.suppress(Exception):
        QueryJob.objects.filter(pk__in=job_ids).delete()
        Event.objects.filter(details__job__in=job_ids).delete()
    connection.close()


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
