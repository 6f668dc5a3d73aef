"""The activity log: recorded events, truncated addresses, history, statistics."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as DjangoGroup
from django.test import Client
from django.urls import reverse

from apps.activity.actions import do_record_event, truncate_ip
from apps.activity.models import Event
from tests.conftest import FourUsers, make_user


@pytest.mark.parametrize(
    ("address", "stored"),
    [("192.168.17.42", "192.168.17.0"), ("2001:db8:abcd:12::1", "2001:db8:abcd::"), ("not an ip", None), ("", None)],
)
def test_addresses_are_stored_truncated(address: str, stored: str | None) -> None:
    assert truncate_ip(address) == stored


def test_a_login_is_recorded_with_the_truncated_address(users: FourUsers) -> None:
    Client(REMOTE_ADDR="10.1.2.3").post(reverse("account_login"), {"login": "owner", "password": "owner-password"})
    event = Event.objects.filter(kind="account.login", user=users.owner).get()
    assert event.ip == "10.1.2.0"


def test_a_failed_login_is_recorded_without_a_user(users: FourUsers) -> None:
    Client().post(reverse("account_login"), {"login": "owner", "password": "wrong"})
    event = Event.objects.get(kind="account.login_failed")
    assert event.user is None and event.details["username"] == "owner"


def test_users_see_and_search_only_their_own_history(users: FourUsers) -> None:
    do_record_event("query.submitted", user=users.member, summary="SELECT TOP 10 * FROM gaia.source")
    do_record_event("query.submitted", user=users.outsider, summary="secret outsider query")
    client = Client()
    client.force_login(users.member)
    page = client.get(reverse("activity:mine"), {"q": "gaia"}).content.decode()
    assert "gaia.source" in page and "secret outsider" not in page
    assert "created group" not in page  # the search narrowed the list


def test_only_managers_see_all_activity_and_statistics(users: FourUsers) -> None:
    client = Client()
    client.force_login(users.outsider)
    assert client.get(reverse("activity:all")).status_code == 403
    assert client.get(reverse("activity:statistics")).status_code == 403
    manager = make_user("manager")
    manager.groups.add(DjangoGroup.objects.get(name="managers"))
    client.force_login(manager)
    stats = client.get(reverse("activity:statistics")).content.decode()
    assert "group.created" in stats and "owner" in stats
    assert "owner" in client.get(reverse("activity:all")).content.decode()


def test_history_pages_cost_a_constant_number_of_queries(users: FourUsers, django_assert_max_num_queries: object) -> None:
    for i in range(60):
        do_record_event("file.uploaded", user=users.member, summary=f"uploaded file {i}")
    client = Client()
    client.force_login(users.member)
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        assert client.get(reverse("activity:mine")).status_code == 200
