"""Sign-up with e-mail verification, and the three approval workflows."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group as DjangoGroup
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.activity.models import Event
from tests.conftest import make_user

SIGNUP = {
    "username": "carol", "email": "carol@example.org", "password1": "a-long-Passphrase-42", "password2": "a-long-Passphrase-42",
    "first_name": "Carol", "last_name": "Shoemaker", "affiliation": "Palomar",
}


def sign_up_and_verify(client: Client, capture: Any) -> User:
    mail.outbox.clear()
    with capture(execute=True):
        response = client.post(reverse("account_signup"), SIGNUP)
    assert response.status_code == 302
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    path = link.group(0).split("://", 1)[1].split("/", 1)[1]
    with capture(execute=True):
        client.post("/" + path)
    return User.objects.get(username="carol")


@pytest.mark.django_db
def test_open_sign_up_verifies_the_address_then_allows_login(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.ACCOUNT_APPROVAL = "open"
    user = sign_up_and_verify(Client(), django_capture_on_commit_callbacks)
    assert user.is_active and user.first_name == "Carol" and user.profile.affiliation == "Palomar"
    assert user.emailaddress_set.get().verified
    client = Client()
    response = client.post(reverse("account_login"), {"login": "carol", "password": SIGNUP["password1"]})
    assert response.status_code == 302 and response["Location"] == "/"
    assert Event.objects.filter(user=user, kind__in=["account.signup", "account.email_confirmed", "account.login"]).count() == 3


@pytest.mark.django_db
def test_login_is_refused_before_the_address_is_verified(settings: Any) -> None:
    settings.ACCOUNT_APPROVAL = "open"
    Client().post(reverse("account_signup"), SIGNUP)
    client = Client()
    client.post(reverse("account_login"), {"login": "carol", "password": SIGNUP["password1"]})
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_activation_workflow_tells_managers_and_waits_for_them(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.ACCOUNT_APPROVAL = "activation"
    manager = make_user("manager")
    manager.groups.add(DjangoGroup.objects.get(name="managers"))
    user = sign_up_and_verify(Client(), django_capture_on_commit_callbacks)
    assert not user.is_active
    assert any(m.to == [manager.email] and "carol" in m.subject for m in mail.outbox)
    manager_client = Client()
    manager_client.force_login(manager)
    assert "carol" in manager_client.get(reverse("accounts:pending")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(reverse("accounts:approve", args=[user.pk, "activate"]))
    user.refresh_from_db()
    assert user.is_active
    assert mail.outbox[-1].to == ["carol@example.org"] and "active" in mail.outbox[-1].subject


@pytest.mark.django_db
def test_confirmation_workflow_needs_a_manager_then_an_administrator(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.ACCOUNT_APPROVAL = "confirmation"
    manager = make_user("manager")
    manager.groups.add(DjangoGroup.objects.get(name="managers"))
    admin = make_user("root", is_superuser=True, is_staff=True)
    user = sign_up_and_verify(Client(), django_capture_on_commit_callbacks)
    manager_client, admin_client = Client(), Client()
    manager_client.force_login(manager)
    admin_client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(reverse("accounts:approve", args=[user.pk, "confirm"]))
    assert mail.outbox[-1].to == [admin.email]
    manager_client.post(reverse("accounts:approve", args=[user.pk, "activate"]))
    user.refresh_from_db()
    assert user.profile.confirmed and not user.is_active  # a manager may not activate in this workflow
    admin_client.post(reverse("accounts:approve", args=[user.pk, "activate"]))
    user.refresh_from_db()
    assert user.is_active


@pytest.mark.django_db
def test_ordinary_users_cannot_see_or_approve_pending_accounts() -> None:
    someone, waiting = make_user("someone"), make_user("waiting", is_active=False)
    client = Client()
    client.force_login(someone)
    assert client.get(reverse("accounts:pending")).status_code == 403
    assert client.post(reverse("accounts:approve", args=[waiting.pk, "activate"])).status_code == 403
    waiting.refresh_from_db()
    assert not waiting.is_active


@pytest.mark.django_db
def test_failed_logins_do_not_reveal_whether_an_account_exists() -> None:
    make_user("dave")
    wrong_password = Client().post(reverse("account_login"), {"login": "dave", "password": "nope"}).content.decode()
    no_account = Client().post(reverse("account_login"), {"login": "nobody", "password": "nope"}).content.decode()
    message = "The username and/or password you specified are not correct."
    assert message in wrong_password and message in no_account


@pytest.mark.django_db
def test_failed_logins_are_rate_limited(settings: Any) -> None:
    make_user("erin")
    client = Client()
    for i in range(settings.AUTH_FAILURES_ALLOWED):
        client.post(reverse("account_login"), {"login": "erin", "password": f"wrong{i}"})
    # even the right password is refused from this address while the limit holds (tests/accounts/test_login_limits.py:
    # not from elsewhere)
    response = client.post(reverse("account_login"), {"login": "erin", "password": "erin-password"})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_password_reset_answers_the_same_for_unknown_addresses() -> None:
    make_user("frank")
    known = Client().post(reverse("account_reset_password"), {"email": "frank@example.org"})
    unknown = Client().post(reverse("account_reset_password"), {"email": "ghost@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
