"""The permission API over the matrix owner / group member / outsider / anonymous."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from apps.access.actions import builtin_group, do_create_resource, do_grant, do_revoke
from apps.access.models import Group, Resource
from apps.access.permissions import access_resource, actions_of, allowed_resources, filter_allowed, has_privilege
from apps.access.registry import register_resource_type, resource_type
from tests.conftest import FourUsers, make_user

register_resource_type("demo_table", "Demo table", ("query", "read"))


def test_the_owner_may_do_everything_and_others_nothing(users: FourUsers) -> None:
    resource = do_create_resource("demo_table", "t", owner=users.owner)
    assert actions_of(users.owner, resource) == {"query", "read", "grant"}
    for other in (users.member, users.outsider, users.anonymous):
        assert actions_of(other, resource) == set()


@pytest.mark.parametrize(
    ("holder", "expected"),
    [
        ("group", {"owner": True, "member": True, "outsider": False, "anonymous": False}),
        ("user", {"owner": True, "member": True, "outsider": False, "anonymous": False}),
        ("public", {"owner": True, "member": True, "outsider": True, "anonymous": False}),
        ("anyone", {"owner": True, "member": True, "outsider": True, "anonymous": True}),
    ],
)
def test_the_matrix_of_who_holds_a_privilege(users: FourUsers, holder: str, expected: dict[str, bool]) -> None:
    resource = do_create_resource("demo_table", "t", owner=users.owner)
    target = {
        "group": {"group": users.group},
        "user": {"user": users.member},
        "public": {"group": builtin_group(Group.KIND_PUBLIC)},
        "anyone": {"group": builtin_group(Group.KIND_ANYONE)},
    }[holder]
    do_grant(None, resource, "query", **target)  # type: ignore[arg-type]
    for name, allowed in expected.items():
        assert has_privilege(getattr(users, name), "query", resource) is allowed, name
        assert has_privilege(getattr(users, name), "read", resource) is (name == "owner"), name


def test_filtering_a_queryset_costs_one_query_whatever_the_size(users: FourUsers) -> None:
    mine = [do_create_resource("demo_table", f"t{i}", owner=users.owner) for i in range(20)]
    for resource in mine[:7]:
        do_grant(users.owner, resource, "query", group=users.group)
    with CaptureQueriesContext(connection) as queries:
        visible = list(filter_allowed(users.member, "query", Resource.objects.all(), "demo_table", field="pk"))
    assert len(queries) == 1
    assert {r.name for r in visible} == {f"t{i}" for i in range(7)}
    assert allowed_resources(users.outsider, "query", "demo_table").count() == 0
    assert allowed_resources(users.owner, "query", "demo_table").count() == 20


def test_an_invited_but_not_accepted_user_gets_nothing(users: FourUsers) -> None:
    from apps.access.actions import do_invite

    invitee = make_user("invitee")
    do_invite(users.owner, users.group, invitee)
    resource = do_create_resource("demo_table", "t", owner=users.owner)
    do_grant(users.owner, resource, "query", group=users.group)
    assert not has_privilege(invitee, "query", resource)


def test_grant_holders_may_share_on_and_others_may_not(users: FourUsers) -> None:
    resource = do_create_resource("demo_table", "t", owner=users.owner)
    with pytest.raises(PermissionDenied):
        do_grant(users.member, resource, "query", user=users.outsider)
    do_grant(users.owner, resource, "grant", user=users.member)
    do_grant(users.member, resource, "query", user=users.outsider)
    assert has_privilege(users.outsider, "query", resource)


def test_ordinary_users_cannot_share_with_public(users: FourUsers) -> None:
    resource = do_create_resource("demo_table", "t", owner=users.owner)
    with pytest.raises(PermissionDenied, match="Only managers"):
        do_grant(users.owner, resource, "query", group=builtin_group(Group.KIND_PUBLIC))


def test_revoking_takes_the_privilege_away(users: FourUsers) -> None:
    resource = do_create_resource("demo_table", "t", owner=users.owner)
    privilege = do_grant(users.owner, resource, "query", group=users.group)
    do_revoke(users.owner, privilege)
    assert not has_privilege(users.member, "query", resource)


def test_unknown_actions_and_types_are_refused(users: FourUsers) -> None:
    resource = do_create_resource("demo_table", "t", owner=users.owner)
    with pytest.raises(ValidationError, match="not an action"):
        do_grant(None, resource, "delete", user=users.member)
    with pytest.raises(LookupError, match="register it"):
        resource_type("nonexistent")


def test_the_checked_lookup_hides_what_one_may_not_see(users: FourUsers) -> None:
    resource = do_create_resource("demo_table", "t", owner=users.owner)
    do_grant(users.owner, resource, "read", group=users.group)
    assert access_resource(users.member, "read", resource) == resource
    with pytest.raises(PermissionDenied):
        access_resource(users.member, "query", resource)
    with pytest.raises(Http404):
        access_resource(users.outsider, "read", resource)
    with pytest.raises(Http404):
        access_resource(users.anonymous, "read", resource)


def test_private_objects_belong_to_their_owner_and_superusers_only(users: FourUsers) -> None:
    from apps.access.permissions import owns

    root = make_user("root", is_superuser=True)
    assert owns(users.owner, users.owner.pk) and owns(root, users.owner.pk)
    assert not owns(users.member, users.owner.pk)
    assert not owns(users.anonymous, users.owner.pk) and not owns(None, users.owner.pk)
