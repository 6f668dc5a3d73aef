"""Groups: creating, inviting, answering, roles, leaving; through actions and pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from apps.access.actions import do_create_group, do_invite, do_remove_member, do_respond_to_invitation, do_set_role
from apps.access.models import Group, Membership
from apps.activity.models import Event
from tests.conftest import FourUsers, make_user


def client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_the_creator_becomes_the_groups_admin(users: FourUsers) -> None:
    membership = users.group.memberships.get(user=users.owner)
    assert (membership.role, membership.status) == (Membership.ROLE_ADMIN, Membership.STATUS_ACTIVE)
    assert Event.objects.filter(kind="group.created", user=users.owner).exists()


def test_group_names_are_unique_whatever_the_case(users: FourUsers) -> None:
    with pytest.raises(ValidationError, match="exists already"):
        do_create_group(users.outsider, "TEAM")


def test_an_invitation_is_mailed_and_can_be_declined(users: FourUsers, django_capture_on_commit_callbacks: Any) -> None:
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        membership = do_invite(users.owner, users.group, users.outsider)
    assert mail.outbox[0].to == [users.outsider.email]
    assert "Team" in mail.outbox[0].subject
    do_respond_to_invitation(users.outsider, membership, accept=False)
    assert Membership.objects.get(pk=membership.pk).status == Membership.STATUS_DECLINED


def test_only_group_admins_may_invite(users: FourUsers) -> None:
    with pytest.raises(PermissionDenied):
        do_invite(users.member, users.group, users.outsider)
    do_set_role(users.owner, users.group.memberships.get(user=users.member), Membership.ROLE_ADMIN)
    assert do_invite(users.member, users.group, users.outsider).status == Membership.STATUS_INVITED


def test_nobody_answers_someone_elses_invitation(users: FourUsers) -> None:
    membership = do_invite(users.owner, users.group, users.outsider)
    with pytest.raises(PermissionDenied):
        do_respond_to_invitation(users.member, membership, accept=True)


def test_the_last_admin_cannot_leave(users: FourUsers) -> None:
    with pytest.raises(ValidationError, match="at least one admin"):
        do_remove_member(users.owner, users.group.memberships.get(user=users.owner))


def test_builtin_groups_cannot_be_managed_by_users(users: FourUsers) -> None:
    public = Group.objects.get(kind=Group.KIND_PUBLIC)
    with pytest.raises(PermissionDenied, match="built-in"):
        do_invite(users.owner, public, users.outsider)


def test_the_group_pages_flow_create_invite_accept(users: FourUsers) -> None:
    alice, bob = client_for(users.outsider), make_user("bob")
    response = alice.post(reverse("access:groups"), {"name": "Survey", "description": "Our survey"})
    group = Group.objects.get(name="Survey")
    assert response.status_code == 302 and response["Location"] == reverse("access:group", args=[group.pk])
    alice.post(reverse("access:group_invite", args=[group.pk]), {"user": "bob@example.org", "role": "member"})
    membership = group.memberships.get(user=bob)
    assert membership.status == Membership.STATUS_INVITED
    bob_client = client_for(bob)
    page = bob_client.get(reverse("access:groups")).content.decode()
    assert "invites you to <strong>Survey</strong>" in page
    bob_client.post(reverse("access:invitation_respond", args=[membership.pk]), {"answer": "accept"})
    detail = bob_client.get(reverse("access:group", args=[group.pk])).content.decode()
    assert "Leave this group" in detail and "Send invitation" not in detail


def test_a_group_page_is_hidden_from_outsiders(users: FourUsers) -> None:
    url = reverse("access:group", args=[users.group.pk])
    assert client_for(users.outsider).get(url).status_code == 404
    assert client_for(users.member).get(url).status_code == 200
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_the_groups_page_costs_a_constant_number_of_queries(users: FourUsers, django_assert_max_num_queries: object) -> None:
    for i in range(10):
        do_create_group(users.member, f"group {i}")
    client = client_for(users.member)
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        assert client.get(reverse("access:groups")).status_code == 200


@pytest.mark.parametrize("taken", ["Team", "team", " TEAM ", "Public", "anyone"])
def test_renaming_a_group_to_a_taken_name_is_refused_with_a_reason(users: FourUsers, taken: str) -> None:
    other = do_create_group(users.owner, "Other")
    response = client_for(users.owner).post(reverse("access:group_edit", args=[other.pk]),
                                             {"name": taken, "description": ""}, follow=True)
    assert response.status_code == 200
    assert "exists already" in response.content.decode()
    other.refresh_from_db()
    assert other.name == "Other"


def test_a_new_group_may_not_take_a_built_in_name_before_the_built_in_group_exists(users: FourUsers) -> None:
    Group.objects.filter(kind=Group.KIND_PUBLIC).delete()
    with pytest.raises(ValidationError, match="exists already"):
        do_create_group(users.outsider, "public")


def test_the_database_refuses_names_that_differ_only_in_case(users: FourUsers) -> None:
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Group.objects.create(name="TEAM")


def test_renaming_keeps_a_groups_own_name_in_another_case(users: FourUsers) -> None:
    client_for(users.owner).post(reverse("access:group_edit", args=[users.group.pk]), {"name": "TEAM", "description": ""})
    users.group.refresh_from_db()
    assert users.group.name == "TEAM"
