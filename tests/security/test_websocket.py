"""Live job status over WebSocket: another user's job is never watched, and other sites cannot connect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from apps.query.consumers import JobStatusConsumer
from apps.query.models import QueryJob
from apps.uws import phases


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["anonymous", "outsider", "member"])
def test_it_refuses_to_watch_another_users_job(users: Any, settings: Any, who: str) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.EXECUTING)

    async def scenario() -> tuple[bool, Any]:
        watcher = WebsocketCommunicator(JobStatusConsumer.as_asgi(), f"/ws/query/jobs/?job={job.id}")
        watcher.scope["user"] = getattr(users, who)
        connected, code = await watcher.connect()
        if connected:
            seen = await watcher.receive_json_from(timeout=2)
            await watcher.disconnect()
            return connected, seen
        return connected, code

    connected, detail = asyncio.run(scenario())
    assert not connected, f"{who} watches the owner's job: {detail}"


@pytest.mark.django_db(transaction=True)
def test_it_refuses_websockets_from_other_sites(users: Any, settings: Any) -> None:
    from daiquiri.asgi import application

    job = QueryJob.objects.create(owner=None, query="SELECT 1", phase=phases.EXECUTING)  # anyone may watch it by id

    async def scenario(origin: bytes) -> bool:
        communicator = WebsocketCommunicator(application, f"/ws/query/jobs/?job={job.id}",
                                             headers=[(b"origin", origin), (b"host", b"127.0.0.1")])
        connected, _ = await communicator.connect()
        if connected:
            await communicator.disconnect()
        return connected

    assert asyncio.run(scenario(b"http://127.0.0.1"))
    assert not asyncio.run(scenario(b"https://evil.example"))
