"""An e-mail address names only the account that verified it; user names never look like addresses."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.access.forms import ShareForm, find_user
from apps.access.models import Group, Membership
from tests.conftest import FourUsers, make_user

SIGNUP = {
    "username": "victim@example.org", "email": "mallory@example.org", "password1": "a-long-Passphrase-42",
    "password2": "a-long-Passphrase-42", "first_name": "Mallory", "last_name": "M", "affiliation": "Nowhere",
}


def staff_client() -> Client:
    admin = User.objects.create_superuser("root-admin", "root@example.org", "root-admin-password")
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_sign_up_refuses_a_user_name_shaped_like_an_email_address() -> None:
    response = Client().post(reverse("account_signup"), SIGNUP)
    assert response.status_code == 200
    assert "may not contain @" in response.content.decode()
    assert not User.objects.filter(username="victim@example.org").exists()


@pytest.mark.django_db
def test_the_admin_refuses_email_shaped_user_names_when_adding_and_changing() -> None:
    client = staff_client()
    response = client.post(reverse("admin:auth_user_add"), {
        "username": "victim@example.org", "password1": "a-long-Passphrase-42", "password2": "a-long-Passphrase-42",
        "usable_password": "true"})
    assert response.status_code == 200 and "may not contain @" in response.content.decode()
    assert not User.objects.filter(username="victim@example.org").exists()
    bob = make_user("bob")
    change = {"username": "victim@example.org", "email": bob.email, "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
              "is_active": "on", "profile-TOTAL_FORMS": "0", "profile-INITIAL_FORMS": "0"}
    response = client.post(reverse("admin:auth_user_change", args=[bob.pk]), change)
    assert response.status_code == 200 and "may not contain @" in response.content.decode()
    bob.refresh_from_db()
    assert bob.username == "bob"


def impostor_then_victim(name: str) -> User:
    """An account from before the rule, named after an address whose owner signs up later."""
    User.objects.create_user(f"{name}@example.org", "mallory@example.org", "x")
    return make_user(name)


def test_an_address_finds_only_the_user_who_verified_it(db: None) -> None:
    carol = impostor_then_victim("carol")
    assert find_user("carol@example.org") == carol
    assert find_user("CAROL@example.org ") == carol


def test_an_unverified_address_finds_nobody(users: FourUsers) -> None:
    claimer = User.objects.create_user("claimer", "famous@example.org", "x")
    EmailAddress.objects.create(user=claimer, email="famous@example.org", verified=False, primary=True)
    assert find_user("famous@example.org") is None
    assert find_user("claimer") == claimer


def test_an_invitation_by_address_goes_to_the_addresses_owner(users: FourUsers) -> None:
    carol = impostor_then_victim("carol")
    client = Client()
    client.force_login(users.owner)
    client.post(reverse("access:group_invite", args=[users.group.pk]), {"user": "carol@example.org", "role": "member"})
    invited = Membership.objects.filter(group=users.group, status=Membership.STATUS_INVITED)
    assert [m.user for m in invited] == [carol]


def test_sharing_by_address_names_the_addresses_owner(users: FourUsers) -> None:
    carol = impostor_then_victim("carol")
    form = ShareForm({"action": "read", "user": "carol@example.org"}, actions=("read",), groups=Group.objects.none())
    assert form.is_valid(), form.errors
    assert form.cleaned_data["user"] == carol


def test_basic_login_with_a_nul_in_the_user_name_is_refused_not_crashed(users: FourUsers, settings: Any) -> None:
    import base64

    header = "Basic " + base64.b64encode(b"own\x00er:owner-password").decode()
    response = Client().get(reverse("accounts:api_me"), HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
