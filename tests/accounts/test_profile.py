from __future__ import annotations

from django.test import Client
from django.urls import reverse

from apps.activity.models import Event
from tests.conftest import FourUsers


def test_the_profile_is_saved_and_shown(users: FourUsers) -> None:
    client = Client()
    client.force_login(users.member)
    data = {"first_name": "Henrietta", "last_name": "Leavitt", "affiliation": "Harvard", "country": "US", "orcid": "0000-0002-1825-0097"}
    response = client.post(reverse("accounts:profile"), data, follow=True)
    assert "Your profile is saved." in response.content.decode()
    users.member.refresh_from_db()
    assert users.member.get_full_name() == "Henrietta Leavitt" and users.member.profile.orcid == "0000-0002-1825-0097"
    assert Event.objects.filter(user=users.member, kind="account.profile_updated").exists()


def test_a_malformed_orcid_is_explained(users: FourUsers) -> None:
    client = Client()
    client.force_login(users.member)
    response = client.post(reverse("accounts:profile"), {"first_name": "A", "last_name": "B", "orcid": "12345"})
    assert "An ORCID iD looks like 0000-0002-1825-0097." in response.content.decode()


def test_the_profile_needs_a_login(db: None) -> None:
    response = Client().get(reverse("accounts:profile"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
