"""Who may write native SQL instead of ADQL: the publisher decides.

Native SQL is checked for the tables it reads and refused if it writes, but it
reaches deeper into an engine than ADQL ever can, so it is a privilege: each
engine's SQL is an access.Resource of type "language" (action "use"), created
on first use and given to the built-in group named by settings.QUERY_NATIVE_SQL_FOR
("none", "public" = registered users, "anyone"). Managers grant it to further
users or groups on the resource's sharing page, like any other resource.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction

from apps.access.actions import builtin_group, do_create_resource, do_grant
from apps.access.models import Group, Resource
from apps.access.permissions import has_privilege

RESOURCE_TYPE = "language"
USE = "use"
NATIVE = ("postgresql", "mariadb", "duckdb", "spark")
_WHO = {"anyone": Group.KIND_ANYONE, "public": Group.KIND_PUBLIC}


def language_resource(dialect: str) -> Resource:
    name = f"{dialect} SQL"
    existing = Resource.objects.filter(type=RESOURCE_TYPE, name=name).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            resource = do_create_resource(RESOURCE_TYPE, name)
            who = settings.QUERY_NATIVE_SQL_FOR
            if who in _WHO:
                do_grant(None, resource, USE, group=builtin_group(_WHO[who]))
            return resource
    except IntegrityError:  # created concurrently
        return Resource.objects.get(type=RESOURCE_TYPE, name=name)


def may_use_native(user: User | AnonymousUser | None, dialect: str) -> bool:
    return has_privilege(user or AnonymousUser(), USE, language_resource(dialect))


def languages_for(user: User | AnonymousUser | None) -> list[str]:
    """ADQL for everybody, then the native SQL dialects this user may write."""
    return ["ADQL", *(d for d in NATIVE if may_use_native(user, d))]
