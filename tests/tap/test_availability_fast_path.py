"""GET /tap/availability is answered before Django from the last look at the heartbeats, with the same
document and the same security headers as Django's answer; when a new look is due, Django answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import Client

from apps.tap import availability


def _call(method: str) -> tuple[bool, list[dict[str, Any]]]:
    from daiquiri.asgi import remembered_availability

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    answered = asyncio.run(remembered_availability({"type": "http", "path": "/tap/availability", "method": method}, send))
    return answered, sent


@pytest.mark.django_db
def test_availability_from_memory_has_djangos_document_and_headers(client: Client) -> None:
    django_answer = client.get("/tap/availability")  # Django looks at the heartbeats and remembers
    answered, sent = _call("GET")
    assert answered and sent[0]["status"] == 200
    headers = {name.decode(): value.decode() for name, value in sent[0]["headers"]}
    assert sent[1]["body"] == django_answer.content
    for name in ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
                 "Referrer-Policy", "Cross-Origin-Opener-Policy", "Content-Length"):
        assert headers[name.lower()] == django_answer.headers[name], name


@pytest.mark.django_db
def test_a_head_request_gets_the_headers_only(client: Client) -> None:
    client.get("/tap/availability")
    answered, sent = _call("HEAD")
    assert answered and sent[1]["body"] == b"" and int(dict(sent[0]["headers"])[b"content-length"]) > 0


@pytest.mark.django_db
def test_when_a_look_is_due_django_answers(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    client.get("/tap/availability")
    monkeypatch.setattr(availability, "TTL_S", 0.0)  # the last look is too old now
    assert _call("GET") == (False, [])
    assert _call("POST") == (False, [])
