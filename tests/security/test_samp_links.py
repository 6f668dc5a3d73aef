"""Signed SAMP links (apps/tap/samp.py): a day's validity, and no forging another job, query or user."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core import signing
from django.test import RequestFactory

from apps.tap import samp
from tests.conftest import FourUsers

from .conftest import SECRET, OwnersThings, client_for


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _links(users: FourUsers, things: OwnersThings) -> tuple[str, str]:
    request = RequestFactory().get("/")
    request.user = users.owner
    result = samp.result_url(request, things.query_job)
    table = samp.table_url(request, users.owner, f"mydb.{SECRET}_result")
    return result.split("testserver", 1)[1], table.split("testserver", 1)[1]


def test_it_serves_fresh_links_without_a_session(users: FourUsers, things: OwnersThings) -> None:
    anonymous = client_for(users.anonymous)
    for url in _links(users, things):
        response = anonymous.get(url)
        assert response.status_code == 200, url
        assert SECRET.encode() in _body(response), url


def test_it_refuses_links_older_than_a_day(users: FourUsers, things: OwnersThings, monkeypatch: pytest.MonkeyPatch) -> None:
    links = _links(users, things)
    later = time.time() + samp.max_age() + 5
    monkeypatch.setattr(signing.time, "time", lambda: later)
    for url in links:
        response = client_for(users.anonymous).get(url)
        assert response.status_code == 404 and SECRET.encode() not in _body(response), url


def test_it_refuses_tampered_links(users: FourUsers, things: OwnersThings) -> None:
    result, table = _links(users, things)
    forged_query = signing.dumps({"q": f"SELECT * FROM mydb.{SECRET}_result", "u": users.owner.pk, "m": 10},
                                 salt=samp.QUERY_SALT, key="not-our-secret", compress=True)
    token = table.rsplit("/", 1)[1]
    value, _, sig = token.rpartition(":")
    attempts = [
        result[:-3] + ("AAA" if result[-3:] != "AAA" else "BBB"),  # a changed signature
        f"/tap/links/{forged_query}",  # signed with another key
        f"/tap/links/{signing.dumps({'q': 'SELECT 1', 'u': users.owner.pk}, salt='other')}",  # another salt
        "/tap/results/" + table.rsplit("/", 1)[1],  # a query link used as a result link
        "/tap/links/" + result.rsplit("/", 1)[1],  # and the other way round
        "/tap/links/" + value.replace(value[-2:], "xy") + ":" + sig,  # a changed payload
    ]
    for url in attempts:
        response = client_for(users.outsider).get(url)
        assert response.status_code == 404 and SECRET.encode() not in _body(response), url


def test_it_runs_a_table_link_as_its_maker(users: FourUsers, things: OwnersThings) -> None:
    """A link made by the outsider for the owner's table gives the outsider nothing."""
    request = RequestFactory().get("/")
    request.user = users.outsider
    url = samp.table_url(request, users.outsider, f"mydb_{users.owner.pk}.{SECRET}_result").split("testserver", 1)[1]
    shown = _body(client_for(users.anonymous).get(url)).replace(f"{SECRET}_result".encode(), b"")  # the query, echoed
    assert SECRET.encode() not in shown
    users.owner.is_active = False
    users.owner.save()
    _, owners_link = _links(users, things)
    assert client_for(users.anonymous).get(owners_link).status_code == 404  # a deactivated maker's links die
