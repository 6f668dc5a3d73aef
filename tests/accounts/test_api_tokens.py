"""API tokens on the profile page, and token / HTTP Basic authentication."""

from __future__ import annotations

import base64
import re

from django.test import Client
from django.urls import reverse

from apps.accounts.actions import do_create_token
from apps.accounts.models import ApiToken
from tests.conftest import FourUsers

ME = "/accounts/api/me"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_a_token_is_created_shown_once_listed_and_revoked_on_the_profile_page(users: FourUsers) -> None:
    client = Client()
    client.force_login(users.owner)
    shown = client.post(reverse("accounts:token_create"), {"name": "laptop"}).content.decode()
    key = re.search(r'id="token-key">([^<]+)<', shown).group(1)  # type: ignore[union-attr]
    token = ApiToken.objects.get(user=users.owner, name="laptop")
    assert token.key_hash != key and key.startswith(token.prefix)  # only the hash is stored
    profile = client.get(reverse("accounts:profile")).content.decode()
    assert "laptop" in profile and key not in profile
    client.post(reverse("accounts:token_revoke", args=[token.pk]))
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_token_names_are_unique_per_user(users: FourUsers) -> None:
    client = Client()
    client.force_login(users.owner)
    client.post(reverse("accounts:token_create"), {"name": "ci"})
    response = client.post(reverse("accounts:token_create"), {"name": "ci"}, follow=True)
    assert "already" in response.content.decode()
    assert users.owner.api_tokens.count() == 1


def test_nobody_revokes_someone_elses_token(users: FourUsers) -> None:
    token, _ = do_create_token(users.owner, "mine")
    client = Client()
    client.force_login(users.outsider)
    assert client.post(reverse("accounts:token_revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_api_accepts_token_bearer_and_basic_credentials(users: FourUsers) -> None:
    _, key = do_create_token(users.member, "script")
    for header in (f"Token {key}", f"Bearer {key}", basic("member", "member-password"), basic("member", key)):
        response = Client().get(ME, HTTP_AUTHORIZATION=header)
        assert response.status_code == 200, header
        assert response.json()["username"] == "member" and response.json()["groups"] == ["Team"]


def test_wrong_credentials_get_a_challenge_not_a_hint(users: FourUsers) -> None:
    for header in ("Token nonsense", basic("member", "wrong"), basic("nobody", "wrong")):
        response = Client().get(ME, HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Basic")
        assert response.content == b"Invalid credentials."


def test_a_token_only_works_with_its_own_user_name_in_basic(users: FourUsers) -> None:
    _, key = do_create_token(users.member, "script")
    assert Client().get(ME, HTTP_AUTHORIZATION=basic("owner", key)).status_code == 401


def test_repeated_failures_lock_the_address_out(users: FourUsers) -> None:
    client = Client()
    for _ in range(10):
        client.get(ME, HTTP_AUTHORIZATION=basic("member", "wrong"))
    response = client.get(ME, HTTP_AUTHORIZATION=basic("member", "member-password"))
    assert response.status_code == 401 and b"Too many failed attempts" in response.content


def test_inactive_users_tokens_stop_working(users: FourUsers) -> None:
    _, key = do_create_token(users.member, "script")
    users.member.is_active = False
    users.member.save()
    assert Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_header_authenticated_posts_need_no_csrf_token(users: FourUsers) -> None:
    _, key = do_create_token(users.owner, "script")
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("accounts:token_create"), {"name": "from-script"}, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert users.owner.api_tokens.filter(name="from-script").exists()


def test_anonymous_api_calls_are_refused(db: None) -> None:
    assert Client().get(ME).status_code in (401, 403)
