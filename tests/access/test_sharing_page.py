"""The sharing dialogue, usable for any resource type."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from apps.access.actions import builtin_group, do_create_resource
from apps.access.models import Group, Privilege
from apps.access.permissions import has_privilege
from apps.access.registry import register_resource_type
from tests.conftest import FourUsers

register_resource_type("demo_volume", "Demo volume", ("read", "write"))


def logged_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_the_owner_shares_with_a_group_and_removes_it_again(users: FourUsers) -> None:
    resource = do_create_resource("demo_volume", "data", owner=users.owner)
    url = reverse("access:share", args=[resource.pk])
    client = logged_in(users.owner)
    client.post(url, {"action": "read", "group": users.group.pk})
    assert has_privilege(users.member, "read", resource)
    assert "group Team" in client.get(url).content.decode()
    privilege = Privilege.objects.get(resource=resource)
    client.post(url, {"revoke": privilege.pk})
    assert not has_privilege(users.member, "read", resource)


def test_the_dialogue_refuses_both_or_neither_holder(users: FourUsers) -> None:
    resource = do_create_resource("demo_volume", "data", owner=users.owner)
    response = logged_in(users.owner).post(reverse("access:share", args=[resource.pk]), {"action": "read"})
    assert "Choose either a user or a group." in response.content.decode()
    assert not Privilege.objects.filter(resource=resource).exists()


def test_public_is_not_offered_to_ordinary_users_and_refused_if_forced(users: FourUsers) -> None:
    resource = do_create_resource("demo_volume", "data", owner=users.owner)
    url = reverse("access:share", args=[resource.pk])
    client = logged_in(users.owner)
    public = builtin_group(Group.KIND_PUBLIC)
    assert f'value="{public.pk}"' not in client.get(url).content.decode()
    client.post(url, {"action": "read", "group": public.pk})
    assert not has_privilege(users.outsider, "read", resource)


def test_only_grant_holders_see_the_dialogue(users: FourUsers) -> None:
    resource = do_create_resource("demo_volume", "data", owner=users.owner)
    url = reverse("access:share", args=[resource.pk])
    assert logged_in(users.member).get(url).status_code == 404
    assert logged_in(users.outsider).get(url).status_code == 404
    assert Client().get(url).status_code == 302
    assert logged_in(users.owner).get(url).status_code == 200
