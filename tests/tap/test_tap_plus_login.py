"""ESA's TAP+ login (astroquery's login()/logout()): a SESSION cookie for the TAP endpoints, usable by a script
without a CSRF token, and useless to another site's page."""

from __future__ import annotations

from typing import Any

from django.test import Client

from apps.query.models import QueryJob


def _login(client: Client, username: str = "owner", password: str = "owner-password", **headers: str) -> Any:
    return client.post("/tap/login", {"username": username, "password": password}, **headers)


def _create_job(client: Client) -> QueryJob:
    response = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT 1 AS x"})
    assert response.status_code == 303
    return QueryJob.objects.latest("created")


def test_a_login_gives_a_strict_session_cookie_that_a_script_posts_with(users: Any, demo: Any) -> None:
    script = Client(enforce_csrf_checks=True)  # a script has no CSRF token
    response = _login(script)
    assert response.status_code == 200
    cookie = response.cookies["SESSION"]
    assert cookie["samesite"] == "Strict" and cookie["httponly"] and cookie["path"] == "/tap"
    assert _create_job(script).owner == users.owner
    assert QueryJob.objects.latest("created").id  # and reads see the owner's jobs
    assert b"<uws:jobref" in script.get("/tap/async").content


def test_logout_and_a_password_change_end_the_session(users: Any, demo: Any) -> None:
    script = Client(enforce_csrf_checks=True)
    _login(script)
    assert script.post("/tap/logout").status_code == 200
    assert _create_job(script).owner is None  # the cookie is gone, and the session with it
    again = Client(enforce_csrf_checks=True)
    key = _login(again).cookies["SESSION"].value
    users.owner.set_password("another-password")
    users.owner.save()
    again.cookies["SESSION"] = key
    assert _create_job(again).owner is None


def test_wrong_credentials_and_other_sites_pages_are_refused(users: Any, demo: Any, settings: Any) -> None:
    settings.AUTH_FAILURES_ALLOWED = 2
    client = Client()
    assert _login(client, password="wrong").status_code == 401
    assert "SESSION" not in client.cookies
    assert _login(client, password="wrong").status_code == 401
    assert _login(client).status_code == 429  # the HTTP Basic failure limits count here too
    assert _login(Client(), "member", "member-password", HTTP_SEC_FETCH_SITE="cross-site").status_code == 403
    assert _login(Client(), "member", "").status_code == 400
    assert Client().get("/tap/login").status_code == 405


def test_a_forged_session_cookie_is_anonymous(users: Any, demo: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies["SESSION"] = "x" * 32
    assert _create_job(client).owner is None
